"""What every bundled script shares, training or not: the one-line error and entry point, argument types, where it
runs (HF Jobs, which process), Hub URLs and local data files.

Kept apart from train_common so that scripts/evaluate.py and scripts/generate_responses.py carry only this (and the
modules they use), not the training machinery. Inlined into the scripts by `make sync-scripts`: standard library only.
"""

import argparse
import os
import sys
from pathlib import Path

from .file_types import FILE_TYPES
from .splits import split_of

# One list of local file types, shared with dataset inspection (runtime/file_types.py): suffix -> datasets builder.
LOCAL_DATA_SUFFIXES = {suffix: builder for suffix, (_reader, builder, _options) in FILE_TYPES.items()}


class ScriptError(Exception):
    """A problem the user can fix: printed as one line, exit status 2, no traceback."""


def run_main(main, parse_args) -> None:
    """Run `main(parse_args())`, turning ScriptError into a one-line message and exit status 2 (1 with --smoke)."""
    args = parse_args()
    try:
        code = main(args)
    except ScriptError as exc:
        # In smoke mode every failure is the one line an agent reads, with the smoke exit status.
        if getattr(args, "smoke", False):
            print(f"smoke: FAIL - {exc}", flush=True)
            sys.exit(1)
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code or 0)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive integer")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


def is_main_process() -> bool:
    """True in a single-process run and in rank 0 of a distributed one (accelerate launch / torchrun set RANK)."""
    return os.environ.get("RANK", "0") == "0"


def current_job_id() -> str | None:
    """The id of the job this script runs in. HF Jobs sets HF_JOB_ID (read by transformers' model card code) and
    JOB_ID (read by TRL's tags); either may be missing, so both count. hf-trainer's local backend sets JOB_ID too."""
    return os.environ.get("HF_JOB_ID") or os.environ.get("JOB_ID") or None


def current_job_flavor() -> str | None:
    """The job's flavor when the platform or hf-trainer says it (HF_JOB_FLAVOR, HF_TRAINER_FLAVOR)."""
    return os.environ.get("HF_JOB_FLAVOR") or os.environ.get("HF_TRAINER_FLAVOR") or None


def on_hf_jobs() -> bool:
    """True inside an HF Jobs job: a job id (HF_JOB_ID or JOB_ID) or flavor is set, and it is not a local job."""
    in_job = bool(current_job_id() or os.environ.get("HF_JOB_FLAVOR"))
    return in_job and os.environ.get("HF_TRAINER_BACKEND") != "local"


def hub_url(repo_id: str) -> str:
    return f"{os.environ.get('HF_ENDPOINT', 'https://huggingface.co').rstrip('/')}/{repo_id}"


# --- local data files -----------------------------------------------------------------------------------------------

# Files in a folder that describe a dataset rather than hold rows (datasets.save_to_disk, the Hub's card).
_METADATA_FILES = {"dataset_info.json", "state.json", "dataset_dict.json", "README.md"}


def _local_data_files(path: Path) -> tuple[str, dict[str, list[str]]]:
    """The builder name and the files of each split for a local file or folder (split from the file names, by
    runtime/splits.split_of, the rule dataset inspection reads folders with)."""
    if path.is_file():
        files = [path]
    else:
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in LOCAL_DATA_SUFFIXES
                       and p.name not in _METADATA_FILES and not p.name.startswith("."))
    if not files:
        raise ScriptError(f"No data files ({', '.join(LOCAL_DATA_SUFFIXES)}) in {path}.")
    builders = {LOCAL_DATA_SUFFIXES.get(p.suffix.lower()) for p in files}
    if None in builders:
        raise ScriptError(f"{path} is not a supported data file: use {', '.join(LOCAL_DATA_SUFFIXES)}.")
    if len(builders) > 1:
        raise ScriptError(f"{path} mixes file types ({', '.join(sorted(builders))}); keep one type per dataset.")
    splits: dict[str, list[str]] = {}
    for file in files:
        splits.setdefault("train" if path.is_file() else split_of(file.relative_to(path)), []).append(str(file))
    return builders.pop(), splits
