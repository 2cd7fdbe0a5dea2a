"""Redaction: every secret value and the caller's token removed from the text we show (logs, inspect, errors).

This module sits at the bottom of the package (errors.py imports it), so it imports nothing of hf_trainer. It also
holds `caller_token()`, the lookup of the caller's token, because the redactor must know the token to hide it;
tokens.py re-exports it beside the rules for how a token reaches a job.
"""

import os
import re
from typing import Any, Iterable, Mapping, TypeVar

from pydantic import BaseModel

REDACTED = "***"
# Every secret of this many characters or more is redacted (a 4-digit PIN included). Shorter values ("1", "on")
# occur everywhere in normal text: redacting them would mangle output and hide nothing, so a secret shorter than this
# is refused where it is given (tokens.prepare_env_and_secrets), with the reason.
MIN_REDACTED_LENGTH = 4
# A Hugging Face token has this shape; one met anywhere in output is redacted even when we were not told about it.
# No word boundaries: a token glued to a word character ("x_hf_...", "hf_...__") is still a token.
TOKEN_SHAPE = re.compile(r"hf_[A-Za-z0-9]{30,}")

M = TypeVar("M", bound=BaseModel)


def caller_token() -> str | None:
    """The caller's token: HF_TOKEN, else the one `hf auth login` stored; None when there is none."""
    token = os.environ.get("HF_TOKEN", "").strip()
    if token:
        return token
    # huggingface_hub also reads HF_HOME's stored token (and OIDC/Colab); import here to keep start-up light.
    from huggingface_hub import get_token

    return get_token() or None


def secret_variants(value: str | None, min_length: int = MIN_REDACTED_LENGTH) -> set[str]:
    """The forms in which a secret value can appear in output: whole, stripped, and - for a multi-line value such as
    a PEM key - each of its lines (printed one by one, or with other line endings). Short forms are left out."""
    if not isinstance(value, str) or not value:
        return set()
    forms = {value, value.strip()}
    if "\n" in value or "\r" in value:
        forms.update(line.strip() for line in re.split(r"[\r\n]+", value))
        forms.add(value.replace("\r\n", "\n").replace("\n", "\r\n"))
    return {form for form in forms if len(form) >= min_length}


class Redactor:
    """Removes secret values and the caller's token from text: longest first, short values left alone."""

    def __init__(self, values: Iterable[str | None] = (), *, min_length: int = MIN_REDACTED_LENGTH) -> None:
        self._min_length = min_length
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(*values)

    @classmethod
    def for_caller(cls, secrets: Mapping[str, str] | None = None) -> "Redactor":
        """A redactor for the caller's token plus the given secret values."""
        return cls([caller_token(), *(secrets or {}).values()])

    def add(self, *values: str | None) -> "Redactor":
        for value in values:
            self._values.update(secret_variants(value, self._min_length))
        # Alternation takes the first branch that matches: longest first, so a secret that contains another is
        # removed whole rather than leaving its remainder behind.
        ordered = sorted(self._values, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None
        return self

    def __call__(self, text: str) -> str:
        if not text:
            return text
        if self._pattern is not None:
            text = self._pattern.sub(REDACTED, text)
        return TOKEN_SHAPE.sub(REDACTED, text)

    def value(self, obj: Any) -> Any:
        """Redact every string inside a JSON-like value (dicts, lists, strings)."""
        if isinstance(obj, str):
            return self(obj)
        if isinstance(obj, dict):
            return {self.value(k): self.value(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.value(v) for v in obj]
        return obj

    def model(self, model: M) -> M:
        """A copy of a pydantic model with every string field redacted."""
        return type(model).model_validate(self.value(model.model_dump(mode="python")))


class StreamRedactor:
    """Redacts a byte stream as it flows (a job's output on its way to log.txt), before it is split into lines: a
    multi-line secret is removed whole, and a secret cut across two reads is still found. Bytes that could be the
    start of a secret (or of a Hugging Face token) are held back until the next read or `flush()`."""

    _TOKEN_TAIL = re.compile(rb"hf_[A-Za-z0-9]*\Z|hf?\Z")
    _TOKEN = re.compile(TOKEN_SHAPE.pattern.encode())
    # A token-shaped run longer than this is redacted without waiting for its end.
    _MAX_TOKEN_HOLD = 256

    def __init__(self, values: Iterable[str | None] = (), *, min_length: int = MIN_REDACTED_LENGTH) -> None:
        forms: set[str] = set()
        for value in values:
            forms |= secret_variants(value, min_length)
        self._secrets = sorted({form.encode("utf-8") for form in forms}, key=len, reverse=True)
        self._pattern = re.compile(b"|".join(re.escape(v) for v in self._secrets)) if self._secrets else None
        self._first_bytes = {v[:1] for v in self._secrets}
        self._longest = max((len(v) for v in self._secrets), default=0)
        self._held = b""

    def _redact_secrets(self, data: bytes) -> bytes:
        return self._pattern.sub(REDACTED.encode(), data) if self._pattern is not None else data

    def _hold_from(self, data: bytes) -> int:
        """The first index from which `data` could still grow into a secret or a token."""
        hold = len(data)
        for start in range(max(0, len(data) - self._longest + 1), len(data)):
            if data[start:start + 1] in self._first_bytes and any(v.startswith(data[start:]) for v in self._secrets):
                hold = start
                break
        tail = self._TOKEN_TAIL.search(data, max(0, hold - self._MAX_TOKEN_HOLD))
        if tail is not None and tail.start() < hold:
            hold = tail.start()
        elif hold < len(data) and data[hold:hold + 1].isalnum():
            # Held inside a token-shaped run: hold the whole run, or its start would be cut off and redacted alone.
            run = re.search(rb"hf_[A-Za-z0-9]*\Z", data[:hold])
            if run is not None and hold - run.start() <= self._MAX_TOKEN_HOLD:
                hold = run.start()
        return hold

    def feed(self, data: bytes) -> bytes:
        """The redacted bytes that are safe to write now."""
        buffer = self._redact_secrets(self._held + data)
        hold = self._hold_from(buffer)
        self._held = buffer[hold:]
        return self._TOKEN.sub(REDACTED.encode(), buffer[:hold])

    def flush(self) -> bytes:
        """Whatever is still held (the stream has ended), redacted."""
        out = self._TOKEN.sub(REDACTED.encode(), self._redact_secrets(self._held))
        self._held = b""
        return out
