"""The type checker runs with the tests (issue 33): mypy over the package, configured in pyproject.toml (strict where
money and secrets move, lenient in runtime/). A new error, or a `type: ignore` that no longer ignores anything or
names no code, fails here with mypy's own report."""

import subprocess
import sys

from conftest import REPO_ROOT


def test_mypy_finds_no_errors_in_the_package() -> None:
    done = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary", "--hide-error-context"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert done.returncode == 0 and not errors, "\n".join(errors[:60]) or done.stdout[-3000:] + done.stderr[-3000:]
