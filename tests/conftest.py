"""Shared fixtures: an isolated environment for every test, and tiny models built offline once per session."""

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# One conftest for the whole suite (two would both be importable as `conftest`): tests/scripts/helpers.py is
# importable as `helpers`, tests/fakes as `fakes`.
sys.path.insert(0, str(Path(__file__).parent / "scripts"))
SCRIPTS = REPO_ROOT / "scripts"
# A canary token: tests assert it never appears in any output, log or generated file.
# Built from parts so that no token-shaped string is committed (scanners would flag it); the value is token-shaped.
CANARY_TOKEN = "hf_" + "CanaryTokenDoNotLeak" + "0123456789abcdefXYZ"


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every cache and state folder at tmp_path and set a fake token, so no test touches real ones."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("TRACKIO_DIR", str(home / "trackio"))
    monkeypatch.setenv("HF_TRAINER_HOME", str(home / "hf-trainer"))
    monkeypatch.setenv("HF_TOKEN", CANARY_TOKEN)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    monkeypatch.delenv("JOB_ID", raising=False)
    for name in ("HF_TRAINER_BUDGET_USD", "HF_TRAINER_BUDGET_PERIOD", "HF_TRAINER_BUDGET_START"):
        monkeypatch.delenv(name, raising=False)  # a person's budget must not refuse the suite's jobs
    # A server started in this process (the HTTP transport tests) holds the strictest budget it saw for the life of
    # the process, as it should; each test starts as a fresh process would.
    from hf_trainer import budget

    monkeypatch.setattr(budget, "_held", [])
    monkeypatch.setattr(budget, "_holding", [])
    return home


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama (hidden 64, 2 layers) with a chat-template tokenizer, saved in a folder."""
    from hf_trainer.tiny import build_model

    return build_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_model_256(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama with hidden size 256 (GGUF K-quants need rows that are multiples of 256)."""
    from hf_trainer.tiny import build_model

    return build_model(tmp_path_factory.mktemp("tiny-llama-256"), hidden_size=256, intermediate_size=512)


@pytest.fixture
def python_exe() -> str:
    """The interpreter of the test venv: scripts run with it (uv would resolve a CUDA torch here)."""
    return sys.executable


def script_env(**extra: str) -> dict[str, str]:
    """Environment for running a bundled script in a subprocess: the test's isolated env plus extras."""
    env = dict(os.environ)
    env.update(extra)
    return env


# The fake Hub (tests/fakes/fake_hub.py) is a fixture for every test: `fake_hub`. Imported last: it reads CANARY_TOKEN.
from fakes.fake_hub import fake_hub  # noqa: E402,F401
