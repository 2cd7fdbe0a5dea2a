"""The last line of defence: an exception that no function turned into a UserError, as a named error.

The MCP SDK shows any exception other than ToolError as "Error executing tool X", with no reason: the person and the
model are left guessing, and retry blindly. Functions raise UserError for what they expect; `named_error` is for the
top level only (the MCP server's tool wrapper, the CLI's main), so that what slipped through still says what kind of
input it choked on and what to do, with secrets redacted. It never hides a bug: the text says it is one.
"""

import errno
import sqlite3
from typing import Callable

from hf_trainer.errors import UserError

# (exception type, what it means for the caller): first match wins, so subclasses come first.
_KINDS: list[tuple[type[BaseException], str]] = [
    (RecursionError, "the input is nested too deeply to process (e.g. JSON or an expression thousands of levels "
                     "deep). Simplify it"),
    (MemoryError, "the input is too large to process in memory. Pass a smaller one (fewer rows, shorter lines)"),
    (OverflowError, "a number in the input is too large. Use a value in the documented range"),
    (UnicodeError, "some text is not valid UTF-8 (or cannot be encoded). Save files as UTF-8 and remove stray bytes"),
    (sqlite3.Error, "the local job store (HF_TRAINER_HOME/jobs.db) could not be used. Check free disk space and "
                    "permissions there, or set HF_TRAINER_HOME to another folder"),
    (TimeoutError, "an operation did not finish in time. Try again; check the network and HF_ENDPOINT"),
]


def named_error(exc: BaseException, tool: str, redact: Callable[[str], str] | None = None) -> UserError:
    """A UserError for `exc`, raised inside `tool` and not anticipated there. `redact` removes secrets from the
    exception's own text (default: the caller's token and any token-shaped text)."""
    if isinstance(exc, UserError):
        return exc
    if redact is None:
        from hf_trainer.redaction import Redactor

        redact = Redactor.for_caller()
    detail = redact(str(exc))[:300]
    shown = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    if isinstance(exc, ValueError) and "null" in str(exc) and ("byte" in str(exc) or "character" in str(exc)):
        # The OS cannot take a NUL (\x00) in a path, an argument or an environment value (os.stat, open, exec).
        return UserError(f"{tool}: a path or argument holds a NUL character (\\x00), which no file name or "
                         "command-line argument can carry. Remove it and try again.")
    if isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:
        return UserError(f"{tool}: a file name or path is too long for the file system ({shown}). Shorten it.")
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return UserError(f"{tool}: the disk is full ({shown}). Free space (or set HF_TRAINER_HOME elsewhere), then "
                         "try again.")
    for kind, meaning in _KINDS:
        if isinstance(exc, kind):
            return UserError(f"{tool} could not finish: {meaning} ({shown}).")
    return UserError(f"{tool} failed unexpectedly ({shown}). This is a bug in hf-trainer, not in your input as far "
                     "as it can tell; please report it with the arguments you passed (without tokens).")
