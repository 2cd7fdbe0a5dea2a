"""Tokens and secrets: where the caller's token comes from, how "$HF_TOKEN" reaches a job, and redaction.

Rules every backend and front end follows:
- The caller's token only ever travels as a job *secret*. `"$HF_TOKEN"` or `"${HF_TOKEN}"` as a value in `secrets`
  becomes the token; the same reference in `env` is moved to `secrets` (env values are shown in the job's spec).
- A literal token in `env` is refused, pointing at `secrets`.
- Every text we return (logs, inspect, errors) goes through a `Redactor` holding every secret value and the caller's
  token, so none of them is ever shown.
"""

import os
import re
from typing import Any, Iterable, Mapping, TypeVar

from pydantic import BaseModel

from hf_trainer.errors import UserError

TOKEN_REFERENCES = frozenset({"$HF_TOKEN", "${HF_TOKEN}"})
REDACTED = "***"
# Shorter values ("1", "true", "main") occur everywhere in normal text: redacting them would mangle output and
# hide nothing worth hiding.
MIN_REDACTED_LENGTH = 8
# A Hugging Face token has this shape; one met anywhere in output is redacted even when we were not told about it.
_TOKEN_SHAPE = re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")

M = TypeVar("M", bound=BaseModel)


def caller_token() -> str | None:
    """The caller's token: HF_TOKEN, else the one `hf auth login` stored; None when there is none."""
    token = os.environ.get("HF_TOKEN", "").strip()
    if token:
        return token
    # huggingface_hub also reads HF_HOME's stored token (and OIDC/Colab); import here to keep start-up light.
    from huggingface_hub import get_token

    return get_token() or None


def _is_token_reference(value: str) -> bool:
    return value.strip() in TOKEN_REFERENCES


def looks_like_token(value: str, token: str | None = None) -> bool:
    """True when `value` is (or holds) the caller's token or any Hugging Face token."""
    return bool((token and token in value) or _TOKEN_SHAPE.search(value))


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,255}$")


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 20]}... ({len(text)} characters)"


def _check_name(where: str, key: object) -> None:
    """An environment variable's name: letters, digits and '_' (no '=', NUL or blank, which the OS cannot take)."""
    if not isinstance(key, str) or not _ENV_NAME.match(key):
        raise UserError(f"{where} name {_short(key)} is not a valid environment variable name: use letters, digits "
                        "and '_' (e.g. 'MY_VAR'), starting with a letter or '_', without '=' or spaces.")


def prepare_env_and_secrets(
    env: Mapping[str, str] | None, secrets: Mapping[str, str] | None, token: str | None
) -> tuple[dict[str, str], dict[str, str]]:
    """Expand "$HF_TOKEN" references and keep every token out of `env`. Returns the (env, secrets) to send.

    UserError when a reference is used but no token is found, or when `env` holds a literal token.
    """
    out_env: dict[str, str] = {}
    out_secrets: dict[str, str] = {}
    for where, values in (("env", env or {}), ("secrets", secrets or {})):
        for key, value in values.items():
            _check_name(where, key)
            if not isinstance(value, str):
                raise UserError(f"{where} {key!r} must be a string, got {_short(value)}. Quote the value.")
            if "\x00" in value:
                raise UserError(f"{where} {key!r} holds a NUL character (\\x00), which no environment variable can "
                                "carry. Remove it.")
            if _is_token_reference(value):
                if not token:
                    raise UserError(
                        f"{where} {key!r} is {value!r}, but no Hugging Face token was found to put there. "
                        "Run 'hf auth login' or set HF_TOKEN, then submit again."
                    )
                # A token is a secret wherever it was asked for: secrets are encrypted, env is displayed.
                out_secrets[key] = token
            elif where == "env" and looks_like_token(value, token):
                raise UserError(
                    f"env {key!r} holds a Hugging Face token in plain text, and env values are visible in the job's "
                    f"spec. Pass it as a secret instead: secrets {{{key!r}: '$HF_TOKEN'}}."
                )
            elif where == "env":
                out_env[key] = value
            else:
                out_secrets[key] = value
    return out_env, out_secrets


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
        return _TOKEN_SHAPE.sub(REDACTED, text)

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
    _TOKEN = re.compile(rb"\bhf_[A-Za-z0-9]{30,}\b")
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


def mcp_auth_token(inline: str | None, token_file: str | None, warn: Any = None) -> str | None:
    """The MCP HTTP bearer token from `--auth-token-file` (first line of the file) or, discouraged, `--auth-token`
    (a command line is visible to every user in the process list: a warning says so). None: the server then reads
    HF_TRAINER_MCP_TOKEN, which only the same user (and root) can read."""
    if inline and token_file:
        raise UserError("Give the MCP auth token once: --auth-token-file PATH (or HF_TRAINER_MCP_TOKEN), not both.")
    if token_file:
        try:
            with open(token_file, encoding="utf-8") as f:
                token = f.readline().strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise UserError(f"Cannot read the MCP auth token file {token_file!r} ({reason}). Write the token on its "
                            "first line (e.g. `openssl rand -hex 32 > FILE; chmod 600 FILE`).") from None
        if len(token) < 16:
            raise UserError(f"The MCP auth token in {token_file!r} is {'empty' if not token else 'too short'}: "
                            "use at least 16 random characters (e.g. `openssl rand -hex 32`).")
        return token
    if inline:
        (warn or _stderr)("warning: --auth-token is visible to every user of this machine in the process list; "
                          "use --auth-token-file PATH or set HF_TRAINER_MCP_TOKEN instead.")
        return inline
    return None


def _stderr(text: str) -> None:
    import sys

    print(text, file=sys.stderr)
