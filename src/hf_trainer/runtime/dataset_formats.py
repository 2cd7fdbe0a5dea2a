"""Which TRL format a sample of rows is in, whether each trainer can use it, and what to run to make it usable.

Pure standard library (no hf_trainer imports) so scripts/inspect_dataset.py can inline it verbatim; everything it
needs from elsewhere (the named mappings, a tokenizer) is passed in. Results are plain JSON-able dicts; the library
wraps them in pydantic models (dataset_inspect.py) and the script prints them as they are.

The rules: `detect_row`, `check_rows`, `method_verdict` (what the training scripts check at load) and the chat
templates. The whole inspection report over them is runtime/dataset_report.py.
"""

import json
from typing import Any, Callable

from .mappings import TRL_COLUMNS
from .image_rows import rows_have_images, text_script_image_verdict
from .vocabulary import METHODS

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
