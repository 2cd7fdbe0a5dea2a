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
    parser.add_argument("--sample_size", type=int, default=100,
                        help="Rows read: half from the start of the split, half evenly spaced through the rest.")
    parser.add_argument("--chat_template", default=None,
                        help="Render conversations with this template instead of the model's, as train_sft.py "
                             "--chat_template would: chatml or a Jinja file (needs --model_name_or_path).")
    parser.add_argument("--viewer_url", default=os.environ.get("HF_TRAINER_DATASETS_SERVER", DEFAULT_VIEWER_URL),
                        help="Dataset viewer API base URL.")
    parser.add_argument("--json", action="store_true", help="Print the result as JSON.")
    args = parser.parse_args(argv)
    if args.sample_size < 1 or (args.max_length is not None and args.max_length < 1):
        parser.error("--sample_size and --max_length must be positive")
    if args.chat_template and not args.model_name_or_path:
        parser.error("--chat_template is checked with the model's tokenizer: pass --model_name_or_path too")
    return args


def read_sample(args: argparse.Namespace) -> tuple[list[dict], dict]:
    """Sample rows and a description of where they came from (the library's `Source` fields)."""
    if is_local(args.dataset_name):
        head = (args.sample_size + 1) // 2
        try:
            sample = sample_files(data_files(Path(args.dataset_name), args.dataset_train_split), head,
                                  args.sample_size - head)
        except DatasetFileError as exc:
            raise ScriptError(str(exc)) from None
        rows = sample.pop("rows")
        return rows, dict(sample, dataset_name=args.dataset_name, kind="local", split=args.dataset_train_split)
    token = os.environ.get("HF_TOKEN")
    viewer = DatasetViewer(args.viewer_url, token=token)
    try:
        head = (args.sample_size + 1) // 2
        sample = sample_hub(viewer, args.dataset_name, args.dataset_config, args.dataset_train_split, head,
                            args.sample_size - head)
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

        endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
        # An unreachable Hub costs ~50 s of retries per file: probe it, then read the local cache only.
        offline = not Path(args.model_name_or_path).expanduser().is_dir() and not hub_reachable(endpoint)
        try:
            tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path, token=os.environ.get("HF_TOKEN"),
                                                      local_files_only=offline)
        except (OSError, ValueError) as exc:
            why = (f"{endpoint} cannot be reached and it is not in the local cache" if offline
                   else str(exc).splitlines()[0])
            raise ScriptError(f"Could not load a tokenizer from {args.model_name_or_path!r} ({why}).") from None
    try:
        report = analyse(rows, MAPPINGS, tokenizer=tokenizer, max_length=args.max_length, method=args.method,
                         mapping_source=mapping_source, chat_template=args.chat_template)
    except ValueError as exc:
        raise ScriptError(f"--chat_template: {exc}.") from None
    report = {"source": source, **report}
    print(json.dumps(report, default=str) if args.json else render(report))
    return 0


# ===== generated runtime: do not edit; source: src/hf_trainer/runtime/ (regenerate: make sync-scripts) =====
# runtime modules: mappings, dataset_report, dataset_files, dataset_viewer

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

# ----- runtime/dataset_report.py -----
"""The inspection report over runtime/dataset_formats.py's rules: token statistics, the whole analysis of a sample
(`analyse(rows, mappings, tokenizer=None, max_length=None, method=None)`) and its text (`render(report)`).

Inspection only (dataset_inspect, scripts/inspect_dataset.py): the training scripts check their rows with
dataset_formats.method_verdict and do not carry this module or the vision report it calls.
"""

import math
from typing import Any, Callable


# --- token statistics ------------------------------------------------------------------------------------------


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
            mapping_source: Callable[[str], str] | None = None, chat_template: str | None = None) -> dict:
    """Detect the format of sample rows, check their values, give per-method verdicts with validated mappings and,
    with a tokenizer, token statistics for `method` (default: the first of SFT, DPO, GRPO, reward, KTO that can use
    the data). `chat_template` (a name such as chatml, or a Jinja file) replaces the tokenizer's, as train_sft.py
    --chat_template does. `mappings` and `mapping_source` come from hf_trainer.runtime.mappings."""
    if not rows:
        raise ValueError("no rows to inspect")
    if rows_have_images(rows):  # runtime/vision.py: READY only for a model that sees images, via train_vlm.py
        return analyse_vision(rows, tokenizer, max_length)
    kind, conversational = dataset_kind(rows)
    issues = check_rows(rows, kind, conversational)
    per_method, checked = verdicts(rows, mappings)
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
        "chat_template_used": None,
        "token_stats": None,
    }
    for name, result in checked.items():
        report["mappings"][name] = {key: value for key, value in result.items() if key != "rows"}
        report["mappings"][name]["source"] = mapping_source(name) if mapping_source else None
    if tokenizer is not None:
        report["chat_template"] = bool(getattr(tokenizer, "chat_template", None))
        if chat_template:
            tokenizer.chat_template = read_chat_template(chat_template)
            report["chat_template_used"] = chat_template
        elif report["chat_template"]:
            report["chat_template_used"] = "model"
        # Every method that could train is checked against the template: READY must mean its script trains.
        formatted_by_method = {}
        for name, entry in per_method.items():
            if entry["verdict"] == INCOMPATIBLE:
                continue
            drop = dropped_columns(name, report["columns"])
            view = [{key: value for key, value in row.items() if key not in drop} for row in rows]
            formatted = checked[entry["mapping"]]["rows"] if entry["mapping"] else view
            formatted_by_method[name] = formatted
            if not (formatted and detect_row(formatted[0])[1]):
                continue
            reason = template_problem(formatted, tokenizer)
            if reason is None:
                continue
            if not any(issue["message"] == reason for issue in report["issues"]):
                report["issues"].insert(0, {"severity": "error", "column": "*", "count": len(rows), "rows": [],
                                            "message": reason})
            entry.update(verdict=INCOMPATIBLE, mapping=None, reasons=entry["reasons"] + [f"but {reason}"])
        target = method or next((m for m in METHODS if per_method[m]["verdict"] != INCOMPATIBLE), None)
        if target is not None and target in formatted_by_method:
            report["token_stats"] = dict(token_stats(formatted_by_method[target], tokenizer, max_length),
                                         method=target)
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
                 + f" (from {report['sample_rows']} sample rows"
                 + (f": {source['sampled_from']}" if source.get("sampled_from") else "")
                 + f"; columns: {', '.join(report['columns'])})")
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
    if source.get("oversized_rows"):
        lines.append(f"  note: {source['oversized_rows']} row(s) longer than {source.get('row_byte_cap', 0):,} bytes "
                     "were counted but not read (the cap per row); check them separately")
    if report.get("chat_template") is not None:
        used = report.get("chat_template_used")
        lines.append(f"  tokenizer chat template: {'yes' if report['chat_template'] else 'NO'}; rows rendered with: "
                     + ("the model's" if used == "model" else used or "none (train_sft.py --chat_template chatml "
                        "gives a base model one)"))
    lines += render_vision(report)
    return "\n".join(lines)

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

# ----- runtime/dataset_files.py -----
"""Read a sample of rows from local dataset files (jsonl, json, csv, parquet, arrow) without reading the whole file.

A sample is the head of the data plus rows at evenly spaced places through the rest, so problems that start late are
seen, and a many-GB file costs about what a small one does: text formats read their first lines, then one line after
each of a few evenly spaced byte offsets, and estimate the row count from the bytes per sampled row; parquet reads the
footer (exact row count) and the first pages of evenly spaced row groups; arrow memory-maps the file and slices rows
at evenly spaced indices. No row is read past ROW_BYTE_CAP bytes (a 1 GB line costs 1 GB of nothing): such rows are
counted, not parsed, and the result says so.

runtime/file_types.py holds the one list of local file types (FILE_TYPES), which the training scripts load too.

Pure standard library plus pyarrow imported inside the functions that need it, so scripts/inspect_dataset.py can
inline this module verbatim. Failures raise `DatasetFileError` with text meant for a person.
"""

import csv
import json
import os
from pathlib import Path
from typing import Any


# Longest row read; a longer one (a file without newlines, a giant cell) is counted and skipped, never parsed.
ROW_BYTE_CAP = 8 << 20
# Metadata files that `datasets.save_to_disk` writes beside its arrow shards; they are not rows.
_METADATA = {"dataset_info.json", "state.json", "dataset_dict.json"}
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


def _shown(given: str, path: Path) -> str:
    """The path as given, and where it led when '~' was expanded."""
    return given if str(path) == given else f"{given} ({path})"


def _saved_split_names(path: Path) -> list[str]:
    """The splits a `datasets.save_to_disk` DatasetDict folder lists in its dataset_dict.json."""
    try:
        names = json.loads((path / "dataset_dict.json").read_text(encoding="utf-8")).get("splits")
    except (OSError, ValueError, AttributeError):
        names = None
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise DatasetFileError(f"{path / 'dataset_dict.json'} does not list the saved splits; save the dataset again "
                               "with datasets' save_to_disk.")
    return names


def local_splits(path: Path) -> dict[str, list[Path]]:
    """Split name -> data files of a local file or folder, as the training scripts load it (runtime/train_common.py):
    a `datasets.save_to_disk` folder by the splits it saved, one split each (never merged); another folder by its
    file names (runtime/splits.split_of: train_prefs-00000-of-00001.parquet is train_prefs); a single file is train."""
    given = str(path)
    path = Path(os.path.expanduser(str(path)))  # Path.expanduser raises for an unknown ~user
    shown = _shown(given, path)
    if path.is_file():
        if path.suffix.lower() not in EXTENSIONS:
            raise DatasetFileError(f"{shown} is not a dataset file this tool reads; use one of "
                                   f"{', '.join(sorted(EXTENSIONS))}.")
        return {"train": [path]}
    if not path.is_dir():
        raise DatasetFileError(f"{shown} does not exist. Pass a dataset file or folder, or a Hub id like owner/name.")
    if (path / "dataset_dict.json").is_file():
        # save_to_disk of a DatasetDict: one folder per split, as listed; load_from_disk gives exactly these.
        saved = {name: _walk(path / name) for name in _saved_split_names(path)}
        empty = [name for name, files in saved.items() if not files]
        if empty:
            raise DatasetFileError(f"{shown} lists split {empty[0]!r} in dataset_dict.json, but {path / empty[0]} "
                                   "holds no .arrow files; save the dataset again with save_to_disk.")
        return saved
    files = _walk(path)
    if not files:
        raise DatasetFileError(f"{shown} holds no {', '.join(sorted(EXTENSIONS))} files.")
    if (path / "state.json").is_file():
        return {"train": files}  # save_to_disk of one Dataset: load_from_disk gives it as the train split
    splits: dict[str, list[Path]] = {}
    for file in files:
        splits.setdefault(split_of(file.relative_to(path)), []).append(file)
    return splits


def choose_local(path: Path, split: str | None, method: str | None = None) -> tuple[str, list[Path], list[str]]:
    """(split, its files, every split's name) of a local file or folder: `split` when given, else the one `method`
    trains on (runtime/splits.train_split); DatasetFileError naming the splits there are when `split` is not one."""
    splits = local_splits(path)
    names = list(splits)
    chosen = split or train_split(names, method) or "train"
    if chosen not in splits:
        root = Path(os.path.expanduser(str(path)))
        listed = ", ".join(p.relative_to(root).as_posix() if root.is_dir() else p.name
                           for files in splits.values() for p in files[:3])
        raise DatasetFileError(f"No file for split {chosen!r} in {_shown(str(path), root)}: its splits are "
                               f"{', '.join(names)} (files: {listed}). Pass one of them as the split.")
    return chosen, splits[chosen], names


def data_files(path: Path, split: str | None) -> list[Path]:
    """The data files behind a file or folder path, for one split when the folder has several."""
    return choose_local(path, split)[1]


def file_format(path: Path) -> str:
    return EXTENSIONS[Path(path).suffix.lower()]


def sample_file(path: Path, limit: int, spread: int = 0) -> dict[str, Any]:
    """Up to `limit` rows from the start of one file plus up to `spread` rows evenly spaced through the rest, with the
    file's row count (exact or estimated), where each row came from, and how many rows were over ROW_BYTE_CAP."""
    reader = {"jsonl": _sample_jsonl, "json": _sample_json, "csv": _sample_csv, "parquet": _sample_parquet,
              "arrow": _sample_arrow}[file_format(path)]
    result = reader(Path(path), limit, spread)
    result.setdefault("locations", [f"row {i + 1}" for i in range(len(result["rows"]))])
    result.setdefault("oversized", 0)
    return result


def sample_files(files: list[Path], limit: int, spread: int | None = None) -> dict[str, Any]:
    """The first `limit` rows (from the first files) plus `spread` rows (default: as many) evenly spaced through all
    the files; the row count adds up every file (cheaply). `sampled_from` says where the rows came from."""
    spread = limit if spread is None else spread
    sizes = [max(path.stat().st_size, 1) for path in files]
    rows: list[dict] = []
    locations: list[str] = []
    num_rows, exact, num_bytes, oversized = 0, True, 0, 0
    head_rows = spread_rows = 0
    for index, path in enumerate(files):
        share = round(spread * sizes[index] / sum(sizes)) if spread else 0
        share = max(share, 1) if spread else 0
        head = max(0, limit - head_rows)
        part = sample_file(path, head, share) if head or share else count_rows(path)
        taken = part.get("head_count", len(part["rows"]))
        head_rows += taken
        spread_rows += len(part["rows"]) - taken
        rows += part["rows"]
        where = f"{path.name}: " if len(files) > 1 else ""
        locations += [where + location for location in part["locations"]]
        num_rows += part["num_rows"]
        exact = exact and part["num_rows_exact"]
        oversized += part["oversized"]
        num_bytes += path.stat().st_size
    sampled_from = f"the first {head_rows} rows"
    if spread_rows:
        sampled_from += f" and {spread_rows} rows evenly spaced through the rest"
    return {"rows": rows, "num_rows": num_rows, "num_rows_exact": exact, "num_bytes": num_bytes,
            "files": [str(p) for p in files], "locations": locations, "sampled_from": sampled_from,
            "oversized_rows": oversized, "row_byte_cap": ROW_BYTE_CAP}


def count_rows(path: Path) -> dict[str, Any]:
    """Row count of a file not sampled: exact for parquet/arrow (metadata), estimated from a small sample otherwise."""
    part = sample_file(path, 1 if file_format(path) in ("parquet", "arrow") else 50)
    return {"rows": [], "locations": [], "oversized": part["oversized"], "num_rows": part["num_rows"],
            "num_rows_exact": part["num_rows_exact"]}


# --- text formats ----------------------------------------------------------------------------------------------


def _estimate(size: int, rows: int, bytes_read: int, reached_end: bool) -> tuple[int, bool]:
    if reached_end or rows == 0:
        return rows, True
    return max(rows, round(size * rows / max(bytes_read, 1))), False


def _read_line(handle: Any) -> tuple[bytes | None, int, bool]:
    """The next line, never holding more than ROW_BYTE_CAP bytes: (line, or None at the end; bytes consumed;
    whether it was over the cap, in which case the rest of it was skipped and b"" is returned)."""
    line = handle.readline(ROW_BYTE_CAP + 1)
    if not line:
        return None, 0, False
    consumed = len(line)
    if len(line) > ROW_BYTE_CAP and not line.endswith(b"\n"):
        while True:
            more = handle.readline(_CHUNK)
            consumed += len(more)
            if not more or more.endswith(b"\n"):
                return b"", consumed, True
    return line, consumed, False


def _spread_offsets(start: int, size: int, count: int) -> list[int]:
    """`count` byte offsets evenly spaced from `start` (the end of the head) to the end of the file."""
    if count <= 0 or start >= size:
        return []
    return sorted({start + (size - start) * i // count for i in range(count)})


def _line_at(handle: Any, offset: int) -> tuple[int, bytes | None, bool]:
    """The first whole line starting at or after `offset`: (its start, the line or None, oversized)."""
    if offset > 0:
        handle.seek(offset - 1)
        if handle.read(1) != b"\n":
            _read_line(handle)  # the rest of the line the offset fell into
    start = handle.tell()
    line, _consumed, over = _read_line(handle)
    return start, line, over


def _json_object_line(line: bytes, where: str, path: Path) -> dict:
    try:
        row = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, ValueError) as exc:
        raise DatasetFileError(f"{where} of {path} is not valid JSON ({str(exc)[:200]}). Fix or remove that line; "
                               "each line of a JSONL file must be one JSON object.") from None
    if not isinstance(row, dict):
        raise DatasetFileError(f"{where} of {path} is a JSON {type(row).__name__}, not an object. "
                               "Each line of a JSONL file must be one JSON object ({\"column\": value, ...}).")
    return row


def _sample_jsonl(path: Path, limit: int, spread: int = 0) -> dict[str, Any]:
    rows: list[dict] = []
    locations: list[str] = []
    bytes_read = oversized = number = 0
    size = path.stat().st_size
    with path.open("rb") as handle:
        while len(rows) < limit:
            line, consumed, over = _read_line(handle)
            if line is None:
                break
            number += 1
            bytes_read += consumed
            if over:
                oversized += 1
                continue
            if line.strip():
                rows.append(_json_object_line(line, f"Line {number}", path))
                locations.append(f"line {number}")
        head_end = handle.tell()
        reached_end = head_end >= size
        head_count = len(rows)
        seen: set[int] = set()
        for offset in _spread_offsets(head_end, size, spread):
            start, line, over = _line_at(handle, offset)
            if start in seen or line is None:
                continue
            seen.add(start)
            if over:
                oversized += 1
            elif line.strip():
                rows.append(_json_object_line(line, f"The line at byte {start}", path))
                locations.append(f"byte {start}")
    num_rows, exact = _estimate(size, head_count, bytes_read, reached_end)
    return {"rows": rows, "num_rows": num_rows, "num_rows_exact": exact, "locations": locations,
            "head_count": head_count, "oversized": oversized}


def _sample_json(path: Path, limit: int, spread: int = 0) -> dict[str, Any]:
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
        except (json.JSONDecodeError, RecursionError):
            return _sample_json_object(path, limit, spread)
        # One line holding {"data": [rows]} is the object form; anything else starting with an object is JSON Lines.
        if rest.strip() or not _row_lists(first):
            return _sample_jsonl(path, limit, spread)
        return _sample_json_object(path, limit, spread)
    if text[0] != "[":
        raise DatasetFileError(f"{path} is neither a JSON array nor JSON Lines (it starts with {text[:20]!r}).")
    return _sample_json_array(path, limit, spread)


def _sample_json_array(path: Path, limit: int, spread: int = 0) -> dict[str, Any]:
    decoder = json.JSONDecoder()
    rows: list[dict] = []
    size = path.stat().st_size
    oversized = 0
    with path.open("rb") as handle:
        buffer = handle.read(_CHUNK).decode("utf-8", errors="replace")
        position = buffer.index("[") + 1
        lines_before = 0
        total_chars = len(buffer)
        reached_end = False
        while len(rows) < limit:
            while position < len(buffer) and buffer[position] in " \t\r\n,":
                position += 1
            if position < len(buffer) and buffer[position] == "]":
                reached_end = True
                break
            try:
                row, end = decoder.raw_decode(buffer, position)
            except RecursionError:
                raise DatasetFileError(f"Element {len(rows) + 1} of the JSON array in {path} is nested too deeply "
                                       "to read.") from None
            except json.JSONDecodeError as exc:
                if len(buffer) - position > ROW_BYTE_CAP:
                    raise DatasetFileError(f"Element {len(rows) + 1} of the JSON array in {path} is longer than "
                                           f"{describe_size(ROW_BYTE_CAP)} (or not valid JSON); rows are read up to "
                                           "that size. Save the data as JSON Lines.") from None
                more = handle.read(_CHUNK).decode("utf-8", errors="replace")
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
        head_count = len(rows)
        head_end = min(size, total_chars - (len(buffer) - position))  # characters stand in for bytes here
        locations = [f"element {i + 1}" for i in range(head_count)]
        if not reached_end and rows:
            keys = set(rows[0])
            for offset in _spread_offsets(head_end, size, spread):
                found = _json_element_at(handle, offset, decoder, keys)
                if found is not None:
                    rows.append(found[1])
                    locations.append(f"byte {found[0]}")
    num_rows, exact = _estimate(size, head_count, head_end, reached_end)
    return {"rows": rows, "num_rows": num_rows, "num_rows_exact": exact, "locations": locations,
            "head_count": head_count, "oversized": oversized}


def _json_element_at(handle: Any, offset: int, decoder: json.JSONDecoder, keys: set) -> tuple[int, dict] | None:
    """The first array element (an object sharing a column with the head's rows) that starts after `offset`: a
    '{' right after ',' or '[' is tried as the start of a row, a few times, within ROW_BYTE_CAP bytes."""
    handle.seek(offset)
    window = handle.read(min(_CHUNK, ROW_BYTE_CAP)).decode("utf-8", errors="ignore")
    tries = 0
    index = 0
    while tries < 8:
        index = window.find("{", index)
        if index < 0:
            return None
        before = window[:index].rstrip()
        if before.endswith((",", "[")):
            tries += 1
            while True:
                try:
                    row, _end = decoder.raw_decode(window, index)
                    break
                except (json.JSONDecodeError, RecursionError):
                    if len(window) >= ROW_BYTE_CAP:
                        return None
                    more = handle.read(_CHUNK).decode("utf-8", errors="ignore")
                    if not more:
                        row = None
                        break
                    window += more
            if isinstance(row, dict) and set(row) & keys:
                return offset + len(window[:index].encode("utf-8")), row
        index += 1
    return None


def _sample_json_object(path: Path, limit: int, spread: int = 0) -> dict[str, Any]:
    """`{"data": [...]}`: the whole file must be parsed; refuse big ones rather than pretend it is cheap."""
    if path.stat().st_size > 200 * _CHUNK:
        raise DatasetFileError(f"{path} is one large JSON object; convert it to JSON Lines (one row per line) so it "
                               "can be read in parts.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetFileError(f"{path} is not valid JSON (line {exc.lineno}: {exc.msg}).") from None
    except RecursionError:
        raise DatasetFileError(f"{path} is nested too deeply to read as JSON.") from None
    except UnicodeDecodeError as exc:
        raise DatasetFileError(f"{path} is not UTF-8 text (byte {exc.start}).") from None
    lists = _row_lists(data)
    if len(lists) != 1:
        raise DatasetFileError(f"{path} is a JSON object without exactly one list of rows (found: "
                               f"{', '.join(lists) or 'none'}). Save the rows as JSON Lines.")
    every = data[lists[0]]
    if not all(isinstance(row, dict) for row in every):
        raise DatasetFileError(f"{path}: the list {lists[0]!r} holds items that are not objects.")
    picked = list(range(min(limit, len(every))))
    rest = len(every) - len(picked)
    if spread and rest > 0:
        picked += sorted({len(picked) + rest * i // min(spread, rest) for i in range(min(spread, rest))})
    return {"rows": [every[i] for i in picked], "num_rows": len(every), "num_rows_exact": True,
            "locations": [f"{lists[0]}[{i}]" for i in picked], "head_count": min(limit, len(every))}


def _csv_lines(handle: Any, counter: list[int]) -> Any:
    """Decoded lines for csv.reader, each at most ROW_BYTE_CAP bytes (longer ones are counted in counter[1])."""
    while True:
        line, consumed, over = _read_line(handle)
        if line is None:
            return
        counter[0] += consumed
        if over:
            counter[1] += 1
            continue
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DatasetFileError(f"{handle.name} is not UTF-8 text (a line has byte {line[exc.start]:#x}); "
                                   "save it as UTF-8.") from None


def _sample_csv(path: Path, limit: int, spread: int = 0) -> dict[str, Any]:
    rows: list[dict] = []
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    counter = [0, 0]  # bytes consumed, oversized lines
    size = path.stat().st_size
    csv.field_size_limit(max(csv.field_size_limit(), ROW_BYTE_CAP))  # csv's default stops cells at 128 KB
    with path.open("rb") as handle:
        reader = csv.DictReader(_csv_lines(handle, counter), delimiter=delimiter)
        try:
            for row in reader:
                if None in row:
                    raise DatasetFileError(f"Line {reader.line_num} of {path} has more fields than the header.")
                rows.append(dict(row))
                if len(rows) >= limit:
                    break
        except csv.Error as exc:
            raise DatasetFileError(f"Line {reader.line_num} of {path} is not valid CSV ({exc}).") from None
        head_end = handle.tell()
        reached_end = head_end >= size
        head_count = len(rows)
        locations = [f"row {i + 1}" for i in range(head_count)]
        fields = reader.fieldnames or []
        seen: set[int] = set()
        for offset in _spread_offsets(head_end, size, spread if fields else 0):
            start, line, over = _line_at(handle, offset)
            if start in seen or not line or over:
                counter[1] += int(over and start not in seen)
                seen.add(start)
                continue
            seen.add(start)
            try:
                values = next(csv.reader([line.decode("utf-8", errors="replace")], delimiter=delimiter), None)
            except csv.Error:
                continue  # the offset fell inside a quoted field that spans lines: not a row start
            if values is not None and len(values) == len(fields):
                rows.append(dict(zip(fields, values)))
                locations.append(f"byte {start}")
    num_rows, exact = _estimate(size, head_count, counter[0], reached_end)
    return {"rows": rows, "num_rows": num_rows, "num_rows_exact": exact, "locations": locations,
            "head_count": head_count, "oversized": counter[1]}


# --- columnar formats ------------------------------------------------------------------------------------------


def sample_positions(num_rows: int, limit: int, spread: int) -> tuple[int, list[int]]:
    """(head size, row positions) of a sample of a table with random access: the first `limit` rows, then up to
    `spread` rows evenly spaced through the rest."""
    head = min(limit, num_rows)
    wanted = list(range(head))
    rest = num_rows - head
    if spread and rest > 0:
        wanted += sorted({head + rest * i // min(spread, rest) for i in range(min(spread, rest))})
    return head, wanted


def _sample_parquet(path: Path, limit: int, spread: int = 0) -> dict[str, Any]:
    import pyarrow.parquet as pq  # lazy: only parquet needs it, and the core must start without it

    try:
        # A read buffer instead of pre-buffering makes the first batch read only the first pages, not the whole
        # (possibly GB-sized) row group.
        parquet = pq.ParquetFile(path, buffer_size=1 << 20, pre_buffer=False)
    except (OSError, ValueError) as exc:
        raise DatasetFileError(f"{path} is not a readable parquet file ({exc}).") from None
    meta = parquet.metadata
    num_rows = meta.num_rows
    head, wanted = sample_positions(num_rows, limit, spread)
    rows: list[dict] = []
    locations: list[str] = []
    first = 0
    for group in range(meta.num_row_groups):
        size = meta.row_group(group).num_rows
        inside = [i - first for i in wanted if first <= i < first + size]
        if inside:
            if meta.row_group(group).total_byte_size <= _CHEAP_ROW_GROUP or inside[-1] < len(inside):
                # A small group (or only its first rows): read up to the last row wanted, batch by batch.
                table = _parquet_head(parquet, group, inside[-1] + 1)
                got = table.take(inside).to_pylist()
            else:
                # A big group is read from its start only: its first rows stand in for the ones wanted.
                inside = list(range(len(inside)))
                got = _parquet_head(parquet, group, len(inside)).to_pylist()
            rows += got
            locations += [f"row {first + i + 1}" for i in inside[:len(got)]]
        first += size
    return {"rows": rows, "num_rows": num_rows, "num_rows_exact": True, "locations": locations,
            "head_count": head}


# A row group this big (uncompressed) is not read past its first rows to reach a spread row.
_CHEAP_ROW_GROUP = 64 << 20


def _parquet_head(parquet: Any, group: int, count: int) -> Any:
    """The first `count` rows of one row group, reading its pages only as far as needed."""
    import pyarrow as pa

    batches = []
    got = 0
    for batch in parquet.iter_batches(batch_size=min(count, 1024), row_groups=[group]):
        batches.append(batch)
        got += batch.num_rows
        if got >= count:
            break
    return pa.Table.from_batches(batches).slice(0, count) if batches else pa.table({})


def _sample_arrow(path: Path, limit: int, spread: int = 0) -> dict[str, Any]:
    import pyarrow as pa  # lazy: see _sample_parquet

    source = pa.memory_map(str(path), "r")
    try:
        # The IPC file format (Feather v2) has a footer that indexes its batches; datasets' cache files are streams.
        try:
            reader = pa.ipc.open_file(source)
            batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]
        except pa.ArrowInvalid:
            source.seek(0)
            batches = list(pa.ipc.open_stream(source))
        # Memory-mapped batches are zero-copy: listing them touches headers only.
        num_rows = sum(batch.num_rows for batch in batches)
        head, wanted = sample_positions(num_rows, limit, spread)
        rows: list[dict] = []
        first = 0
        for batch in batches:
            inside = [i - first for i in wanted if first <= i < first + batch.num_rows]
            if inside:
                rows += batch.take(pa.array(inside)).to_pylist()
            first += batch.num_rows
    except pa.ArrowInvalid as exc:
        raise DatasetFileError(f"{path} is not a readable Arrow IPC file or stream ({exc}).") from None
    finally:
        source.close()
    return {"rows": rows, "num_rows": num_rows, "num_rows_exact": True,
            "locations": [f"row {i + 1}" for i in wanted], "head_count": head}


def describe_size(num_bytes: float) -> str:
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
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


DEFAULT_VIEWER_URL = "https://datasets-server.huggingface.co"
# /rows serves at most 100 rows per request.
PAGE = 100
# Rows past the head are read from this many evenly spaced offsets (one request each).
SPREAD_WINDOWS = 5


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


def choose_split(splits: list[dict], dataset: str, config: str | None, split: str | None,
                 method: str | None = None) -> tuple[str, str]:
    """The (config, split) to read: the requested ones, else "default" (or the first config) and the split `method`
    trains on (runtime/splits.train_split: train_prefs for DPO on ultrafeedback_binarized, else train, else the
    first). Raises ViewerError naming what exists when the request does not."""
    if not splits:
        raise ViewerError(f"The dataset viewer lists no splits for {dataset!r} (it may still be processing).", 404)
    configs = list(dict.fromkeys(item["config"] for item in splits))
    if config is None:
        config = "default" if "default" in configs else configs[0]
    elif config not in configs:
        raise ViewerError(f"{dataset!r} has no config {config!r}; its configs: {', '.join(configs)}.", 404)
    names = [item["split"] for item in splits if item["config"] == config]
    if split is None:
        split = train_split(names, method) or "train"
    elif split not in names:
        raise ViewerError(f"{dataset!r} (config {config!r}) has no split {split!r}; its splits: {', '.join(names)}.",
                          404)
    return config, split


def sample_hub(viewer: DatasetViewer, dataset: str, config: str | None, split: str | None, limit: int,
               spread: int = 0, method: str | None = None) -> dict:
    """Up to `limit` rows from the start of a Hub split plus up to `spread` rows from a few evenly spaced offsets
    through the rest (one /rows request each), with the split's row count and size from /size. Without a split, the
    one `method` trains on (choose_split); the eval split beside it is reported too."""
    splits = viewer.splits(dataset)
    config, split = choose_split(splits, dataset, config, split, method)
    rows: list[dict] = []
    locations: list[str] = []
    truncated_cells = 0
    total = None
    try:
        while len(rows) < limit:
            page = viewer.rows(dataset, config, split, offset=len(rows), length=min(PAGE, limit - len(rows)))
            got = page.get("rows", [])
            total = page.get("num_rows_total", total)
            locations += [f"row {item.get('row_idx', len(rows) + i) + 1}" for i, item in enumerate(got)]
            rows += [item["row"] for item in got]
            truncated_cells += sum(len(item.get("truncated_cells") or []) for item in got)
            if len(got) == 0 or len(rows) >= page.get("num_rows_total", 0):
                break
        head = len(rows)
        if spread and total and total > head:
            # A few windows, evenly spaced after the head: later rows without reading the split.
            windows = min(SPREAD_WINDOWS, spread, total - head)
            size = max(1, spread // windows)
            for index in range(windows):
                offset = head + (total - head) * index // windows
                page = viewer.rows(dataset, config, split, offset=offset, length=min(PAGE, size, total - offset))
                got = page.get("rows", [])
                locations += [f"row {item.get('row_idx', offset + i) + 1}" for i, item in enumerate(got)]
                rows += [item["row"] for item in got]
                truncated_cells += sum(len(item.get("truncated_cells") or []) for item in got)
    except ViewerError as exc:
        # /rows needs the parquet export; /first-rows works for every dataset the viewer can preview.
        if exc.status is None or exc.status < 500:
            raise
        page = viewer.first_rows(dataset, config, split)
        got = page.get("rows", [])[:limit]
        rows = [item["row"] for item in got]
        locations = [f"row {i + 1}" for i in range(len(rows))]
        head = len(rows)
        truncated_cells = sum(len(item.get("truncated_cells") or []) for item in got)
    num_rows, num_bytes = None, None
    try:
        size_info = viewer.size(dataset).get("size", {})
    except ViewerError as exc:
        if exc.status in (401, 403, 404):
            raise
        size_info = {}  # a size still being computed only costs us the row count
    for item in size_info.get("splits", []):
        if item.get("config") == config and item.get("split") == split:
            num_rows, num_bytes = item.get("num_rows"), item.get("num_bytes_parquet_files")
    sampled_from = f"the first {head} rows"
    if len(rows) > head:
        windows = min(SPREAD_WINDOWS, len(rows) - head)
        sampled_from += f" and {len(rows) - head} rows from {windows} evenly spaced offsets"
    return {
        "rows": rows,
        "num_rows": num_rows,
        "num_rows_exact": num_rows is not None,
        "num_bytes": num_bytes,
        "config": config,
        "split": split,
        "configs": list(dict.fromkeys(item["config"] for item in splits)),
        "splits": [item["split"] for item in splits if item["config"] == config],
        "eval_split": eval_split([item["split"] for item in splits if item["config"] == config], split),
        "truncated_cells": truncated_cells,
        "locations": locations,
        "sampled_from": sampled_from,
    }


def hub_reachable(endpoint: str, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the Hub endpoint's host opens within `timeout` seconds (name lookup included).

    huggingface_hub retries an unreachable Hub for about 50 s before giving up on a file it has not cached; this
    probe lets a caller go straight to the local cache (local_files_only) and say in a few seconds what is wrong."""
    parsed = urllib.parse.urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    host = parsed.hostname
    if not host:
        return False
    port = parsed.port or (80 if parsed.scheme == "http" else 443)
    result = [False]

    def connect() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result[0] = True
        except OSError:
            pass

    # A thread, because name lookup (getaddrinfo) ignores socket timeouts and can hang on a broken resolver.
    worker = threading.Thread(target=connect, daemon=True)
    worker.start()
    worker.join(timeout)
    return result[0]
# ===== end of generated runtime =====


if __name__ == "__main__":
    arguments = parse_args()
    try:
        sys.exit(main(arguments))
    except ScriptError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
