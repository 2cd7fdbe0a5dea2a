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
