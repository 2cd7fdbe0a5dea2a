# /// script
# requires-python = ">=3.11"
# dependencies = [
#     "torch==2.13.0",
#     "transformers==5.25.0",
#     "peft==0.21.2",
#     "datasets==5.2.0",
#     "accelerate==1.16.0",
#     "huggingface_hub==2.4.0",
# ]
#
# [tool.uv]
# exclude-newer = "2026-12-06T13:00:48Z"
# ///
"""Evaluate a model (full or LoRA adapter) on an eval split: loss, perplexity, task metric, sample generations.

Evaluate one model, writing results/ and a model-card section into a local model folder:
    uv run scripts/evaluate.py --model_name_or_path outputs/qwen-sft --dataset_name data/test.jsonl
Compare a base and a fine-tuned model (a table of both and the difference), results pushed to the model repo:
    hf jobs uv run --flavor a10g-small --secrets HF_TOKEN scripts/evaluate.py \
        --model_name_or_path <you>/qwen-gsm8k-grpo --baseline_model Qwen/Qwen2.5-0.5B-Instruct \
        --dataset_name openai/gsm8k --dataset_config main --dataset_split test --push_to_hub

Rows may be chat (messages), prompt/completion, question + answer, or text. Loss and perplexity count completion
tokens only (the last assistant turn, the completion, or the answer). With an answer column (answer, solution, ...)
greedy generations are scored: exact match of the final answer, and accuracy with tolerant numeric matching
(1/2 == 0.5 == \\frac{1}{2}; 1,234 == 1234), as GRPO's accuracy reward does. The token is read only from HF_TOKEN.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path


def _is_adapter(name_or_path: str, token: str | None) -> bool:
    path = Path(name_or_path).expanduser()
    if path.exists():
        return (path / "adapter_config.json").is_file()
    from huggingface_hub import HfApi

    return HfApi(token=token).file_exists(name_or_path, "adapter_config.json")


def _adapter_base(name_or_path: str, token: str | None) -> str:
    path = Path(name_or_path).expanduser()
    if path.exists():
        config = json.loads((path / "adapter_config.json").read_text(encoding="utf-8"))
    else:
        from huggingface_hub import hf_hub_download

        config = json.loads(Path(hf_hub_download(name_or_path, "adapter_config.json", token=token))
                            .read_text(encoding="utf-8"))
    return config["base_model_name_or_path"]


def load_model_for_eval(name_or_path: str, *, adapter_base: str | None = None, trust_remote_code: bool = False,
                        token: str | None = None):
    """(model, tokenizer, description): a full model, or a LoRA adapter loaded on its base (read from the
    adapter's config unless `adapter_base` is given). bf16/fp16 on a GPU, float32 on CPU; eval mode."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cuda = torch.cuda.is_available()
    dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else torch.float32
    kwargs = {"dtype": dtype, "trust_remote_code": trust_remote_code, "token": token}
    if cuda:  # spread a model too big for one GPU over all of them
        kwargs["device_map"] = "auto"
    adapter = _is_adapter(name_or_path, token)
    base = (adapter_base or _adapter_base(name_or_path, token)) if adapter else name_or_path
    model = AutoModelForCausalLM.from_pretrained(base, **kwargs)
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, name_or_path, token=token)
    try:  # an adapter folder usually carries the (possibly extended) tokenizer it was trained with
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=trust_remote_code, token=token)
    except (OSError, ValueError):
        tokenizer = AutoTokenizer.from_pretrained(base, trust_remote_code=trust_remote_code, token=token)
    model.eval()
    description = f"{name_or_path} (LoRA adapter on {base})" if adapter else name_or_path
    return model, tokenizer, description


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model_name_or_path", required=True, help="Hub id or local folder: a model or an adapter.")
    parser.add_argument("--adapter_base", default=None,
                        help="Base model of a LoRA adapter (default: the one named in adapter_config.json).")
    parser.add_argument("--baseline_model", default=None,
                        help="Also evaluate this model (e.g. the base) and report both and the difference.")
    parser.add_argument("--dataset_name", required=True, help="Hub dataset id or a local data file/folder.")
    parser.add_argument("--dataset_config", default=None)
    parser.add_argument("--dataset_split", default=None,
                        help="Split to evaluate (default: test, else validation, else train).")
    parser.add_argument("--max_length", type=int, default=1024, help="Tokens per row (longer rows are cut).")
    parser.add_argument("--per_device_eval_batch_size", type=int, default=8)
    parser.add_argument("--trust_remote_code", action="store_true")
    add_eval_arguments(parser, baseline=False)
    parser.add_argument("--output_dir", default=None,
                        help="Where results/ and README.md go (default: the model folder when it is local, else "
                             "outputs/eval-<model>).")
    parser.add_argument("--push_to_hub", action="store_true",
                        help="Upload results/ and the card section to --hub_model_id (default: the evaluated repo).")
    parser.add_argument("--hub_model_id", default=None)
    parser.add_argument("--json", action="store_true", help="Print a one-line JSON summary at the end.")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def _load_rows(args) -> tuple[list[dict], str]:
    import datasets

    path = Path(args.dataset_name).expanduser()
    if path.exists():
        builder, files = _local_data_files(path)
        # a dict of splits (test.jsonl, validation.jsonl, ... in a folder), or one list for a single file
        loaded = datasets.load_dataset(builder, data_files=files if isinstance(files, dict) else {"train": files})
    else:
        loaded = datasets.load_dataset(args.dataset_name, args.dataset_config)
    split = args.dataset_split or next((s for s in ("test", "validation", "train") if s in loaded), None)
    if split not in loaded:
        raise ScriptError(f"Split {split!r} not found in {args.dataset_name}; it has: {', '.join(loaded)}. "
                          "Pass --dataset_split.")
    if split == "train" and not args.dataset_split:
        print(f"note: {args.dataset_name} has no test/validation split: evaluating rows of 'train'", flush=True)
    return eval_rows(loaded[split], args.max_eval_samples), split


def _evaluate(name: str, args, rows: list[dict], adapter_base: str | None) -> tuple[dict, str]:
    if rows_have_images(rows):  # image rows: the model's processor and AutoModelForImageTextToText (runtime/vision.py)
        model, processor, description = load_vision_model_for_eval(
            name, adapter_base=adapter_base, trust_remote_code=args.trust_remote_code, token=os.environ.get("HF_TOKEN"))
        print(f"Evaluating {description} on {len(rows)} image rows", flush=True)
        try:
            return evaluate_vision_model(model, processor, rows, max_new_tokens=args.max_new_tokens,
                                         num_samples=args.num_samples), description
        except ValueError as exc:
            raise ScriptError(f"{args.dataset_name}: {exc}") from None
    model, tokenizer, description = load_model_for_eval(name, adapter_base=adapter_base,
                                                        trust_remote_code=args.trust_remote_code,
                                                        token=os.environ.get("HF_TOKEN"))
    print(f"Evaluating {description} on {len(rows)} rows", flush=True)
    try:
        result = evaluate_model(model, tokenizer, rows, max_length=args.max_length,
                                batch_size=args.per_device_eval_batch_size, max_new_tokens=args.max_new_tokens,
                                num_samples=args.num_samples, answer_column=args.answer_column)
    except ValueError as exc:
        raise ScriptError(f"{args.dataset_name}: {exc}") from None
    return result, description


def _write(folder: Path, evaluation: dict) -> list[str]:
    """results/ files and the README.md evaluation section in a local folder."""
    written = []
    for relative, text in result_files(evaluation).items():
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(str(target))
    card = folder / "README.md"
    old = card.read_text(encoding="utf-8") if card.is_file() else f"# {evaluation['model_name']}\n"
    card.write_text(upsert_card_section(old, card_section(evaluation)), encoding="utf-8")
    written.append(str(card))
    return written


def _push(repo_id: str, evaluation: dict) -> str:
    """One commit to the model repo: results/ files and the card with its evaluation section replaced."""
    from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    token = os.environ.get("HF_TOKEN")
    if not token:
        raise ScriptError("--push_to_hub needs a token in HF_TOKEN (on HF Jobs: --secrets HF_TOKEN).")
    api = HfApi(token=token)
    try:
        old = Path(hf_hub_download(repo_id, "README.md", token=token)).read_text(encoding="utf-8")
    except EntryNotFoundError:
        old = f"# {repo_id}\n"
    files = {**result_files(evaluation), "README.md": upsert_card_section(old, card_section(evaluation))}
    api.create_commit(repo_id, operations=[CommitOperationAdd(path, text.encode("utf-8")) for path, text in
                                           files.items()], commit_message="hf-trainer: evaluation results")
    return hub_url(repo_id)


def main(args: argparse.Namespace) -> int:
    started = time.time()
    if on_hf_jobs() and not args.push_to_hub:
        print("warning: on HF Jobs the results folder is discarded with the container; only this log keeps the "
              "numbers. Add --push_to_hub to write them to the model repo.", flush=True)
    rows, split = _load_rows(args)
    if not rows:
        raise ScriptError(f"Split {split!r} of {args.dataset_name} is empty.")
    tuned, description = _evaluate(args.model_name_or_path, args, rows, args.adapter_base)
    evaluation = {"dataset": args.dataset_name, "split": split, "model_name": args.model_name_or_path,
                  "model_description": description}
    if args.baseline_model:
        base, _ = _evaluate(args.baseline_model, args, rows, None)
        evaluation.update(base_name=args.baseline_model, base=base, fine_tuned=tuned, comparison=compare(base, tuned))
    else:
        evaluation["model"] = tuned

    local = Path(args.model_name_or_path).expanduser()
    folder = Path(args.output_dir) if args.output_dir else (
        local if local.is_dir() else Path("outputs") / f"eval-{args.model_name_or_path.rstrip('/').split('/')[-1]}")
    written = _write(folder, evaluation)
    summary = {
        "model": args.model_name_or_path, "dataset": args.dataset_name, "split": split, "rows": tuned["rows"],
        **{key: tuned.get(key) for key in COMPARED if tuned.get(key) is not None},
        "comparison": evaluation.get("comparison"), "files": written, "runtime_seconds": time.time() - started,
    }
    if args.push_to_hub:
        repo = args.hub_model_id or (None if local.exists() else args.model_name_or_path)
        if repo is None:
            raise ScriptError("--push_to_hub with a local model needs --hub_model_id (the repo to write to).")
        summary["hub_url"] = _push(repo, evaluation)
    if args.json:
        print(json.dumps(summary), flush=True)
        return 0
    print(comparison_table(evaluation["comparison"], args.baseline_model, args.model_name_or_path)
          if evaluation.get("comparison") else single_table(tuned))
    for sample in tuned["samples"][:3]:
        print(f"\nprompt: {str(sample['prompt'])[:200]}\ngenerated: {sample['generated'][:200]}")
    print(f"\nResults: {summary.get('hub_url') or folder}", flush=True)
    return 0


# ===== generated runtime: do not edit; source: src/hf_trainer/runtime/ (regenerate: make sync-scripts) =====
# runtime modules: basics, evaluation, vision_models

# ----- runtime/file_types.py -----
"""The one list of local dataset file types: dataset inspection samples exactly these (runtime/dataset_files.py) and
the training scripts load exactly these (runtime/train_common.py), with the `datasets` builder and options each needs.

Pure standard library; small on purpose, because every training script carries it.
"""

import json
from pathlib import Path
from typing import Any

# Text is read in chunks of this size.
_CHUNK = 1 << 20
# suffix -> (reader here, `datasets` builder, builder options). A JSON file holding {"data": [rows]} also needs the
# builder's `field` option: see json_rows_field.
FILE_TYPES = {
    ".jsonl": ("jsonl", "json", {}), ".ndjson": ("jsonl", "json", {}), ".json": ("json", "json", {}),
    ".csv": ("csv", "csv", {}), ".tsv": ("csv", "csv", {"delimiter": "\t"}),
    ".parquet": ("parquet", "parquet", {}), ".arrow": ("arrow", "arrow", {}), ".feather": ("arrow", "arrow", {}),
}
EXTENSIONS = {suffix: reader for suffix, (reader, _builder, _options) in FILE_TYPES.items()}


def builder_for(files: list[Path]) -> tuple[str, dict]:
    """The `datasets` builder and options that load these files (one type per dataset); ValueError otherwise."""
    specs = set()
    for path in files:
        suffix = Path(path).suffix.lower()
        if suffix not in FILE_TYPES:
            raise ValueError(f"{path} is not a supported data file: use {', '.join(FILE_TYPES)}.")
        _reader, builder, options = FILE_TYPES[suffix]
        if builder == "json" and suffix == ".json":
            field = json_rows_field(Path(path))
            options = {"field": field} if field else {}
        specs.add((builder, tuple(sorted(options.items()))))
    if len(specs) != 1:
        raise ValueError(f"the files mix types or layouts ({', '.join(sorted(str(spec) for spec in specs))}); keep "
                         "one type per dataset.")
    builder, options = specs.pop()
    return builder, dict(options)


def json_rows_field(path: Path) -> str | None:
    """The key of a .json file that is one object holding the list of rows ({"data": [...]}), else None."""
    with path.open("rb") as handle:
        head = handle.read(_CHUNK).decode("utf-8", errors="ignore").lstrip()
    if not head.startswith("{"):
        return None
    first_line, _, rest = head.partition("\n")
    try:
        first = json.loads(first_line)
    except json.JSONDecodeError:
        first = None
    if first is not None and (rest.strip() or not _row_lists(first)):
        return None  # JSON Lines saved as .json
    try:
        lists = _row_lists(json.loads(path.read_text(encoding="utf-8"))) if first is None else _row_lists(first)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return None
    return lists[0] if len(lists) == 1 else None


def _row_lists(data: Any) -> list[str]:
    """Keys of a JSON object whose values are lists of row objects."""
    if not isinstance(data, dict):
        return []
    return [key for key, value in data.items() if isinstance(value, list) and value and isinstance(value[0], dict)]

# ----- runtime/splits.py -----
"""Which split of a dataset to read: one rule for dataset inspection, the plan and the training scripts.

- A method's training split. Datasets that serve several uses name one split per use
  (HuggingFaceH4/ultrafeedback_binarized: train_prefs/test_prefs for preference methods, train_sft/test_sft for SFT,
  train_gen/test_gen for generation): a method reads its own `train_<use>`, else `train`, else the first split whose
  name starts with train, else the first split.
- The eval split beside it: the training split's name with train replaced by test, validation, ... (train_prefs ->
  test_prefs), else test, else validation.
- A local folder's splits, named from its files the way the Hub's exports name them:
  `train_prefs-00000-of-00001.parquet` and `data/train_prefs.jsonl` are split train_prefs, `val.jsonl` is
  validation, `train/part-0.parquet` is train; a file whose name says nothing is train.

Standard library only: the training scripts carry it (runtime/basics.py, runtime/train_common.py) and so does
scripts/inspect_dataset.py (runtime/dataset_files.py, runtime/dataset_viewer.py).
"""

import re
from pathlib import PurePath

# The use a method's split is named after, best first (split names as HuggingFaceH4's datasets write them).
METHOD_SPLIT_USES = {"sft": ("sft",), "dpo": ("prefs",), "reward": ("prefs",), "kto": ("prefs",),
                     "grpo": ("gen", "prompts")}
# Split words in file names, and the split each means (the Hub reads file names the same way).
SPLIT_WORDS = {"train": "train", "training": "train", "test": "test", "testing": "test", "validation": "validation",
               "valid": "validation", "val": "validation", "dev": "validation", "eval": "validation"}
# Words an eval split's name may start with in place of "train", best first.
EVAL_WORDS = ("test", "validation", "valid", "val", "dev", "eval")
# A split word followed by a use: train_prefs, test_sft.
_NAMED_SPLIT = re.compile(r"^(train|training|test|testing|validation|valid|val|dev|eval)(_[A-Za-z][A-Za-z0-9]*)+$",
                          re.IGNORECASE)
# Shard suffixes of exported files: -00000-of-00003, -0000, _3.
_SHARD = re.compile(r"(-\d{5}-of-\d{5}|[-_]\d+)$")


def train_split(names: list[str], method: str | None = None) -> str | None:
    """The split `method` trains on among `names` (None when there are none)."""
    lowered = {name.lower(): name for name in names}
    for use in METHOD_SPLIT_USES.get(method or "", ()):
        if f"train_{use}" in lowered:
            return lowered[f"train_{use}"]
    if "train" in names:
        return "train"
    trains = [name for name in names if name.lower().startswith("train")]
    if trains:
        return trains[0]
    return names[0] if names else None


def eval_split(names: list[str], train: str) -> str | None:
    """The eval split beside `train` among `names`: train_prefs -> test_prefs, then test, then validation."""
    lowered = {name.lower(): name for name in names}
    if train.lower().startswith("train"):
        rest = train.lower()[len("train"):]
        for word in EVAL_WORDS:
            if rest and word + rest in lowered:
                return lowered[word + rest]
    return next((name for name in ("test", "validation") if name in names and name != train), None)


def split_name(text: str) -> str | None:
    """The split a file or folder name stands for ('train_prefs-00000-of-00001' -> 'train_prefs', 'val' ->
    'validation'), or None when the name is not a split's."""
    stem = _SHARD.sub("", text)
    if stem.lower() in SPLIT_WORDS:
        return SPLIT_WORDS[stem.lower()]
    if _NAMED_SPLIT.match(stem):
        return stem
    return None


def split_of(relative: PurePath) -> str:
    """The split of a data file inside a dataset folder, from its path relative to the folder: the file's own name,
    then its folders (nearest first), then any split word in them; train when nothing names one."""
    parts = [PurePath(relative.name).stem.split(".")[0], *reversed(relative.parts[:-1])]
    for part in parts:
        found = split_name(part)
        if found:
            return found
    words = [w for w in re.split(r"[^a-z]+", "/".join(relative.parts[-2:]).lower()) if w]
    return next((SPLIT_WORDS[w] for w in words if w in SPLIT_WORDS), "train")

# ----- runtime/basics.py -----
"""What every bundled script shares, training or not: the one-line error and entry point, argument types, where it
runs (HF Jobs, which process), Hub URLs and local data files.

Kept apart from train_common so that scripts/evaluate.py and scripts/generate_responses.py carry only this (and the
modules they use), not the training machinery. Inlined into the scripts by `make sync-scripts`: standard library only.
"""

import argparse
import os
import sys
from pathlib import Path


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

# ----- runtime/rewards.py -----
"""GRPO reward functions chosen by name, tolerant answer matching, and loading reward functions from a file.

Pure standard library on purpose: this file is inlined verbatim into scripts/train_grpo.py (HF Jobs runs one file), and
the evaluation code reuses `answers_match` / `extract_answer`. Reward functions follow TRL's GRPOTrainer contract:
`func(prompts, completions, completion_ids, **kwargs) -> list[float | None]`, where `completions` are strings (standard
prompts) or lists of one assistant message (conversational prompts), and every other dataset column (e.g. `answer`)
arrives as a keyword argument holding one value per completion. None means "no opinion" (TRL ignores it).

Public API (stable): `REWARD_NAMES`, `build_reward_funcs(names, ...)`, `load_reward_file(path)`, `accuracy`,
`think_format`, `make_length_penalty`, `answers_match`, `extract_answer`, `parse_number`, `completion_text`.
"""

import importlib.util
import math
import re
from fractions import Fraction
from pathlib import Path
from typing import Callable

# --- reading completions and answers ------------------------------------------------------------------------------


def completion_text(completion) -> str:
    """The text of one completion: a string, or the content of the last message of a conversational completion."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion:
        last = completion[-1]
        if isinstance(last, dict):
            content = last.get("content")
            if isinstance(content, list):  # multimodal content parts: keep the text parts
                return "".join(part.get("text", "") for part in content if isinstance(part, dict))
            return content or ""
    if isinstance(completion, dict):
        return completion.get("content") or ""
    return ""


def _boxed(text: str) -> str | None:
    """The content of the last \\boxed{...} (or \\fbox{...}), with nested braces balanced."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    brace = text.find("{", start)
    if brace < 0:
        # `\boxed 5` (no braces): the next token
        rest = text[start:].split(None, 2)
        return rest[1] if len(rest) > 1 else None
    depth = 0
    for index in range(brace, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return text[brace + 1:index]
    return None  # unbalanced: no trustworthy answer


# Phrases that introduce a final answer, in the order they are trusted.
_ANSWER_MARKERS = (
    re.compile(r"####\s*(.+)"),  # GSM8K references
    re.compile(r"<answer>\s*(.*?)\s*</answer>", re.DOTALL | re.IGNORECASE),
    re.compile(r"(?:final answer|the answer is|answer)\s*(?:is)?\s*[:=]?\s*(.+)", re.IGNORECASE),
)
_NUMBER = re.compile(r"[-+\u2212]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+\u2212]?\.\d+")


def extract_answer(text: str) -> str | None:
    """The final answer a text gives: \\boxed{...}, `#### x`, <answer>...</answer>, 'the answer is x', else the last
    number in the text (after any </think> block). None when there is nothing answer-like."""
    if text is None:
        return None
    text = str(text)
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    boxed = _boxed(text)
    if boxed is not None:
        return boxed.strip()
    for marker in _ANSWER_MARKERS:
        found = marker.findall(text)
        if found:
            answer = found[-1].strip().splitlines()[0].strip() if found[-1].strip() else ""
            if answer:
                return answer
    numbers = _NUMBER.findall(text)
    return numbers[-1] if numbers else None


def _unwrap_latex(text: str) -> str:
    """Strip the LaTeX that does not change a value: $...$, \\text{}, \\left/\\right, spacing, \\dfrac -> \\frac."""
    text = text.strip().strip("$").strip()
    for wrapper in ("\\boxed", "\\text", "\\textbf", "\\mathrm", "\\mbox"):
        while wrapper + "{" in text:
            start = text.index(wrapper + "{")
            inner = _boxed("\\boxed" + text[start + len(wrapper):]) or ""
            end = start + len(wrapper) + len(inner) + 2
            text = text[:start] + inner + text[end:]
    text = text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    for noise in ("\\left", "\\right", "\\!", "\\,", "\\;", "\\:", "\\ ", "\\%", "\\$", "^\\circ", "^{\\circ}", "\\circ"):
        text = text.replace(noise, "" if noise not in ("\\%",) else "%")
    return text.strip()


_FRAC = re.compile(r"^([-+]?)\\frac\s*\{([^{}]+)\}\s*\{([^{}]+)\}$|^([-+]?)\\frac\s*(\d)(\d)$")
_SLASH = re.compile(r"^([-+]?\d+(?:\.\d+)?)\s*/\s*([-+]?\d+(?:\.\d+)?)$")
# A number followed by words/units/percent: "12 apples", "5 cm", "50%", "3.5 km/h".
_LEADING_NUMBER = re.compile(
    r"^([-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+)\s*(?:%|[A-Za-z°][\w°/^.\s]*)?\.?$")


def parse_number(text) -> float | None:
    """A number written plainly or in LaTeX: 0.5, 1/2, \\frac{1}{2}, \\boxed{0.5}, 1,234, $12, 12 apples, 50%.
    None when the text is not a single number."""
    if text is None:
        return None
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    text = _unwrap_latex(str(text)).replace("\u2212", "-").replace("$", "").strip().rstrip(".").strip()
    if not text:
        return None
    frac = _FRAC.match(text)
    if frac:
        sign, top, bottom = (frac.group(1), frac.group(2), frac.group(3)) if frac.group(2) else (
            frac.group(4), frac.group(5), frac.group(6))
        top_value, bottom_value = parse_number(top), parse_number(bottom)
        if top_value is None or bottom_value in (None, 0):
            return None
        value = top_value / bottom_value
        return -value if sign == "-" else value
    slash = _SLASH.match(text)
    if slash:
        bottom = float(slash.group(2))
        return float(Fraction(slash.group(1)) / Fraction(slash.group(2))) if bottom else None
    lead = _LEADING_NUMBER.match(text)
    if lead:
        try:
            return float(lead.group(1).replace(",", ""))
        except ValueError:
            return None
    return None


def _normal_text(text: str) -> str:
    """Text answers compared loosely: LaTeX wrappers, case, spaces and a trailing full stop do not matter."""
    text = _unwrap_latex(str(text)).lower().rstrip(".").strip()
    return re.sub(r"\s+", "", text)


def reference_answer(reference) -> str | None:
    """The answer inside a reference solution: GSM8K's `... #### 72`, a \\boxed{} answer, or the whole value."""
    if reference is None:
        return None
    if isinstance(reference, (int, float)) and not isinstance(reference, bool):
        return str(reference)
    text = str(reference)
    if "####" in text:
        return text.rsplit("####", 1)[1].strip()
    boxed = _boxed(text)
    return boxed.strip() if boxed is not None else text.strip()


def answers_match(predicted, reference, rel_tol: float = 1e-6, abs_tol: float = 1e-9) -> bool:
    """Whether a predicted answer equals a reference: numerically when both are numbers (0.5 == 1/2 == \\frac{1}{2}
    == \\boxed{0.5}; 1,234 == 1234; '12 apples' == 12), else as normalised text."""
    if predicted is None or reference is None:
        return False
    left, right = parse_number(predicted), parse_number(reference)
    if left is not None and right is not None:
        return math.isclose(left, right, rel_tol=rel_tol, abs_tol=abs_tol)
    if left is not None or right is not None:
        return False
    return _normal_text(predicted) == _normal_text(reference) != ""


# --- reward functions ---------------------------------------------------------------------------------------------


def accuracy(completions, answer=None, **kwargs) -> list[float | None]:
    """1.0 when the completion's final answer matches the row's `answer` column (tolerantly), else 0.0.
    None for rows with no reference answer."""
    if answer is None:
        raise ValueError("the 'accuracy' reward needs an 'answer' column in the dataset (the reference answer of "
                         "each prompt); pass --answer_column NAME if it has another name")
    rewards: list[float | None] = []
    for completion, reference in zip(completions, answer):
        expected = reference_answer(reference)
        if expected is None or expected == "":
            rewards.append(None)
            continue
        rewards.append(1.0 if answers_match(extract_answer(completion_text(completion)), expected) else 0.0)
    return rewards


_THINK_FORMAT = re.compile(r"^\s*<think>(?!.*<think>)(.+?)</think>\s*(\S.*)$", re.DOTALL)


def think_format(completions, **kwargs) -> list[float]:
    """1.0 when the completion reasons inside one <think>...</think> block and then gives a non-empty answer.
    (The opening tag may come from the chat template's generation prompt, so a completion that starts inside
    the block also counts.)"""
    rewards = []
    for completion in completions:
        text = completion_text(completion)
        ok = bool(_THINK_FORMAT.match(text))
        if not ok and "<think>" not in text and text.count("</think>") == 1:
            reasoning, _, answer = text.partition("</think>")
            ok = bool(reasoning.strip()) and bool(answer.strip())
        rewards.append(1.0 if ok else 0.0)
    return rewards


def make_length_penalty(target_tokens: int = 256, max_penalty: float = 1.0) -> Callable:
    """A reward that is 0 up to `target_tokens` completion tokens and falls linearly to -max_penalty at twice that,
    discouraging rambling without rewarding empty answers."""
    if target_tokens <= 0:
        raise ValueError(f"length penalty target {target_tokens} must be a positive number of tokens")

    def length_penalty(completions, completion_ids=None, **kwargs) -> list[float]:
        lengths = ([len(ids) for ids in completion_ids] if completion_ids is not None
                   else [len(completion_text(c).split()) for c in completions])
        return [-max_penalty * min(1.0, max(0, n - target_tokens) / target_tokens) for n in lengths]

    return length_penalty


# Names accepted by --reward_funcs, and what each needs.
REWARD_NAMES = {
    "accuracy": "1.0 when the final answer matches the 'answer' column (numbers and LaTeX compared tolerantly)",
    "format": "1.0 for <think>reasoning</think> followed by an answer",
    "length_penalty": "0 up to --length_target tokens, down to -1 at twice that",
}


def build_reward_funcs(names: list[str], length_target: int = 256) -> list[Callable]:
    """The reward functions called `names` (see REWARD_NAMES). Unknown name -> ValueError naming the known ones."""
    funcs = []
    for name in names:
        if name == "accuracy":
            funcs.append(accuracy)
        elif name in ("format", "think_format"):
            funcs.append(think_format)
        elif name == "length_penalty":
            funcs.append(make_length_penalty(length_target))
        else:
            raise ValueError(f"unknown reward function {name!r}; known: {', '.join(REWARD_NAMES)} (or pass a Python "
                             "file of your own with --reward_funcs_file)")
    return funcs


def load_reward_file(path) -> list[Callable]:
    """Reward functions from a Python file: its `REWARD_FUNCS` list if it defines one, else every top-level function
    whose name ends in `_reward` or starts with `reward_`. ValueError when the file has none or cannot be loaded."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"reward functions file {str(path)!r} does not exist")
    spec = importlib.util.spec_from_file_location(f"hf_trainer_user_rewards_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ValueError(f"{path} is not a Python file (name it *.py)")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise ValueError(f"{path} has a syntax error at line {exc.lineno}: {exc.msg}") from None
    declared = getattr(module, "REWARD_FUNCS", None)
    if declared is not None:
        funcs = list(declared)
        bad = [repr(f) for f in funcs if not callable(f)]
        if bad or not funcs:
            raise ValueError(f"REWARD_FUNCS in {path} must be a non-empty list of functions (got {', '.join(bad)})")
        return funcs
    funcs = [value for name, value in vars(module).items()
             if callable(value) and getattr(value, "__module__", None) == module.__name__
             and not name.startswith("_") and (name.endswith("_reward") or name.startswith("reward_"))]
    if not funcs:
        raise ValueError(f"{path} defines no reward functions: name them *_reward (or reward_*), or list them in "
                         "REWARD_FUNCS = [...]. Each takes (completions, **kwargs) and returns one float per completion.")
    return funcs

# ----- runtime/evaluation.py -----
"""Evaluate a causal LM on held-out rows: loss, perplexity, a task metric, sample generations; compare two models.

Standard library at the top on purpose: this module is inlined verbatim into scripts/evaluate.py and the training
scripts (`--eval_baseline`), because HF Jobs runs a single file. torch, transformers and peft are imported inside the
functions that need them. Rows may be chat (`messages`), prompt/completion (strings or messages), question/prompt with
an answer column, or plain `text`; the loss counts only completion tokens when a row has a prompt.

Public API (stable): `add_eval_arguments(parser)`, `split_row(row, answer_column)`,
`evaluate_model(model, tokenizer, rows, ...)`, `compare(base, tuned)`, `comparison_table(...)`, `card_section(...)`,
`upsert_card_section(card, section)`, `result_files(evaluation)`, `baseline_then_compare(...)`,
`baseline_if_asked(args, train_dataset, eval_dataset, model_init_kwargs)`.
"""

import json
import math
import re


ANSWER_COLUMNS = ("answer", "solution", "ground_truth", "reference", "target")
EVAL_PROMPT_COLUMNS = ("prompt", "question", "instruction", "input", "query", "problem")
CARD_START = "<!-- hf-trainer:evaluation:start -->"
CARD_END = "<!-- hf-trainer:evaluation:end -->"
# Metrics compared between a base and a fine-tuned model; for the first two lower is better.
COMPARED = ("loss", "perplexity", "exact_match", "accuracy")
LOWER_IS_BETTER = {"loss", "perplexity"}


def add_eval_arguments(parser, baseline: bool = True) -> None:
    """Evaluation options shared by scripts/evaluate.py and (with `baseline`) the training scripts."""
    group = parser.add_argument_group("evaluation")
    if baseline:
        group.add_argument("--eval_baseline", action="store_true",
                           help="Evaluate the base model before training and the result after; the card shows both.")
    group.add_argument("--max_eval_samples", type=int, default=200, help="Evaluate at most N rows (0: all).")
    if "--answer_column" not in parser._option_string_actions:  # GRPO's own --answer_column (its rewards) serves
        group.add_argument("--answer_column", default=None,
                           help="Reference answers for the task metric (default: 'answer' or 'solution' when present).")
    group.add_argument("--max_new_tokens", type=int, default=128, help="Tokens generated per sample / task row.")
    group.add_argument("--num_samples", type=int, default=5, help="Sample generations saved with the results.")


# --- rows -----------------------------------------------------------------------------------------------------


def _is_chat(value) -> bool:
    return isinstance(value, list) and bool(value) and isinstance(value[0], dict) and "role" in value[0]


def _completion_text(value) -> str:
    """A completion's text: a string, or the content of its last message."""
    if isinstance(value, list) and value and isinstance(value[-1], dict):
        return str(value[-1].get("content") or "")
    return "" if value is None else str(value)


def split_row(row: dict, answer_column: str | None = None) -> dict | None:
    """{prompt (str or messages) or None, completion (str or None), answer (str or None)}; None for unusable rows."""
    answer_key = answer_column or next((c for c in ANSWER_COLUMNS if row.get(c) not in (None, "")), None)
    answer = row.get(answer_key) if answer_key else None
    answer = None if answer in (None, "") else str(answer)
    if "completion" in row and row.get("label") is not None and row["label"] in (False, 0, "false", "False"):
        return None  # KTO: an undesirable completion is not what the model should learn to say
    messages = row.get("messages")
    if not _is_chat(messages) and _is_chat(row.get("chosen")) and not row.get("prompt"):
        messages = row["chosen"]  # implicit preference: the preferred conversation
    if _is_chat(messages):
        if messages[-1].get("role") == "assistant" and len(messages) > 1:
            return {"prompt": messages[:-1], "completion": _completion_text(messages), "answer": answer}
        return {"prompt": messages, "completion": None, "answer": answer}
    prompt_key = next((c for c in EVAL_PROMPT_COLUMNS if row.get(c) not in (None, "", [])), None)
    if prompt_key is not None:
        prompt = row[prompt_key]
        completion = row.get("completion")
        if completion in (None, "", []) and "chosen" in row:  # preference data: the preferred answer
            completion = row.get("chosen")
        if completion in (None, "", []) and answer is not None and answer_key != prompt_key:
            completion = answer  # a question with its reference solution: score the solution
        return {"prompt": prompt if _is_chat(prompt) else str(prompt),
                "completion": _completion_text(completion) if completion not in (None, "", []) else None, "answer": answer}
    for key in ("text", "chosen"):  # plain text, or an implicit preference pair's preferred text
        if isinstance(row.get(key), str) and row[key].strip():
            return {"prompt": None, "completion": row[key], "answer": answer}
    return None


def _render_prompt(tokenizer, prompt) -> str:
    if prompt is None:
        return ""
    if isinstance(prompt, list):
        return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    return prompt


def _encode(tokenizer, example: dict, max_length: int) -> tuple[list[int], list[int]] | None:
    """(input_ids, labels) with the prompt's tokens masked (-100); None when no token is left to score."""
    chat = isinstance(example["prompt"], list)
    prompt_text = _render_prompt(tokenizer, example["prompt"])
    if chat and example["completion"] is not None:
        full_text = tokenizer.apply_chat_template(
            example["prompt"] + [{"role": "assistant", "content": example["completion"]}], tokenize=False)
        if not full_text.startswith(prompt_text):
            full_text = prompt_text + example["completion"]
    else:
        full_text = prompt_text + (example["completion"] or "")
    # Chat templates write their own special tokens; plain text gets the tokenizer's (e.g. a BOS token).
    special = not chat
    prompt_ids = tokenizer(prompt_text, add_special_tokens=special)["input_ids"] if prompt_text else []
    ids = tokenizer(full_text, add_special_tokens=special)["input_ids"][:max_length]
    masked = min(len(prompt_ids), len(ids)) if example["completion"] is not None else 0
    labels = [-100] * masked + ids[masked:]
    if sum(1 for label in labels[1:] if label != -100) == 0:
        return None
    return ids, labels


# --- metrics --------------------------------------------------------------------------------------------------


def _last_line(text: str) -> str | None:
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1] if lines else None


def _normal(text) -> str:
    return re.sub(r"\s+", " ", str(text)).strip().strip(".").lower()


def score_answers(outputs: list[str], references: list[str]) -> dict:
    """The task metric of generated `outputs` against reference answers: exact_match (the final answers, extracted
    and normalised, are equal) and accuracy (tolerant matching, 1/2 == 0.5 == \\frac{1}{2}, as GRPO's accuracy reward
    does). One implementation for scripts/evaluate.py, the training scripts' --eval_baseline and the package."""
    if len(outputs) != len(references) or not references:
        raise ValueError(f"{len(outputs)} outputs for {len(references)} reference answers: need one each, at least one")
    exact = tolerant = 0
    for output, reference in zip(outputs, references):
        expected = reference_answer(reference)
        predicted = extract_answer(output)
        exact += int(predicted is not None and expected is not None and _normal(predicted) == _normal(expected))
        tolerant += int(bool(answers_match(predicted, expected)))
    return {"exact_match": exact / len(references), "accuracy": tolerant / len(references)}


def _loss(model, batch: list[tuple[list[int], list[int]]], pad_id: int) -> tuple[float, int]:
    """Summed token loss and scored-token count of one batch (right padding)."""
    import torch

    width = max(len(ids) for ids, _ in batch)
    ids = torch.tensor([i + [pad_id] * (width - len(i)) for i, _ in batch], device=model.device)
    labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in batch], device=model.device)
    mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i, _ in batch], device=model.device)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits.float()
    shift_logits, shift_labels = logits[:, :-1].reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1)
    total = torch.nn.functional.cross_entropy(shift_logits, shift_labels, ignore_index=-100, reduction="sum")
    return float(total), int((shift_labels != -100).sum())


def _generate(model, tokenizer, prompts: list[str], max_new_tokens: int, batch_size: int) -> list[str]:
    """Greedy continuations of rendered prompts (left padding, so every row ends where generation starts)."""
    import torch

    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out: list[str] = []
    try:
        for start in range(0, len(prompts), batch_size):
            chunk = prompts[start:start + batch_size]
            special = not any(p.startswith(tokenizer.bos_token or "\0") for p in chunk)
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            enc = tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=special).to(model.device)
            with torch.no_grad():
                generated = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad_id)
            for row in generated[:, enc["input_ids"].shape[1]:]:
                out.append(tokenizer.decode(row, skip_special_tokens=True).strip())
    finally:
        tokenizer.padding_side = side
    return out


def evaluate_model(model, tokenizer, rows: list[dict], *, max_length: int = 1024, batch_size: int = 8,
                   max_new_tokens: int = 128, num_samples: int = 5, answer_column: str | None = None) -> dict:
    """Loss and perplexity over completion tokens; with reference answers, exact match and tolerant accuracy of
    greedy generations (numeric answers compared as numbers, as GRPO's accuracy reward does); sample generations."""
    examples = [e for e in (split_row(row, answer_column) for row in rows) if e is not None]
    if not examples:
        raise ValueError("no row has a usable format for evaluation: need messages, prompt/question (+ completion "
                         "or answer), or text")
    was_training = model.training
    model.eval()
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    encoded = [enc for enc in (_encode(tokenizer, e, max_length) for e in examples) if enc is not None]
    total, count = 0.0, 0
    for start in range(0, len(encoded), batch_size):
        loss_sum, tokens = _loss(model, encoded[start:start + batch_size], pad_id)
        total, count = total + loss_sum, count + tokens
    loss = total / count if count else None
    result = {"rows": len(examples), "scored_tokens": count, "loss": loss,
              "perplexity": (math.exp(loss) if loss < 700 else float("inf")) if loss is not None else None}

    task = [e for e in examples if e["answer"] is not None and e["prompt"] is not None]
    generate_for = task if task else [e for e in examples if e["prompt"] is not None][:num_samples]
    if not generate_for:  # plain text: continue the first half of each sample
        generate_for = [{"prompt": " ".join(e["completion"].split()[: max(1, len(e["completion"].split()) // 2)]),
                         "completion": e["completion"], "answer": None} for e in examples[:num_samples]]
    outputs = _generate(model, tokenizer, [_render_prompt(tokenizer, e["prompt"]) for e in generate_for],
                        max_new_tokens, batch_size) if num_samples or task else []
    if task:
        result.update(task_rows=len(task), **score_answers(outputs, [e["answer"] for e in task]))
    result["samples"] = [
        {"prompt": e["prompt"], "reference": e["answer"] if e["answer"] is not None else e["completion"],
         "generated": output} for e, output in list(zip(generate_for, outputs))[:num_samples]]
    if was_training:
        model.train()
    return result


def compare(base: dict, tuned: dict) -> dict:
    """Each shared metric of two evaluations: base, fine-tuned, difference (fine-tuned minus base)."""
    table = {}
    for key in COMPARED:
        b, t = base.get(key), tuned.get(key)
        if b is None and t is None:
            continue
        diff = t - b if b is not None and t is not None and math.isfinite(b) and math.isfinite(t) else None
        table[key] = {"base": b, "fine_tuned": t, "difference": diff}
    return table


def _metric_text(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def comparison_table(comparison: dict, base_name: str = "base", tuned_name: str = "fine-tuned") -> str:
    """A markdown table: metric | base | fine-tuned | difference (with which direction is better)."""
    lines = [f"| metric | {base_name} | {tuned_name} | difference |", "|---|---|---|---|"]
    for key, row in comparison.items():
        diff = row["difference"]
        better = None if diff is None or diff == 0 else (diff < 0) == (key in LOWER_IS_BETTER)
        mark = "" if better is None else (" (better)" if better else " (worse)")
        note = " (lower is better)" if key in LOWER_IS_BETTER else ""
        lines.append(f"| {key.replace('_', ' ')}{note} | {_metric_text(row['base'])} | {_metric_text(row['fine_tuned'])} | "
                     f"{'n/a' if diff is None else f'{diff:+.4f}'}{mark} |")
    return "\n".join(lines)


def single_table(result: dict) -> str:
    lines = ["| metric | value |", "|---|---|"]
    for key in ("rows", "scored_tokens", *COMPARED):
        if result.get(key) is not None:
            lines.append(f"| {key.replace('_', ' ')} | {_metric_text(result[key])} |")
    return "\n".join(lines)


def card_section(evaluation: dict) -> str:
    """The model card's evaluation section (between markers, so a later evaluation replaces it)."""
    data = evaluation.get("dataset") or "the eval split"
    rows = (evaluation.get("fine_tuned") or evaluation.get("model") or {}).get("rows", "?")
    lines = [CARD_START, "## Evaluation", "",
             f"On `{data}` ({evaluation.get('split') or 'eval'} split, {rows} rows), by hf-trainer's "
             "scripts/evaluate.py. Loss and perplexity count completion tokens only.", ""]
    if evaluation.get("comparison"):
        lines += [comparison_table(evaluation["comparison"], f"base (`{evaluation.get('base_name', 'base')}`)",
                                   "fine-tuned"), ""]
    else:
        lines += [single_table(evaluation.get("model") or {}), ""]
    samples = (evaluation.get("fine_tuned") or evaluation.get("model") or {}).get("samples") or []
    if samples:
        lines += ["Sample generations are in `results/samples.jsonl`; full numbers in `results/evaluation.json`.", ""]
    lines.append(CARD_END)
    return "\n".join(lines) + "\n"


def upsert_card_section(card: str, section: str) -> str:
    """The card with its evaluation section replaced, or appended when it has none."""
    if CARD_START in card and CARD_END in card:
        head, _, rest = card.partition(CARD_START)
        _, _, tail = rest.partition(CARD_END)
        return head + section.rstrip("\n") + tail
    return card.rstrip("\n") + "\n\n" + section


def result_files(evaluation: dict) -> dict[str, str]:
    """Files to write under the model folder: results/evaluation.json (no samples) and results/samples.jsonl."""
    main = evaluation.get("fine_tuned") or evaluation.get("model") or {}
    summary = json.loads(json.dumps(evaluation, default=str))
    for key in ("fine_tuned", "base", "model"):
        if isinstance(summary.get(key), dict):
            summary[key].pop("samples", None)
    samples = "".join(json.dumps(sample, ensure_ascii=False) + "\n" for sample in main.get("samples") or [])
    return {"results/evaluation.json": json.dumps(summary, indent=2) + "\n", "results/samples.jsonl": samples}


def eval_rows(dataset, limit: int) -> list[dict]:
    """The first `limit` rows (all with 0) of a datasets.Dataset or list, as dicts."""
    count = len(dataset) if not limit else min(limit, len(dataset))
    return [dict(dataset[i]) for i in range(count)]


def baseline_then_compare(args, rows: list[dict], model_init_kwargs: dict):
    """For the training scripts' --eval_baseline: evaluate the base model now (loaded apart, then freed) and return
    a function `after(model, tokenizer)` that evaluates the trained model and builds the comparison. None (with a
    warning) when the rows cannot be scored: the training goes on without the comparison."""
    import gc

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    options = {"max_length": getattr(args, "max_length", None) or 1024,
               "batch_size": getattr(args, "per_device_eval_batch_size", None) or 8,
               "max_new_tokens": args.max_new_tokens, "num_samples": args.num_samples,
               "answer_column": args.answer_column}
    kwargs = {k: v for k, v in model_init_kwargs.items() if k != "quantization_config"}
    tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path, trust_remote_code=args.trust_remote_code)
    model = AutoModelForCausalLM.from_pretrained(args.model_name_or_path, **kwargs)
    if torch.cuda.is_available():
        model = model.to("cuda")
    print(f"Evaluating the base model {args.model_name_or_path} on {len(rows)} rows (--eval_baseline)", flush=True)
    try:
        base = evaluate_model(model, tokenizer, rows, **options)
    except ValueError as exc:  # the data cannot be scored: train anyway, without the comparison
        print(f"warning: --eval_baseline skipped: {exc}", flush=True)
        base = None
    del model
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if base is None:
        return None

    def after(trained, trained_tokenizer) -> dict:
        tuned = evaluate_model(trained, trained_tokenizer, rows, **options)
        evaluation = {"dataset": args.dataset_name, "split": "eval", "base_name": args.model_name_or_path,
                      "base": base, "fine_tuned": tuned, "comparison": compare(base, tuned)}
        # What results.finish_run puts beside the model: the card's section and the results/ files.
        return {**evaluation, "card_section": card_section(evaluation), "files": result_files(evaluation)}

    return after


def baseline_if_asked(args, train_dataset, eval_dataset, model_init_kwargs: dict):
    """--eval_baseline in a training script: score the base model now, on the rows the trained model is scored on
    after (the eval split, else the first training rows), and return `after` for results.finish_run. None when the
    flag is off, in --smoke, and in the other processes of a multi-GPU run (rank 0 evaluates)."""
    if not getattr(args, "eval_baseline", False) or args.smoke or not is_main_process():
        return None
    rows = eval_rows(eval_dataset if eval_dataset is not None else train_dataset, args.max_eval_samples)
    return baseline_then_compare(args, rows, model_init_kwargs)

# ----- runtime/image_rows.py -----
"""Whether rows carry images, and the text scripts' verdict on them: the little of runtime/vision.py that every
training script needs (the text scripts refuse image rows and name train_vlm.py), kept apart so they do not carry the
whole vision module."""

IMAGE_COLUMNS = ("images", "image")
VISION_METHODS = ("sft", "dpo")
VISION_SCRIPT = "scripts/train_vlm.py"


def image_column(row: dict) -> str | None:
    """The row's image column (`images` or `image`), or None for a text-only row."""
    return next((key for key in IMAGE_COLUMNS if key in row), None)


def rows_have_images(rows: list[dict]) -> bool:
    """Whether sample rows carry images (an `images` or `image` column in any row)."""
    return any(image_column(row) is not None for row in rows)


def text_script_image_verdict(rows: list[dict], method: str) -> dict:
    """The verdict of a text training script (train_sft.py, train_dpo.py, ...) on rows with images: INCOMPATIBLE,
    whatever the model, because those scripts load a tokenizer and train text; train_vlm.py trains them."""
    column = next(column for column in IMAGE_COLUMNS if any(column in row for row in rows))
    where = (f"{VISION_SCRIPT} --method {method}" if method in VISION_METHODS else VISION_SCRIPT)
    return {"verdict": "INCOMPATIBLE", "mapping": None, "reasons": [
        f"the rows carry images (column {column!r}), which a text-only model cannot see and this text script does not "
        f"load: train a vision-language model with {where}, or drop the {column!r} column to train on the text alone"]}

# ----- runtime/mappings.py -----
"""Named row mappings that turn common dataset shapes into TRL's formats; conversations stay messages.

Pure standard library on purpose: this file is inlined verbatim into the self-contained PEP 723 training scripts,
which call `map_row(args.dataset_mapping, row)` through `datasets.Dataset.map` with every old column removed. So each
mapping returns the whole new row: the TRL columns it builds plus the row's other columns (e.g. an `answer` that a GRPO
reward function reads), minus the columns it consumed and minus stray TRL column names that would confuse a trainer.
A mapping raises ValueError for a row it cannot convert faithfully (a missing column, None content, an unknown role)
rather than training on an empty or mislabelled turn.

Public API (stable): `MAPPINGS`, `map_row(name, row)`, `mapping_source(name)`.
"""

import inspect
from typing import Callable

# ShareGPT speaker names seen in public datasets, and the chat role each one means.
SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bard": "assistant",
    "bing": "assistant",
    "model": "assistant",
    "function_call": "assistant",
    "tool": "tool",
    "function_response": "tool",
    "observation": "tool",
}


# Column names TRL trainers read (plus ShareGPT's); never passed through, so a mapped row has exactly one format.
TRL_COLUMNS = ("text", "messages", "conversations", "prompt", "completion", "chosen", "rejected", "label")


def _row(row: dict, consumed: tuple, new: dict) -> dict:
    """The mapped row: the new TRL columns plus the row's other columns, minus those consumed."""
    kept = {key: value for key, value in row.items() if key not in consumed and key not in TRL_COLUMNS}
    kept.update(new)
    return kept


def _text(row: dict, key: str) -> str:
    """A required text column: present, a string and not None."""
    if key not in row:
        raise ValueError(f"row has no {key!r} column (columns: {sorted(row)})")
    value = row[key]
    if value is None:
        raise ValueError(f"column {key!r} is None")
    if not isinstance(value, str):
        raise ValueError(f"column {key!r} holds {type(value).__name__}, expected a string")
    return value


def _optional_text(row: dict, key: str) -> str:
    """An optional text column: missing or None reads as empty."""
    value = row.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"column {key!r} holds {type(value).__name__}, expected a string")
    return value


def _join(first: str, second: str) -> str:
    """Instruction plus its optional input/context, separated by a blank line."""
    return f"{first}\n\n{second}" if second.strip() else first


def _with_system(row: dict, messages: list) -> list:
    """Prepend a non-empty `system` column as a system message."""
    system = row.get("system")
    if isinstance(system, str) and system.strip() and not (messages and messages[0]["role"] == "system"):
        return [{"role": "system", "content": system}] + messages
    return messages


def sharegpt(row: dict) -> dict:
    """`conversations: [{from, value}]` -> `messages: [{role, content}]` (human->user, gpt->assistant, ...)."""
    turns = row.get("conversations")
    if not isinstance(turns, list):
        raise ValueError(f"column 'conversations' must be a list of turns, got {type(turns).__name__}")
    messages = []
    for index, turn in enumerate(turns):
        # Some exports keep ShareGPT's `conversations` column but already use role/content inside it.
        if not isinstance(turn, dict) or not ({"from", "value"} <= set(turn) or {"role", "content"} <= set(turn)):
            raise ValueError(f"conversations[{index}] must be a dict with 'from' and 'value', got {turn!r:.80}")
        speaker = str(turn["from"] if "from" in turn else turn["role"]).strip().lower()
        value = turn["value"] if "value" in turn else turn["content"]
        if speaker not in SHAREGPT_ROLES:
            raise ValueError(
                f"conversations[{index}] has unknown speaker {speaker!r}; known: {sorted(SHAREGPT_ROLES)}"
            )
        if value is None:
            raise ValueError(f"conversations[{index}] has no text (None)")
        messages.append({"role": SHAREGPT_ROLES[speaker], "content": str(value)})
    return _row(row, ("system",), {"messages": _with_system(row, messages)})


def sharegpt_prompt_only(row: dict) -> dict:
    """ShareGPT for GRPO: every turn before the last assistant turn becomes the conversational `prompt`."""
    messages = sharegpt(row)["messages"]
    if messages and messages[-1]["role"] == "assistant":
        messages = messages[:-1]
    if not messages:
        raise ValueError("conversation has no turn before the final assistant reply")
    return _row(row, ("system",), {"prompt": messages})


def messages_prompt_only(row: dict) -> dict:
    """`messages` for GRPO: every message before the last assistant message becomes the `prompt`."""
    messages = row.get("messages")
    if not isinstance(messages, list):
        raise ValueError(f"column 'messages' must be a list of messages, got {type(messages).__name__}")
    if messages and isinstance(messages[-1], dict) and messages[-1].get("role") == "assistant":
        messages = messages[:-1]
    if not messages:
        raise ValueError("conversation has no message before the final assistant reply")
    return _row(row, (), {"prompt": list(messages)})


ALPACA_COLUMNS = ("instruction", "input", "output", "system")


def alpaca(row: dict) -> dict:
    """`instruction`, optional `input`, `output` -> `messages` (user: instruction + input; assistant: output)."""
    user = _join(_text(row, "instruction"), _optional_text(row, "input"))
    messages = [{"role": "user", "content": user}, {"role": "assistant", "content": _text(row, "output")}]
    return _row(row, ALPACA_COLUMNS, {"messages": _with_system(row, messages)})


def alpaca_prompt_completion(row: dict) -> dict:
    """Alpaca -> conversational `prompt` / `completion` (loss on the answer only by TRL's default)."""
    messages = alpaca(row)["messages"]
    return _row(row, ALPACA_COLUMNS, {"prompt": messages[:-1], "completion": messages[-1:]})


def alpaca_prompt_only(row: dict) -> dict:
    """Alpaca for GRPO: the instruction (and input) as a conversational `prompt`; `output` stays for rewards."""
    return _row(row, ("instruction", "input", "system"), {"prompt": alpaca(row)["messages"][:-1]})


def dolly(row: dict) -> dict:
    """`instruction`, optional `context`, `response` -> `messages`."""
    user = _join(_text(row, "instruction"), _optional_text(row, "context"))
    messages = [{"role": "user", "content": user}, {"role": "assistant", "content": _text(row, "response")}]
    return _row(row, ("instruction", "context", "response", "system"), {"messages": _with_system(row, messages)})


def dolly_prompt_only(row: dict) -> dict:
    """Dolly for GRPO: the instruction (and context) as a conversational `prompt`; `response` stays for rewards."""
    return _row(row, ("instruction", "context", "system"), {"prompt": dolly(row)["messages"][:-1]})


def question_answer(row: dict) -> dict:
    """`question` / `answer` -> `messages`."""
    messages = [
        {"role": "user", "content": _text(row, "question")},
        {"role": "assistant", "content": _text(row, "answer")},
    ]
    return _row(row, ("question", "answer", "system"), {"messages": _with_system(row, messages)})


def question_answer_prompt_only(row: dict) -> dict:
    """`question` for GRPO as a conversational `prompt`; `answer` stays as a column for reward functions."""
    prompt = _with_system(row, [{"role": "user", "content": _text(row, "question")}])
    return _row(row, ("question", "system"), {"prompt": prompt})


def prompt_response(row: dict) -> dict:
    """`prompt` (a string) / `response` -> `messages`."""
    messages = [
        {"role": "user", "content": _text(row, "prompt")},
        {"role": "assistant", "content": _text(row, "response")},
    ]
    return _row(row, ("response", "system"), {"messages": _with_system(row, messages)})


def text_prompt_completion(row: dict) -> dict:
    """String `prompt` / `completion` -> conversational prompt/completion, so the chat template is applied."""
    return _row(row, ("system",), {
        "prompt": _with_system(row, [{"role": "user", "content": _text(row, "prompt")}]),
        "completion": [{"role": "assistant", "content": _text(row, "completion")}],
    })


def text_prompt_only(row: dict) -> dict:
    """String `prompt` -> conversational `prompt` (for GRPO with an instruct model's chat template)."""
    return _row(row, ("system",), {"prompt": _with_system(row, [{"role": "user", "content": _text(row, "prompt")}])})


# Column pairs that hold the two answers in "foreign" preference datasets, in the order they are tried.
PREFERENCE_COLUMNS = (
    ("chosen_response", "rejected_response"),
    ("response_chosen", "response_rejected"),
    ("chosen_text", "rejected_text"),
    ("chosen", "rejected"),
)
PROMPT_COLUMNS = ("prompt", "question", "instruction", "input")


def preference_columns(row: dict) -> dict:
    """`prompt`/`question` + `chosen_response`/`rejected_response` (or similar strings) -> conversational
    `prompt` / `chosen` / `rejected`."""
    prompt_key = next((key for key in PROMPT_COLUMNS if isinstance(row.get(key), str)), None)
    if prompt_key is None:
        raise ValueError(f"row has no prompt column among {list(PROMPT_COLUMNS)} (columns: {sorted(row)})")
    pair = next((pair for pair in PREFERENCE_COLUMNS if pair[0] in row and pair[1] in row), None)
    if pair is None:
        raise ValueError(f"row has no chosen/rejected column pair among {list(PREFERENCE_COLUMNS)}")
    return _row(row, (prompt_key, pair[0], pair[1], "system"), {
        "prompt": _with_system(row, [{"role": "user", "content": _text(row, prompt_key)}]),
        "chosen": [{"role": "assistant", "content": _text(row, pair[0])}],
        "rejected": [{"role": "assistant", "content": _text(row, pair[1])}],
    })


def _shared_turns(chosen: list, rejected: list) -> int:
    """How many leading turns chosen and rejected share (trl.data_utils.extract_prompt's rule, turn by turn)."""
    shared = 0
    while shared < min(len(chosen), len(rejected)) and chosen[shared] == rejected[shared]:
        shared += 1
    return shared


def extract_prompt(row: dict) -> dict:
    """Conversational `chosen` / `rejected` that repeat the prompt's turns (with or without a redundant string `prompt`,
    as in HuggingFaceH4/ultrafeedback_binarized) -> conversational `prompt` (the turns they share) / `chosen` /
    `rejected` (the rest), as trl.data_utils.extract_prompt does. When they share no turn, a string `prompt` becomes
    the user turn."""
    chosen, rejected = row.get("chosen"), row.get("rejected")
    for key, value in (("chosen", chosen), ("rejected", rejected)):
        if not isinstance(value, list) or not value or not all(isinstance(m, dict) and "role" in m for m in value):
            raise ValueError(f"column {key!r} must be a list of {{'role', 'content'}} messages, got {value!r:.80}")
    shared = _shared_turns(chosen, rejected)
    prompt = chosen[:shared]
    if not prompt:
        prompt = [{"role": "user", "content": _text(row, "prompt")}]
    if shared == len(chosen) or shared == len(rejected):
        raise ValueError("chosen and rejected are identical, or one is the other's prefix: nothing to prefer")
    return _row(row, ("system",), {"prompt": _with_system(row, prompt), "chosen": chosen[shared:],
                                   "rejected": rejected[shared:]})


def chosen_as_completion(row: dict) -> dict:
    """A preference row for SFT: `prompt` + `chosen` -> `prompt` / `completion`; without a prompt, `chosen` alone
    becomes `messages` (or `text`). A string prompt beside conversational chosen/rejected (ultrafeedback_binarized)
    is dropped for the conversation's own turns. The rejected answer is dropped."""
    chosen = row.get("chosen")
    if chosen is None or chosen == "" or chosen == []:
        raise ValueError("column 'chosen' is missing or empty")
    if isinstance(row.get("prompt"), str) and isinstance(chosen, list):
        mapped = extract_prompt(row)
        return _row(row, (), {"prompt": mapped["prompt"], "completion": mapped["chosen"]})
    if "prompt" in row:
        if row["prompt"] is None:
            raise ValueError("column 'prompt' is None")
        return _row(row, (), {"prompt": row["prompt"], "completion": chosen})
    return _row(row, (), {"messages": chosen} if isinstance(chosen, list) else {"text": chosen})


MAPPINGS: dict[str, Callable[[dict], dict]] = {
    "sharegpt": sharegpt,
    "sharegpt_prompt_only": sharegpt_prompt_only,
    "messages_prompt_only": messages_prompt_only,
    "alpaca": alpaca,
    "alpaca_prompt_completion": alpaca_prompt_completion,
    "alpaca_prompt_only": alpaca_prompt_only,
    "dolly": dolly,
    "dolly_prompt_only": dolly_prompt_only,
    "question_answer": question_answer,
    "question_answer_prompt_only": question_answer_prompt_only,
    "prompt_response": prompt_response,
    "text_prompt_completion": text_prompt_completion,
    "text_prompt_only": text_prompt_only,
    "preference_columns": preference_columns,
    "chosen_as_completion": chosen_as_completion,
    "extract_prompt": extract_prompt,
}


def _lookup(name: str) -> Callable[[dict], dict]:
    if name not in MAPPINGS:
        raise ValueError(f"Unknown dataset mapping {name!r}. Known mappings: {', '.join(sorted(MAPPINGS))}.")
    return MAPPINGS[name]


def map_row(name: str, row: dict) -> dict:
    """Apply the mapping called `name` to one row; returns the new TRL columns. Unknown name -> ValueError."""
    return _lookup(name)(row)


def _names(code) -> set:
    """Every name a code object (and the comprehensions nested in it) looks up; attribute names included."""
    names = set(code.co_names)
    for const in code.co_consts:
        if inspect.iscode(const):
            names |= _names(const)
    return names


def _dependencies(function: Callable, found: dict) -> None:
    """Collect, depth first, the module-level functions and constants that `function` refers to."""
    for global_name in sorted(_names(function.__code__)):
        # Attribute names (`__name__`, `get`) share co_names with globals; only this module's own names count.
        if global_name in found or global_name.startswith("__") or global_name not in globals():
            continue
        value = globals()[global_name]
        if inspect.isfunction(value) and value.__module__ == function.__module__:
            _dependencies(value, found)
            found[global_name] = inspect.getsource(value)
        elif isinstance(value, (dict, tuple, str)):
            found[global_name] = f"{global_name} = {value!r}\n"


def mapping_source(name: str) -> str:
    """Self-contained Python source of one mapping: its helpers, its constants and the function itself.

    `exec` it and call the function named `name` (also bound to `map_row`) on a row dict.
    """
    function = _lookup(name)
    found: dict[str, str] = {}
    _dependencies(function, found)
    parts = [f'"""Dataset mapping {name!r} from hf-trainer: {inspect.getdoc(function)}"""\n']
    parts += list(found.values())
    parts.append(inspect.getsource(function))
    parts.append(f"map_row = {function.__name__}\n")
    return "\n\n".join(part.rstrip("\n") + "\n" for part in parts)

# ----- runtime/vocabulary.py -----
"""Words all of hf-trainer shares, defined once: the training methods, the resume choices, the job-timeout rule.

The package imports them from here (`hf_trainer.runtime.vocabulary`); the runtime modules scripts carry import them
with a relative import, so scripts/estimate_cost.py and scripts/inspect_dataset.py carry the same definitions.
"""

import math
from typing import Literal, get_args

# The training methods, each a bundled script scripts/train_<method>.py.
Method = Literal["sft", "dpo", "grpo", "reward", "kto"]
METHODS: tuple[str, ...] = get_args(Method)

# --resume of the training scripts (runtime/resume.py): continue a matching checkpoint, start fresh, or insist.
Resume = Literal["auto", "never", "must"]
RESUME_CHOICES: tuple[str, ...] = get_args(Resume)

# A job's timeout is its estimate plus 25%, rounded up to the minute, never under 10 minutes: estimates err, and a
# job killed at 99% has spent all its money for nothing.
TIMEOUT_BUFFER = 1.25
MIN_TIMEOUT_SECONDS = 600


def timeout_seconds(estimated_seconds: float) -> int:
    """The timeout for a job estimated to run `estimated_seconds`: estimate + 25%, rounded up to the minute, at
    least 10 minutes."""
    return max(MIN_TIMEOUT_SECONDS, math.ceil(estimated_seconds * TIMEOUT_BUFFER / 60) * 60)

# ----- runtime/vision.py -----
"""Vision-language data and models: image columns, the common Hub shapes as named mappings, image and placeholder
checks, image tokens per image from a processor's configuration, and which parts of a model see images.

Every training script carries it (through dataset_formats, which hands image rows here), so it holds only what data
inspection, the scripts' row checks and the estimator need; the model side (which parts train, LoRA targets,
evaluation and generation with images) is in vision_models.py, which only the scripts that load a vision model carry.
Standard library at the top; PIL and transformers only inside the functions that need them; every name prefixed or
specific enough not to clash with the other runtime modules.

TRL's vision format (trl.data_utils.prepare_multimodal_messages): an `images` list (or a single `image`) beside
`messages`, `prompt`/`completion` or `prompt`/`chosen`/`rejected`; a message's content is either a string (TRL puts
every image before the first user turn) or a list of parts `{"type": "image"}` / `{"type": "text", "text": ...}`,
and the number of image parts must equal the number of images.
"""

import io
import math
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


IMAGE_PLACEHOLDER = "<image>"
# Methods train_vlm.py runs on image rows (TRL 1.16: SFTTrainer and DPOTrainer take vision data).
VISION_SHAPE_TEXT = {
    "vision_messages": "TRL vision (images + messages)",
    "vision_prompt_completion": "TRL vision (images + prompt/completion)",
    "vision_preference": "TRL vision preference (images + prompt/chosen/rejected)",
    "vision_text": "TRL vision (images + text with <image> placeholders)",
    "the_cauldron": "the_cauldron style (images + texts of user/assistant pairs)",
    "llava": "LLaVA style (image + conversations with <image> placeholders)",
    "image_caption": "image + caption",
    "vision_unknown": "images with no known text columns",
}
# Shapes that need a named mapping first, and the mapping's name.
VISION_SHAPE_MAPPING = {"the_cauldron": "the_cauldron", "llava": "llava", "image_caption": "image_caption"}
CAPTION_COLUMNS = ("caption", "captions", "description")
CAPTION_PROMPT = "Describe this image."
# Images the dataset viewer gives as URLs ({"src": ...}) that one inspection downloads, so it can decode them and count
# their tokens; the rest of the sample keeps its URLs (counted, not decoded).
VIEWER_IMAGES_FETCHED = 48
MAX_IMAGE_BYTES = 20 * 1024 * 1024  # one fetched image at most (a viewer asset is a few hundred KB)



# --- detection -------------------------------------------------------------------------------------------------


def row_images(row: dict) -> list:
    """The row's images as a list (a single `image` becomes a one-item list; None becomes no image)."""
    column = image_column(row)
    if column is None or row[column] is None:
        return []
    value = row[column]
    return list(value) if isinstance(value, (list, tuple)) else [value]


def vision_shape(row: dict) -> str | None:
    """The vision shape of one row (a key of VISION_SHAPE_TEXT), or None when it has no image column."""
    column = image_column(row)
    if column is None:
        return None
    keys = set(row)
    if column == "images" and "texts" in keys and isinstance(row["texts"], list):
        return "the_cauldron"
    if "conversations" in keys and isinstance(row["conversations"], list):
        return "llava"
    if {"prompt", "chosen", "rejected"} <= keys:
        return "vision_preference"
    if {"prompt", "completion"} <= keys:
        return "vision_prompt_completion"
    if "messages" in keys:
        return "vision_messages"
    if "text" in keys and isinstance(row["text"], str) and IMAGE_PLACEHOLDER in row["text"]:
        return "vision_text"
    if any(isinstance(row.get(key), str) for key in CAPTION_COLUMNS + ("text",)):
        return "image_caption"
    return "vision_unknown"


# --- named mappings ------------------------------------------------------------------------------------------------


def _vision_parts(text: str, images_left: list[int]) -> list[dict]:
    """Text with `<image>` placeholders -> content parts; counts the placeholders in images_left[0]."""
    parts: list[dict] = []
    pieces = text.split(IMAGE_PLACEHOLDER)
    for index, piece in enumerate(pieces):
        if index > 0:
            parts.append({"type": "image"})
            images_left[0] += 1
        piece = piece.strip("\n") if index > 0 or len(pieces) > 1 else piece
        if piece:
            parts.append({"type": "text", "text": piece})
    return parts


def _vision_kept(row: dict, consumed: tuple) -> dict:
    return {key: value for key, value in row.items() if key not in consumed and key not in IMAGE_COLUMNS}


def map_the_cauldron(row: dict) -> dict:
    """the_cauldron style: `images` + `texts: [{user, assistant}]` -> `images` + `messages` (every image before the
    first question, as in HuggingFaceM4/the_cauldron)."""
    texts = row.get("texts")
    if not isinstance(texts, list) or not texts:
        raise ValueError("column 'texts' must be a non-empty list of {user, assistant} pairs")
    images = row_images(row)
    messages: list[dict] = []
    for number, pair in enumerate(texts):
        if not isinstance(pair, dict) or not isinstance(pair.get("user"), str) or not isinstance(
                pair.get("assistant"), str):
            raise ValueError(f"texts[{number}] must have string 'user' and 'assistant' fields, got {pair!r:.80}")
        user = [{"type": "image"} for _ in images] if number == 0 else []
        user.append({"type": "text", "text": pair["user"]})
        messages += [{"role": "user", "content": user},
                     {"role": "assistant", "content": [{"type": "text", "text": pair["assistant"]}]}]
    return {**_vision_kept(row, ("texts",)), "images": images, "messages": messages}


def map_llava(row: dict) -> dict:
    """LLaVA style: `image` + `conversations: [{from, value}]` with `<image>` placeholders -> `images` + `messages`
    (the placeholder becomes an image part where it stood)."""
    conversations = row.get("conversations")
    if not isinstance(conversations, list) or not conversations:
        raise ValueError("column 'conversations' must be a non-empty list of {from, value} turns")
    images = row_images(row)
    seen = [0]
    messages = []
    for number, turn in enumerate(conversations):
        speaker = turn.get("from", turn.get("role")) if isinstance(turn, dict) else None
        value = turn.get("value", turn.get("content")) if isinstance(turn, dict) else None
        role = SHAREGPT_ROLES.get(str(speaker).lower())
        if role is None or not isinstance(value, str):
            raise ValueError(f"conversations[{number}] must have a known 'from' and a string 'value', got "
                             f"{turn!r:.80}")
        messages.append({"role": role, "content": _vision_parts(value, seen)})
    if seen[0] != len(images):
        raise ValueError(f"the row has {seen[0]} {IMAGE_PLACEHOLDER} placeholder(s) but {len(images)} image(s)")
    return {**_vision_kept(row, ("conversations",)), "images": images, "messages": messages}


def map_image_caption(row: dict) -> dict:
    """`image`/`images` + a caption (`caption`, `captions`, `description` or `text`) -> `images` + `messages`
    (user: the images and "Describe this image."; assistant: the caption)."""
    column = next((key for key in CAPTION_COLUMNS + ("text",) if isinstance(row.get(key), str)), None)
    if column is None:
        raise ValueError(f"no caption column ({', '.join(CAPTION_COLUMNS + ('text',))}) with a string")
    images = row_images(row)
    if not images:
        raise ValueError("the row has no image")
    user = [{"type": "image"} for _ in images] + [{"type": "text", "text": CAPTION_PROMPT}]
    return {**_vision_kept(row, (column,)), "images": images,
            "messages": [{"role": "user", "content": user},
                         {"role": "assistant", "content": [{"type": "text", "text": row[column]}]}]}


VISION_MAPPINGS = {"the_cauldron": map_the_cauldron, "llava": map_llava, "image_caption": map_image_caption}


# --- checks --------------------------------------------------------------------------------------------------------


def decode_image(value: Any, base_dir: str | None = None):
    """A PIL image from what a dataset row holds: a PIL image, `{"bytes", "path"}` (datasets' Image feature as
    stored), raw bytes, or a file path (relative paths under `base_dir`). Raises ValueError when it cannot."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(value, Image.Image):
        return value
    data, path = None, None
    if isinstance(value, dict):
        data, path = value.get("bytes"), value.get("path")
        if data is None and path is None and value.get("src"):
            raise ValueError(f"an image URL from the dataset viewer ({str(value['src'])[:60]}...) is not decoded here")
    elif isinstance(value, (bytes, bytearray)):
        data = bytes(value)
    elif isinstance(value, str):
        path = value
    else:
        raise ValueError(f"an image cell holds {type(value).__name__}, expected an image, bytes or a path")
    try:
        if data is not None:
            image = Image.open(io.BytesIO(data))
        else:
            file = Path(path)
            if not file.is_absolute() and base_dir:
                file = Path(base_dir) / file
            if not file.is_file():
                raise ValueError(f"image file {path!r} does not exist (image paths must point to files next to the "
                                 "data; better: store the images in parquet with datasets' Image feature)")
            image = Image.open(file)
        image.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"an image does not decode ({exc})") from None
    return image


def fetch_viewer_images(rows: list[dict], limit: int = VIEWER_IMAGES_FETCHED, timeout: float = 15.0) -> list[dict]:
    """The rows with the dataset viewer's image URLs (cells {"src": "https://...", "height", "width"}) replaced by the
    downloaded bytes, for up to `limit` images; rows without such cells come back as they are. The viewer signs its
    asset URLs, so no token is sent (a URL in a row must never receive the caller's token)."""
    fetched, result = 0, []
    for row in rows:
        column = image_column(row)
        if column is None or fetched >= limit:
            result.append(row)
            continue
        values = row_images(row)
        new_values = []
        for value in values:
            src = value.get("src") if isinstance(value, dict) else None
            if isinstance(src, str) and src.startswith(("https://", "http://")) and fetched < limit \
                    and value.get("bytes") is None:
                try:
                    with urllib.request.urlopen(urllib.request.Request(src), timeout=timeout) as response:
                        data = response.read(MAX_IMAGE_BYTES + 1)
                    if len(data) <= MAX_IMAGE_BYTES:  # larger: left a URL, counted as not decoded
                        value = {"bytes": data, "path": None}
                except (urllib.error.URLError, TimeoutError, ConnectionError, ValueError):
                    pass  # stays a URL: counted as not decoded
                fetched += 1
            new_values.append(value)
        new_row = dict(row)
        new_row[column] = new_values if isinstance(row[column], (list, tuple)) else (new_values or [None])[0]
        result.append(new_row)
    return result


def placeholder_count(messages: list, images: int) -> int:
    """Image placeholders TRL will count in these messages (prepare_multimodal_messages): image parts, plus `images`
    placeholders that TRL inserts before the first user turn whose content is a plain string."""
    count = 0
    inserted = False
    for message in messages or []:
        content = message.get("content") if isinstance(message, dict) else None
        role = message.get("role") if isinstance(message, dict) else None
        if isinstance(content, str):
            if role == "user" and not inserted:
                count += images
                inserted = True
        elif isinstance(content, list) and role != "tool":
            count += sum(1 for part in content if isinstance(part, dict) and part.get("type") == "image"
                         and part.get("image") is None)
    return count


def row_placeholders(row: dict) -> int | None:
    """Image placeholders in a TRL vision row (None for shapes that need a mapping first)."""
    images = len(row_images(row))
    shape = vision_shape(row)
    if shape == "vision_messages":
        return placeholder_count(row["messages"], images)
    if shape in ("vision_prompt_completion", "vision_preference"):
        prompt = row["prompt"]
        return placeholder_count(prompt, images) if isinstance(prompt, list) else prompt.count(IMAGE_PLACEHOLDER)
    if shape == "vision_text":
        return row["text"].count(IMAGE_PLACEHOLDER)
    return None


def check_image_rows(rows: list[dict], base_dir: str | None = None) -> dict:
    """Decode every image of the sample and compare placeholders with images. Returns counts, per-row problems
    (at most five of each kind) and the image sizes seen."""
    decoded, undecodable, mismatched, sizes, per_row = 0, [], [], [], []
    viewer_urls = 0
    for index, row in enumerate(rows):
        images = row_images(row)
        per_row.append(len(images))
        for value in images:
            if isinstance(value, dict) and value.get("src") and value.get("bytes") is None and not value.get("path"):
                viewer_urls += 1
                if value.get("width") and value.get("height"):
                    sizes.append((int(value["height"]), int(value["width"])))
                continue
            try:
                image = decode_image(value, base_dir)
            except ValueError as exc:
                undecodable.append({"row": index, "error": str(exc)})
                continue
            decoded += 1
            sizes.append((image.height, image.width))
        placeholders = row_placeholders(row)
        if placeholders is not None and placeholders != len(images):
            mismatched.append({"row": index, "error": f"{placeholders} image placeholder(s) for {len(images)} "
                                                      "image(s)"})
    return {"images": sum(per_row), "decoded": decoded, "viewer_urls": viewer_urls,
            "images_per_row": {"min": min(per_row, default=0), "max": max(per_row, default=0)},
            "rows_without_images": sum(1 for n in per_row if n == 0),
            "undecodable": undecodable[:5], "undecodable_count": len(undecodable),
            "mismatched": mismatched[:5], "mismatched_count": len(mismatched),
            "sizes": {"min": list(min(sizes, key=lambda s: s[0] * s[1])), "max": list(max(sizes, key=lambda s: s[0]
                                                                                            * s[1]))}
            if sizes else None}


# --- models --------------------------------------------------------------------------------------------------------


def config_sees_images(config: dict | None) -> bool:
    """Whether a model configuration (config.json as a dict) describes a model that takes images."""
    if not config:
        return False
    return bool(config.get("vision_config") or config.get("vision_tower") or config.get("mm_vision_tower")
                or config.get("visual"))


def processor_sees_images(processing_class: Any) -> bool:
    """Whether a loaded processing class handles images (a processor with an image processor; a tokenizer: no)."""
    return getattr(processing_class, "image_processor", None) is not None


def _vision_layer_params(hidden: int, intermediate: int, layers: int) -> int:
    # Per transformer layer: q, k, v, o (h x h + bias each), two MLP matrices (with biases), two norms.
    return layers * (4 * (hidden * hidden + hidden) + 2 * hidden * intermediate + intermediate + hidden + 4 * hidden)


def vision_params_from_config(config: dict) -> dict | None:
    """Approximate parameters of the vision tower and the projector from config.json alone (no weights), or None for
    a text-only config. Standard ViT arithmetic; projectors per family (LLaVA MLP, Idefics3 pixel-shuffle linear,
    Qwen-VL patch merger, Gemma 3 linear)."""
    vision = config.get("vision_config")
    if not isinstance(vision, dict):
        return None
    text = config.get("text_config") or config
    hidden = int(vision.get("hidden_size") or vision.get("embed_dim") or vision.get("width") or 0)
    if not hidden:
        return None
    intermediate = int(vision.get("intermediate_size") or 4 * hidden)
    layers = int(vision.get("num_hidden_layers") or vision.get("depth") or 0)
    patch = int(vision.get("patch_size") or 14)
    channels = int(vision.get("num_channels") or vision.get("in_channels") or 3)
    temporal = int(vision.get("temporal_patch_size") or 1)
    image_size = vision.get("image_size")
    positions = (int(image_size) // patch) ** 2 + 1 if isinstance(image_size, int) else 0
    tower = _vision_layer_params(hidden, intermediate, layers) + channels * temporal * patch * patch * hidden \
        + positions * hidden + 2 * hidden
    text_hidden = int(text.get("hidden_size") or vision.get("out_hidden_size") or hidden)
    model_type = str(config.get("model_type", ""))
    if "qwen" in model_type:
        merge = int(vision.get("spatial_merge_size") or 2)
        merged = hidden * merge * merge
        projector = merged * merged + merged + merged * int(vision.get("out_hidden_size") or text_hidden)
    elif model_type in ("idefics3", "smolvlm"):
        scale = int(config.get("scale_factor") or 1)
        projector = hidden * scale * scale * text_hidden
    elif "gemma3" in model_type:
        projector = hidden * text_hidden + hidden
    else:  # LLaVA-style two-layer MLP
        projector = hidden * text_hidden + text_hidden * text_hidden + 2 * text_hidden
    return {"vision_tower": tower, "projector": projector, "image_size": image_size, "patch_size": patch}


# --- image tokens --------------------------------------------------------------------------------------------------


def _image_processor_config(processor_config: dict) -> dict:
    """The image processor's settings: nested under "image_processor" (processor_config.json of transformers 5) or
    at the top level (preprocessor_config.json)."""
    nested = processor_config.get("image_processor")
    return {**processor_config, **nested} if isinstance(nested, dict) else processor_config


def _longest_edge(value: Any, default: int) -> int:
    if isinstance(value, dict):
        return int(value.get("longest_edge") or value.get("height") or default)
    return int(value or default)


def _qwen_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """Qwen2-VL's smart_resize: both sides multiples of `factor`, the area within [min_pixels, max_pixels]."""
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return h, w


def image_tokens_per_image(processor_config: dict, model_config: dict | None = None, height: int = 512,
                           width: int = 512) -> dict:
    """Image tokens one image of height x width becomes, from the processor's configuration (and the model's, for
    values only it has). Returns {"tokens", "scheme", "tiles"}; scheme: "fixed", "tiles" (Idefics3/SmolVLM image
    splitting) or "dynamic" (Qwen-VL native resolution); "unknown" with tokens None when the family is not known.
    The tokens are the placeholders the language model reads (the vision features), not the wrapper tokens some
    families add around them."""
    model_config = model_config or {}
    image = _image_processor_config(processor_config)
    kind = str(processor_config.get("processor_class") or image.get("image_processor_type") or "")
    model_type = str(model_config.get("model_type", ""))
    vision = model_config.get("vision_config") or {}
    if "Qwen" in kind or "qwen" in model_type:
        patch = int(image.get("patch_size") or vision.get("patch_size") or 14)
        merge = int(image.get("merge_size") or vision.get("spatial_merge_size") or 2)
        size = image.get("size") if isinstance(image.get("size"), dict) else {}
        min_pixels = int(image.get("min_pixels") or size.get("shortest_edge") or 56 * 56)
        max_pixels = int(image.get("max_pixels") or size.get("longest_edge") or 28 * 28 * 1280)
        h, w = _qwen_resize(height, width, patch * merge, min_pixels, max_pixels)
        return {"tokens": (h // (patch * merge)) * (w // (patch * merge)), "scheme": "dynamic", "tiles": 1,
                "resized": [h, w]}
    if "Idefics3" in kind or "SmolVLM" in kind or model_type in ("idefics3", "smolvlm"):
        seq = processor_config.get("image_seq_len")
        if not seq and vision:
            scale = int(model_config.get("scale_factor") or 2)
            seq = (int(vision.get("image_size", 512)) // int(vision.get("patch_size", 16))) ** 2 // (scale * scale)
        seq = int(seq or 169)
        tile = _longest_edge(image.get("max_image_size"), 364)
        tiles = 1
        if image.get("do_image_splitting", True):
            longest = _longest_edge(image.get("size"), 4 * 364)
            scale_to = longest / max(height, width)
            h, w = max(1, int(height * scale_to)), max(1, int(width * scale_to))
            rows, cols = math.ceil(h / tile), math.ceil(w / tile)
            tiles = rows * cols + (1 if rows * cols > 1 else 0)  # the tiles plus a downscaled global image
        return {"tokens": seq * tiles, "scheme": "tiles", "tiles": tiles}
    if "Llava" in kind or model_type == "llava":
        patch = int(processor_config.get("patch_size") or vision.get("patch_size") or 14)
        crop = image.get("crop_size") or {}
        side_h = int(crop.get("height") or vision.get("image_size") or 336)
        side_w = int(crop.get("width") or side_h)
        tokens = (side_h // patch) * (side_w // patch) + int(processor_config.get("num_additional_image_tokens") or 0)
        if (processor_config.get("vision_feature_select_strategy")
                or model_config.get("vision_feature_select_strategy")) == "default":
            tokens -= 1
        return {"tokens": tokens, "scheme": "fixed", "tiles": 1}
    for key in ("image_seq_length", "image_seq_len", "num_image_tokens", "mm_tokens_per_image"):
        value = processor_config.get(key) or model_config.get(key)
        if value:
            return {"tokens": int(value), "scheme": "fixed", "tiles": 1}
    if "gemma3" in model_type or "Gemma3" in kind:
        return {"tokens": 256, "scheme": "fixed", "tiles": 1}
    return {"tokens": None, "scheme": "unknown", "tiles": None}


def measure_vision_row(row: dict, processor: Any) -> dict:
    """Tokens of one TRL vision row as the processor builds them: the whole sequence and the image tokens in it (for
    preference rows, the longer of prompt+chosen and prompt+rejected)."""
    images = [decode_image(value).convert("RGB") for value in row_images(row)]
    shape = vision_shape(row)
    if shape == "vision_messages":
        texts = [processor.apply_chat_template(with_image_parts(row["messages"], len(images)), tokenize=False)]
    elif shape in ("vision_prompt_completion", "vision_preference"):
        keys = ("completion",) if shape == "vision_prompt_completion" else ("chosen", "rejected")
        if isinstance(row["prompt"], list):
            texts = [processor.apply_chat_template(with_image_parts(list(row["prompt"]) + list(row[key]),
                                                                     len(images)), tokenize=False) for key in keys]
        else:
            texts = [row["prompt"] + row[key] for key in keys]
    elif shape == "vision_text":
        texts = [row["text"]]
    else:
        raise ValueError(f"{VISION_SHAPE_TEXT.get(shape or '', shape)} rows need a mapping before they can be measured")
    image_token_id = getattr(processor, "image_token_id", None)
    best = None
    for text in texts:
        encoded = processor(images=images or None, text=[text], add_special_tokens=False)
        ids = encoded["input_ids"][0]
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        image_tokens = sum(1 for token in ids if token == image_token_id) if image_token_id is not None else None
        positions = [i for i, token in enumerate(ids) if token == image_token_id]
        measured = {"tokens": len(ids), "image_tokens": image_tokens,
                    "last_image_token": positions[-1] + 1 if positions else 0}
        if best is None or measured["tokens"] > best["tokens"]:
            best = measured
    return best


def with_image_parts(messages: list, images: int) -> list:
    """Messages in the structured form TRL gives the chat template (string content -> text parts, the images before
    the first user turn), without the None fields a datasets round trip adds to parts."""
    result, inserted = [], False
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            parts = [{"type": "text", "text": content}]
            if message.get("role") == "user" and not inserted:
                parts = [{"type": "image"} for _ in range(images)] + parts
                inserted = True
        else:
            parts = [{key: value for key, value in part.items() if value is not None} for part in content or []]
        result.append({"role": message["role"], "content": parts})
    return result


def vision_token_stats(rows: list[dict], processor: Any, max_length: int | None) -> dict:
    """Token lengths of TRL vision rows, image tokens included, and the rows whose image tokens `max_length` would
    cut (training refuses those)."""
    measured, failures = [], []
    for index, row in enumerate(rows):
        try:
            measured.append(measure_vision_row(row, processor))
        except (ValueError, KeyError, TypeError) as exc:
            failures.append({"row": index, "error": str(exc)[:200]})
    stats: dict[str, Any] = {"rows": len(measured), "failures": failures[:5], "max_length": max_length}
    if measured:
        lengths = sorted(m["tokens"] for m in measured)
        image_tokens = [m["image_tokens"] for m in measured if m["image_tokens"] is not None]
        stats.update(mean=round(sum(lengths) / len(lengths), 1), min=lengths[0], max=lengths[-1],
                     p50=lengths[max(0, math.ceil(0.5 * len(lengths)) - 1)],
                     p90=lengths[max(0, math.ceil(0.9 * len(lengths)) - 1)],
                     p95=lengths[max(0, math.ceil(0.95 * len(lengths)) - 1)],
                     p99=lengths[max(0, math.ceil(0.99 * len(lengths)) - 1)],
                     image_tokens_mean=round(sum(image_tokens) / len(image_tokens), 1) if image_tokens else None,
                     image_tokens_max=max(image_tokens) if image_tokens else None)
        if max_length:
            stats["truncated_share"] = round(sum(1 for n in lengths if n > max_length) / len(lengths), 4)
            stats["image_cut_rows"] = sum(1 for m in measured if m["last_image_token"] > max_length)
    return stats


def max_length_cuts_images(rows: list[dict], processor: Any, max_length: int | None) -> str | None:
    """A message when `max_length` would cut image tokens in any of these rows, else None."""
    if not max_length:
        return None
    measured = [measure_vision_row(row, processor) for row in rows]
    cut = [index for index, m in enumerate(measured) if m["last_image_token"] > max_length]
    if not cut:
        return None
    first = measured[cut[0]]
    longest = max(m["tokens"] for m in measured)
    return (f"--max_length {max_length} cuts the image tokens of {len(cut)} of the first {len(rows)} rows (row "
            f"{cut[0]}: its last image token is at position {first['last_image_token']} of {first['tokens']}), and a "
            "cut image cannot be trained on. Drop --max_length (no truncation, as TRL recommends for vision data), "
            f"or pass --max_length {longest} or more (the longest of those rows).")


# --- verdicts for dataset inspection ----------------------------------------------------------------------------


def analyse_vision(rows: list[dict], processor: Any = None, max_length: int | None = None,
                   base_dir: str | None = None) -> dict:
    """Inspection of sample rows with images, in dataset_report.analyse's report shape plus a "vision" section.

    READY only for a model that can see images (`processor` with an image processor): with a text-only tokenizer, or
    no model named, every method is INCOMPATIBLE and the reason says why. SFT and DPO are the methods train_vlm.py
    runs on images; the others are INCOMPATIBLE for image rows."""
    if processor is not None and not processor_sees_images(processor):
        processor = _vision_processor_of(processor)
    counts: dict[str, int] = {}
    for row in rows:
        shape = vision_shape(row) or "text_only"
        counts[shape] = counts.get(shape, 0) + 1
    shape = max(counts, key=lambda key: counts[key])
    mapping = VISION_SHAPE_MAPPING.get(shape)
    mapped, mapping_failures = rows, []
    if mapping:
        mapped = []
        for index, row in enumerate(rows):
            try:
                mapped.append(VISION_MAPPINGS[mapping](dict(row)))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                mapping_failures.append({"row": index, "error": str(exc)})
    images = check_image_rows(mapped if mapping else rows, base_dir)
    issues = []

    def issue(severity: str, column: str, message: str, problems: list[dict], count: int) -> None:
        issues.append({"severity": severity, "column": column, "message": message, "count": count,
                       "rows": [p["row"] for p in problems[:5]]})

    if images["undecodable_count"]:
        issue("error", "images", f"has images that do not decode ({images['undecodable'][0]['error']})",
              images["undecodable"], images["undecodable_count"])
    if images["mismatched_count"]:
        issue("error", "messages", f"has image placeholders that do not match the images "
              f"({images['mismatched'][0]['error']})", images["mismatched"], images["mismatched_count"])
    if mapping_failures:
        issue("error", "*", f"cannot be converted by mapping {mapping!r} ({mapping_failures[0]['error']})",
              mapping_failures, len(mapping_failures))
    if counts.get("text_only"):
        issue("warning", "images", "is missing (text-only rows among image rows); TRL trains them without images",
              [], counts["text_only"])
    sees = processor is not None and processor_sees_images(processor)
    errors = [item for item in issues if item["severity"] == "error"]
    target = {"vision_preference": "dpo"}.get(shape, "sft")
    methods = {}
    for method in METHODS:
        if processor is None:
            verdict, reasons = "INCOMPATIBLE", ["rows carry images: only a vision-language model can train on "
                                                "them; name one (model_name_or_path) to check the rows with its "
                                                f"processor, then train with {VISION_SCRIPT}"]
        elif not sees:
            verdict, reasons = "INCOMPATIBLE", ["rows carry images, and this model is text-only (its processing "
                                                "class has no image processor), so it cannot see them: use a "
                                                f"vision-language model with {VISION_SCRIPT}, or drop the image "
                                                "column to train on the text alone"]
        elif method not in VISION_METHODS:
            verdict, reasons = "INCOMPATIBLE", [f"{VISION_SCRIPT} trains SFT and DPO on image rows; "
                                                f"{method.upper()} with images is not bundled"]
        elif method != target and not (method == "sft" and shape == "vision_preference"):
            verdict, reasons = "INCOMPATIBLE", [f"{VISION_SHAPE_TEXT.get(shape, shape)} rows do not fit "
                                                f"{method.upper()}"]
        elif method == "sft" and shape == "vision_preference":
            verdict, reasons = "INCOMPATIBLE", ["preference rows with images: train DPO (--method dpo)"]
        elif shape == "vision_unknown":
            verdict, reasons = "INCOMPATIBLE", ["images with no known text columns (messages, prompt/completion, "
                                                "prompt/chosen/rejected, texts, conversations, caption)"]
        elif errors:
            verdict, reasons = "INCOMPATIBLE", ["the format fits, but sample rows have errors (see issues): fix or "
                                                "filter them first"]
        elif mapping:
            verdict, reasons = "NEEDS MAPPING", [f"{VISION_SHAPE_TEXT[shape]} rows become TRL vision messages; "
                                                 f"train with {VISION_SCRIPT} --dataset_mapping {mapping}"]
        else:
            verdict, reasons = "READY", [f"{VISION_SHAPE_TEXT.get(shape, shape)} rows train with {VISION_SCRIPT}"]
        methods[method] = {"verdict": verdict, "mapping": mapping if verdict == "NEEDS MAPPING" else None,
                           "reasons": reasons}
    token_stats = None
    if sees and not errors and shape != "vision_unknown":
        token_stats = dict(vision_token_stats(mapped, processor, max_length), method=target)
    return {
        "kind": shape, "kind_text": VISION_SHAPE_TEXT.get(shape, shape), "conversational": shape in (
            "vision_messages", "the_cauldron", "llava", "image_caption") or None,
        "columns": sorted({column for row in rows for column in row}), "sample_rows": len(rows), "issues": issues,
        "methods": methods, "mappings": {},
        "chat_template": bool(getattr(processor, "chat_template", None)) if processor is not None else None,
        "chat_template_used": "model" if sees and getattr(processor, "chat_template", None) else None,
        "token_stats": token_stats,
        "vision": {"shape": shape, "mapping": mapping, "model_sees_images": sees if processor is not None else None,
                   "script": VISION_SCRIPT, **{key: value for key, value in images.items()}},
    }


def _vision_processor_of(tokenizer: Any) -> Any:
    """The model's own processor when a caller loaded only its tokenizer (AutoTokenizer on a vision-language model
    gives a tokenizer without the image processor); the tokenizer itself for a text-only model."""
    name = getattr(tokenizer, "name_or_path", None)
    if not name:
        return tokenizer
    try:
        from transformers import AutoProcessor

        processor = AutoProcessor.from_pretrained(name)
    except (ImportError, OSError, ValueError, TypeError, KeyError):
        return tokenizer
    return processor if processor_sees_images(processor) else tokenizer


def render_vision(report: dict) -> list[str]:
    """Text lines for the "vision" section of an inspection report."""
    vision = report.get("vision")
    if not vision:
        return []
    sizes = vision.get("sizes")
    lines = [f"  images: {vision['images']} in {report['sample_rows']} rows ({vision['images_per_row']['min']}-"
             f"{vision['images_per_row']['max']} per row), {vision['decoded']} decoded"
             + (f", {vision['viewer_urls']} viewer URLs not decoded" if vision.get("viewer_urls") else "")
             + (f", sizes {sizes['min'][0]}x{sizes['min'][1]} to {sizes['max'][0]}x{sizes['max'][1]}" if sizes
                else "")]
    if vision.get("model_sees_images") is False:
        lines.append("  model: text-only; these rows need a vision-language model")
    stats = report.get("token_stats") or {}
    if stats.get("image_tokens_mean") is not None:
        lines.append(f"  image tokens per row: mean {stats['image_tokens_mean']}, max {stats['image_tokens_max']}")
    if stats.get("image_cut_rows"):
        lines.append(f"  advice: max_length {stats['max_length']} would cut the image tokens of "
                     f"{stats['image_cut_rows']} sample rows: train without --max_length, or with --max_length "
                     f"{stats['max']}")
    return lines


# --- estimation ----------------------------------------------------------------------------------------------------

# The image size the estimate quotes tokens for when the data is not measured (a common photo after resizing).
ESTIMATE_IMAGE_SIDE = 512


def vision_summary(model_config: dict, processor_config: dict | None = None,
                   side: int = ESTIMATE_IMAGE_SIDE) -> dict | None:
    """What an estimate says about a vision-language model: vision tower and projector parameters (config.json
    arithmetic) and the image tokens one side x side image becomes (from the processor's configuration). None for a
    text-only model. Frozen by default in train_vlm.py, the tower adds weights but no gradients, optimizer state or
    stored activations; its image tokens count as sequence tokens of the language model (dataset_inspect measures
    them per row)."""
    params = vision_params_from_config(model_config)
    if params is None:
        return None
    tokens = image_tokens_per_image(processor_config or {}, model_config, side, side)
    return {"vision_tower_params": params["vision_tower"], "projector_params": params["projector"],
            "image_side": side, "image_tokens_per_image": tokens["tokens"], "image_token_scheme": tokens["scheme"],
            "tiles_per_image": tokens["tiles"]}


def vision_summary_text(summary: dict) -> str:
    """One line for an estimate's assumptions."""
    tokens = summary["image_tokens_per_image"]
    scheme = {"tiles": f"{summary['tiles_per_image']} tiles", "dynamic": "native resolution",
              "fixed": "fixed"}.get(summary["image_token_scheme"], "unknown scheme")
    per_image = (f"{tokens} image tokens per {summary['image_side']}x{summary['image_side']} image ({scheme})"
                 if tokens else "image tokens per image unknown for this family")
    def count(n: int) -> str:
        return f"{n / 1e6:.1f}M" if n >= 1e5 else f"{n:,}"

    return (f"vision-language model: vision tower {count(summary['vision_tower_params'])} and projector "
            f"{count(summary['projector_params'])} parameters (frozen by default: weights only); {per_image}, "
            "counted as sequence tokens (dataset_inspect measures them per row)")

# ----- runtime/vision_models.py -----
"""The model side of vision-language training: which parts of a model see images (vision tower, projector, language
model), freezing and LoRA targets for train_vlm.py, and evaluation and generation with images for evaluate.py,
generate_responses.py and train_vlm.py --eval_baseline (same result keys as evaluation.evaluate_model).

Inlined into those scripts only (runtime/vision.py, which every training script carries, has the data side).
Standard library at the top; torch, transformers and peft inside the functions that need them.
"""

import json
import math
from pathlib import Path
from typing import Any


# Submodule names that hold the vision encoder, and those that project its features into the language model, across
# transformers' vision-language families (LLaVA, Idefics3/SmolVLM, Gemma 3, Qwen2/2.5/3-VL, PaliGemma, Mllama, ...).
VISION_TOWER_NAMES = ("vision_tower", "vision_model", "visual", "vision_encoder", "image_encoder", "vpm")
PROJECTOR_NAMES = ("multi_modal_projector", "connector", "mm_projector", "merger", "deepstack_merger_list",
                   "vision_projection", "resampler")


# --- the parts of a model ------------------------------------------------------------------------------------------


def vision_part(parameter_name: str) -> str:
    """Which part of a vision-language model a parameter or module belongs to: "projector", "vision_tower" or
    "language_model" (projector names first: Qwen2-VL's merger lives inside its visual tower)."""
    parts = parameter_name.split(".")
    if any(part in PROJECTOR_NAMES for part in parts):
        return "projector"
    if any(part in VISION_TOWER_NAMES for part in parts):
        return "vision_tower"
    return "language_model"


def count_vision_parameters(model) -> dict:
    """Parameters of each part of a loaded model: {"vision_tower", "projector", "language_model"}."""
    counts = {"vision_tower": 0, "projector": 0, "language_model": 0}
    for name, parameter in model.named_parameters():
        counts[vision_part(name)] += parameter.numel()
    return counts


# --- training (train_vlm.py) -----------------------------------------------------------------------------------


def trained_parts(args) -> list[str]:
    """The parts this run trains: the language model always, the projector and the vision tower on request."""
    return ["language_model"] + (["projector"] if args.train_projector else []) + (
        ["vision_tower"] if args.train_vision_tower else [])


def freeze_parts(model, parts: list[str]) -> dict:
    """Full fine-tuning: only the parameters of `parts` train. Returns trainable and frozen parameter counts."""
    counts = {"trainable": 0, "frozen": 0}
    for name, parameter in model.named_parameters():
        train = vision_part(name) in parts
        parameter.requires_grad_(train)
        counts["trainable" if train else "frozen"] += parameter.numel()
    return counts


def vision_lora_config(args, model):
    """LoRA on the language model's linear layers (and the vision tower's with --train_vision_tower); the projector,
    with --train_projector, trained fully and saved with the adapter (modules_to_save). The output layer is left out,
    as peft's all-linear does. --lora_target_modules other than all-linear is used as given."""
    if not args.use_peft:
        return None
    import re

    import torch
    from peft import LoraConfig

    parts = trained_parts(args)
    targets = args.lora_target_modules
    if targets == ["all-linear"]:
        leaves: set[str] = set()
        for name, module in model.named_modules():
            leaf = name.rsplit(".", 1)[-1]
            if isinstance(module, torch.nn.Linear) and leaf != "lm_head" and vision_part(name) in parts \
                    and vision_part(name) != "projector":
                leaves.add(leaf)
        # Leaf names alone would also match the vision tower's layers (SigLIP has q_proj too): exclude by path.
        excluded = PROJECTOR_NAMES + (() if "vision_tower" in parts else VISION_TOWER_NAMES)
        targets = (f"^(?!(?:.*\\.)?(?:{'|'.join(map(re.escape, excluded))})\\.).*\\."
                   f"(?:{'|'.join(map(re.escape, sorted(leaves)))})$")
    modules_to_save = None
    if args.train_projector:
        modules_to_save = sorted({name.rsplit(".", 1)[-1] for name, _ in model.named_modules()
                                  if name.rsplit(".", 1)[-1] in PROJECTOR_NAMES})
    return LoraConfig(r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
                      target_modules=targets, modules_to_save=modules_to_save or None, task_type="CAUSAL_LM")


def load_vision_model(args, model_kwargs: dict):
    """The model through AutoModelForImageTextToText, loaded with `model_kwargs` (train_common.model_init_kwargs: a
    parameter, so evaluate.py and generate_responses.py need not carry the training code); with QLoRA the vision
    tower, projector and output layer stay in full precision (4-bit vision encoders lose accuracy and save little)."""
    from transformers import AutoModelForImageTextToText

    kwargs = dict(model_kwargs)
    if args.load_in_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=kwargs["dtype"],
            llm_int8_skip_modules=[*VISION_TOWER_NAMES, *PROJECTOR_NAMES, "lm_head"])
    try:
        return AutoModelForImageTextToText.from_pretrained(args.model_name_or_path, **kwargs)
    except ValueError as exc:
        if "Unrecognized configuration class" in str(exc):
            raise ScriptError(f"{args.model_name_or_path} is not an image-text-to-text model (transformers has no "
                              "AutoModelForImageTextToText class for it). Use a vision-language model, or "
                              "train_sft.py for a text model.") from None
        raise


# --- evaluation and generation ---------------------------------------------------------------------------------


def vision_example(row: dict) -> dict | None:
    """{"images", "prompt", "completion"} of one TRL vision row (messages: the turns before the last answer and that
    answer; preference rows: the chosen answer); None for rows without an answer to score."""
    shape = vision_shape(row)
    images = row_images(row)
    if shape == "vision_messages":
        messages = list(row["messages"])
        last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=None)
        if not last:  # no answer, or an answer with no question before it
            return None
        return {"images": images, "prompt": messages[:last], "completion": messages[last:last + 1]}
    if shape in ("vision_prompt_completion", "vision_preference"):
        completion = row["completion"] if shape == "vision_prompt_completion" else row["chosen"]
        if isinstance(row["prompt"], list) and isinstance(completion, list):
            return {"images": images, "prompt": list(row["prompt"]), "completion": list(completion)}
    return None


def _vision_inputs(processor: Any, images: list, text: str, device: Any, dtype: Any):
    inputs = processor(images=images or None, text=[text], return_tensors="pt", add_special_tokens=False)
    moved = {}
    for key, value in inputs.items():
        value = value.to(device)
        moved[key] = value.to(dtype) if value.is_floating_point() else value
    return moved


def _vision_text(message_content: Any) -> str:
    if isinstance(message_content, str):
        return message_content
    return "".join(part.get("text") or "" for part in message_content or [] if isinstance(part, dict))


def evaluate_vision_model(model, processor, rows: list[dict], *, max_new_tokens: int = 128, num_samples: int = 5,
                          **_ignored) -> dict:
    """Loss and perplexity of a vision-language model over the answer tokens of image rows (the image and the
    question are context), and greedy generations for the first `num_samples` rows: the same result keys as
    evaluation.evaluate_model, so compare() and the card work unchanged. One row per forward pass (images differ
    in size, and the rows are few)."""
    import torch

    examples = [e for e in (vision_example(row) for row in rows) if e is not None]
    if not examples:
        raise ValueError("no image row has an answer to score: need images + messages ending in an assistant turn, "
                         "or images + conversational prompt/completion")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    total, count, samples = 0.0, 0, []
    with torch.no_grad():
        for index, example in enumerate(examples):
            images = [decode_image(value).convert("RGB") for value in example["images"]]
            prompt = processor.apply_chat_template(with_image_parts(example["prompt"], len(images)), tokenize=False,
                                                   add_generation_prompt=True)
            full = processor.apply_chat_template(with_image_parts(example["prompt"] + example["completion"],
                                                                   len(images)), tokenize=False)
            inputs = _vision_inputs(processor, images, full, device, dtype)
            prompt_inputs = _vision_inputs(processor, images, prompt, device, dtype)
            labels = inputs["input_ids"].clone()
            labels[:, :prompt_inputs["input_ids"].shape[1]] = -100
            scored = int((labels[:, 1:] != -100).sum())
            if scored:
                loss = model(**inputs, labels=labels).loss
                total, count = total + float(loss) * scored, count + scored
            if index < num_samples:
                output = model.generate(**prompt_inputs, max_new_tokens=max_new_tokens, do_sample=False)
                generated = processor.batch_decode(output[:, prompt_inputs["input_ids"].shape[1]:],
                                                   skip_special_tokens=True)[0]
                samples.append({"prompt": _vision_text(example["prompt"][-1].get("content")) if example["prompt"]
                                else "", "images": len(images),
                                "reference": _vision_text(example["completion"][-1].get("content")),
                                "generated": generated})
    if was_training:
        model.train()
    loss = total / count if count else None
    return {"rows": len(examples), "scored_tokens": count, "loss": loss,
            "perplexity": (math.exp(loss) if loss < 700 else float("inf")) if loss is not None else None,
            "samples": samples}


def load_vision_model_for_eval(name_or_path: str, *, adapter_base: str | None = None, trust_remote_code: bool = False,
                               token: str | None = None):
    """(model, processor, description) of a vision-language model or a LoRA adapter on one, for evaluation and
    generation: bf16/fp16 on a GPU, float32 on CPU, eval mode."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    cuda = torch.cuda.is_available()
    dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else torch.float32
    kwargs = {"dtype": dtype, "trust_remote_code": trust_remote_code, "token": token}
    local = Path(name_or_path).expanduser()
    adapter_config = local / "adapter_config.json"
    if adapter_config.is_file() or adapter_base:
        base = adapter_base or json.loads(adapter_config.read_text(encoding="utf-8"))["base_model_name_or_path"]
        from peft import PeftModel

        model = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(base, **kwargs), name_or_path,
                                          token=token)
        description = f"{name_or_path} (LoRA adapter on {base})"
    else:
        base = name_or_path
        model = AutoModelForImageTextToText.from_pretrained(name_or_path, **kwargs)
        description = name_or_path
    try:  # the training output carries the processor it was trained with
        processor = AutoProcessor.from_pretrained(name_or_path, trust_remote_code=trust_remote_code, token=token)
    except (OSError, ValueError):
        processor = AutoProcessor.from_pretrained(base, trust_remote_code=trust_remote_code, token=token)
    if cuda:
        model = model.to("cuda")
    model.eval()
    return model, processor, description


def generate_vision_responses(model, processor, items: list[tuple[dict, Any]], *, max_new_tokens: int = 256,
                              num_generations: int = 1, temperature: float = 0.0, top_p: float = 1.0,
                              top_k: int | None = None, repetition_penalty: float = 1.0) -> list[list[str]]:
    """Responses of a vision-language model to (row, prompt) pairs whose rows carry images: the prompt (messages,
    or a string taken as the user turn) with the row's images, through the processor's chat template. One row per
    call (images differ in size); `num_generations` samples each."""
    import torch

    device = next(model.parameters()).device
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    options = {"max_new_tokens": max_new_tokens, "do_sample": temperature > 0, "num_return_sequences": num_generations,
               "repetition_penalty": repetition_penalty}
    if temperature > 0:
        options.update(temperature=temperature, top_p=top_p, top_k=top_k or None)
    results = []
    for row, prompt in items:
        images = [decode_image(value).convert("RGB") for value in row_images(row)]
        messages = prompt if isinstance(prompt, list) else [{"role": "user", "content": str(prompt)}]
        text = processor.apply_chat_template(with_image_parts(messages, len(images)), tokenize=False,
                                             add_generation_prompt=True)
        inputs = _vision_inputs(processor, images, text, device, dtype)
        with torch.no_grad():
            output = model.generate(**inputs, **options)
        texts = processor.batch_decode(output[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        results.append([t.strip() for t in texts])
    return results
# ===== end of generated runtime =====


if __name__ == "__main__":
    run_main(main, parse_args)
