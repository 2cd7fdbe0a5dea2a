"""The one error type users see, and the one function that makes it from whatever a call raised.

Library functions raise `UserError` with text that states the fact, quotes the bad value and names the next action.
`to_user_error` is the single place where an expected failure (a UserError, or pydantic refusing arguments) becomes
the text a person reads, with the caller's token and the call's secrets redacted: the MCP server turns the result
into a ToolError and the CLI prints it and exits 2, so both say exactly the same thing and no traceback ever reaches
a person.
"""

import difflib
from typing import Any, Callable, Iterable, Mapping, overload

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from hf_trainer.redaction import Redactor


class UserError(Exception):
    """A failure the caller can fix; its message is shown as it is."""


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, sorted(choices), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:199] + "…"


def _message(error: ErrorDetails) -> str:
    """pydantic's message for one error, in this project's words (what the value must be)."""
    kind, ctx = error.get("type"), error.get("ctx") or {}
    words: dict[str, Callable[[], str]] = {
        "greater_than_equal": lambda: f"must be at least {ctx.get('ge')}",
        "less_than_equal": lambda: f"must be at most {ctx.get('le')}",
        "greater_than": lambda: f"must be more than {ctx.get('gt')}",
        "less_than": lambda: f"must be less than {ctx.get('lt')}",
        "int_parsing": lambda: "must be a whole number",
        "int_type": lambda: "must be a whole number",
        "int_from_float": lambda: "must be a whole number",
        "float_parsing": lambda: "must be a number",
        "float_type": lambda: "must be a number",
        "finite_number": lambda: "must be a finite number",
        "bool_parsing": lambda: "must be true or false",
        "bool_type": lambda: "must be true or false",
        "string_type": lambda: "must be a string",
        "list_type": lambda: "must be a list",
        "dict_type": lambda: "must be an object",
        "literal_error": lambda: f"must be {ctx.get('expected')}",
        "enum": lambda: f"must be {ctx.get('expected')}",
        "string_too_short": lambda: f"must have at least {ctx.get('min_length')} character(s)",
        "string_too_long": lambda: f"must have at most {ctx.get('max_length')} characters",
        "too_short": lambda: f"must have at least {ctx.get('min_length')} item(s)",
        "too_long": lambda: f"must have at most {ctx.get('max_length')} items",
    }
    if kind in words:
        return words[kind]()
    return str(error.get("msg", "is not valid")).removeprefix("Value error, ")


def validation_text(exc: ValidationError, what: str = "", accepted: Iterable[str] = ()) -> str:
    """pydantic's complaints as sentences: the argument, the value given, what is accepted."""
    accepted = sorted(accepted)
    prefix = f"{what}: " if what else ""
    problems = []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ()) if not isinstance(p, int)]
        # Union members add their type name to the path (job_id.str, job_id.list[...]): the argument is the first.
        name = loc[0] if loc else ""
        message = _message(error)
        kind = error.get("type")
        if kind == "extra_forbidden":
            listed = ", ".join(accepted) or "none"
            problems.append(f"{what or 'this call'} does not take the argument {name!r}.{did_you_mean(name, accepted)}"
                            f" It accepts: {listed}.")
        elif kind == "missing":
            problems.append(f"{what + ' needs' if what else 'missing:'} {name}.")
        elif not name:
            problems.append(f"{message}".rstrip(".") + ".")
        else:
            value = error.get("input")
            problems.append(f"{prefix}{name} {_short(value)} {message}".rstrip(".") + ".")
    # One union can fail once per member with the same argument: say each thing once.
    return " ".join(dict.fromkeys(problems))


@overload
def to_user_error(exc: UserError | ValidationError, *, what: str = "", accepted: Iterable[str] = (),
                  secrets: Mapping[str, str] | None = None) -> UserError: ...


@overload
def to_user_error(exc: BaseException, *, what: str = "", accepted: Iterable[str] = (),
                  secrets: Mapping[str, str] | None = None) -> UserError | None: ...


def to_user_error(exc: BaseException, *, what: str = "", accepted: Iterable[str] = (),
                  secrets: Mapping[str, str] | None = None) -> UserError | None:
    """The UserError (redacted) for an expected failure; None for anything else, which stays a bug to fix."""
    if isinstance(exc, UserError):
        text = str(exc)
    elif isinstance(exc, ValidationError):
        text = validation_text(exc, what, accepted)
    else:
        return None
    return UserError(Redactor.for_caller(secrets)(text))
