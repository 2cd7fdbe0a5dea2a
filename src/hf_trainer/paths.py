"""Where hf-trainer keeps its state and finds its bundled scripts."""

import os
from pathlib import Path

from hf_trainer.errors import UserError

# The repository root in a source checkout (src/hf_trainer/paths.py -> ../../).
_REPO_ROOT = Path(__file__).resolve().parents[2]


def private_dir(path: Path) -> Path:
    """`path` as a folder only its owner can enter (0700): job records, logs and script copies live below it, and
    they may hold what a job printed. A folder of ours that is wider is narrowed; someone else's is left alone."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_mode & 0o077 and info.st_uid == os.getuid():
        path.chmod(0o700)
    return path


def home() -> Path:
    """The tool's own state folder: `HF_TRAINER_HOME`, default `~/.cache/hf-trainer`. Created on first use, 0700."""
    return private_dir(Path(os.environ.get("HF_TRAINER_HOME") or Path.home() / ".cache" / "hf-trainer"))


def scripts_dir() -> Path:
    """The bundled PEP 723 scripts (train_sft.py, ...)."""
    path = Path(os.environ.get("HF_TRAINER_SCRIPTS") or _REPO_ROOT / "scripts")
    if not (path / "train_sft.py").is_file():
        raise UserError(
            f"The bundled training scripts were not found in {path}. Install hf-trainer from its source checkout "
            "(pip install -e .) or set HF_TRAINER_SCRIPTS to the folder that holds train_sft.py."
        )
    return path


def bundled_script(name: str) -> Path:
    """Path of one bundled script, e.g. `bundled_script("train_sft.py")`."""
    path = scripts_dir() / name
    if not path.is_file():
        available = ", ".join(sorted(p.name for p in scripts_dir().glob("*.py")))
        raise UserError(f"No bundled script named {name!r}. Available: {available}.")
    return path
