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
            if not isinstance(value, str):
                raise UserError(f"{where} {key!r} must be a string, got {value!r}. Quote the value.")
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
            if value and len(value) >= self._min_length:
                self._values.add(value)
                # A value with surrounding blanks would also be printed stripped.
                if len(value.strip()) >= self._min_length:
                    self._values.add(value.strip())
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
