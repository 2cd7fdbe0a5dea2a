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
