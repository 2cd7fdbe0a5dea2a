"""Tokens: where the caller's token comes from, how "$HF_TOKEN" reaches a job, and the MCP server's bearer token.

Rules every backend and front end follows:
- The caller's token only ever travels as a job *secret*. `"$HF_TOKEN"` or `"${HF_TOKEN}"` as a value in `secrets`
  becomes the token; the same reference in `env` is moved to `secrets` (env values are shown in the job's spec).
- A literal token in `env` is refused, pointing at `secrets`.
- A token in any other field of a job request (labels, dependencies, launcher, image, volumes, namespace, env and
  secret names, script, arguments, command) is refused by `request_token_fields` / `refuse_tokens_in_request`, which
  the submit pipeline runs on every route; `force` never passes it.
- A secret value shorter than `MIN_REDACTED_LENGTH` (4) is refused: it could not be redacted from output.
- Every text we return goes through a `hf_trainer.redaction.Redactor`, so no secret is ever shown.
"""

import re
from typing import Any, Mapping

from hf_trainer.errors import UserError
from hf_trainer.redaction import MIN_REDACTED_LENGTH, TOKEN_SHAPE, caller_token

__all__ = ["TOKEN_REFERENCES", "caller_token", "looks_like_token", "mcp_auth_token", "prepare_env_and_secrets",
           "refuse_tokens_in_request", "request_token_fields"]

TOKEN_REFERENCES = frozenset({"$HF_TOKEN", "${HF_TOKEN}"})


def _is_token_reference(value: str) -> bool:
    return value.strip() in TOKEN_REFERENCES


def looks_like_token(value: str, token: str | None = None) -> bool:
    """True when `value` is (or holds) the caller's token or any Hugging Face token, wherever it sits in the text
    (glued to other word characters too: "x_hf_...")."""
    return bool((token and token in value) or TOKEN_SHAPE.search(value))


def _walk(value: Any, where: str, found: list[str], token: str | None) -> None:
    if isinstance(value, str):
        if looks_like_token(value, token):
            found.append(where)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            name = f"{where}[{key!r}]" if isinstance(key, str) and not looks_like_token(key, token) else where
            if isinstance(key, str) and looks_like_token(key, token):
                found.append(f"a name in {where}")
            _walk(item, name, found, token)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for i, item in enumerate(value):
            _walk(item, f"{where}[{i}]", found, token)


def request_token_fields(request: Any, *, token: str | None = None, skip: frozenset[str] = frozenset()) -> list[str]:
    """The fields of a job request (a pydantic model or a dict) that hold the caller's token or any Hugging Face
    token: every field, nested values and names included. Only the *values* of `secrets` may hold one (that is where
    a token belongs), and an env value that is a "$HF_TOKEN" reference (it is moved to secrets). `skip`: field names
    the caller checks itself. `token` defaults to the caller's token."""
    data = request.model_dump(mode="python") if hasattr(request, "model_dump") else dict(request)
    token = token if token is not None else caller_token()
    found: list[str] = []
    for name, value in data.items():
        if name in skip:
            continue
        if name == "secrets" and isinstance(value, Mapping):
            _walk(dict.fromkeys(value, ""), "secrets", found, token)
        elif name == "env" and isinstance(value, Mapping):
            _walk({k: "" if isinstance(v, str) and _is_token_reference(v) else v for k, v in value.items()}, "env",
                  found, token)
        else:
            _walk(value, name, found, token)
    return list(dict.fromkeys(found))


def refuse_tokens_in_request(request: Any, *, token: str | None = None) -> None:
    """UserError naming every field of the request that holds a token (never the token). Job fields other than
    secrets are stored and shown in the job's spec and page, so no flag overrides this."""
    fields = request_token_fields(request, token=token)
    if fields:
        raise UserError(f"Not submitted: {', '.join(fields)} hold{'s' if len(fields) == 1 else ''} a Hugging Face "
                        "token in plain text, and every field of a job except its secrets is stored and shown in "
                        "the job's spec. Remove it and pass the token as a secret instead: secrets "
                        "{\"HF_TOKEN\": \"$HF_TOKEN\"}, read inside the job from the environment. (force does not "
                        "override this.)")


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
            elif 0 < len(value.strip()) < MIN_REDACTED_LENGTH:
                raise UserError(
                    f"secrets {key!r} is {len(value.strip())} character(s) long: secrets shorter than "
                    f"{MIN_REDACTED_LENGTH} characters are refused, because they cannot be redacted from logs and "
                    "results without hiding ordinary text (a 1 or 'on' anywhere). Use a longer value, or pass a "
                    "value that is not secret in env.")
            else:
                out_secrets[key] = value
    return out_env, out_secrets


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
