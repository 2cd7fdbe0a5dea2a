# /// script
# requires-python = ">=3.11"
# dependencies = [
#     "torch==2.13.0",
#     "trl==1.16.0",
#     "transformers==5.25.0",
#     "peft==0.21.2",
#     "datasets==5.2.0",
#     "accelerate==1.16.0",
#     "trackio==0.43.0",
#     "huggingface_hub==2.4.0",
#     "bitsandbytes>=0.45; sys_platform == 'linux'",
# ]
#
# [tool.uv]
# exclude-newer = "2026-12-06T13:00:48Z"
# ///
"""Reward modelling with TRL: train a scalar scorer (a sequence-classification head, one label) on preference pairs.

Accepts TRL's preference formats, standard (strings) or conversational (message lists): explicit prompt
(`prompt`, `chosen`, `rejected`) or implicit prompt (`chosen`, `rejected` holding whole conversations), plus an
optional `margin` column. The model learns score(chosen) > score(rejected); use it as a GRPO/PPO reward model or to
rank answers. Other shapes: `--dataset_mapping preference_columns`.

Run it locally:
    uv run scripts/train_reward.py --model_name_or_path Qwen/Qwen2.5-0.5B-Instruct \
        --dataset_name trl-lib/ultrafeedback_binarized --use_peft --output_dir outputs/qwen-rm --max_steps 100
Run it on Hugging Face Jobs (results pushed to the Hub, private by default; resumable):
    hf jobs uv run --flavor a10g-large --timeout 2h --secrets HF_TOKEN scripts/train_reward.py \
        --model_name_or_path Qwen/Qwen2.5-0.5B-Instruct --dataset_name trl-lib/ultrafeedback_binarized \
        --use_peft --push_to_hub --hub_model_id <you>/qwen-reward
On a multi-GPU flavor the script relaunches itself with `accelerate launch` (one process per GPU).
Check a configuration for one step first (exit 0 or 1 with one line):
    uv run scripts/train_reward.py ... --smoke

Defaults: learning rate 1e-5 for full fine-tuning (a new, randomly initialised score head on a pretrained body; higher
rates overfit within an epoch) and 1e-4 for LoRA (TRL's RewardConfig default; the score head is trained in full via
modules_to_save), one epoch, max_length 1024. The token is read only from the HF_TOKEN environment variable.
"""

import argparse
import time

METHOD = "reward"


# Preference formats TRL's RewardTrainer reads: explicit prompt first, then implicit.
REWARD_COLUMNS = [("prompt", "chosen", "rejected"), ("chosen", "rejected")]
REWARD_LEARNING_RATES = {"full": 1e-5, "lora": 1e-4}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_common_arguments(parser)
    parser.set_defaults(max_length=1024)
    reward = parser.add_argument_group("reward model")
    reward.add_argument("--center_rewards_coefficient", type=float, default=None,
                        help="Pull scores towards zero mean (e.g. 0.01), so rewards from different runs are comparable.")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(args: argparse.Namespace) -> int:
    started = time.time()
    # Heavy imports here, so --help is instant.
    from transformers import AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    device = detect_device()
    relaunch_distributed(device)
    check_arguments(args, device)
    output_dir = default_output_dir(args, METHOD)
    checkpoint = resume_checkpoint(args, METHOD, output_dir)  # a checkpoint of another run stops here

    train_dataset, eval_dataset = load_splits(args)
    train_dataset = apply_mapping(train_dataset, args.dataset_mapping)
    eval_dataset = apply_mapping(eval_dataset, args.dataset_mapping)
    train_dataset = validate_dataset(train_dataset, METHOD, args.dataset_mapping)
    eval_dataset = validate_dataset(eval_dataset, METHOD, args.dataset_mapping, "eval")
    columns = require_columns(train_dataset, REWARD_COLUMNS, "reward modelling")
    if eval_dataset is not None:
        require_columns(eval_dataset, [columns], "reward modelling (eval split)")

    tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path, trust_remote_code=args.trust_remote_code)
    require_chat_template(tokenizer, train_dataset, args)

    config = RewardConfig(
        output_dir=output_dir,
        max_length=args.max_length,
        center_rewards_coefficient=args.center_rewards_coefficient,
        num_train_epochs=args.num_train_epochs,
        max_steps=1 if args.smoke else args.max_steps,
        learning_rate=default_learning_rate(args, full=REWARD_LEARNING_RATES["full"],
                                            lora=REWARD_LEARNING_RATES["lora"]),
        lr_scheduler_type=args.lr_scheduler_type,
        warmup_steps=args.warmup_steps,
        weight_decay=args.weight_decay,
        per_device_train_batch_size=args.per_device_train_batch_size,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        logging_steps=logging_steps(args),
        logging_nan_inf_filter=False,  # report a diverged loss as it is (early_stop stops the run)
        seed=args.seed,
        # RewardTrainer loads AutoModelForSequenceClassification with num_labels=1 from these.
        model_init_kwargs=model_init_kwargs(args, device),
        disable_tqdm=args.json,
        **precision_kwargs(args, device),
        **fsdp_kwargs(args, device),  # --fsdp: sharded over the GPUs (runtime/sharding.py)
        **eval_kwargs(args, eval_dataset),
        **hub_kwargs(args),
        **tracking_kwargs(args, METHOD),
    )
    trainer = RewardTrainer(
        model=args.model_name_or_path,
        args=config,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        # SEQ_CLS makes peft train the new score head in full (modules_to_save) next to the adapter.
        peft_config=peft_config(args, task_type="SEQ_CLS"),
        callbacks=[early_stop(args, METHOD), run_recorder(args, METHOD)],
    )
    trainer.train(resume_from_checkpoint=checkpoint)
    history = trainer.state.log_history
    accuracies = [entry["eval_accuracy"] for entry in history if "eval_accuracy" in entry]
    train_accuracies = [entry["accuracy"] for entry in history if "accuracy" in entry]
    extra = {**({"train_accuracy": float(train_accuracies[-1])} if train_accuracies else {}),
             **({"eval_accuracy": float(accuracies[-1])} if accuracies else {})}
    return finish_run(trainer, args, METHOD, output_dir, started,
                      {"center_rewards_coefficient": args.center_rewards_coefficient, "format": "+".join(columns)},
                      extra_results=extra)


# ===== generated runtime: do not edit; source: src/hf_trainer/runtime/ (regenerate: make sync-scripts) =====
# runtime modules: train_common, resume, results

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

# ----- runtime/dataset_formats.py -----
"""Which TRL format a sample of rows is in, whether each trainer can use it, and what to run to make it usable.

Pure standard library (no hf_trainer imports) so scripts/inspect_dataset.py can inline it verbatim; everything it
needs from elsewhere (the named mappings, a tokenizer) is passed in. Results are plain JSON-able dicts; the library
wraps them in pydantic models (dataset_inspect.py) and the script prints them as they are.

The rules: `detect_row`, `check_rows`, `method_verdict` (what the training scripts check at load) and the chat
templates. The whole inspection report over them is runtime/dataset_report.py.
"""

import json
from typing import Any, Callable


READY, NEEDS_MAPPING, INCOMPATIBLE = "READY", "NEEDS MAPPING", "INCOMPATIBLE"
ROLES = ("system", "developer", "user", "assistant", "tool")
# Keys TRL reads in each format (trl.data_utils); extra columns are allowed and ignored (or passed to GRPO rewards).
TRL_KINDS = ("language_modeling", "prompt_only", "prompt_completion", "preference", "implicit_preference",
             "unpaired_preference")
FOREIGN_KINDS = ("sharegpt", "alpaca", "dolly", "question_answer", "prompt_response", "preference_columns",
                 "string_prompt_preference")
# Columns TRL's trainers read by name are mappings.TRL_COLUMNS (`tools` and `chat_template_kwargs` go to the chat
# template); any other column is extra: ignored, or passed to GRPO rewards.
FOREIGN_PREFERENCE_PAIRS = (("chosen_response", "rejected_response"), ("response_chosen", "response_rejected"),
                            ("chosen_text", "rejected_text"))
KIND_TEXT = {
    "language_modeling": "language modelling",
    "prompt_only": "prompt-only",
    "prompt_completion": "prompt-completion",
    "preference": "preference (explicit prompt)",
    "implicit_preference": "preference (implicit prompt)",
    "unpaired_preference": "unpaired preference",
    "sharegpt": "ShareGPT (conversations with from/value)",
    "alpaca": "Alpaca (instruction/input/output)",
    "dolly": "Dolly (instruction/context/response)",
    "question_answer": "question/answer",
    "prompt_response": "prompt/response",
    "preference_columns": "preference pairs in foreign columns (e.g. chosen_response/rejected_response)",
    "string_prompt_preference": "preference with a string prompt beside conversational chosen/rejected (as in "
                                "ultrafeedback_binarized)",
    "unknown": "unknown",
}

# (verdict, mapping, reason) per method and kind; a kind missing from a method's table is INCOMPATIBLE with the
# method's default reason. Reasons say why in the trainer's terms, so an agent can explain the choice.
_NEEDS = {
    "sft": "SFT needs language modelling (text or messages) or prompt-completion rows",
    "dpo": "DPO needs a chosen and a rejected answer per prompt",
    "reward": "reward modelling needs a chosen and a rejected answer per prompt",
    "grpo": "GRPO needs a prompt column (completions are generated)",
    "kto": "KTO needs answers labelled desirable/undesirable, or chosen/rejected pairs",
}

# ultrafeedback_binarized's shape for the preference methods: the same verdict for DPO, reward and KTO.
EXTRACT_PROMPT = (NEEDS_MAPPING, "extract_prompt", "the string prompt repeats a turn of the conversational "
                  "chosen/rejected, and TRL would concatenate a string with a list; the mapping takes the turns chosen "
                  "and rejected share as the prompt (as trl.data_utils.extract_prompt does)")


_TABLE: dict[str, dict[str, tuple[str, str | None, str]]] = {
    "sft": {
        "language_modeling": (READY, None, "language modelling rows train as they are"),
        "prompt_completion": (READY, None, "prompt-completion rows train with loss on the completion"),
        "preference": (NEEDS_MAPPING, "chosen_as_completion", "preference rows: SFT can train on the chosen answers"),
        "implicit_preference": (NEEDS_MAPPING, "chosen_as_completion",
                                "preference rows: SFT can train on the chosen conversations"),
        "unpaired_preference": (INCOMPATIBLE, None, "half the completions are labelled undesirable and SFT would "
                                "imitate them; keep only rows with label true, or use KTO"),
        "prompt_only": (INCOMPATIBLE, None, "prompt-only rows have no answers to learn from; use GRPO"),
        "sharegpt": (NEEDS_MAPPING, "sharegpt", "ShareGPT turns become messages with chat roles"),
        "alpaca": (NEEDS_MAPPING, "alpaca", "instruction/input/output become a user/assistant conversation"),
        "dolly": (NEEDS_MAPPING, "dolly", "instruction/context/response become a user/assistant conversation"),
        "question_answer": (NEEDS_MAPPING, "question_answer", "question/answer become a user/assistant conversation"),
        "prompt_response": (NEEDS_MAPPING, "prompt_response", "prompt/response become a user/assistant conversation"),
        "preference_columns": (INCOMPATIBLE, None, "preference pairs: use DPO, reward or KTO with the "
                               "preference_columns mapping"),
        "string_prompt_preference": (NEEDS_MAPPING, "chosen_as_completion", "preference rows: SFT can train on the "
                                     "chosen conversations (a messages column, when there is one, trains as it is)"),
    },
    "dpo": {
        "preference": (READY, None, "explicit-prompt preference rows"),
        "implicit_preference": (READY, None, "implicit-prompt preference rows (TRL extracts the shared prompt)"),
        "preference_columns": (NEEDS_MAPPING, "preference_columns", "prompt + chosen/rejected answers become a "
                               "conversational preference row"),
        "string_prompt_preference": EXTRACT_PROMPT,
    },
    "reward": {
        "preference": (READY, None, "explicit-prompt preference rows"),
        "implicit_preference": (READY, None, "implicit-prompt preference rows (whole conversations are scored)"),
        "preference_columns": (NEEDS_MAPPING, "preference_columns", "prompt + chosen/rejected answers become a "
                               "conversational preference row"),
        "string_prompt_preference": EXTRACT_PROMPT,
    },
    "kto": {
        "unpaired_preference": (READY, None, "unpaired preference rows (prompt, completion, label)"),
        "preference": (READY, None, "paired preference rows; TRL's KTOTrainer unpairs them itself"),
        "implicit_preference": (READY, None, "paired preference rows; TRL's KTOTrainer unpairs them itself"),
        "preference_columns": (NEEDS_MAPPING, "preference_columns", "prompt + chosen/rejected answers become a "
                               "conversational preference row, which KTO unpairs"),
        "string_prompt_preference": EXTRACT_PROMPT,
    },
    "grpo": {
        "prompt_only": (READY, None, "prompt-only rows; other columns reach reward functions"),
        "prompt_completion": (READY, None, "the prompt column is used; completion reaches reward functions"),
        "preference": (READY, None, "the prompt column is used; other columns reach reward functions"),
        "unpaired_preference": (READY, None, "the prompt column is used; other columns reach reward functions"),
        "prompt_response": (READY, None, "the prompt column is used; response reaches reward functions"),
        "sharegpt": (NEEDS_MAPPING, "sharegpt_prompt_only", "the turns before the last answer become the prompt"),
        "alpaca": (NEEDS_MAPPING, "alpaca_prompt_only", "instruction + input become the prompt; output stays as a "
                   "column for reward functions (train_grpo.py: --answer_column output)"),
        "dolly": (NEEDS_MAPPING, "dolly_prompt_only", "instruction + context become the prompt; response stays as a "
                  "column for reward functions (train_grpo.py: --answer_column response)"),
        "question_answer": (NEEDS_MAPPING, "question_answer_prompt_only", "the question becomes the prompt; "
                            "answer stays as a column for reward functions"),
        "preference_columns": (NEEDS_MAPPING, "preference_columns", "the prompt column becomes a conversational "
                               "prompt"),
        "string_prompt_preference": (READY, None, "the string prompt is used; chosen, rejected and the other "
                                     "columns reach reward functions"),
    },
}
# A conversational language-modelling dataset can feed GRPO once its final answers are cut off.
_GRPO_FROM_MESSAGES = (NEEDS_MAPPING, "messages_prompt_only", "every message before the last answer becomes the "
                       "prompt")


# --- detection -------------------------------------------------------------------------------------------------


def _is_messages(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(m, dict) and "role" in m for m in value)


def _is_sharegpt(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(m, dict) and (("from" in m and "value" in m) or ("role" in m and "content" in m)) for m in value
    )


def detect_row(row: dict) -> tuple[str, bool | None]:
    """(kind, conversational) of one row. `conversational` is None for foreign shapes and unknown rows.

    Key sets follow trl.data_utils; foreign shapes are checked before a lone `prompt` so that
    prompt + chosen_response/rejected_response is not mistaken for prompt-only.
    """
    keys = set(row)
    if {"prompt", "chosen", "rejected"} <= keys:
        if isinstance(row["prompt"], str) and _is_messages(row["chosen"]) and _is_messages(row["rejected"]):
            return "string_prompt_preference", None
        return "preference", _is_messages(row["chosen"]) or _is_messages(row["prompt"])
    if {"chosen", "rejected"} <= keys:
        return "implicit_preference", _is_messages(row["chosen"])
    if {"prompt", "completion", "label"} <= keys:
        return "unpaired_preference", _is_messages(row["prompt"]) or _is_messages(row["completion"])
    if {"prompt", "completion"} <= keys:
        return "prompt_completion", _is_messages(row["prompt"]) or _is_messages(row["completion"])
    if "messages" in keys:
        return "language_modeling", True
    if "conversations" in keys and (_is_sharegpt(row["conversations"]) or isinstance(row["conversations"], list)):
        return "sharegpt", None
    if "text" in keys:
        return "language_modeling", False
    if any(set(pair) <= keys for pair in FOREIGN_PREFERENCE_PAIRS):
        return "preference_columns", None
    if {"instruction", "output"} <= keys:
        return "alpaca", None
    if {"instruction", "response"} <= keys:
        return "dolly", None
    if {"question", "answer"} <= keys:
        return "question_answer", None
    if {"prompt", "response"} <= keys and not _is_messages(row["prompt"]):
        return "prompt_response", None
    if "prompt" in keys:
        return "prompt_only", _is_messages(row["prompt"])
    return "unknown", None


# --- value checks ----------------------------------------------------------------------------------------------


class _Issues:
    """Problems found in the sample, grouped by (severity, column, message) with the rows they occur in."""

    def __init__(self) -> None:
        self._groups: dict[tuple[str, str, str], list[int]] = {}

    def add(self, severity: str, column: str, message: str, row: int) -> None:
        rows = self._groups.setdefault((severity, column, message), [])
        if not rows or rows[-1] != row:  # a row with the same problem twice counts once
            rows.append(row)

    def as_list(self) -> list[dict]:
        items = [
            {"severity": severity, "column": column, "message": message, "count": len(rows), "rows": rows[:5]}
            for (severity, column, message), rows in self._groups.items()
        ]
        return sorted(items, key=lambda item: (item["severity"] != "error", -item["count"]))


def _type_name(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def _check_content(message: dict, column: str, row: int, issues: _Issues) -> None:
    content = message.get("content")
    role = message.get("role")
    calls_tools = role == "assistant" and bool(message.get("tool_calls"))
    if calls_tools:
        _check_tool_calls(message["tool_calls"], column, row, issues)
    if "content" not in message or content is None:
        # An assistant turn that only calls tools legitimately has no content.
        if not calls_tools:
            issues.add("error", column, f"has {_a(role)} message without content (None)", row)
    elif isinstance(content, str):
        if not content.strip() and not calls_tools:
            severity = "error" if role == "assistant" else "warning"
            issues.add(severity, column, f"has {_a(role)} message with empty content", row)
    elif isinstance(content, list):
        # Multimodal content: a list of typed parts ({"type": "text", "text": ...}).
        if not all(isinstance(part, dict) and "type" in part for part in content):
            issues.add("error", column, "message content is a list whose parts have no 'type'", row)
    else:
        issues.add("error", column, f"message content is {type(content).__name__}, expected a string", row)


def _a(word: Any) -> str:
    return f"{'an' if str(word)[:1].lower() in 'aeiou' else 'a'} {word}"


def _check_tool_calls(calls: Any, column: str, row: int, issues: _Issues) -> None:
    """OpenAI-style tool calls, as TRL's docs and chat templates read them: [{"type": "function", "function":
    {"name": ..., "arguments": {...} or a JSON string}}]."""
    if not isinstance(calls, list) or not all(isinstance(call, dict) for call in calls):
        issues.add("error", column, "has tool_calls that are not a list of {'type', 'function'} objects", row)
        return
    for call in calls:
        function = call.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
            issues.add("error", column, "has a tool call without function.name", row)
            return


def check_tools(value: Any, row: int, issues: _Issues) -> None:
    """The `tools` column TRL passes to the chat template: a list of function schemas, or that list as JSON text."""
    if value is None:
        return
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            issues.add("error", "tools", "is a string that is not JSON (TRL json-decodes a string tools column)", row)
            return
    if not isinstance(value, list) or not all(isinstance(tool, dict) for tool in value):
        issues.add("error", "tools", "is not a list of tool (function schema) objects", row)


def check_conversation(value: Any, column: str, row: int, issues: _Issues, part: str = "whole") -> None:
    """Message structure, allowed roles and their order. `part` is what the list is in its row:
    'whole' (a full conversation), 'prompt' (ends before an answer) or 'answer' (starts with the assistant)."""
    if not isinstance(value, list) or not value:
        issues.add("error", column, "is empty or not a list of messages", row)
        return
    roles: list[str] = []
    for message in value:
        if isinstance(message, dict) and "from" in message and "value" in message:
            issues.add("error", column, "holds ShareGPT turns (from/value), not role/content messages; name the "
                       "column 'conversations' so the sharegpt mapping applies", row)
            return
        if not isinstance(message, dict) or "role" not in message:
            issues.add("error", column, "has an item that is not a {'role', 'content'} message", row)
            return
        role = message["role"]
        if role not in ROLES:
            issues.add("error", column, f"has unknown role {role!r} (allowed: {', '.join(ROLES)})", row)
        _check_content(message, column, row, issues)
        roles.append(role)
    for index, role in enumerate(roles):
        if role in ("system", "developer") and index > 0:
            issues.add("warning", column, f"has {_a(role)} message after the first position", row)
    dialogue = [role for role in roles if role not in ("system", "developer")]
    for first, second in zip(dialogue, dialogue[1:]):
        if first == second and first in ("user", "assistant"):
            issues.add("warning", column, f"has two {first} messages in a row", row)
            break
    if part == "whole":
        if dialogue and dialogue[0] == "assistant":
            issues.add("warning", column, "starts with an assistant message (no user turn before it)", row)
        if "assistant" not in dialogue:
            issues.add("error", column, "has no assistant message to learn from", row)
        elif dialogue[-1] != "assistant":
            issues.add("warning", column, "ends with a user message, which trains nothing", row)
    elif part == "prompt":
        if dialogue and dialogue[-1] == "assistant":
            issues.add("warning", column, "prompt ends with an assistant message; the answer should come next", row)
    elif part == "answer":
        if roles[0] != "assistant":
            issues.add("error", column, f"answer starts with a {roles[0]} message, expected assistant", row)


def _check_text(value: Any, column: str, row: int, issues: _Issues) -> None:
    if value is None:
        issues.add("error", column, "is None", row)
    elif not isinstance(value, str):
        issues.add("error", column, f"is {type(value).__name__}, expected a string", row)
    elif not value.strip():
        issues.add("error", column, "is an empty string", row)


def _check_field(row: dict, column: str, index: int, issues: _Issues, conversational: bool, part: str) -> None:
    value = row.get(column)
    if conversational:
        if isinstance(value, str):
            issues.add("error", column, "is a string while other fields of the row are messages", index)
        else:
            check_conversation(value, column, index, issues, part)
    else:
        _check_text(value, column, index, issues)


# Which fields each TRL kind has, and what part of a conversation each one is.
_FIELDS = {
    "language_modeling": (("text", "whole"),),
    "prompt_only": (("prompt", "prompt"),),
    "prompt_completion": (("prompt", "prompt"), ("completion", "answer")),
    "preference": (("prompt", "prompt"), ("chosen", "answer"), ("rejected", "answer")),
    "implicit_preference": (("chosen", "whole"), ("rejected", "whole")),
    "unpaired_preference": (("prompt", "prompt"), ("completion", "answer")),
}


def check_rows(rows: list[dict], kind: str, conversational: bool | None) -> list[dict]:
    """Every value problem in `rows` read as `kind`, plus columns whose type changes across rows."""
    issues = _Issues()
    for index, row in enumerate(rows):
        row_kind, row_conversational = detect_row(row)
        if row_kind != kind:
            issues.add("error", "*", f"row is {KIND_TEXT[row_kind]}, unlike the rest ({KIND_TEXT[kind]})", index)
            continue
        if "tools" in row:
            check_tools(row["tools"], index, issues)
        if kind == "string_prompt_preference":
            _check_text(row.get("prompt"), "prompt", index, issues)
            for column in ("chosen", "rejected"):
                check_conversation(row.get(column), column, index, issues, "whole")
            continue
        if kind not in _FIELDS:
            continue
        if kind == "language_modeling" and row_conversational:
            check_conversation(row.get("messages"), "messages", index, issues, "whole")
            continue
        for column, part in _FIELDS[kind]:
            _check_field(row, column, index, issues, bool(conversational), part)
        if kind == "preference" and row.get("chosen") == row.get("rejected"):
            issues.add("warning", "chosen", "chosen and rejected are identical", index)
        label = row.get("label")
        if kind == "unpaired_preference" and not isinstance(label, bool):
            # KTOTrainer casts labels with torch.as_tensor(..., dtype=bool): 0/1 work, anything else is wrong.
            if type(label) is int and label in (0, 1):
                issues.add("warning", "label", "is 0/1 rather than true/false (read as booleans)", index)
            else:
                issues.add("error", "label", f"is {label!r:.20} ({_type_name(label)}), expected true or false", index)
    _check_types(rows, issues)
    return issues.as_list()


def _check_types(rows: list[dict], issues: _Issues) -> None:
    """A column whose values change type across rows (str here, list there) breaks Arrow and the trainers."""
    seen: dict[str, dict[str, list[int]]] = {}
    for index, row in enumerate(rows):
        for column, value in row.items():
            seen.setdefault(column, {}).setdefault(_type_name(value), []).append(index)
    for column, types in seen.items():
        missing = [index for index, row in enumerate(rows) if column not in row]
        for index in missing:
            issues.add("warning", column, "is missing from some rows", index)
        real = {name: found for name, found in types.items() if name != "None"}
        if len(real) > 1:
            summary = ", ".join(f"{name} in {len(found)} rows" for name, found in sorted(real.items()))
            minority = min(real.values(), key=len)
            for index in minority:
                issues.add("error", column, f"changes type across rows ({summary})", index)


# --- mappings --------------------------------------------------------------------------------------------------


def run_mapping(name: str, rows: list[dict], mappings: dict[str, Callable[[dict], dict]]) -> dict:
    """Apply a named mapping to the sample; returns the mapped rows and each row's failure."""
    mapped, failures = [], []
    for index, row in enumerate(rows):
        try:
            mapped.append(mappings[name](dict(row)))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            failures.append({"row": index, "error": str(exc)})
    return {"rows": mapped, "failures": failures}


def _base_verdict(method: str, kind: str, conversational: bool | None) -> tuple[str, str | None, str]:
    if method == "grpo" and kind == "language_modeling":
        if conversational:
            return _GRPO_FROM_MESSAGES
        return INCOMPATIBLE, None, "plain text has no prompts; " + _NEEDS["grpo"]
    if kind == "unknown":
        return INCOMPATIBLE, None, "no known format in the columns; " + _NEEDS[method]
    return _TABLE[method].get(kind, (INCOMPATIBLE, None, f"{KIND_TEXT[kind]} rows; " + _NEEDS[method]))


def dropped_columns(method: str, columns: list[str] | set[str]) -> list[str]:
    """TRL columns a training script removes before its trainer sees the rows. SFT trains on `messages` when there is
    one: TRL's SFTTrainer would otherwise read a `prompt` column beside it as prompt-completion data (and fail on
    ultrafeedback-style rows whose `messages` are plain SFT data)."""
    if method == "sft" and "messages" in columns:
        return [column for column in TRL_COLUMNS if column != "messages" and column in columns]
    return []


def method_verdict(rows: list[dict], method: str, mappings: dict[str, Callable[[dict], dict]],
                   checked: dict | None = None) -> dict:
    """The verdict of one method on sample rows, as its training script sees them (after `dropped_columns`).

    Inspection calls it for every method; the training scripts call it at load on the rows they are about to train on,
    so both refuse the same rows with the same reason. `checked` caches mapping results across methods."""
    if rows_have_images(rows):  # the text scripts cannot train on images: runtime/vision.py says where to go
        return text_script_image_verdict(rows, method)
    checked = {} if checked is None else checked
    drop = dropped_columns(method, {column for row in rows for column in row})
    if drop:
        rows = [{key: value for key, value in row.items() if key not in drop} for row in rows]
    kind, conversational = dataset_kind(rows)
    errors = [issue for issue in check_rows(rows, kind, conversational) if issue["severity"] == "error"]
    verdict, mapping, reason = _base_verdict(method, kind, conversational)
    if drop and verdict == READY:
        reason += f" (the script drops {', '.join(drop)} and trains on messages)"
    reasons = [reason]
    if verdict == READY and errors:
        verdict = INCOMPATIBLE
        rows_hit = sorted({row for issue in errors for row in issue["rows"]})
        first = errors[0]
        reasons = [f"the format fits ({reason}), but sample rows have errors ({first['column']} {first['message']}, "
                   f"e.g. rows {', '.join(map(str, rows_hit[:5]))}; see issues): fix or filter them first"]
    if verdict == NEEDS_MAPPING and mapping is not None:
        if mapping not in mappings:
            verdict, mapping = INCOMPATIBLE, None
            reasons.append("the mapping it needs is not available here")
        else:
            key = (mapping, tuple(drop))
            if key not in checked:
                checked[key] = _check_mapping(mapping, rows, mappings)
            result = checked[key]
            target_kind = result["kind"]
            if result["failures"]:
                first = result["failures"][0]
                verdict = INCOMPATIBLE
                reasons = [f"mapping {mapping!r} would fit ({reason}), but it failed on {result['failure_count']} "
                           f"of {len(rows)} sample rows (row {first['row']}: {first['error']}); fix the data first"]
            elif (target_kind not in TRL_KINDS
                  or _base_verdict(method, target_kind, result["conversational"])[0] != READY):
                verdict = INCOMPATIBLE
                reasons.append(f"but mapping {mapping!r} did not produce a {method.upper()}-ready format")
            elif any(issue["severity"] == "error" for issue in result["issues"]):
                verdict = INCOMPATIBLE
                reasons = [f"mapping {mapping!r} would fit ({reason}), but the mapped rows still have errors "
                           f"(see mappings.{mapping}.issues): fix or filter those rows first"]
    return {"verdict": verdict, "mapping": mapping if verdict == NEEDS_MAPPING else None, "reasons": reasons}


def sample_indices(total: int, head: int = 50, spread: int = 50) -> list[int]:
    """Row indices to check: the first `head` rows plus `spread` evenly spaced through the rest (to the last row), so
    problems that start late are seen at a cost independent of the dataset's size."""
    indices = list(range(min(head, total)))
    rest = total - len(indices)
    if rest > 0 and spread > 0:
        step = rest / min(spread, rest)
        indices += sorted({len(indices) + min(rest - 1, int(step * (i + 1)) - 1) for i in range(min(spread, rest))})
    return indices


def refusal(entry: dict, method: str, mapping: str | None = None, columns: list[str] | None = None) -> str:
    """What a training script says when its rows are not READY for `method`: the columns it found, the inspection's
    reason and the fix."""
    name = method.upper()
    after = f" after --dataset_mapping {mapping}" if mapping else ""
    found = f" (found {sorted(columns)})" if columns is not None else ""
    reasons = "; ".join(entry["reasons"])
    if entry["verdict"] == NEEDS_MAPPING and entry["mapping"]:
        return (f"{name} cannot train on these rows{after} as they are{found}: {reasons}. Pass --dataset_mapping "
                f"{entry['mapping']} (dataset_inspect runs it on a sample and re-validates the result).")
    return f"{name} cannot train on these rows{after}{found}: {reasons}. Run dataset_inspect for the details."


def verdicts(rows: list[dict], mappings: dict[str, Callable[[dict], dict]]) -> tuple[dict, dict]:
    """Per-method verdicts, and the mappings they name (by name), each run on the sample and re-validated."""
    cache: dict = {}
    results = {method: method_verdict(rows, method, mappings, cache) for method in METHODS}
    checked = {}
    for (name, _drop), result in cache.items():
        checked.setdefault(name, result)
    return results, checked


def _check_mapping(name: str, rows: list[dict], mappings: dict) -> dict:
    outcome = run_mapping(name, rows, mappings)
    mapped = outcome["rows"]
    kind, conversational = dataset_kind(mapped) if mapped else (None, None)
    issues = check_rows(mapped, kind, conversational) if kind else []
    return {
        "name": name,
        "rows_checked": len(rows),
        "failures": outcome["failures"][:5],
        "failure_count": len(outcome["failures"]),
        "kind": kind,
        "conversational": conversational,
        "issues": issues,
        "validated": bool(mapped) and not outcome["failures"] and kind in TRL_KINDS
        and not any(issue["severity"] == "error" for issue in issues),
        "example_before": preview(rows[0]) if rows else None,
        "example_after": preview(mapped[0]) if mapped else None,
        "rows": mapped,
    }


def preview(value: Any, limit: int = 300) -> Any:
    """A JSON-safe, short copy of a row for showing: long strings cut, bytes (images, audio) summarised."""
    if isinstance(value, dict):
        return {str(key): preview(item, limit) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [preview(item, limit) for item in value[:20]] + ([f"... {len(value) - 20} more"] if len(value) > 20
                                                                  else [])
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + f"... ({len(value)} characters)"
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def dataset_kind(rows: list[dict]) -> tuple[str, bool | None]:
    """The kind most sample rows have (rows of other kinds are reported as issues)."""
    counts: dict[tuple[str, bool | None], int] = {}
    for row in rows:
        key = detect_row(row)
        counts[key] = counts.get(key, 0) + 1
    return max(counts, key=lambda key: counts[key])


# --- chat templates --------------------------------------------------------------------------------------------

# ChatML, for base models whose tokenizer has no chat template (train_sft.py --chat_template chatml). The
# {% generation %} markers let TRL's assistant_only_loss find the answers; tool calls are written as <tool_call> JSON.
CHATML_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{- '<|im_start|>assistant\n' -}}{%- generation -%}{{- message['content'] or '' -}}"
    "{%- for call in (message['tool_calls'] or []) -%}"
    "{{- '<tool_call>' + (call['function'] | tojson) + '</tool_call>' -}}{%- endfor -%}"
    "{{- '<|im_end|>' -}}{%- endgeneration -%}{{- '\n' -}}"
    "{%- else -%}"
    "{{- '<|im_start|>' + message['role'] + '\n' + (message['content'] or '') + '<|im_end|>\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\n' -}}{%- endif -%}"
)
CHAT_TEMPLATES = {"chatml": CHATML_TEMPLATE}


def read_chat_template(value: str) -> str:
    """A named template (chatml) or the text of a Jinja file; ValueError naming the choices otherwise."""
    if value in CHAT_TEMPLATES:
        return CHAT_TEMPLATES[value]
    try:
        with open(value, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ValueError(f"chat template {value!r} is neither a known name ({', '.join(CHAT_TEMPLATES)}) nor a "
                         f"readable Jinja file ({exc.strerror or exc})") from None
    if "messages" not in text:
        raise ValueError(f"chat template file {value!r} does not read `messages`; it is not a chat template")
    return text


def row_tools(row: dict) -> Any:
    tools = row.get("tools")
    return json.loads(tools) if isinstance(tools, str) else tools


NO_TEMPLATE = ("the tokenizer has no chat template, so conversational rows cannot be formatted; use an instruct/chat "
               "model's tokenizer, or train_sft.py --chat_template chatml (or a Jinja file)")


def template_problem(rows: list[dict], tokenizer: Any) -> str | None:
    """Why the tokenizer cannot format these (conversational) rows, or None: no template, or one that fails on some
    rows. Inspection and the training scripts both ask this, so they refuse with the same words."""
    if not getattr(tokenizer, "chat_template", None):
        return NO_TEMPLATE
    failures = render_failures(rows, tokenizer)
    if not failures:
        return None
    return (f"the chat template cannot render {len(failures)} sample row(s) (row {failures[0]['row']}: "
            f"{failures[0]['error']})")


def render_failures(rows: list[dict], tokenizer: Any, limit: int = 20) -> list[dict]:
    """Rows (up to `limit`) the tokenizer's chat template cannot render, with the template's error: what TRL would
    otherwise raise from deep inside its dataset preparation."""
    failures = []
    for index, row in enumerate(rows[:limit]):
        if not detect_row(row)[1]:
            continue
        try:
            format_row(row, tokenizer)
        except Exception as exc:  # noqa: BLE001 - a Jinja template can raise anything; the message is what matters
            failures.append({"row": index, "error": f"{type(exc).__name__}: {str(exc)[:200]}"})
    return failures


def _render_messages(messages: list, tokenizer: Any, add_generation_prompt: bool = False, tools: Any = None) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt,
                                         tools=tools)


def format_row(row: dict, tokenizer: Any) -> str:
    """The text a trainer would tokenize for one TRL row: chat template for messages, concatenation otherwise.
    For preference rows, the longer of prompt+chosen and prompt+rejected (that is what must fit in max_length)."""
    kind, conversational = detect_row(row)
    if kind == "language_modeling":
        return _render_messages(row["messages"], tokenizer, tools=row_tools(row)) if conversational else row["text"]
    if kind == "string_prompt_preference":
        texts = [_render_messages(list(row[key]), tokenizer, tools=row_tools(row)) for key in ("chosen", "rejected")]
        return max(texts, key=len)
    if kind in ("prompt_completion", "unpaired_preference"):
        if conversational:
            return _render_messages(list(row["prompt"]) + list(row["completion"]), tokenizer)
        return row["prompt"] + row["completion"]
    if kind == "prompt_only":
        return _render_messages(row["prompt"], tokenizer, True) if conversational else row["prompt"]
    if kind in ("preference", "implicit_preference"):
        prompt = row.get("prompt", [] if conversational else "")
        texts = [_render_messages(list(prompt) + list(row[key]), tokenizer) if conversational
                 else prompt + row[key] for key in ("chosen", "rejected")]
        return max(texts, key=len)
    raise ValueError(f"cannot format {KIND_TEXT.get(kind, kind)} rows")

# ----- runtime/early_stop.py -----
"""Jobs that stop early instead of paying for nothing, each with a named reason the scripts print and diagnose reads.

    nan_loss              the loss or gradient norm became NaN or infinite: every later step is wasted
    diverging             the loss stayed far above its best value for several logs in a row
    zero_reward_variance  GRPO: every completion of every prompt scored the same for --zero_reward_steps steps, so
                          the advantages are all zero and nothing is learned
    stalled               no training step, evaluation batch or save for --stall_minutes (a stalled data loader, a
                          hung collective under FSDP): the job would otherwise idle until its timeout

A stop prints one line, `hf-trainer stopped early [<reason>] at step N: ...` (diagnose.py matches it), and the first
three end training at once (`control.should_training_stop`) so finish_run can record why (runtime/results.py: the
model card and the --json summary). Before a diverged run ends, the push of the last good checkpoint (hub_strategy
checkpoint pushes each save in the background) is waited for, and the broken final weights are never saved or pushed.
A stalled process cannot return: a watchdog thread prints the line and ends the process with STOPPED_EXIT_CODE.

Like every runtime module it is inlined into the scripts: standard library at the top, transformers inside functions.
"""

import argparse
import math
import os
import sys
import threading
import time

# The exit status of a run that stopped early (argparse errors exit 2, smoke failures 1).
STOPPED_EXIT_CODE = 3
STOP_LINE = "hf-trainer stopped early [{reason}] at step {step}: {detail}"
CHECKPOINT_LINE = "hf-trainer checkpoint: step {step} of {total} (checkpoint-{step})"
# Reasons whose final weights are broken: never saved or pushed as the result.
BROKEN_REASONS = ("nan_loss", "diverging")
# diverging: at least this many logged losses first, then this many logs in a row above both bounds.
DIVERGING_MIN_LOGS = 5
DIVERGING_LOGS_IN_A_ROW = 3
DIVERGING_FACTOR = 3.0
DIVERGING_MARGIN = 1.0
# GRPO logs the share of prompt groups whose rewards are all equal; at or above this, the group gives no signal.
ZERO_STD_SHARE = 0.999


def add_early_stop_arguments(parser: argparse.ArgumentParser) -> None:
    """--stall_minutes and --zero_reward_steps (0 turns either off)."""
    group = parser.add_argument_group("early stop")
    group.add_argument("--stall_minutes", type=float, default=30.0,
                       help="Stop when no training step, evaluation batch or save happens for this long (a stalled "
                            "data loader, a hung collective); 0 never stops. Default 30.")
    group.add_argument("--zero_reward_steps", type=int, default=25,
                       help="GRPO: stop when every completion scored the same for this many steps in a row (no "
                            "learning signal); 0 never stops. Default 25.")


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return True  # not a number: nothing to judge


def early_stop(args, method: str):
    """The TrainerCallback that stops a run for the reasons above; its `stopped` holds the reason once it fired."""
    from transformers import TrainerCallback

    stall_seconds = float(getattr(args, "stall_minutes", 0) or 0) * 60
    zero_steps = int(getattr(args, "zero_reward_steps", 0) or 0) if method == "grpo" else 0

    class EarlyStop(TrainerCallback):
        def __init__(self) -> None:
            self.stopped: dict | None = None
            self.losses: list[float] = []
            self.rising = 0
            self.zero_since: int | None = None
            self.last_log_step = 0
            self.beat = time.monotonic()
            self.done = threading.Event()

        # --- the reasons ---

        def stop(self, control, reason: str, step: int, detail: str) -> None:
            if self.stopped is None:
                self.stopped = {"reason": reason, "step": step, "detail": detail}
                print(STOP_LINE.format(reason=reason, step=step, detail=detail), flush=True)
            control.should_training_stop = True
            if reason in BROKEN_REASONS:
                # The log comes before this step's save: a diverged model must not become the last checkpoint.
                control.should_save = False
                control.should_evaluate = False

        def on_log(self, train_args, state, control, logs=None, **kwargs):
            self.heartbeat()
            logs = logs or {}
            step = state.global_step
            for key in ("loss", "grad_norm"):
                if key in logs and not _finite(logs[key]):
                    self.stop(control, "nan_loss", step, f"training diverged: {key} is {logs[key]} at step {step}. "
                              f"Lower the learning rate (now {train_args.learning_rate:g}) about tenfold; on fp16 "
                              "GPUs (T4) prefer a bf16 GPU. The last good checkpoint is the last one saved.")
                    return
            if "loss" in logs and method != "grpo":  # GRPO's loss is no measure of progress
                self.diverging(control, float(logs["loss"]), step, train_args)
            if zero_steps and "frac_reward_zero_std" in logs:
                steps = max(1, step - self.last_log_step)
                if float(logs["frac_reward_zero_std"]) >= ZERO_STD_SHARE:
                    self.zero_since = (self.zero_since or 0) + steps
                    if self.zero_since >= zero_steps:
                        self.stop(control, "zero_reward_variance", step,
                                  f"every completion scored the same reward for {self.zero_since} steps (reward "
                                  f"{logs.get('reward')}): no learning signal. Check that the reward functions fit "
                                  "the data, or make the task reachable for the model")
                else:
                    self.zero_since = None
            if "loss" in logs or "frac_reward_zero_std" in logs:
                self.last_log_step = step

        def diverging(self, control, loss: float, step: int, train_args) -> None:
            self.losses.append(loss)
            if len(self.losses) <= DIVERGING_MIN_LOGS:
                return
            best = min(self.losses)
            if loss > best * DIVERGING_FACTOR and loss > best + DIVERGING_MARGIN:
                self.rising += 1
            else:
                self.rising = 0
            if self.rising >= DIVERGING_LOGS_IN_A_ROW:
                self.stop(control, "diverging", step,
                          f"the loss is {loss:.4f}, over {DIVERGING_FACTOR:g}x its best ({best:.4f}), for "
                          f"{self.rising} logs in a row. Lower the learning rate (now {train_args.learning_rate:g}) "
                          "about tenfold")

        # --- progress: the watchdog's heartbeat, and a line per checkpoint that retry reads ---

        def heartbeat(self) -> None:
            self.beat = time.monotonic()

        def on_train_begin(self, train_args, state, control, **kwargs):
            self.heartbeat()
            if stall_seconds > 0 and state.is_world_process_zero:
                threading.Thread(target=self.watch, args=(state,), daemon=True, name="hf-trainer-stall").start()

        def on_step_end(self, train_args, state, control, **kwargs):
            self.heartbeat()

        def on_substep_end(self, train_args, state, control, **kwargs):
            self.heartbeat()

        def on_prediction_step(self, train_args, state, control, **kwargs):
            self.heartbeat()

        def on_evaluate(self, train_args, state, control, **kwargs):
            self.heartbeat()

        def on_save(self, train_args, state, control, **kwargs):
            self.heartbeat()
            if state.is_world_process_zero:
                print(CHECKPOINT_LINE.format(step=state.global_step, total=state.max_steps), flush=True)

        def on_train_end(self, train_args, state, control, **kwargs):
            self.done.set()

        def watch(self, state) -> None:
            while not self.done.wait(min(30.0, max(0.05, stall_seconds / 10))):
                idle = time.monotonic() - self.beat
                if idle >= stall_seconds:
                    self.stopped = {"reason": "stalled", "step": state.global_step,
                                    "detail": f"no training step for {idle / 60:.1f} minutes"}
                    print(STOP_LINE.format(reason="stalled", step=state.global_step,
                                           detail=f"no training step, evaluation batch or save for {idle / 60:.1f} "
                                                  f"minutes (--stall_minutes {stall_seconds / 60:g}): a stalled "
                                                  "data loader or a hung collective. Resume with --resume auto"),
                          flush=True)
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(STOPPED_EXIT_CODE)  # the main thread is stuck: nothing else would end the process

    return EarlyStop()


def stop_record(trainer) -> dict | None:
    """Why `trainer`'s run stopped early ({reason, step, detail}), or None when it ran to its end."""
    for callback in getattr(getattr(trainer, "callback_handler", None), "callbacks", []):
        stopped = getattr(callback, "stopped", None)
        if isinstance(stopped, dict) and "reason" in stopped:
            return stopped
    return None


def finish_pushes(trainer) -> None:
    """Wait for the background push of the last checkpoint (hub_strategy checkpoint), so it reaches the Hub before a
    stopped run ends."""
    finish = getattr(trainer, "_finish_current_push", None)
    if callable(finish):
        finish()

# ----- runtime/precision.py -----
"""The one precision policy of the training scripts and the estimator: per device and training mode, what the weights
are loaded in, what the trained parameters and the optimizer state are kept in, what autocast computes in, and what
is saved. `policy(device, mode, precision)` answers; train_common turns the answer into from_pretrained and
TrainingArguments settings, estimate_math into bytes per parameter. Nothing else decides a dtype.

Why these choices (measured on CPU, issue 26, references/training_methods.md "Precision"):
- Full fine-tuning keeps FP32 master weights and computes under bf16 autocast (fp16 on cards without bf16), as TRL's
  own scripts do (ModelConfig.dtype defaults to float32). With bf16 weights and bf16 AdamW state an update smaller
  than half a bf16 step of the weight rounds away: at lr 2e-5, 70.7% of a 0.02-scale matrix never moved in 10 steps,
  and 10 steps of SFT lowered the loss by 0.107 instead of 0.332. The price: 18 bytes per parameter instead of 8.
- fp16 autocast runs under a GradScaler, which refuses fp16 gradients ("Attempting to unscale FP16 gradients"): the
  parameters it scales are never fp16. Full fine-tuning keeps them fp32; LoRA trains fp32 adapters over a frozen
  16-bit base (frozen weights have no gradients to unscale); QLoRA's adapters are bf16 (TRL casts them so).
- LoRA and QLoRA keep the frozen base in 16 bits (4 bits for QLoRA): it receives no updates, so nothing rounds away.
- FSDP loads 16-bit weights (each process holds a full copy in host RAM while loading) and accelerate upcasts the
  trainable shards to FP32 master weights; layers are gathered and computed in 16 bits.
- CPU trains in fp32 by default (no fast 16-bit matmuls on most CPUs); `--precision bf16` runs the GPU policy on CPU
  (CPU autocast supports bf16). fp16 on CPU is refused: accelerate runs no autocast for fp16 there (it would silently
  train in fp32).

Standard library only: this module is inlined into the training scripts and into scripts/estimate_cost.py.
"""

from dataclasses import dataclass

PRECISION_CHOICES = ("auto", "bf16", "fp16", "fp32")
# The devices the policy tells apart: a CPU, a CUDA GPU with bf16 units (compute capability 8.0 and later: A10G,
# L4, L40S, A100, H100, H200, RTX PRO 6000), one without (T4, V100: fp16 tensor cores only).
DEVICE_KINDS = ("cpu", "cuda-bf16", "cuda-fp16")
MODES = ("full", "lora", "qlora", "fsdp", "fsdp-lora")
BYTES = {"float32": 4.0, "bfloat16": 2.0, "float16": 2.0, "nf4": 0.5159}  # nf4: 4 bits + double-quantized scales
_AUTOCAST = {"bf16": "bfloat16", "fp16": "float16", "fp32": None}


class PrecisionError(ValueError):
    """A --precision the device cannot run: `fact` says why, `fix` what to pass instead; str() is both."""

    def __init__(self, fact: str, fix: str = "") -> None:
        super().__init__(f"{fact} {fix}".strip())
        self.fact, self.fix = fact, fix


@dataclass(frozen=True)
class Precision:
    """What one (device, mode, --precision) trains with. dtypes are torch names without the prefix ("bfloat16")."""

    device: str  # one of DEVICE_KINDS
    mode: str  # one of MODES
    name: str  # "bf16", "fp16" or "fp32": the resolved --precision
    load_dtype: str  # from_pretrained(dtype=...): the frozen base, or the trainable weights before any upcast
    trainable_dtype: str  # the trained parameters (master weights) and their gradients
    optimizer_dtype: str  # AdamW's two moments (torch keeps them in the parameter's dtype)
    autocast: str | None  # the dtype matmuls run in under autocast, or None (no autocast)
    saved_dtype: str  # what the final model (or adapter) is written in
    grad_scaler: bool  # fp16 autocast on CUDA: the loss is scaled and gradients unscaled before each step
    quantized_base: bool = False  # QLoRA: the frozen base in NF4, computing in `autocast`
    reason: str = ""

    @property
    def training_arguments(self) -> dict:
        """TrainingArguments' flags: bf16/fp16 switch on accelerate's autocast (and, for fp16, its GradScaler)."""
        return {"bf16": self.name == "bf16", "fp16": self.name == "fp16"}

    def bytes_per_parameter(self) -> dict[str, float]:
        """Bytes per parameter of the model, by part, for AdamW (8-bit optimizers: see the estimator).

        Full fine-tuning: the weights as loaded (the master copy), their gradients, AdamW's moments, and the 16-bit
        copy autocast makes of every weight in forward and keeps for backward (`autocast_copy`; none without
        autocast). Under FSDP the first three are divided by the GPU count and the 16-bit copies are the gathered
        layers (the estimator's fsdp_gathered_params). LoRA/QLoRA: the frozen base only; the adapters' parts are
        `adapter_bytes_per_parameter`."""
        if self.mode in ("lora", "qlora", "fsdp-lora"):
            return {"weights": BYTES["nf4"] if self.quantized_base else BYTES[self.load_dtype]}
        master = BYTES[self.trainable_dtype]
        parts = {"weights": master, "gradients": master, "optimizer": 2 * BYTES[self.optimizer_dtype]}
        if self.autocast and self.mode == "full" and self.trainable_dtype != self.autocast:
            parts["autocast_copy"] = BYTES[self.autocast]
        return parts

    def adapter_bytes_per_parameter(self) -> dict[str, float]:
        """Bytes per trainable adapter parameter (LoRA modes): weight, gradient, AdamW's two moments."""
        b = BYTES[self.trainable_dtype]
        return {"weights": b, "gradients": b, "optimizer": 2 * BYTES[self.optimizer_dtype]}

    @property
    def activation_bytes(self) -> float:
        """Bytes per element of the residual stream (the activations checkpointing keeps per layer): fp32 when the
        weights are fp32 (embeddings and residual additions stay fp32 under autocast), else 16-bit."""
        return 4.0 if self.load_dtype == "float32" and not self.quantized_base else 2.0

    def summary(self) -> str:
        """One line for the run's log: what this run trains with."""
        compute = f"{self.autocast} autocast" if self.autocast else "no autocast"
        scaler = " with GradScaler" if self.grad_scaler else ""
        base = "nf4" if self.quantized_base else self.load_dtype
        return (f"precision {self.name} ({self.mode}): weights loaded in {base}, trained parameters "
                f"{self.trainable_dtype}, AdamW state {self.optimizer_dtype}, {compute}{scaler}, saved "
                f"{self.saved_dtype}")


def training_mode(use_peft: bool, load_in_4bit: bool = False, fsdp: bool = False) -> str:
    """The mode of a run from its flags (QLoRA is never sharded: the scripts refuse --fsdp --load_in_4bit)."""
    if fsdp:
        return "fsdp-lora" if use_peft else "fsdp"
    if use_peft:
        return "qlora" if load_in_4bit else "lora"
    return "full"


def device_kind(device: dict) -> str:
    """train_common.detect_device()'s answer as one of DEVICE_KINDS."""
    if device.get("type") != "cuda":
        return "cpu"
    return "cuda-bf16" if device.get("bf16") else "cuda-fp16"


def resolve(device: str, precision: str = "auto") -> str:
    """--precision as it will run on `device`: auto picks; a forced choice the device cannot run is refused."""
    if device not in DEVICE_KINDS:
        raise PrecisionError(f"unknown device kind {device!r}: one of {', '.join(DEVICE_KINDS)}")
    if precision not in PRECISION_CHOICES:
        raise PrecisionError(f"--precision {precision!r} is not one of {', '.join(PRECISION_CHOICES)}.")
    if precision == "auto":
        return {"cpu": "fp32", "cuda-bf16": "bf16", "cuda-fp16": "fp16"}[device]
    if precision == "bf16" and device == "cuda-fp16":
        raise PrecisionError("--precision bf16 needs a GPU with bf16 units (compute capability 8.0 or later: A10G, L4, "
                             "L40S, A100, H100, H200); this one has fp16 only (e.g. T4).",
                             "Use --precision auto (fp16 autocast with FP32 master weights) or a bf16 flavor such as "
                             "l4x1 or a10g-small.")
    if precision == "fp16" and device == "cpu":
        raise PrecisionError("--precision fp16 does not run on CPU: accelerate applies no fp16 autocast there, so "
                             "the run would silently train in fp32.",
                             "Use --precision bf16 (CPU autocast supports it) or fp32 on CPU, and fp16 on a CUDA GPU.")
    return precision


def policy(device: str, mode: str, precision: str = "auto") -> Precision:
    """The precision for a device kind (DEVICE_KINDS), a training mode (MODES) and a --precision choice."""
    if mode not in MODES:
        raise PrecisionError(f"unknown training mode {mode!r}: one of {', '.join(MODES)}")
    if mode == "qlora" and device == "cpu":
        raise PrecisionError("QLoRA (--load_in_4bit) needs a CUDA GPU: bitsandbytes' 4-bit weights do not train on "
                             "CPU.", "Drop --load_in_4bit to train LoRA here.")
    name = resolve(device, precision)
    autocast = _AUTOCAST[name]
    half = autocast or "float32"  # the 16-bit dtype of this run, or float32 without autocast
    scaler = name == "fp16" and device != "cpu"
    if mode == "full":
        return Precision(device, mode, name, "float32", "float32", "float32", autocast, half, scaler,
                         reason="FP32 master weights and AdamW state: small updates are kept; matmuls in "
                                f"{half} under autocast; saved in {half}")
    if mode == "fsdp":
        return Precision(device, mode, name, half, "float32", "float32", autocast, half, scaler,
                         reason="loaded in 16 bits; accelerate upcasts the trainable shards to FP32 master weights; "
                                f"layers gathered and computed in {half}; saved in {half}")
    if mode == "qlora":
        # TRL casts the adapters of a quantized model to bf16 (the QLoRA paper's choice), whatever the autocast; bf16
        # gradients are not fp16, so the GradScaler of an fp16 card unscales them.
        adapters = "float32" if name == "fp32" else "bfloat16"
        return Precision(device, mode, name, half, adapters, adapters, autocast, adapters, scaler,
                         quantized_base=True,
                         reason=f"NF4 base computing in {half}; adapters {adapters} (TRL's QLoRA cast)")
    # lora, fsdp-lora: PEFT keeps the adapters in fp32 over a frozen 16-bit base.
    return Precision(device, mode, name, half, "float32", "float32", autocast, "float32", scaler,
                     reason=f"frozen base in {half} (no updates to lose); adapters and their AdamW state in fp32")


# ----- runtime/sharding.py -----
"""Sharded training for the training scripts (`--fsdp`): PyTorch FSDP2 driven by transformers' Trainer and accelerate.

With `--fsdp`, each of the N processes (one per GPU, started by `accelerate launch` or the script's own relaunch) holds
1/N of the weights, gradients and optimizer state; a layer's full weights exist only while it runs. That is how a
model that does not fit one GPU with its training state trains on an xN flavor. Everything goes through the Trainer's
own `fsdp` / `fsdp_config` arguments (FullyShardedDataParallelPlugin, fsdp_version=2), so TRL's trainers shard their
reference models the same way (trl.models.prepare_fsdp).

- Checkpoints during training are sharded (SHARDED_STATE_DICT: each process writes its own part with
  torch.distributed.checkpoint, in parallel): `checkpoint-N/pytorch_model_fsdp_0/`, `optimizer_0/`. They are pushed
  with hub_strategy=checkpoint like any checkpoint, and resume on the same or another number of GPUs (DCP reshards).
- The final model is consolidated: gathered into one full state dict on the main process and saved as ordinary
  safetensors (a LoRA run: the adapter), so from_pretrained, the model card and the push see a normal model.
- Mixed precision: with bf16 the trainable weights are kept as fp32 shards (accelerate upcasts them) and layers are
  gathered and computed in bf16. Activation checkpointing is FSDP's own (the Trainer's would gather each layer twice).

Standard library only at the top: this module is inlined into the self-contained training scripts.
"""

import json
import os
from pathlib import Path

# fsdp_config keys as transformers' TrainingArguments reads them (version 2 = FSDP2).
FSDP_CHECKPOINT_FORMAT = "SHARDED_STATE_DICT"


def activation_checkpointing_on(args, device: dict) -> bool:
    """Whether to recompute activations: on by default on GPUs (memory is the constraint there), off on CPU."""
    if device["type"] == "cuda":
        return args.activation_checkpointing is not False
    return bool(args.activation_checkpointing)


def fsdp_problem(args, device: dict, world_size: int) -> str | None:
    """Why `--fsdp` cannot run with these arguments here (one actionable sentence), or None."""
    if not getattr(args, "fsdp", False):
        return None
    if world_size < 2:
        where = f"{device['count']} GPU" if device["type"] == "cuda" else "CPU"
        return (f"--fsdp shards the model over several processes, but this run has one ({where}). Run on a multi-GPU "
                "flavor (e.g. a10g-largex4, l40sx4, a100x4: the script starts one process per GPU), or drop --fsdp "
                "(on one GPU, --use_peft or --load_in_4bit save memory instead).")
    if getattr(args, "load_in_4bit", False):
        return ("--fsdp with --load_in_4bit is not supported by these scripts: shard a bf16 LoRA (--fsdp --use_peft) "
                "over several GPUs, or train QLoRA on one GPU without --fsdp.")
    if "8bit" in (getattr(args, "optim", None) or ""):
        return (f"--optim {args.optim} keeps bitsandbytes 8-bit state that FSDP2's sharded (DTensor) parameters do "
                "not support: drop --optim with --fsdp (sharding already divides the AdamW state by the GPU count).")
    if getattr(args, "eval_baseline", False):
        return ("--eval_baseline runs generation on the main process only, which a sharded model cannot do (every "
                "process holds part of each layer). Drop --eval_baseline and score the pushed model afterwards with "
                "scripts/evaluate.py.")
    return None


# The folder Trainer writes a sharded model into inside a checkpoint (transformers' FSDP_MODEL_NAME + "_0").
SHARDED_MODEL_DIR = "pytorch_model_fsdp_0"


def is_sharded_checkpoint(files) -> bool:
    """Whether a checkpoint is sharded: `files` is its folder (a path) or the names in it (e.g. a Hub listing of
    last-checkpoint/, names relative to it)."""
    if isinstance(files, (str, Path)):
        return (Path(files) / SHARDED_MODEL_DIR).is_dir()
    return any(str(name).startswith(SHARDED_MODEL_DIR + "/") for name in files)


def checkpoint_problem(args, where: str, sharded: bool) -> str | None:
    """Why this run cannot continue the checkpoint at `where` (sharded or not: see is_sharded_checkpoint), or None.

    transformers would only fail inside train() ("only supported when using PyTorch FSDP") or in torch's checkpoint
    reader: call this where the checkpoint to resume is chosen, before anything is loaded or downloaded."""
    fsdp = getattr(args, "fsdp", False)
    if sharded and not fsdp:
        return (f"{where} is a sharded (--fsdp) checkpoint: continue it with --fsdp on a multi-GPU flavor (any GPU "
                "count: the shards are redistributed), or pass --resume never to start from step 0.")
    if not sharded and fsdp:
        return (f"{where} was saved by a run without --fsdp: continue it without --fsdp, or pass --resume never to "
                "start a sharded run from step 0.")
    return None


def fsdp_kwargs(args, device: dict) -> dict:
    """The TrainingArguments (SFTConfig, DPOConfig, ...) entries for --fsdp; {} without it.

    Pass next to precision_kwargs(...), which then leaves activation checkpointing to FSDP."""
    if not getattr(args, "fsdp", False):
        return {}
    if device["type"] != "cuda":
        enable_fsdp_on_cpu()
    if os.environ.get("RANK", "0") == "0":
        print(f"--fsdp: weights, gradients and optimizer state sharded over {os.environ.get('WORLD_SIZE', '1')} "
              "processes (FSDP2); sharded checkpoints, one consolidated model at the end.", flush=True)
    return {
        "fsdp": True,
        "fsdp_config": {
            "version": 2,
            # TRANSFORMER_BASED_WRAP falls back to the model's _no_split_modules (its decoder layer class): one
            # FSDP unit per layer, so at most one layer (plus the next, prefetched) is gathered at a time.
            "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
            "reshard_after_forward": True,  # free each layer's full weights after forward (gathered again in backward)
            "state_dict_type": FSDP_CHECKPOINT_FORMAT,
            "activation_checkpointing": activation_checkpointing_on(args, device),
            # Every process loads the weights (transformers 5 no longer skips that on the others), but only the first
            # upcasts them to fp32 and the others receive its shards: otherwise each process would hold a full fp32
            # copy in host RAM before sharding (8 x 128 GB for a 32B model on h200x8).
            "cpu_ram_efficient_loading": True,
        },
    }


def enable_fsdp_on_cpu() -> None:
    """Let accelerate run FSDP2 over gloo on CPU, as torch does: for rehearsing a sharded run on a CPU machine.

    accelerate 1.16 chooses FSDP only for GPU-like backends (AcceleratorState: MULTI_CPU is not in its list) and would
    silently run data parallel instead, so a CPU rehearsal would test something else. After its own setup, a run
    that was given an FSDP plugin is switched to FSDP. No effect on GPUs, where accelerate does this itself."""
    from accelerate import state
    from accelerate.utils import DistributedType

    if getattr(state.AcceleratorState, "_hf_trainer_cpu_fsdp", False):
        return
    original = state.AcceleratorState.__init__

    def init(self, *positional, fsdp_plugin=None, **keywords):
        original(self, *positional, fsdp_plugin=fsdp_plugin, **keywords)
        if fsdp_plugin is not None and self.distributed_type == DistributedType.MULTI_CPU:
            self.distributed_type = DistributedType.FSDP
            self.fsdp_plugin = fsdp_plugin
            state.PartialState._shared_state["distributed_type"] = DistributedType.FSDP

    state.AcceleratorState.__init__ = init
    state.AcceleratorState._hf_trainer_cpu_fsdp = True


def is_sharded(trainer) -> bool:
    return getattr(trainer, "is_fsdp_enabled", False)


def _training_dtype(trainer):
    """The dtype the model was loaded in for training (bf16/fp16 on GPUs), or None for fp32."""
    import torch

    return torch.bfloat16 if trainer.args.bf16 else torch.float16 if trainer.args.fp16 else None


def save_final_model(trainer, output_dir: str) -> None:
    """Save the trained model to output_dir as from_pretrained-loadable safetensors (a LoRA run: the adapter).

    A sharded run gathers the full state dict onto the main process's CPU, one parameter at a time (every process must
    call this: the gathers are collectives; only the main process writes). Under bf16 mixed precision FSDP trains fp32
    master weights, so a full model is cast back to the dtype it was loaded in: the same files, and the same size,
    as an unsharded run writes (a LoRA adapter stays fp32, as PEFT keeps it in either case)."""
    if not is_sharded(trainer):
        # Full fine-tuning trains FP32 master weights under 16-bit autocast (runtime/precision.py): written in the
        # autocast dtype, as the sharded path below, so the files keep the size the base model had.
        dtype, model = _training_dtype(trainer), trainer.accelerator.unwrap_model(trainer.model)
        master = next((p.dtype for p in model.parameters() if p.requires_grad), None)
        if dtype is None or hasattr(model, "peft_config") or master in (None, dtype):
            trainer.save_model(output_dir)
            return
        if trainer.args.should_save:
            state_dict, seen = {}, set()
            for name, tensor in model.state_dict().items():
                if tensor.data_ptr() in seen:  # a tied weight (lm_head = embed_tokens): written once, as before
                    continue
                seen.add(tensor.data_ptr())
                state_dict[name] = tensor.detach().to("cpu", dtype) if tensor.is_floating_point() else tensor
            trainer._save(output_dir, state_dict=state_dict)
            record_dtype(Path(output_dir) / "config.json", dtype)
        # save_model would also push; results.finish uploads the folder, after the checkpoint pushes in flight.
        getattr(trainer, "_finish_current_push", lambda: None)()
        return
    state_dict = trainer.accelerator.get_state_dict(trainer.model)  # FSDP2: full tensors, on the main process only
    dtype = _training_dtype(trainer)
    is_adapter = hasattr(trainer.accelerator.unwrap_model(trainer.model), "peft_config")
    if dtype is not None and not is_adapter:
        cast_floating(state_dict, dtype)
    trainer._save(output_dir, state_dict=state_dict)  # what Trainer.save_model does for FSDP, with our state dict
    config = Path(output_dir) / "config.json"
    if dtype is not None and not is_adapter and trainer.args.should_save and config.is_file():
        record_dtype(config, dtype)


def cast_floating(state_dict: dict, dtype) -> None:
    """Cast the floating-point tensors of state_dict to dtype in place, one at a time (peak: one extra tensor)."""
    for name, tensor in state_dict.items():
        if tensor.is_floating_point() and tensor.dtype != dtype:
            state_dict[name] = tensor.to(dtype)


def record_dtype(config_path: Path, dtype) -> None:
    """Write the weights' dtype into config.json (save_pretrained recorded the fp32 of the sharded master weights)."""
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["dtype"] = str(dtype).removeprefix("torch.")
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")

# ----- runtime/train_common.py -----
"""What every training script shares before training: arguments, device, model loading, data, tracking, the Hub.

The training scripts carry it (and its siblings runtime/resume.py and runtime/results.py, the resume check and the
tail after training) in their generated runtime block, because HF Jobs runs a single file. So: standard-library
imports only at the top; torch, transformers, trl, peft and datasets are imported inside the functions that need them.
"""

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path


# Trackio project of runs that name none (--trackio_project).
DEFAULT_TRACKIO_PROJECT = "hf-trainer"


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments every method shares, named as in TRL and transformers."""
    model = parser.add_argument_group("model")
    model.add_argument("--model_name_or_path", required=True, help="Hub model id or local folder.")
    model.add_argument("--trust_remote_code", action="store_true")
    model.add_argument("--attn_implementation", default=None,
                       help="Attention kernel; default: flash_attention_2 when installed on a GPU, else sdpa.")

    data = parser.add_argument_group("data")
    data.add_argument("--dataset_name", required=True,
                      help="Hub dataset id, or a local .jsonl/.json/.csv/.parquet/.arrow file or a folder of them.")
    data.add_argument("--dataset_config", default=None, help="Dataset configuration (subset) name.")
    data.add_argument("--dataset_revision", default=None, help="Hub dataset revision: branch, tag or commit.")
    data.add_argument("--dataset_train_split", default="train")
    data.add_argument("--dataset_test_split", default=None,
                      help="Eval split name; default: the one beside the train split (test_prefs beside "
                           "train_prefs), else 'test' or 'validation' when the dataset has one.")
    data.add_argument("--eval_split_size", type=float, default=0.05,
                      help="When there is no eval split, carve one: a fraction (<1) or a row count (>=1); 0 disables.")
    data.add_argument("--dataset_mapping", default=None,
                      help="Convert rows with a named mapping first (e.g. sharegpt, alpaca); see dataset_inspect.")
    data.add_argument("--max_train_samples", type=_positive_int, default=None, help="Use only the first N rows.")

    train = parser.add_argument_group("training")
    train.add_argument("--output_dir", default=None, help="Local output folder (default: outputs/<model>-<method>).")
    train.add_argument("--max_length", type=_positive_int, default=2048, help="Tokens per example (truncation).")
    train.add_argument("--num_train_epochs", type=_positive_float, default=1.0)
    train.add_argument("--max_steps", type=int, default=-1, help="Stop after N optimiser steps (overrides epochs).")
    train.add_argument("--learning_rate", type=_positive_float, default=None,
                       help="Default: 2e-4 with LoRA, 2e-5 for full fine-tuning (method scripts may differ).")
    train.add_argument("--lr_scheduler_type", default="cosine")
    train.add_argument("--warmup_steps", type=float, default=0.03,
                       help="Linear warm-up: a step count, or a fraction (<1) of all steps.")
    train.add_argument("--weight_decay", type=float, default=0.0)
    train.add_argument("--per_device_train_batch_size", type=_positive_int, default=4)
    train.add_argument("--per_device_eval_batch_size", type=_positive_int, default=None)
    train.add_argument("--gradient_accumulation_steps", type=_positive_int, default=4)
    train.add_argument("--activation_checkpointing", action=argparse.BooleanOptionalAction, default=None,
                       help="Recompute activations to save memory (default: on for GPUs, off on CPU).")
    train.add_argument("--optim", default=None, help="Optimizer (default: adamw_torch_fused on GPU, adamw_torch on CPU).")
    train.add_argument("--precision", default="auto", choices=PRECISION_CHOICES,
                       help="auto: FP32 master weights with bf16 autocast on bf16 GPUs, fp16 autocast (GradScaler) on "
                            "fp16-only GPUs (T4), fp32 on CPU; LoRA/QLoRA keep a 16-bit base. bf16/fp16/fp32 force "
                            "the autocast (bf16 also runs on CPU). See references/training_methods.md.")
    train.add_argument("--logging_steps", type=_positive_int, default=None)
    train.add_argument("--save_steps", type=_positive_int, default=100)
    train.add_argument("--save_total_limit", type=_positive_int, default=2)
    train.add_argument("--seed", type=int, default=42)
    train.add_argument("--fsdp", action="store_true",
                       help="Shard weights, gradients and optimizer state over the GPUs (FSDP2), for models that do "
                            "not fit one GPU: needs a multi-GPU flavor; sharded checkpoints, one consolidated model.")

    peft = parser.add_argument_group("LoRA")
    peft.add_argument("--use_peft", action="store_true", help="Train a LoRA adapter instead of all weights.")
    peft.add_argument("--lora_r", type=_positive_int, default=16)
    peft.add_argument("--lora_alpha", type=_positive_int, default=32)
    peft.add_argument("--lora_dropout", type=float, default=0.05)
    peft.add_argument("--lora_target_modules", nargs="+", default=["all-linear"],
                      help="Module names, or all-linear (default).")
    peft.add_argument("--load_in_4bit", action="store_true", help="QLoRA: 4-bit base model (CUDA GPU only).")

    hub = parser.add_argument_group("Hub")
    hub.add_argument("--push_to_hub", action="store_true", help="Push checkpoints and the final model to the Hub.")
    hub.add_argument("--hub_model_id", default=None, help="Model repo, e.g. user/my-model.")
    hub.add_argument("--hub_private_repo", action=argparse.BooleanOptionalAction, default=True,
                     help="Make the repo private (default) or public (--no-hub_private_repo).")
    hub.add_argument("--hub_strategy", default="checkpoint", choices=["end", "every_save", "checkpoint", "all_checkpoints"],
                     help="Default 'checkpoint': the latest checkpoint is pushed too, so a new job can resume.")
    hub.add_argument("--resume", nargs="?", const="must", default="never", choices=RESUME_CHOICES,
                     help="Continue from the newest checkpoint (output_dir, else the Hub repo's last-checkpoint) only "
                          "when the same kind of run made it (model, method, data, LoRA shape): auto continues or "
                          "starts fresh, must (bare --resume) fails without one, never starts fresh. A checkpoint of "
                          "another run is refused before training, with the difference named.")

    track = parser.add_argument_group("tracking")
    track.add_argument("--report_to", default="trackio", help="trackio (default), none, wandb, tensorboard, ...")
    track.add_argument("--trackio_project", default=DEFAULT_TRACKIO_PROJECT,
                       help="Trackio project: runs of one project share a dashboard; choose one per experiment.")
    track.add_argument("--trackio_space_id", default=None,
                       help="Trackio Space for live metrics; default on HF Jobs: <user>/trackio (private unless "
                            "--no-hub_private_repo). 'none' disables.")
    track.add_argument("--run_name", default=None,
                       help="Run name in the dashboard; default: <model>-<data>-<method>-<UTC time>, e.g. "
                            "qwen2.5-0.5b-capybara-sft-20261206-1405.")

    run = parser.add_argument_group("run")
    run.add_argument("--smoke", action="store_true",
                     help="One optimiser step on real data: checks the loss is finite and the gradient non-zero.")
    run.add_argument("--json", action="store_true", help="Print a one-line JSON summary at the end.")
    add_early_stop_arguments(parser)  # --stall_minutes, --zero_reward_steps (runtime/early_stop.py)


# --- device and precision ---------------------------------------------------------------------------------------

def detect_device() -> dict:
    """What the machine offers: device type, bf16 support (not on T4/V100), GPU count and name."""
    import torch

    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability(0)
        return {
            "type": "cuda",
            # bf16 units from compute capability 8.0 (Ampere) on. Not torch.cuda.is_bf16_supported(): by default it
            # also answers True for emulated bf16 (a T4 can store bf16 tensors, not compute in them at speed).
            "bf16": major >= 8 or bool(torch.version.hip),
            "capability": f"{major}.{minor}",
            "count": torch.cuda.device_count(),
            "name": torch.cuda.get_device_name(0),
        }
    return {"type": "cpu", "bf16": False, "count": 0, "name": "cpu"}


def distributed_world_size() -> int:
    """Processes in this run: WORLD_SIZE under accelerate launch / torchrun, else 1."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def relaunch_distributed(device: dict) -> None:
    """With several GPUs visible to a plain `python` process, re-run this script under `accelerate launch` with one
    process per GPU: Trainer would otherwise fall back to DataParallel, which TRL refuses (and which is slow).
    Set HF_TRAINER_NO_RELAUNCH=1 to keep one process (e.g. when you launch it yourself)."""
    if device["count"] < 2 or "WORLD_SIZE" in os.environ or os.environ.get("HF_TRAINER_NO_RELAUNCH"):
        return
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(device["count"]),
               "--num_machines", "1", "--dynamo_backend", "no", "--mixed_precision", "no",
               str(Path(sys.argv[0]).resolve()), *sys.argv[1:]]
    print(f"{device['count']} GPUs visible: relaunching with accelerate launch --num_processes {device['count']}",
          flush=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, command)


def check_arguments(args, device: dict) -> None:
    """Refuse combinations that cannot work, before anything is loaded."""
    if args.load_in_4bit and device["type"] != "cuda":
        raise ScriptError("--load_in_4bit (QLoRA) needs a CUDA GPU, and none was found. Drop --load_in_4bit to train "
                          "LoRA in full precision here, or run on a GPU flavor.")
    if args.load_in_4bit and not args.use_peft:
        raise ScriptError("--load_in_4bit trains a LoRA adapter on a 4-bit base: add --use_peft.")
    if args.push_to_hub and not args.hub_model_id:
        raise ScriptError("--push_to_hub needs --hub_model_id (e.g. your-name/my-model).")
    if args.push_to_hub and not os.environ.get("HF_TOKEN"):
        raise ScriptError("--push_to_hub needs a token in the HF_TOKEN environment variable (on HF Jobs pass it as a "
                          "secret: --secrets HF_TOKEN).")
    if args.eval_split_size < 0:
        raise ScriptError(f"--eval_split_size {args.eval_split_size} is negative: use a fraction, a row count, or 0.")
    if args.max_steps == 0 or args.max_steps < -1:
        raise ScriptError(f"--max_steps {args.max_steps} is invalid: use a positive number, or -1 for epochs.")
    problem = fsdp_problem(args, device, distributed_world_size())
    if problem:
        raise ScriptError(problem)
    run_precision(args, device)  # a --precision the device cannot run stops here


def default_output_dir(args, method: str) -> str:
    name = args.model_name_or_path.rstrip("/").split("/")[-1]
    return args.output_dir or str(Path("outputs") / f"{name}-{method}")


def run_precision(args, device: dict) -> Precision:
    """The precision policy (runtime/precision.py) for this run: device kind x training mode x --precision."""
    mode = training_mode(getattr(args, "use_peft", False), getattr(args, "load_in_4bit", False),
                         getattr(args, "fsdp", False))
    try:
        return policy(device_kind(device), mode, getattr(args, "precision", "auto") or "auto")
    except PrecisionError as exc:
        raise ScriptError(str(exc)) from None


def precision_kwargs(args, device: dict) -> dict:
    """Trainer precision and speed settings: the policy's autocast (bf16, or fp16 with a GradScaler), CPU flags on
    CPU, the optimizer, activation checkpointing and Liger kernels."""
    precision = run_precision(args, device)
    if is_main_process():
        print(precision.summary(), flush=True)
    # With --fsdp, FSDP checkpoints activations itself (sharding.fsdp_kwargs); the Trainer's would gather layers twice.
    checkpointing = activation_checkpointing_on(args, device) and not getattr(args, "fsdp", False)
    if device["type"] != "cuda":
        return {**precision.training_arguments, "use_cpu": True, "optim": args.optim or "adamw_torch",
                "activation_checkpointing": checkpointing}
    kwargs = {**precision.training_arguments, "optim": args.optim or "adamw_torch_fused",
              "activation_checkpointing": checkpointing}
    if kwargs["activation_checkpointing"]:
        kwargs["activation_checkpointing_kwargs"] = {"use_reentrant": False}
    try:
        import liger_kernel  # noqa: F401  (optional: fused kernels, +10-24% throughput when installed)

        kwargs["use_liger_kernel"] = True
    except ImportError:
        pass
    return kwargs


def model_init_kwargs(args, device: dict) -> dict:
    """How to load the model: the policy's dtype (fp32 master weights for full fine-tuning, a 16-bit base for LoRA),
    the attention kernel, 4-bit quantization computing in the policy's autocast dtype."""
    import torch

    dtype = getattr(torch, run_precision(args, device).load_dtype)  # "bfloat16" -> torch.bfloat16
    attn = args.attn_implementation
    if attn is None:
        attn = "sdpa"
        if device["type"] == "cuda":
            try:
                import flash_attn  # noqa: F401  (optional: padding-free packing without a dense mask)

                attn = "flash_attention_2"
            except ImportError:
                pass
    kwargs = {"dtype": dtype, "attn_implementation": attn, "trust_remote_code": args.trust_remote_code}
    if args.load_in_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=dtype)
    return kwargs


def peft_config(args, task_type: str = "CAUSAL_LM"):
    """The LoRA configuration, or None for full fine-tuning."""
    if not args.use_peft:
        return None
    from peft import LoraConfig

    targets = args.lora_target_modules
    return LoraConfig(
        r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout, task_type=task_type,
        target_modules="all-linear" if targets == ["all-linear"] else targets,
    )


def default_learning_rate(args, full: float = 2e-5, lora: float = 2e-4) -> float:
    """LoRA trains few parameters from zero and wants ~10x the full fine-tuning rate."""
    if args.learning_rate is not None:
        return args.learning_rate
    return lora if args.use_peft else full


# --- data ------------------------------------------------------------------------------------------------------

def load_splits(args):
    """(train, eval or None), read exactly as dataset inspection reads them: a Hub dataset at --dataset_config and
    --dataset_revision, a local folder's split-named files, a save_to_disk folder's saved splits (never merged); the
    eval split is --dataset_test_split, else the one beside the train split (runtime/splits.eval_split), else one
    carved from the train rows."""
    import datasets

    path = Path(args.dataset_name).expanduser()
    revision = getattr(args, "dataset_revision", None)
    if path.exists() and revision:
        raise ScriptError(f"--dataset_revision {revision} applies to Hub datasets; {args.dataset_name} is a local "
                          "path. Drop --dataset_revision.")
    if path.is_dir() and ((path / "dataset_dict.json").exists() or (path / "state.json").exists()):
        loaded = datasets.load_from_disk(str(path))  # a datasets.save_to_disk folder
        if isinstance(loaded, datasets.Dataset):
            loaded = datasets.DatasetDict({"train": loaded})
        names, read = list(loaded), loaded.__getitem__
    elif path.exists():
        builder, files = _local_data_files(path)
        names = list(files)

        def read(name):
            # One split at a time: splits of one folder may hold different columns (train_prefs beside train_sft).
            try:
                # Options per file type (a .tsv delimiter, the `field` of a {"data": [...]} JSON file).
                options = builder_for([Path(file) for file in files[name]])[1]
                return datasets.load_dataset(builder, data_files={name: files[name]}, split=name, **options)
            except (ValueError, datasets.exceptions.DatasetGenerationError) as exc:
                raise ScriptError(f"Could not read {path} as {builder}: {exc}") from None
    elif args.dataset_name.startswith((".", "/", "~")) or args.dataset_name.count("/") > 1:
        raise ScriptError(f"--dataset_name {args.dataset_name!r} is neither an existing local path nor a Hub id "
                          "(owner/name).")
    else:
        loaded = datasets.load_dataset(args.dataset_name, args.dataset_config, revision=revision)
        names, read = list(loaded), loaded.__getitem__
    if args.dataset_train_split not in names:
        suggestion = train_split(names, getattr(args, "method", None))
        raise ScriptError(f"Split {args.dataset_train_split!r} not found; the dataset has: {', '.join(names)}. "
                          f"Pass --dataset_train_split {suggestion or '<split>'} (dataset_inspect names the split "
                          "each method trains on).")
    train = read(args.dataset_train_split)
    if len(train) == 0:
        raise ScriptError(f"Split {args.dataset_train_split!r} of {args.dataset_name} is empty.")
    if args.max_train_samples:
        train = train.select(range(min(args.max_train_samples, len(train))))
    if args.dataset_test_split and args.dataset_test_split not in names:
        raise ScriptError(f"Split {args.dataset_test_split!r} not found; the dataset has: {', '.join(names)}.")
    eval_name = args.dataset_test_split or eval_split(names, args.dataset_train_split)
    if eval_name:
        return train, read(eval_name)
    size = args.eval_split_size
    if size == 0 or len(train) < 4:
        return train, None
    test_size = max(1, int(round(size * len(train)))) if size < 1 else int(size)
    if test_size >= len(train):
        raise ScriptError(f"--eval_split_size {size} leaves no training rows ({len(train)} rows in all).")
    parts = train.train_test_split(test_size=test_size, seed=args.seed)
    return parts["train"], parts["test"]


def apply_mapping(dataset, name: str | None):
    """Convert rows with a named mapping (runtime/mappings.py)."""
    if dataset is None or not name:
        return dataset
    if name not in MAPPINGS:
        raise ScriptError(f"--dataset_mapping {name!r} is unknown. Known: {', '.join(sorted(MAPPINGS))}.")
    try:
        return dataset.map(lambda row: map_row(name, row), remove_columns=dataset.column_names)
    except (ValueError, KeyError, TypeError) as exc:
        raise ScriptError(f"--dataset_mapping {name} cannot convert a row: {exc}. Run dataset_inspect to see which "
                          "rows and which mapping fits.") from None


def validate_dataset(dataset, method: str, mapping: str | None, split: str = "train"):
    """The rows as the trainer will see them, checked with dataset inspection's own rules (runtime/dataset_formats)
    on the head and evenly spaced rows: READY trains; anything else stops here, before a model is loaded, with the
    inspection's reason and the mapping to pass. Returns the dataset without the columns the method must not see."""
    if dataset is None:
        return None
    drop = dropped_columns(method, dataset.column_names)
    if drop:
        dataset = dataset.remove_columns(drop)
    rows = [dataset[index] for index in sample_indices(len(dataset))]
    entry = method_verdict(rows, method, MAPPINGS)
    if entry["verdict"] != READY:
        raise ScriptError(refusal(entry, method, mapping, dataset.column_names)
                          + ("" if split == "train" else f" (the {split} split)"))
    return dataset


def require_columns(dataset, accepted: list[tuple[str, ...]], method: str) -> tuple[str, ...]:
    """The first accepted column set the dataset has; otherwise a ScriptError naming the columns it found."""
    columns = set(dataset.column_names)
    for option in accepted:
        if set(option) <= columns:
            return option
    wanted = " or ".join("+".join(option) for option in accepted)
    raise ScriptError(
        f"The dataset has no usable columns for {method}: found {sorted(columns)}, need {wanted}. "
        "Run dataset_inspect (hf-trainer dataset inspect) to get a --dataset_mapping, or rename the columns."
    )


def is_conversational_dataset(dataset) -> bool:
    """Whether the first row holds chat messages (lists of {role, content}) in any TRL column."""
    if dataset is None or len(dataset) == 0:
        return False
    row = dataset[0]
    return any(isinstance(row.get(key), list) and row.get(key) and isinstance(row[key][0], dict)
               for key in ("messages", "prompt", "completion", "chosen", "rejected"))


def require_chat_template(tokenizer, dataset, args) -> None:
    """Conversational data needs a chat template that renders it: refuse early with the fix, not deep in TRL.
    `--chat_template` (chatml or a Jinja file, where the script offers it) replaces the tokenizer's."""
    if getattr(args, "chat_template", None):
        try:
            tokenizer.chat_template = read_chat_template(args.chat_template)
        except ValueError as exc:
            raise ScriptError(f"--chat_template: {exc}.") from None
    if not is_conversational_dataset(dataset):
        return
    problem = template_problem([dataset[index] for index in sample_indices(len(dataset), 10, 10)], tokenizer)
    if problem:
        # Inspection's words (dataset_formats.template_problem), so its verdict and this refusal agree.
        raise ScriptError(f"{args.model_name_or_path}: {problem}.")


# --- tracking and the Hub ---------------------------------------------------------------------------------------

def tracking_kwargs(args, method: str) -> dict:
    """report_to, project, run name and (on HF Jobs) a Trackio Space whose URL is printed at start."""
    report_to = "none" if args.smoke else args.report_to
    kwargs = {"report_to": report_to,
              "run_name": args.run_name or default_run_name(args.model_name_or_path, args.dataset_name, method),
              "project": args.trackio_project or DEFAULT_TRACKIO_PROJECT}
    if report_to != "trackio":
        return kwargs
    space = args.trackio_space_id
    if space is None and on_hf_jobs() and os.environ.get("HF_TOKEN"):
        space = f"{_hub_user()}/trackio"
    if space and space != "none":
        kwargs["trackio_space_id"] = space
        os.environ["HF_TRAINER_TRACKIO_SPACE"] = space  # for the model card's link to the metrics
        print(f"Trackio dashboard: https://huggingface.co/spaces/{space} (project {kwargs['project']}, "
              f"run {kwargs['run_name']})", flush=True)
    return kwargs


def _slug(text: str, limit: int = 32) -> str:
    """The last path part of a model or dataset id, lower-case, safe in a run name ('Qwen/Qwen2.5-0.5B' -> 'qwen2.5-0.5b')."""
    last = str(text).rstrip("/").replace("\\", "/").split("/")[-1]
    last = re.sub(r"\.(jsonl|json|csv|parquet|arrow)$", "", last, flags=re.IGNORECASE)
    return re.sub(r"[^a-z0-9.]+", "-", last.lower()).strip("-.")[:limit] or "run"


def default_run_name(model: str, dataset: str, method: str, when: float | None = None) -> str:
    """A run name a person can tell apart in the dashboard: '<model>-<data>-<method>-<UTC time>'
    ('qwen2.5-0.5b-capybara-sft-20261206-1405'). `train` shows the same name in the plan."""
    stamp = time.strftime("%Y%m%d-%H%M", time.gmtime(time.time() if when is None else when))
    return f"{_slug(model)}-{_slug(dataset)}-{method}-{stamp}"


def _hub_user() -> str:
    from huggingface_hub import HfApi

    return HfApi(token=os.environ["HF_TOKEN"]).whoami()["name"]


def hub_kwargs(args) -> dict:
    """Checkpointing and pushing: the latest checkpoint goes to the Hub so a new job can resume."""
    # hub_private_repo always: transformers also reads it for the Trackio Space and its static copy, which would be
    # public (private=None) on a run that logs to a Space without pushing the model.
    kwargs = {"save_strategy": "no" if args.smoke else "steps", "save_steps": args.save_steps,
              "save_total_limit": args.save_total_limit, "hub_private_repo": args.hub_private_repo}
    if args.push_to_hub and not args.smoke:
        kwargs.update(push_to_hub=True, hub_model_id=args.hub_model_id, hub_strategy=args.hub_strategy)
    return kwargs


def eval_kwargs(args, eval_dataset) -> dict:
    if eval_dataset is None or args.smoke:
        return {"eval_strategy": "no"}
    return {"eval_strategy": "steps", "eval_steps": args.save_steps,
            "per_device_eval_batch_size": args.per_device_eval_batch_size or args.per_device_train_batch_size}


def logging_steps(args) -> int:
    if args.logging_steps:
        return args.logging_steps
    return 1 if args.smoke or 0 < args.max_steps <= 100 else 10


# --- benchmark hook (benchmarks/bench_train.py) -------------------------------------------------------------------

TOKEN_STATS_ENV = "HF_TRAINER_TOKEN_STATS"


def attach_token_stats(trainer) -> None:
    """With HF_TRAINER_TOKEN_STATS=<path> set, record what each training micro-batch computes; otherwise do nothing.

    One JSON line per micro-batch: tokens computed (the batch tensor's size) and real tokens (non-padding), so a
    benchmark can report the padding share; at the end one line with the training time, peak memory and the eval loss.
    """
    path = os.environ.get(TOKEN_STATS_ENV)
    if not path:
        return
    import resource

    from transformers import TrainerCallback

    collate = trainer.data_collator
    out = open(path, "a", encoding="utf-8")  # noqa: SIM115  (closed at the end of training)

    def counting_collator(features):
        batch = collate(features)
        ids = batch["input_ids"]
        mask = batch.get("attention_mask")
        real = int(mask.sum()) if mask is not None else int(ids.numel())  # padding-free batches have no padding
        out.write(json.dumps({"computed": int(ids.numel()), "real": real, "rows": int(ids.shape[0])}) + "\n")
        return batch

    # Only the training dataloader counts (evaluation shares the collator). Not `model.training`: the Trainer fetches
    # a whole accumulation window of batches before its first training_step switches the model to train mode.
    train_dataloader = trainer.get_train_dataloader

    def counting_train_dataloader():
        trainer.data_collator = counting_collator
        try:
            return train_dataloader()
        finally:
            trainer.data_collator = collate

    class _Summary(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                out.write(json.dumps({"step": state.global_step, "loss": logs["loss"]}) + "\n")
            if logs and "train_runtime" in logs:
                out.write(json.dumps({"train_runtime": logs["train_runtime"]}) + "\n")

        def on_train_end(self, args, state, control, **kwargs):
            import torch

            summary = {"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
            if torch.cuda.is_available():
                summary["peak_cuda_bytes"] = torch.cuda.max_memory_allocated()
            if trainer.eval_dataset is not None:
                summary["eval_loss"] = trainer.evaluate().get("eval_loss")
            out.write(json.dumps(summary) + "\n")
            out.close()

    trainer.get_train_dataloader = counting_train_dataloader
    trainer.add_callback(_Summary())

# ----- runtime/resume.py -----
"""Resume that cannot mix runs: each checkpoint records what made it, and a run continues only from its own kind.

A checkpoint continued by a run with another base model dies deep in torch with a `size mismatch` traceback; one
continued with other data or another method trains on silently, mixing two runs in one model. So every checkpoint
folder gets `hf_trainer_run.json` (base model, method, dataset, and the training arguments that shape the saved
state, with their hash), written before the Trainer pushes the folder (hub_strategy=checkpoint pushes it as
last-checkpoint). Before anything is loaded, `resume_checkpoint` compares the newest checkpoint's record with this
run and continues, starts fresh, or stops with the difference named, as `--resume` asks:

    never  (default)  start from step 0
    auto              continue when the newest checkpoint (output_dir, else the Hub repo's last-checkpoint) was made
                      by the same kind of run; start from step 0 when there is none; refuse a different one
    must   (bare --resume)  like auto, but refuse when there is no checkpoint to continue
"""

import hashlib
import json
import os
from pathlib import Path


RUN_RECORD = "hf_trainer_run.json"
# Arguments that decide what a checkpoint holds (the adapter's shapes, which weights train, how rows are cut): a
# checkpoint made with other values is another run. Learning rate, schedule, batch shape, logging, saving and tracking
# are left out on purpose: changing them between two jobs of one run is legitimate (e.g. a smaller batch on a smaller
# GPU after a timeout).
STATE_ARGUMENTS = ("use_peft", "lora_r", "lora_alpha", "lora_target_modules", "load_in_4bit", "max_length")


def _identity(name: str | None) -> str | None:
    """A model or dataset as the record keeps it: the absolute path when it is a local folder or file (a relative path
    means another thing from another working directory), else the Hub id as given."""
    if name is None:
        return None
    path = Path(name).expanduser()
    return str(path.resolve()) if path.exists() else name


def run_record(args, method: str) -> dict:
    """What makes this run's checkpoints this run's: compared field by field when a later run wants to continue."""
    arguments = {name: getattr(args, name) for name in STATE_ARGUMENTS if hasattr(args, name)}
    if not arguments.get("use_peft"):  # LoRA settings do not shape a full fine-tune
        arguments = {k: v for k, v in arguments.items() if not k.startswith("lora_")}
    digest = hashlib.sha256(json.dumps(arguments, sort_keys=True).encode("utf-8")).hexdigest()
    return {
        "format": 1,
        "base_model": _identity(args.model_name_or_path),
        "method": method,
        "dataset": {"name": _identity(args.dataset_name), "config": getattr(args, "dataset_config", None),
                    "split": getattr(args, "dataset_train_split", None),
                    "mapping": getattr(args, "dataset_mapping", None),
                    "max_train_samples": getattr(args, "max_train_samples", None)},
        "arguments": arguments,
        "arguments_sha256": digest,
    }


def _value(value) -> str:
    return "none" if value is None else " ".join(map(str, value)) if isinstance(value, list) else str(value)


def differences(saved: dict, wanted: dict) -> list[str]:
    """Each way the checkpoint's run differs from this one, in words ('' when they match)."""
    found = []
    if saved.get("base_model") != wanted["base_model"]:
        found.append(f"the checkpoint was made from model {saved.get('base_model')}, this run asks for "
                     f"{wanted['base_model']}")
    if saved.get("method") != wanted["method"]:
        found.append(f"the checkpoint was made by {str(saved.get('method')).upper()}, this run is "
                     f"{wanted['method'].upper()}")
    old, new = saved.get("dataset") or {}, wanted["dataset"]
    for key, label in (("name", "dataset"), ("config", "dataset config"), ("split", "train split"),
                       ("mapping", "dataset mapping"), ("max_train_samples", "max_train_samples")):
        if old.get(key) != new[key]:
            found.append(f"the checkpoint was trained with {label} {_value(old.get(key))}, this run asks for "
                         f"{_value(new[key])}")
    if saved.get("arguments_sha256") != wanted["arguments_sha256"]:
        old_args, new_args = saved.get("arguments") or {}, wanted["arguments"]
        changed = [f"{key} {_value(old_args.get(key))} -> {_value(new_args.get(key))}"
                   for key in sorted(set(old_args) | set(new_args)) if old_args.get(key) != new_args.get(key)]
        found.append("the checkpoint was trained with other state-shaping arguments ("
                     + (", ".join(changed) if changed else "hash " + str(saved.get("arguments_sha256"))[:12]) + ")")
    return found


def run_recorder(args, method: str):
    """A TrainerCallback that writes this run's record into each checkpoint folder: before the Trainer pushes the
    folder to the Hub (on_push_begin) and after every save (on_save, for runs that do not push)."""
    from transformers import TrainerCallback

    text = json.dumps(run_record(args, method), indent=2) + "\n"

    class RunRecorder(TrainerCallback):
        def _write(self, train_args, state) -> None:
            if not state.is_world_process_zero:
                return
            folder = Path(train_args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                (folder / RUN_RECORD).write_text(text, encoding="utf-8")

        def on_push_begin(self, args, state, control, **kwargs):
            self._write(args, state)

        def on_save(self, args, state, control, **kwargs):
            self._write(args, state)

    return RunRecorder()


def _local_checkpoint(output_dir: str) -> str | None:
    if not Path(output_dir).is_dir():
        return None
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(output_dir)


def _read_record(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ScriptError(f"{path} cannot be read ({exc}): remove it, or start from step 0 with --resume never.") from None


def _hub_checkpoint(args):
    """(api, files) for the Hub repo's last-checkpoint, or None when the repo or the checkpoint does not exist."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    api = HfApi(token=os.environ.get("HF_TOKEN"))
    try:
        files = api.list_repo_files(args.hub_model_id)
    except RepositoryNotFoundError:
        return None
    return (api, files) if "last-checkpoint/trainer_state.json" in files else None


def _refuse(where: str, found: list[str], args) -> ScriptError:
    places = "a new --output_dir" + (" and --hub_model_id" if args.push_to_hub and args.hub_model_id else "")
    return ScriptError(
        f"{where} belongs to another run: {'; '.join(found)}. Continuing it would mix two runs, so nothing was "
        f"trained. Choose {places} for this run, or --resume never to start from step 0 (its checkpoints then go "
        "to the same place).")


def resume_checkpoint(args, method: str, output_dir: str) -> str | None:
    """The checkpoint this run continues from, or None to start from step 0 (see the module's docstring).

    Called before the model is loaded, so a refusal costs seconds, not a download."""
    mode = args.resume
    local = _local_checkpoint(output_dir)
    if mode == "never":
        if local:
            print(f"note: {output_dir} holds checkpoints (newest {Path(local).name}); --resume never ignores them and "
                  "starts from step 0.", flush=True)
        return None
    wanted = run_record(args, method)
    if local:
        where, saved, path = local, _read_record(Path(local) / RUN_RECORD), local
    elif args.push_to_hub and args.hub_model_id and (hub := _hub_checkpoint(args)):
        from huggingface_hub import hf_hub_download

        api, files = hub
        where = f"{args.hub_model_id}/last-checkpoint"
        saved = None
        if f"last-checkpoint/{RUN_RECORD}" in files:  # read the record alone first: a refusal downloads no weights
            saved = _read_record(Path(hf_hub_download(args.hub_model_id, f"last-checkpoint/{RUN_RECORD}",
                                                      token=os.environ.get("HF_TOKEN"), endpoint=api.endpoint)))
        path = None
    else:
        if mode == "must":
            hub = f" nor in {args.hub_model_id}/last-checkpoint" if args.push_to_hub and args.hub_model_id else ""
            raise ScriptError(f"--resume must: there is no checkpoint in {output_dir}{hub} to continue. Use --resume "
                              "auto (continue when there is one) or --resume never to start from step 0.")
        print("No checkpoint found: starting from step 0.", flush=True)
        return None

    if saved is None:
        if mode != "must":
            raise ScriptError(
                f"{where} has no {RUN_RECORD}, so this run cannot tell whether it made it (an older hf-trainer or "
                "another tool did). Continue from it anyway with --resume must, start from step 0 with --resume "
                "never, or choose a new --output_dir / --hub_model_id.")
        print(f"warning: {where} has no {RUN_RECORD}; continuing from it because --resume must asks to.", flush=True)
    else:
        found = differences(saved, wanted)
        if found:
            raise _refuse(where, found, args)
    # A sharded (--fsdp) checkpoint continues only sharded, a whole one only whole: transformers fails inside train().
    sharded = is_sharded_checkpoint(path) if path else is_sharded_checkpoint(
        name.removeprefix("last-checkpoint/") for name in files if name.startswith("last-checkpoint/"))
    problem = checkpoint_problem(args, where, sharded)
    if problem:
        raise ScriptError(problem)
    if path is None:
        from huggingface_hub import snapshot_download

        # Under a "_" folder: the Trainer's pushes of output_dir skip "_*", so this old copy can never be pushed back
        # over the newer checkpoints this run makes.
        target = Path(output_dir) / "_resumed_from_hub"
        snapshot_download(args.hub_model_id, allow_patterns=["last-checkpoint/*"], local_dir=str(target),
                          token=os.environ.get("HF_TOKEN"), endpoint=api.endpoint)
        path = str(target / "last-checkpoint")
    print(f"Resuming from {where}", flush=True)
    return path

# ----- runtime/follow_up.py -----
"""The job that runs after this one: sent by this job once its model is saved and pushed.

`train` with benchmark_tasks plans two jobs: the training run, then scripts/benchmark.py on the pushed model and its
base. A training machine cannot benchmark its own result well (the trainer still holds the GPU's memory), and HF Jobs
has no "start B when A ends", so the training job starts the second one itself. hf-trainer builds that job entirely
at plan time (command, shipped script, flavor, timeout, labels - checked by the same preflight as any job, priced in
the plan the person approved) and hands it over as JSON in HF_TRAINER_FOLLOW_UP; the job's own HF_TOKEN secret is
the only thing added here. A run that fails or stops early never reaches this, so nothing is sent for it.
Standard library only; huggingface_hub is imported inside the function.
"""

import json
import os


FOLLOW_UP_ENV = "HF_TRAINER_FOLLOW_UP"


def submit_follow_up() -> str | None:
    """Submit the job described by HF_TRAINER_FOLLOW_UP, if any; its id, or None (nothing planned, or it could not
    be sent: said in the log, and the trained model stays pushed either way)."""
    text = os.environ.get(FOLLOW_UP_ENV)
    if not text or not is_main_process():
        return None
    try:
        spec = json.loads(text)
        what = spec.pop("description", "the follow-up job")
    except (ValueError, AttributeError):
        print(f"warning: {FOLLOW_UP_ENV} is not a job description; no follow-up job was sent.", flush=True)
        return None
    token = os.environ.get("HF_TOKEN")
    if not token:
        print(f"warning: {what} was not sent: this job has no HF_TOKEN secret to send it with.", flush=True)
        return None
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    labels = dict(spec.pop("labels", None) or {})
    if current_job_id():
        labels["hft-after-job"] = current_job_id()
    try:
        # The endpoint read now, not at import (huggingface_hub reads HF_ENDPOINT once): the Hub this job runs on.
        api = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, token=token)
        job = api.run_job(**spec, labels=labels or None, secrets={"HF_TOKEN": token})
    except (HfHubHTTPError, OSError, TypeError, ValueError) as exc:
        print(f"warning: {what} was not sent ({type(exc).__name__}: {str(exc)[:300]}); submit it with "
              "`hf-trainer jobs uv ... scripts/benchmark.py` when you want it.", flush=True)
        return None
    print(f"Sent {what}: job {job.id} ({getattr(job, 'url', '')})", flush=True)
    return job.id

# ----- runtime/results.py -----
"""The end of every training script: smoke check, model card, save and push, the summary (and why a run stopped
early: runtime/early_stop.py stops it, the card and the summary say why).

`finish_run(trainer, args, METHOD, ...)` is the one tail the training scripts share: with --smoke the one-step check,
otherwise the evaluation after training (--eval_baseline), the saved model with its card and result files, the push,
and the printed (or --json) summary. Like every runtime module it is inlined into the scripts by `make sync-scripts`:
standard library at the top; transformers and huggingface_hub are imported inside the functions that need them.
"""

import json
import math
import os
import re
import sys
import time
from pathlib import Path



def losses(log_history: list[dict]) -> list[float]:
    return [entry["loss"] for entry in log_history if "loss" in entry]


def check_smoke(trainer) -> tuple[bool, str]:
    """After one step: the loss must be finite and the gradient norm finite and non-zero."""
    history = trainer.state.log_history
    step_logs = [entry for entry in history if "loss" in entry]
    if not step_logs:
        return False, "smoke: FAIL - no loss was logged after one step"
    loss = float(step_logs[-1]["loss"])
    grad = float(step_logs[-1].get("grad_norm", float("nan")))
    if not math.isfinite(loss):
        return False, f"smoke: FAIL - the loss is {loss} after one step (check the data and the learning rate)"
    if not math.isfinite(grad) or grad == 0.0:
        return False, (f"smoke: FAIL - the gradient norm is {grad} after one step: nothing is being trained "
                       "(labels all masked? check assistant_only_loss/completion masks and max_length)")
    return True, f"smoke: OK - loss {loss:.4f}, gradient norm {grad:.4f} after one step on real data"


def job_url() -> str | None:
    job_id = current_job_id()
    if not job_id:
        return None
    if not on_hf_jobs():
        return f"local job {job_id}"
    # hf-trainer's train tool passes the namespace it submitted to; other submitters may not.
    owner = os.environ.get("HF_TRAINER_NAMESPACE") or os.environ.get("JOB_OWNER") or ""
    base = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    return f"{base}/jobs/{owner}/{job_id}" if owner else f"job {job_id}"


RECORDED_LIBRARIES = ("torch", "transformers", "trl", "peft", "datasets", "accelerate", "huggingface_hub")


def _job_flavor(job_id: str | None) -> str | None:
    """The HF Jobs flavor this job runs on, read from its own record (best effort: None when it cannot be read)."""
    if not job_id or not on_hf_jobs() or not os.environ.get("HF_TOKEN"):
        return None
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    try:
        api = HfApi(token=os.environ["HF_TOKEN"])
        owner = os.environ.get("JOB_OWNER") or api.whoami()["name"]
        flavor = api.inspect_job(job_id=job_id, namespace=owner).flavor
    except (HfHubHTTPError, OSError, KeyError, ValueError):
        return None
    return str(getattr(flavor, "value", flavor)) if flavor else None


def recorded_job(method: str) -> dict:
    """What reproduces this run: the script (name and sha256 of its bytes), its arguments, the job and flavor, the
    library versions. `hf-trainer rerun <repo>` reads it back from the model card's `hf_trainer_job` metadata."""
    import hashlib
    import platform
    from importlib import metadata

    script = Path(sys.argv[0])
    digest = hashlib.sha256(script.read_bytes()).hexdigest() if script.is_file() else None
    versions = {}
    for name in RECORDED_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    job_id = current_job_id()
    device = detect_device()
    return {"method": method, "script": script.name, "script_sha256": digest, "arguments": sys.argv[1:],
            "job_id": job_id, "job_url": job_url(),
            "flavor": current_job_flavor() or _job_flavor(job_id),
            "hardware": f"{device['count']} x {device['name']}" if device["count"] else "cpu",
            "python": platform.python_version(), "libraries": versions}


_YAML_PLAIN = re.compile(r"[A-Za-z0-9_/][A-Za-z0-9_./@+-]*")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}


def yaml_scalar(value: str) -> str:
    """A user's value (model id, path, dataset name) for the card's YAML header: as written when YAML reads it back
    unchanged, else a double-quoted YAML string, so a newline or ': ' in a name cannot add or break metadata."""
    text = str(value)
    if _YAML_PLAIN.fullmatch(text) and text.lower() not in _YAML_WORDS and not re.fullmatch(r"[-+0-9._e]+", text):
        return text
    quoted = []
    for char in text:
        code = ord(char)
        if char in '"\\':
            quoted.append("\\" + char)
        elif char.isprintable():
            quoted.append(char)
        else:  # YAML's escapes: \xXX, \uXXXX, \UXXXXXXXX
            quoted.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000
                          else f"\\U{code:08x}")
    return '"' + "".join(quoted) + '"'


def model_card(args, method: str, result: dict, extra_hparams: dict, sections: list[str] | None = None) -> str:
    """A model card: base model, data, method, hyper-parameters, final metrics, extra `sections` (e.g. evaluation),
    and the job that made it (machine-readable in the `hf_trainer_job` metadata, for reruns)."""
    hparams = {
        "learning_rate": result.get("learning_rate"),
        "num_train_epochs": args.num_train_epochs,
        "max_steps": args.max_steps,
        "per_device_train_batch_size": args.per_device_train_batch_size,
        "gradient_accumulation_steps": args.gradient_accumulation_steps,
        "max_length": args.max_length,
        "lr_scheduler_type": args.lr_scheduler_type,
        "seed": args.seed,
        **({"lora_r": args.lora_r, "lora_alpha": args.lora_alpha, "lora_dropout": args.lora_dropout,
            "lora_target_modules": " ".join(args.lora_target_modules), "load_in_4bit": args.load_in_4bit}
           if args.use_peft else {}),
        **extra_hparams,
    }
    base = args.model_name_or_path
    tags = ["hf-trainer", "trl", method] + (["lora", "peft"] if args.use_peft else [])
    lines = [
        "---",
        f"base_model: {yaml_scalar(base)}",
        *( [f"datasets:\n- {yaml_scalar(args.dataset_name)}"] if not Path(args.dataset_name).exists() else [] ),
        "library_name: " + ("peft" if args.use_peft else "transformers"),
        "tags:", *[f"- {tag}" for tag in tags],
        # JSON on one line is valid YAML: the Hub returns it in cardData, so reruns read it without parsing markdown.
        *([f"hf_trainer_job: {json.dumps(result['recorded_job'])}"] if result.get("recorded_job") else []),
        "---",
        "",
        f"# {args.hub_model_id or Path(result['output_dir']).name}",
        "",
        f"Fine-tuned from `{base}` with {method.upper()} ({'LoRA adapter' if args.use_peft else 'full fine-tuning'}) "
        f"on `{args.dataset_name}` by hf-trainer using TRL.",
        "",
        "## Results",
        "",
        "| metric | value |", "|---|---|",
        f"| steps | {result['steps']} |",
        f"| first training loss | {_fmt(result['first_loss'])} |",
        f"| last training loss | {_fmt(result['last_loss'])} |",
        *([f"| eval loss | {_fmt(result['eval_loss'])} |"] if result.get("eval_loss") is not None else []),
        *[f"| {key.replace('_', ' ')} | {_fmt(value) if isinstance(value, float) else value} |"
          for key, value in (result.get("extra_results") or {}).items()],
        f"| runtime (s) | {result['runtime_seconds']:.0f} |",
        "",
        "## Hyper-parameters",
        "",
        "| name | value |", "|---|---|",
        *[f"| {key} | {value} |" for key, value in hparams.items()],
        "",
    ]
    stopped = result.get("stopped_early")
    if stopped:
        lines += ["## Stopped early", "",
                  f"The run stopped itself at step {stopped['step']} ({stopped['reason']}): {stopped['detail']}.",
                  *(["The weights of that step were not kept: the last checkpoint saved before it is the last good "
                     "one."] if stopped["reason"] in BROKEN_REASONS else []), ""]
    for section in sections or []:
        lines += [section.rstrip("\n"), ""]
    # Links back from the model to the job and its metrics (the job's labels link forward to both).
    provenance = [f"Trained by Hugging Face job: {job_url()}"] if job_url() else []
    if result.get("trackio_project"):
        space = os.environ.get("HF_TRAINER_TRACKIO_SPACE")
        provenance.append(f"Training metrics: trackio project `{result['trackio_project']}`, run "
                          f"`{result.get('run_name')}`" + (f" ({hub_url('spaces/' + space)})" if space else ""))
    if provenance:
        lines += ["## Provenance", "", *[f"- {line}" for line in provenance], ""]
    recorded = result.get("recorded_job")
    if recorded:
        import shlex

        where = args.hub_model_id if args.push_to_hub and args.hub_model_id else (recorded.get("job_id") or "")
        lines += ["## Reproduce", "",
                  f"Script `{recorded['script']}` (sha256 `{recorded['script_sha256']}`) on "
                  f"{recorded.get('flavor') or recorded['hardware']}, with "
                  + ", ".join(f"{k} {v}" for k, v in recorded["libraries"].items()) + ":", "",
                  "```", shlex.join([recorded["script"], *recorded["arguments"]]), "```", ""]
        if where:
            lines += [f"Plan the same job again with `hf-trainer rerun {where}` (add `--confirm` to submit).", ""]
    return "\n".join(lines)


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def finish(trainer, args, method: str, output_dir: str, started: float, extra_hparams: dict | None = None,
           extra_results: dict | None = None, card_sections: list[str] | None = None,
           extra_files: dict[str, str] | None = None, stopped: dict | None = None) -> dict:
    """Save the model, write its card, push it (when asked) and return the summary.

    Under accelerate launch every process calls this (saving may gather shards), but only the main process writes
    the card and pushes. `extra_results` (method metrics, e.g. GRPO rewards) go into the summary and the card;
    `card_sections` (markdown) into the card; `extra_files` ({relative path: text}, e.g. results/evaluation.json)
    into the output folder, so they are pushed with the model."""
    history = trainer.state.log_history
    found = losses(history)
    eval_losses = [entry["eval_loss"] for entry in history if "eval_loss" in entry]
    result = {
        "method": method,
        "output_dir": str(Path(output_dir).resolve()),
        "hub_model_id": args.hub_model_id if args.push_to_hub else None,
        "steps": trainer.state.global_step,
        "first_loss": found[0] if found else None,
        "last_loss": found[-1] if found else None,
        "eval_loss": eval_losses[-1] if eval_losses else None,
        "runtime_seconds": time.time() - started,
        "learning_rate": trainer.args.learning_rate,
        "trackio_project": trainer.args.project if args.report_to == "trackio" else None,
        "run_name": trainer.args.run_name,
        "job_url": job_url(),
        **({"extra_results": extra_results} if extra_results else {}),
        **({"stopped_early": stopped} if stopped else {}),
    }
    broken = stopped is not None and stopped["reason"] in BROKEN_REASONS
    if broken:
        finish_pushes(trainer)  # the last good checkpoint reaches the Hub before the run ends
    else:
        save_final_model(trainer, output_dir)  # a sharded (--fsdp) model is gathered into one first
    if not trainer.is_world_process_zero():
        return result
    processing = getattr(trainer, "processing_class", None)
    if processing is not None and not broken:
        processing.save_pretrained(output_dir)
    for relative, text in (extra_files or {}).items():
        Path(output_dir, relative).parent.mkdir(parents=True, exist_ok=True)
        Path(output_dir, relative).write_text(text, encoding="utf-8")
    # The run's duration goes with the record: a rerun sizes its timeout from it (HF Jobs does not report timeouts).
    record = {**recorded_job(method), "runtime_seconds": round(result["runtime_seconds"])}
    card_result = {**result, "recorded_job": record}
    # The versions this job really ran (the header pins them; a rerun can pin them again from the summary too).
    result["libraries"] = record["libraries"]
    result["flavor"] = record["flavor"]
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    Path(output_dir, "README.md").write_text(model_card(args, method, card_result, extra_hparams or {}, card_sections),
                                             encoding="utf-8")
    if args.push_to_hub:
        from huggingface_hub import HfApi

        api = HfApi(token=os.environ["HF_TOKEN"])
        api.create_repo(args.hub_model_id, private=args.hub_private_repo, exist_ok=True)
        if broken:  # only the card that says why: the diverged weights are no result
            api.upload_file(path_or_fileobj=str(Path(output_dir, "README.md")), path_in_repo="README.md",
                            repo_id=args.hub_model_id, commit_message="hf-trainer: run stopped early")
            result["hub_url"] = hub_url(args.hub_model_id)
            return result
        api.upload_folder(repo_id=args.hub_model_id, folder_path=output_dir, commit_message="hf-trainer: final model",
                          ignore_patterns=["checkpoint-*/**", "checkpoint-*", "last-checkpoint/**", "runs/**", "_*"])
        result["hub_url"] = hub_url(args.hub_model_id)
    return result


def report(result: dict, as_json: bool) -> None:
    if not is_main_process():  # one summary per run, not one per GPU process
        return
    if as_json:
        print(json.dumps(result), flush=True)
        return
    where = result.get("hub_url") or result["output_dir"]
    stopped = result.get("stopped_early")
    if stopped:
        print(f"Stopped early at step {stopped['step']} ({stopped['reason']}): {stopped['detail']}. Card: {where}",
              flush=True)
        return
    print(f"Done: {result['steps']} steps, loss {_fmt(result['first_loss'])} -> {_fmt(result['last_loss'])}, "
          f"{result['runtime_seconds']:.0f}s. Model: {where}", flush=True)


def finish_run(trainer, args, method: str, output_dir: str, started: float, hparams: dict, *,
               extra_results: dict | None = None, evaluate_after=None, smoke_check=check_smoke) -> int:
    """Everything after `trainer.train()`; returns the exit status.

    With --smoke: `smoke_check(trainer)` (finite loss, non-zero gradient) prints one line, exit 0 or 1. Otherwise:
    `evaluate_after(model, processing_class)` (from --eval_baseline, or None) scores the trained model, and its card
    section and result files go with the model; `hparams` (method settings) and `extra_results` (method metrics) go
    into the card and the summary; the model is saved and pushed (when asked) and the summary printed."""
    if args.smoke:
        ok, line = smoke_check(trainer)
        print(line, flush=True)
        return 0 if ok else 1
    stopped = stop_record(trainer)
    if stopped is not None:
        evaluate_after = None  # a stopped run is not worth scoring
    evaluation = evaluate_after(trainer.model, trainer.processing_class) if evaluate_after else None
    result = finish(trainer, args, method, output_dir, started, hparams, extra_results=extra_results,
                    card_sections=[evaluation["card_section"]] if evaluation else None,
                    extra_files=evaluation["files"] if evaluation else None, stopped=stopped)
    if evaluation:
        result["evaluation"] = evaluation["comparison"]
    if stopped is None and args.push_to_hub and (follow_up := submit_follow_up()):
        result["follow_up_job"] = follow_up  # the job `train` planned after this one (benchmark.py on the model)
    report(result, args.json)
    return STOPPED_EXIT_CODE if stopped is not None else 0
# ===== end of generated runtime =====


if __name__ == "__main__":
    run_main(main, parse_args)
