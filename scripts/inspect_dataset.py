# /// script
# requires-python = ">=3.11"
# dependencies = [
#     "pyarrow>=15",
#     "transformers==5.25.0",
#     "jinja2>=3.1",
#     "huggingface_hub==2.4.0",
# ]
#
# [tool.uv]
# exclude-newer = "2026-12-06T13:00:48Z"
# ///
"""Inspect a dataset before training: format, per-method verdicts (SFT, DPO, GRPO, reward, KTO), validated mappings.

Runs on a CPU (no torch needed): Hub datasets are read through the dataset viewer API with HF_TOKEN, so private and
gated ones work; local jsonl/json/csv/parquet/arrow files or folders are sampled, never read whole.

Run it locally:
    uv run scripts/inspect_dataset.py trl-lib/Capybara
    uv run scripts/inspect_dataset.py data/train.jsonl --model_name_or_path Qwen/Qwen2.5-0.5B --max_length 2048
Run it on Hugging Face Jobs (cpu-basic is enough):
    hf jobs uv run --flavor cpu-basic --secrets HF_TOKEN scripts/inspect_dataset.py <owner>/<dataset> --json

A verdict NEEDS MAPPING names a mapping that was run on the sample and re-validated: pass it to the training script
as `--dataset_mapping NAME`. Exit status: 0 after an inspection (whatever the verdicts), 2 when the data cannot be
read (the message says why).
"""

import argparse
import json
import os
import sys
from pathlib import Path


class ScriptError(Exception):
    """A problem the user can fix: printed as one line, exit status 2, no traceback."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("dataset_name", help="Hub dataset id (owner/name) or a local file or folder.")
    parser.add_argument("--dataset_config", default=None, help="Config (subset); default: 'default' or the first.")
    parser.add_argument("--dataset_train_split", default=None, help="Split; default: 'train' or the first.")
    parser.add_argument("--method", choices=METHODS, default=None,
                        help="Method whose formatted rows the token statistics measure.")
    parser.add_argument("--model_name_or_path", default=None, help="Tokenizer (Hub id or folder) for token stats.")
    parser.add_argument("--max_length", type=int, default=None, help="Report the share longer than this.")
    parser.add_argument("--sample_size", type=int, default=100, help="Rows read from the start of the split.")
    parser.add_argument("--viewer_url", default=os.environ.get("HF_TRAINER_DATASETS_SERVER", DEFAULT_VIEWER_URL),
                        help="Dataset viewer API base URL.")
    parser.add_argument("--json", action="store_true", help="Print the result as JSON.")
    args = parser.parse_args(argv)
    if args.sample_size < 1 or (args.max_length is not None and args.max_length < 1):
        parser.error("--sample_size and --max_length must be positive")
    return args


def read_sample(args: argparse.Namespace) -> tuple[list[dict], dict]:
    """Sample rows and a description of where they came from (the library's `Source` fields)."""
    if is_local(args.dataset_name):
        try:
            sample = sample_files(data_files(Path(args.dataset_name), args.dataset_train_split), args.sample_size)
        except DatasetFileError as exc:
            raise ScriptError(str(exc)) from None
        source = {"dataset_name": args.dataset_name, "kind": "local", "split": args.dataset_train_split,
                  "num_rows": sample["num_rows"], "num_rows_exact": sample["num_rows_exact"],
                  "num_bytes": sample["num_bytes"], "files": sample["files"]}
        return sample["rows"], source
    token = os.environ.get("HF_TOKEN")
    viewer = DatasetViewer(args.viewer_url, token=token)
    try:
        sample = sample_hub(viewer, args.dataset_name, args.dataset_config, args.dataset_train_split,
                            args.sample_size)
    except ViewerError as exc:
        raise ScriptError(explain(exc, args.dataset_name, viewer.base_url, bool(token))) from None
    rows = sample.pop("rows")
    return rows, dict(sample, dataset_name=args.dataset_name, kind="hub")


def main(args: argparse.Namespace) -> int:
    rows, source = read_sample(args)
    if not rows:
        raise ScriptError(f"{args.dataset_name} has no rows to inspect (empty split or file).")
    tokenizer = None
    if args.model_name_or_path:
        from transformers import AutoTokenizer  # heavy: only with a tokenizer, and after --help

        try:
            tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path, token=os.environ.get("HF_TOKEN"))
        except (OSError, ValueError) as exc:
            raise ScriptError(f"Could not load a tokenizer from {args.model_name_or_path!r} "
                              f"({str(exc).splitlines()[0]}).") from None
    report = analyse(rows, MAPPINGS, tokenizer=tokenizer, max_length=args.max_length, method=args.method,
                     mapping_source=mapping_source)
    report = {"source": source, **report}
    print(json.dumps(report, default=str) if args.json else render(report))
    return 0


# ===== generated runtime: do not edit; source: src/hf_trainer/runtime/ (regenerate: make sync-scripts) =====
# runtime modules: mappings, dataset_formats, dataset_files, dataset_viewer

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


def chosen_as_completion(row: dict) -> dict:
    """A preference row for SFT: `prompt` + `chosen` -> `prompt` / `completion`; without a prompt, `chosen` alone
    becomes `messages` (or `text`). The rejected answer is dropped."""
    chosen = row.get("chosen")
    if chosen is None or chosen == "" or chosen == []:
        raise ValueError("column 'chosen' is missing or empty")
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

# ----- runtime/dataset_formats.py -----
"""Which TRL format a sample of rows is in, whether each trainer can use it, and what to run to make it usable.

Pure standard library (no hf_trainer imports) so scripts/inspect_dataset.py can inline it verbatim; everything it
needs from elsewhere (the named mappings, a tokenizer) is passed in. Results are plain JSON-able dicts; the library
wraps them in pydantic models (dataset_inspect.py) and the script prints them as they are.

Entry point: `analyse(rows, mappings, tokenizer=None, max_length=None, method=None)`; `render(report)` is the text.
"""

import math
from typing import Any, Callable

METHODS = ("sft", "dpo", "grpo", "reward", "kto")
READY, NEEDS_MAPPING, INCOMPATIBLE = "READY", "NEEDS MAPPING", "INCOMPATIBLE"
ROLES = ("system", "developer", "user", "assistant", "tool")
# Keys TRL reads in each format (trl.data_utils); extra columns are allowed and ignored (or passed to GRPO rewards).
TRL_KINDS = ("language_modeling", "prompt_only", "prompt_completion", "preference", "implicit_preference",
             "unpaired_preference")
FOREIGN_KINDS = ("sharegpt", "alpaca", "dolly", "question_answer", "prompt_response", "preference_columns")
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
    },
    "dpo": {
        "preference": (READY, None, "explicit-prompt preference rows"),
        "implicit_preference": (READY, None, "implicit-prompt preference rows (TRL extracts the shared prompt)"),
        "preference_columns": (NEEDS_MAPPING, "preference_columns", "prompt + chosen/rejected answers become a "
                               "conversational preference row"),
    },
    "reward": {
        "preference": (READY, None, "explicit-prompt preference rows"),
        "implicit_preference": (READY, None, "implicit-prompt preference rows"),
        "preference_columns": (NEEDS_MAPPING, "preference_columns", "prompt + chosen/rejected answers become a "
                               "conversational preference row"),
    },
    "kto": {
        "unpaired_preference": (READY, None, "unpaired preference rows (prompt, completion, label)"),
        "preference": (READY, None, "paired preference rows; TRL's KTOTrainer unpairs them itself"),
        "implicit_preference": (READY, None, "paired preference rows; TRL's KTOTrainer unpairs them itself"),
        "preference_columns": (NEEDS_MAPPING, "preference_columns", "prompt + chosen/rejected answers become a "
                               "conversational preference row, which KTO unpairs"),
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
    if "content" not in message or content is None:
        # An assistant turn that only calls tools legitimately has no content.
        if not (role == "assistant" and message.get("tool_calls")):
            issues.add("error", column, f"has a {role} message without content (None)", row)
    elif isinstance(content, str):
        if not content.strip():
            severity = "error" if role == "assistant" else "warning"
            issues.add(severity, column, f"has a {role} message with empty content", row)
    elif isinstance(content, list):
        # Multimodal content: a list of typed parts ({"type": "text", "text": ...}).
        if not all(isinstance(part, dict) and "type" in part for part in content):
            issues.add("error", column, "message content is a list whose parts have no 'type'", row)
    else:
        issues.add("error", column, f"message content is {type(content).__name__}, expected a string", row)


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
            issues.add("warning", column, f"has a {role} message after the first position", row)
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


def verdicts(rows: list[dict], kind: str, conversational: bool | None, issues: list[dict],
             mappings: dict[str, Callable[[dict], dict]]) -> tuple[dict, dict]:
    """Per-method verdicts, and the mappings they name, each run on the sample and re-validated."""
    errors = [issue for issue in issues if issue["severity"] == "error"]
    results, checked = {}, {}
    for method in METHODS:
        verdict, mapping, reason = _base_verdict(method, kind, conversational)
        reasons = [reason]
        if verdict == READY and errors:
            verdict = INCOMPATIBLE
            rows_hit = sorted({row for issue in errors for row in issue["rows"]})
            reasons = [f"the format fits ({reason}), but sample rows have errors (e.g. rows "
                       f"{', '.join(map(str, rows_hit[:5]))}; see issues): fix or filter them first"]
        if verdict == NEEDS_MAPPING and mapping is not None:
            if mapping not in mappings:
                verdict, mapping = INCOMPATIBLE, None
                reasons.append("the mapping it needs is not available here")
            else:
                if mapping not in checked:
                    checked[mapping] = _check_mapping(mapping, rows, mappings)
                result = checked[mapping]
                target_kind = result["kind"]
                if result["failures"]:
                    first = result["failures"][0]
                    verdict = INCOMPATIBLE
                    reasons = [f"mapping {mapping!r} would fit ({reason}), but it failed on {result['failure_count']} "
                               f"of {len(rows)} sample rows (row {first['row']}: {first['error']}); fix the data first"]
                elif target_kind is None or _base_verdict(method, target_kind, result["conversational"])[0] != READY:
                    verdict = INCOMPATIBLE
                    reasons.append(f"but mapping {mapping!r} did not produce a {method.upper()}-ready format")
                elif any(issue["severity"] == "error" for issue in result["issues"]):
                    verdict = INCOMPATIBLE
                    reasons = [f"mapping {mapping!r} would fit ({reason}), but the mapped rows still have errors "
                               f"(see mappings.{mapping}.issues): fix or filter those rows first"]
        results[method] = {"verdict": verdict, "mapping": mapping if verdict == NEEDS_MAPPING else None,
                           "reasons": reasons}
    return results, checked


def _check_mapping(name: str, rows: list[dict], mappings: dict) -> dict:
    outcome = run_mapping(name, rows, mappings)
    mapped = outcome["rows"]
    kind, conversational = _dataset_kind(mapped) if mapped else (None, None)
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


def _dataset_kind(rows: list[dict]) -> tuple[str, bool | None]:
    """The kind most sample rows have (rows of other kinds are reported as issues)."""
    counts: dict[tuple[str, bool | None], int] = {}
    for row in rows:
        key = detect_row(row)
        counts[key] = counts.get(key, 0) + 1
    return max(counts, key=lambda key: counts[key])


# --- token statistics ------------------------------------------------------------------------------------------


def _render_messages(messages: list, tokenizer: Any, add_generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def format_row(row: dict, tokenizer: Any) -> str:
    """The text a trainer would tokenize for one TRL row: chat template for messages, concatenation otherwise.
    For preference rows, the longer of prompt+chosen and prompt+rejected (that is what must fit in max_length)."""
    kind, conversational = detect_row(row)
    if kind == "language_modeling":
        return _render_messages(row["messages"], tokenizer) if conversational else row["text"]
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


def _percentile(sorted_values: list[int], share: float) -> int:
    """Nearest-rank percentile (no interpolation: a token count is an integer)."""
    rank = max(1, math.ceil(share * len(sorted_values)))
    return sorted_values[rank - 1]


def token_stats(rows: list[dict], tokenizer: Any, max_length: int | None) -> dict:
    """Token lengths of the formatted rows: mean, percentiles, max, and the share `max_length` would truncate."""
    lengths, failures = [], []
    for index, row in enumerate(rows):
        try:
            text = format_row(row, tokenizer)
        except (ValueError, KeyError, TypeError) as exc:
            failures.append({"row": index, "error": str(exc)})
            continue
        # The chat template already adds special tokens; plain text gets the tokenizer's own (e.g. BOS).
        lengths.append(len(tokenizer(text, add_special_tokens=not _is_templated(row))["input_ids"]))
    stats: dict[str, Any] = {"rows": len(lengths), "failures": failures[:5], "max_length": max_length}
    if lengths:
        ordered = sorted(lengths)
        stats.update(
            mean=round(sum(ordered) / len(ordered), 1),
            p50=_percentile(ordered, 0.5), p90=_percentile(ordered, 0.9), p95=_percentile(ordered, 0.95),
            p99=_percentile(ordered, 0.99), max=ordered[-1], min=ordered[0],
        )
        if max_length:
            stats["truncated_share"] = round(sum(1 for n in ordered if n > max_length) / len(ordered), 4)
    return stats


def _is_templated(row: dict) -> bool:
    return bool(detect_row(row)[1])


# --- the whole analysis ----------------------------------------------------------------------------------------


def analyse(rows: list[dict], mappings: dict[str, Callable[[dict], dict]], tokenizer: Any = None,
            max_length: int | None = None, method: str | None = None,
            mapping_source: Callable[[str], str] | None = None) -> dict:
    """Detect the format of sample rows, check their values, give per-method verdicts with validated mappings and,
    with a tokenizer, token statistics for `method` (default: the first of SFT, DPO, GRPO, reward, KTO that can use
    the data). `mappings` and `mapping_source` come from hf_trainer.runtime.mappings."""
    if not rows:
        raise ValueError("no rows to inspect")
    kind, conversational = _dataset_kind(rows)
    issues = check_rows(rows, kind, conversational)
    per_method, checked = verdicts(rows, kind, conversational, issues, mappings)
    report: dict[str, Any] = {
        "kind": kind,
        "kind_text": KIND_TEXT[kind],
        "conversational": conversational,
        "columns": sorted({column for row in rows for column in row}),
        "sample_rows": len(rows),
        "issues": issues,
        "methods": per_method,
        "mappings": {},
        "chat_template": None,
        "token_stats": None,
    }
    for name, result in checked.items():
        report["mappings"][name] = {key: value for key, value in result.items() if key != "rows"}
        report["mappings"][name]["source"] = mapping_source(name) if mapping_source else None
    if tokenizer is not None:
        report["chat_template"] = bool(getattr(tokenizer, "chat_template", None))
        target = method or next((m for m in METHODS if per_method[m]["verdict"] != INCOMPATIBLE), None)
        if target is not None:
            mapping = per_method[target]["mapping"]
            formatted = checked[mapping]["rows"] if mapping else rows
            conversational_rows = bool(formatted) and bool(detect_row(formatted[0])[1])
            if conversational_rows and not report["chat_template"]:
                report["issues"].insert(0, {
                    "severity": "error", "column": "*", "count": len(rows), "rows": [],
                    "message": "the tokenizer has no chat template, so conversational rows cannot be formatted; "
                               "use an instruct/chat model's tokenizer or set one",
                })
            else:
                report["token_stats"] = dict(token_stats(formatted, tokenizer, max_length), method=target)
    return report


# --- text ------------------------------------------------------------------------------------------------------


def render(report: dict) -> str:
    """Concise, actionable text for a report from `analyse` (plus the source fields that the caller adds)."""
    lines = []
    source = report.get("source") or {}
    where = source.get("dataset_name", "dataset")
    parts = [part for part in (source.get("config"), source.get("split")) if part]
    split = f" [{'/'.join(parts)}]" if parts else ""
    total = source.get("num_rows")
    size = f", {total:,} rows{'' if source.get('num_rows_exact', True) else ' (estimated)'}" if total else ""
    lines.append(f"{where}{split}{size}: {report['kind_text']}"
                 + ("" if report["conversational"] is None else
                    (", conversational" if report["conversational"] else ", standard"))
                 + f" (from {report['sample_rows']} sample rows; columns: {', '.join(report['columns'])})")
    for method in METHODS:
        entry = report["methods"][method]
        mapping = f" -> --dataset_mapping {entry['mapping']}" if entry["mapping"] else ""
        lines.append(f"  {method.upper():<6} {entry['verdict']}{mapping}: {'; '.join(entry['reasons'])}")
    for issue in report["issues"][:8]:
        more = ", ..." if issue["count"] > len(issue["rows"]) else ""
        rows = f" (row{'s' if issue['count'] > 1 else ''} {', '.join(map(str, issue['rows']))}{more})"
        lines.append(f"  {issue['severity']}: {issue['column']} {issue['message']}, in {issue['count']} sample "
                     f"row{'s' if issue['count'] > 1 else ''}" + (rows if issue["rows"] else ""))
    if len(report["issues"]) > 8:
        lines.append(f"  ... {len(report['issues']) - 8} more issue(s) in the structured result")
    for name, result in report["mappings"].items():
        if result["validated"]:
            lines.append(f"  mapping {name}: run on {result['rows_checked']} sample rows and re-validated as "
                         f"{KIND_TEXT.get(result['kind'] or 'unknown')}; pass --dataset_mapping {name} to the "
                         "training script (its source is in the structured result)")
        else:
            lines.append(f"  mapping {name}: NOT usable on this sample (see the reasons above)")
    stats = report.get("token_stats")
    if stats and stats.get("rows"):
        # TRL's RewardTrainer drops pairs longer than max_length instead of truncating them.
        fate = " (dropped by the reward trainer)" if stats["method"] == "reward" else ""
        truncated = (f", {stats['truncated_share']:.1%} longer than max_length {stats['max_length']}{fate}"
                     if stats.get("truncated_share") is not None else "")
        lines.append(f"  tokens per row ({stats['method'].upper()} format): mean {stats['mean']}, p50 {stats['p50']}, "
                     f"p95 {stats['p95']}, max {stats['max']}{truncated}")
        if (stats.get("truncated_share") or 0) > 0.05:
            lines.append(f"  advice: max_length {stats['max_length']} is shorter than many rows (their ends, the "
                         "answers, are lost); "
                         f"--max_length {stats['p99']} keeps 99% of the sample whole")
    if source.get("truncated_cells"):
        lines.append(f"  note: the dataset viewer shortened {source['truncated_cells']} cells of the sample; token "
                     "lengths are lower bounds")
    if report.get("chat_template") is not None:
        lines.append(f"  tokenizer chat template: {'yes' if report['chat_template'] else 'NO'}")
    return "\n".join(lines)

# ----- runtime/dataset_files.py -----
"""Read a sample of rows from local dataset files (jsonl, json, csv, parquet, arrow) without reading the whole file.

A many-GB file costs about what a small one does: text formats read only their first lines and estimate the row
count from the bytes per sampled row; parquet reads the footer (exact row count) and the first pages of the first
row group; arrow memory-maps the file and touches only the first record batch (and batch headers to count rows).

Pure standard library plus pyarrow imported inside the functions that need it, so scripts/inspect_dataset.py can
inline this module verbatim. Failures raise `DatasetFileError` with text meant for a person.
"""

import csv
import json
import os
from pathlib import Path
from typing import Any

EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "csv",
              ".parquet": "parquet", ".arrow": "arrow", ".feather": "arrow"}
# Metadata files that `datasets.save_to_disk` writes beside its arrow shards; they are not rows.
_METADATA = {"dataset_info.json", "state.json", "dataset_dict.json"}
# Text formats are read in chunks of this size until enough rows are seen; a row longer than this still works.
_CHUNK = 1 << 20
# A dataset folder holds a few hundred shards at most; walking more than this is a mistake such as '/'.
_MAX_WALK = 20_000


class DatasetFileError(Exception):
    """A local dataset file that cannot be read as asked; the message says which file, where, and what to do."""


def _walk(path: Path) -> list[Path]:
    """Data files under a folder, hidden ones skipped; refused past _MAX_WALK entries (e.g. '/' or a home folder)."""
    found = []
    seen = 0
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        seen += len(dirs) + len(names)
        if seen > _MAX_WALK:
            raise DatasetFileError(f"{path} holds more than {_MAX_WALK} files and folders: it is not a dataset "
                                   "folder. Pass the dataset's own file or folder.")
        found += [Path(root) / n for n in names if not n.startswith(".") and n not in _METADATA
                  and Path(n).suffix.lower() in EXTENSIONS]
    return sorted(p for p in found if p.is_file())


def data_files(path: Path, split: str | None) -> list[Path]:
    """The data files behind a file or folder path, for one split when the folder has several."""
    given = str(path)
    path = Path(os.path.expanduser(str(path)))  # Path.expanduser raises for an unknown ~user
    # Name the path as given, and where it led when '~' was expanded.
    shown = given if str(path) == given else f"{given} ({path})"
    if path.is_file():
        if path.suffix.lower() not in EXTENSIONS:
            raise DatasetFileError(f"{shown} is not a dataset file this tool reads; use one of "
                                   f"{', '.join(sorted(EXTENSIONS))}.")
        return [path]
    if not path.is_dir():
        raise DatasetFileError(f"{shown} does not exist. Pass a dataset file or folder, or a Hub id like owner/name.")
    files = _walk(path)
    if not files:
        raise DatasetFileError(f"{shown} holds no {', '.join(sorted(EXTENSIONS))} files.")
    wanted = split or "train"
    in_split = [p for p in files if wanted in p.relative_to(path).as_posix().lower()]
    if in_split:
        return in_split
    if split:
        raise DatasetFileError(f"No file for split {split!r} in {shown} (files: "
                               f"{', '.join(p.relative_to(path).as_posix() for p in files[:10])}).")
    return files


def file_format(path: Path) -> str:
    return EXTENSIONS[Path(path).suffix.lower()]


def sample_file(path: Path, limit: int) -> dict[str, Any]:
    """Up to `limit` rows from the start of one file, with its row count (exact or estimated)."""
    reader = {"jsonl": _sample_jsonl, "json": _sample_json, "csv": _sample_csv, "parquet": _sample_parquet,
              "arrow": _sample_arrow}[file_format(path)]
    return reader(Path(path), limit)


def sample_files(files: list[Path], limit: int) -> dict[str, Any]:
    """Rows from the first files until `limit` is reached; the row count adds up every file (cheaply)."""
    rows: list[dict] = []
    num_rows, exact, num_bytes = 0, True, 0
    for path in files:
        if len(rows) < limit:
            part = sample_file(path, limit - len(rows))
            rows += part["rows"]
        else:
            part = count_rows(path)
        num_rows += part["num_rows"]
        exact = exact and part["num_rows_exact"]
        num_bytes += path.stat().st_size
    return {"rows": rows, "num_rows": num_rows, "num_rows_exact": exact, "num_bytes": num_bytes,
            "files": [str(p) for p in files]}


def count_rows(path: Path) -> dict[str, Any]:
    """Row count of a file not sampled: exact for parquet/arrow (metadata), estimated from a small sample otherwise."""
    part = sample_file(path, 1 if file_format(path) in ("parquet", "arrow") else 50)
    return {"num_rows": part["num_rows"], "num_rows_exact": part["num_rows_exact"]}


# --- text formats ----------------------------------------------------------------------------------------------


def _estimate(size: int, rows: int, bytes_read: int, reached_end: bool) -> tuple[int, bool]:
    if reached_end or rows == 0:
        return rows, True
    return max(rows, round(size * rows / max(bytes_read, 1))), False


def _sample_jsonl(path: Path, limit: int) -> dict[str, Any]:
    rows: list[dict] = []
    bytes_read = 0
    reached_end = True
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if len(rows) >= limit:
                reached_end = False
                break
            bytes_read += len(raw)
            line = raw.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise DatasetFileError(f"Line {number} of {path} is not valid JSON ({exc}). Fix or remove that line; "
                                       "each line of a JSONL file must be one JSON object.") from None
            if not isinstance(row, dict):
                raise DatasetFileError(f"Line {number} of {path} is a JSON {type(row).__name__}, not an object. "
                                       "Each line of a JSONL file must be one JSON object ({\"column\": value, ...}).")
            rows.append(row)
        else:
            reached_end = True
    num_rows, exact = _estimate(path.stat().st_size, len(rows), bytes_read, reached_end)
    return {"rows": rows, "num_rows": num_rows, "num_rows_exact": exact}


def _sample_json(path: Path, limit: int) -> dict[str, Any]:
    """A JSON array of objects (read incrementally), JSON Lines saved as .json, or one object holding such a list."""
    with path.open("rb") as handle:
        head = handle.read(_CHUNK)
    text = head.decode("utf-8", errors="ignore").lstrip()
    if not text:
        return {"rows": [], "num_rows": 0, "num_rows_exact": True}
    if text[0] == "{":
        first_line, _, rest = text.partition("\n")
        try:
            first = json.loads(first_line)
        except json.JSONDecodeError:
            return _sample_json_object(path, limit)
        # One line holding {"data": [rows]} is the object form; anything else starting with an object is JSON Lines.
        if rest.strip() or not _row_lists(first):
            return _sample_jsonl(path, limit)
        return _sample_json_object(path, limit)
    if text[0] != "[":
        raise DatasetFileError(f"{path} is neither a JSON array nor JSON Lines (it starts with {text[:20]!r}).")
    return _sample_json_array(path, limit)


def _sample_json_array(path: Path, limit: int) -> dict[str, Any]:
    decoder = json.JSONDecoder()
    rows: list[dict] = []
    size = path.stat().st_size
    with path.open("r", encoding="utf-8") as handle:
        buffer = handle.read(_CHUNK)
        position = buffer.index("[") + 1
        lines_before = 0
        total_chars = len(buffer)
        while len(rows) < limit:
            while position < len(buffer) and buffer[position] in " \t\r\n,":
                position += 1
            if position < len(buffer) and buffer[position] == "]":
                return {"rows": rows, "num_rows": len(rows), "num_rows_exact": True}
            try:
                row, end = decoder.raw_decode(buffer, position)
            except json.JSONDecodeError as exc:
                more = handle.read(_CHUNK)
                if not more:
                    line = buffer.count("\n", 0, exc.pos) + 1 + lines_before
                    raise DatasetFileError(f"{path} is not valid JSON near element {len(rows) + 1} "
                                           f"(line {line}: {exc.msg}).") from None
                # Keep only the undecoded tail so the buffer stays small.
                lines_before += buffer.count("\n", 0, position)
                total_chars += len(more)
                buffer = buffer[position:] + more
                position = 0
                continue
            if not isinstance(row, dict):
                raise DatasetFileError(f"Element {len(rows) + 1} of the JSON array in {path} is a "
                                       f"{type(row).__name__}, not an object.")
            rows.append(row)
            position = end
    # Characters stand in for bytes in the estimate; it is labelled as an estimate anyway.
    num_rows, exact = _estimate(size, len(rows), total_chars - (len(buffer) - position), False)
    return {"rows": rows, "num_rows": num_rows, "num_rows_exact": exact}


def _sample_json_object(path: Path, limit: int) -> dict[str, Any]:
    """`{"data": [...]}`: the whole file must be parsed; refuse big ones rather than pretend it is cheap."""
    if path.stat().st_size > 200 * _CHUNK:
        raise DatasetFileError(f"{path} is one large JSON object; convert it to JSON Lines (one row per line) so it "
                               "can be read in parts.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetFileError(f"{path} is not valid JSON (line {exc.lineno}: {exc.msg}).") from None
    lists = _row_lists(data)
    if len(lists) != 1:
        raise DatasetFileError(f"{path} is a JSON object without exactly one list of rows (found: "
                               f"{', '.join(lists) or 'none'}). Save the rows as JSON Lines.")
    rows = data[lists[0]]
    return {"rows": rows[:limit], "num_rows": len(rows), "num_rows_exact": True}


def _row_lists(data: Any) -> list[str]:
    """Keys of a JSON object whose values are lists of row objects."""
    if not isinstance(data, dict):
        return []
    return [key for key, value in data.items() if isinstance(value, list) and value and isinstance(value[0], dict)]


def _sample_csv(path: Path, limit: int) -> dict[str, Any]:
    rows: list[dict] = []
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    consumed = [0]

    def counted(lines: Any) -> Any:
        # The text layer reads ahead in blocks, so the file position overstates what the sample used.
        for line in lines:
            consumed[0] += len(line.encode("utf-8"))
            yield line

    with path.open("r", encoding="utf-8", newline="") as text:
        reader = csv.DictReader(counted(text), delimiter=delimiter)
        reached_end = True
        try:
            for row in reader:
                if len(rows) >= limit:
                    reached_end = False
                    break
                if None in row:
                    raise DatasetFileError(f"Line {reader.line_num} of {path} has more fields than the header.")
                rows.append(dict(row))
        except csv.Error as exc:
            raise DatasetFileError(f"Line {reader.line_num} of {path} is not valid CSV ({exc}).") from None
    num_rows, exact = _estimate(path.stat().st_size, len(rows), consumed[0], reached_end)
    return {"rows": rows, "num_rows": num_rows, "num_rows_exact": exact}


# --- columnar formats ------------------------------------------------------------------------------------------


def _sample_parquet(path: Path, limit: int) -> dict[str, Any]:
    import pyarrow.parquet as pq  # lazy: only parquet needs it, and the core must start without it

    try:
        # A read buffer instead of pre-buffering makes the first batch read only the first pages, not the whole
        # (possibly GB-sized) row group.
        parquet = pq.ParquetFile(path, buffer_size=1 << 20, pre_buffer=False)
    except (OSError, ValueError) as exc:
        raise DatasetFileError(f"{path} is not a readable parquet file ({exc}).") from None
    num_rows = parquet.metadata.num_rows
    rows: list[dict] = []
    if num_rows and limit:
        batch = next(parquet.iter_batches(batch_size=min(limit, num_rows)), None)
        rows = batch.to_pylist() if batch is not None else []
    return {"rows": rows[:limit], "num_rows": num_rows, "num_rows_exact": True}


def _sample_arrow(path: Path, limit: int) -> dict[str, Any]:
    import pyarrow as pa  # lazy: see _sample_parquet

    source = pa.memory_map(str(path), "r")
    try:
        # The IPC file format (Feather v2) has a footer that indexes its batches; datasets' cache files are streams.
        try:
            reader = pa.ipc.open_file(source)
            batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
        except pa.ArrowInvalid:
            source.seek(0)
            batches = iter(pa.ipc.open_stream(source))
        rows: list[dict] = []
        num_rows = 0
        for batch in batches:
            # Memory-mapped batches are zero-copy: counting them touches headers only.
            if len(rows) < limit:
                rows += batch.slice(0, limit - len(rows)).to_pylist()
            num_rows += batch.num_rows
    except pa.ArrowInvalid as exc:
        raise DatasetFileError(f"{path} is not a readable Arrow IPC file or stream ({exc}).") from None
    finally:
        source.close()
    return {"rows": rows, "num_rows": num_rows, "num_rows_exact": True}


def describe_size(num_bytes: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if num_bytes < 1000 or unit == "TB":
            return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1000
    return f"{num_bytes} B"


def is_local(name: str) -> bool:
    """A path on this machine (existing, or written like a path), as opposed to a Hub id like owner/name."""
    if os.path.exists(os.path.expanduser(name)):
        return True
    return name.startswith(("/", "./", "../", "~")) or Path(name).suffix.lower() in EXTENSIONS

# ----- runtime/dataset_viewer.py -----
"""A small client for the Hugging Face dataset viewer API (datasets-server), with a configurable base URL.

huggingface_hub hard-codes the viewer's host and refuses other endpoints, and it cannot send a caller's token to a
different base URL, so this speaks the documented HTTP API directly: /is-valid, /splits, /info, /first-rows, /rows
and /size, with `Authorization: Bearer <token>` so private and gated datasets work. The token goes only into that
header; no message built here contains it.

Pure standard library (urllib) so scripts/inspect_dataset.py can inline it verbatim.
"""

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

DEFAULT_VIEWER_URL = "https://datasets-server.huggingface.co"
# /rows serves at most 100 rows per request.
PAGE = 100


class ViewerError(Exception):
    """The viewer refused or failed a request; `status` is the HTTP status (None when it could not be reached)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class DatasetViewer:
    """Calls to one dataset viewer server; tests point `base_url` at a local fake."""

    def __init__(self, base_url: str = DEFAULT_VIEWER_URL, token: str | None = None, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = timeout

    def get(self, endpoint: str, **params: Any) -> dict:
        query = urllib.parse.urlencode({key: value for key, value in params.items() if value is not None})
        url = f"{self.base_url}/{endpoint}?{query}"
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        if self._token:
            request.add_header("Authorization", f"Bearer {self._token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            raise ViewerError(_error_text(exc), exc.code) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ViewerError(f"Could not reach the dataset viewer at {self.base_url} ({reason}).") from None
        except json.JSONDecodeError:
            raise ViewerError(f"The dataset viewer at {self.base_url} answered {endpoint} with something that is "
                              "not JSON.") from None

    def is_valid(self, dataset: str) -> dict:
        return self.get("is-valid", dataset=dataset)

    def splits(self, dataset: str) -> list[dict]:
        return self.get("splits", dataset=dataset).get("splits", [])

    def info(self, dataset: str, config: str | None = None) -> dict:
        return self.get("info", dataset=dataset, config=config)

    def size(self, dataset: str) -> dict:
        return self.get("size", dataset=dataset)

    def first_rows(self, dataset: str, config: str, split: str) -> dict:
        return self.get("first-rows", dataset=dataset, config=config, split=split)

    def rows(self, dataset: str, config: str, split: str, offset: int = 0, length: int = PAGE) -> dict:
        return self.get("rows", dataset=dataset, config=config, split=split, offset=offset, length=length)


def _error_text(exc: urllib.error.HTTPError) -> str:
    """The server's own explanation: X-Error-Message, else the JSON `error`, else the status line."""
    header = exc.headers.get("X-Error-Message") if exc.headers else None
    if header:
        return header
    try:
        body = json.loads(exc.read().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"])
    return f"HTTP {exc.code} {exc.reason}"


def explain(exc: ViewerError, dataset: str, base_url: str, has_token: bool) -> str:
    """What a viewer failure means for the person and what to do next."""
    if exc.status in (401, 403):
        login = ("Your token was refused: check it has read access, and for a gated dataset accept its conditions on "
                 "the Hub." if has_token else "Log in with 'hf auth login' (or set HF_TOKEN) and retry.")
        return f"The dataset viewer refused {dataset!r} ({exc.status}: {exc}). It is private or gated. {login}"
    if exc.status == 404:
        return (f"Dataset {dataset!r} was not found by the dataset viewer at {base_url} ({exc}). Check the id "
                "(owner/name); if it is private, log in first. A local path must exist on this machine.")
    if exc.status is None:
        return (f"{exc} Check the network, or point HF_TRAINER_DATASETS_SERVER (--viewer_url) at a reachable "
                "viewer; a local copy of the data can be inspected by path.")
    return (f"The dataset viewer could not serve {dataset!r} ({exc.status}): {exc} Some datasets have no viewer "
            f"(custom loading scripts, very large or unsupported files): download a data file (hf download {dataset} "
            "--repo-type dataset) and inspect it by its local path.")


def choose_split(splits: list[dict], dataset: str, config: str | None, split: str | None) -> tuple[str, str]:
    """The (config, split) to inspect: the requested ones, else "default"/the first config and "train"/the first split.
    Raises ViewerError naming what exists when the request does not."""
    if not splits:
        raise ViewerError(f"The dataset viewer lists no splits for {dataset!r} (it may still be processing).", 404)
    configs = list(dict.fromkeys(item["config"] for item in splits))
    if config is None:
        config = "default" if "default" in configs else configs[0]
    elif config not in configs:
        raise ViewerError(f"{dataset!r} has no config {config!r}; its configs: {', '.join(configs)}.", 404)
    names = [item["split"] for item in splits if item["config"] == config]
    if split is None:
        split = "train" if "train" in names else names[0]
    elif split not in names:
        raise ViewerError(f"{dataset!r} (config {config!r}) has no split {split!r}; its splits: {', '.join(names)}.",
                          404)
    return config, split


def sample_hub(viewer: DatasetViewer, dataset: str, config: str | None, split: str | None, limit: int) -> dict:
    """Up to `limit` rows from the start of a Hub split, with its row count and size from /size."""
    splits = viewer.splits(dataset)
    config, split = choose_split(splits, dataset, config, split)
    rows: list[dict] = []
    truncated_cells = 0
    try:
        while len(rows) < limit:
            page = viewer.rows(dataset, config, split, offset=len(rows), length=min(PAGE, limit - len(rows)))
            got = page.get("rows", [])
            rows += [item["row"] for item in got]
            truncated_cells += sum(len(item.get("truncated_cells") or []) for item in got)
            if len(got) == 0 or len(rows) >= page.get("num_rows_total", 0):
                break
    except ViewerError as exc:
        # /rows needs the parquet export; /first-rows works for every dataset the viewer can preview.
        if exc.status is None or exc.status < 500:
            raise
        page = viewer.first_rows(dataset, config, split)
        got = page.get("rows", [])[:limit]
        rows = [item["row"] for item in got]
        truncated_cells = sum(len(item.get("truncated_cells") or []) for item in got)
    num_rows, num_bytes = None, None
    try:
        size = viewer.size(dataset).get("size", {})
    except ViewerError as exc:
        if exc.status in (401, 403, 404):
            raise
        size = {}  # a size still being computed only costs us the row count
    for item in size.get("splits", []):
        if item.get("config") == config and item.get("split") == split:
            num_rows, num_bytes = item.get("num_rows"), item.get("num_bytes_parquet_files")
    return {
        "rows": rows,
        "num_rows": num_rows,
        "num_rows_exact": num_rows is not None,
        "num_bytes": num_bytes,
        "config": config,
        "split": split,
        "configs": list(dict.fromkeys(item["config"] for item in splits)),
        "splits": [item["split"] for item in splits if item["config"] == config],
        "truncated_cells": truncated_cells,
    }
# ===== end of generated runtime =====


if __name__ == "__main__":
    arguments = parse_args()
    try:
        sys.exit(main(arguments))
    except ScriptError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
