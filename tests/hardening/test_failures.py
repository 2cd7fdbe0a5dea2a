"""failures.named_error: what slipped past every function still reaches the caller named, never masked or leaking."""

import errno
import sqlite3

import pytest

from conftest import CANARY_TOKEN
from hf_trainer.errors import UserError
from hf_trainer.failures import named_error


@pytest.mark.parametrize("exc, words", [
    (RecursionError("maximum recursion depth exceeded"), "nested too deeply"),
    (MemoryError(), "too large"),
    (OverflowError("int too large to convert to float"), "too large"),
    (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), "UTF-8"),
    (sqlite3.OperationalError("database or disk is full"), "job store"),
    (OSError(errno.ENAMETOOLONG, "File name too long"), "too long"),
    (OSError(errno.ENOSPC, "No space left on device"), "disk is full"),
    (KeyError("x"), "bug in hf-trainer"),  # anything else: said to be a bug, with its type
])
def test_unexpected_exceptions_become_named_errors(exc: BaseException, words: str):
    error = named_error(exc, "dataset_inspect")
    assert isinstance(error, UserError) and words in str(error) and type(exc).__name__ in str(error)
    assert str(error).startswith("dataset_inspect")


def test_the_exception_text_is_redacted_and_bounded():
    error = named_error(ValueError(f"token {CANARY_TOKEN} " + "x" * 10_000), "hf_jobs")
    assert CANARY_TOKEN not in str(error) and len(str(error)) < 600


def test_a_user_error_passes_unchanged():
    original = UserError("already named")
    assert named_error(original, "train") is original
