"""Running bundled scripts in tests: the test venv's interpreter (uv would resolve a CUDA torch here)."""

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def run_script(name: str, *args: str, cwd: Path | None = None, timeout: float = 300,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run scripts/<name> with the given arguments; capture text output."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, str(SCRIPTS / name), *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def json_summary(result: subprocess.CompletedProcess) -> dict:
    """The last stdout line of a `--json` run, parsed; fails the test with the output when the run failed."""
    assert result.returncode == 0, f"exit {result.returncode}\nSTDOUT:\n{result.stdout[-3000:]}\nSTDERR:\n{result.stderr[-3000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def trackio_logs(project: str, run: str) -> list[dict]:
    """A run's metrics read back from trackio's own store in this test's TRACKIO_DIR.

    trackio fixes its folder when first imported, which an earlier test may have done with another TRACKIO_DIR.
    """
    from unittest import mock

    from trackio import sqlite_storage

    with mock.patch.object(sqlite_storage, "TRACKIO_DIR", Path(os.environ["TRACKIO_DIR"])):
        return sqlite_storage.SQLiteStorage.get_logs(project=project, run=run)


def sigkill_after_checkpoint(args: list[str], output_dir: Path, step: int, timeout: float = 240) -> list[int]:
    """Start a training run, SIGKILL it once checkpoint-<step> is complete, and return the steps of the complete
    checkpoints it left (the run may have gone past `step` before the signal landed)."""
    import signal
    import time

    run = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + timeout
    while not (output_dir / f"checkpoint-{step}" / "trainer_state.json").exists():
        assert run.poll() is None, f"the run ended before checkpoint-{step}:\n{run.stdout.read()[-3000:]}"
        assert time.time() < deadline, f"checkpoint-{step} did not appear within {timeout}s"
        time.sleep(0.05)
    run.send_signal(signal.SIGKILL)
    run.wait()
    return sorted(int(p.name.split("-")[1]) for p in output_dir.glob("checkpoint-*")
                  if (p / "trainer_state.json").exists())
