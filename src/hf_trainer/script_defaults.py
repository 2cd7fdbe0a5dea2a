"""The defaults of the bundled training scripts, read from their own argument parsers: the one source for them.

`script_defaults("train_sft.py")` loads the script file as a module under a name that is not `__main__` (so its
`main()` does not run; the scripts import torch, transformers and TRL only inside `main`), calls its `build_parser()`
and returns `{dest: default}` for every option. The estimator, `train` and the docs read defaults from here instead of
keeping their own copies, so a changed default in a script changes them all (tests/test_script_defaults.py fails
when a copy that must stay, like the standalone estimate_cost.py's table, drifts).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from functools import lru_cache
from pathlib import Path
from types import ModuleType

from hf_trainer import paths
from hf_trainer.bundled_scripts import METHOD_SCRIPTS
from hf_trainer.errors import UserError



def load_script_module(script_name: str) -> ModuleType:
    """The bundled script `script_name` executed as a module named `_hf_trainer_script_<stem>` (not `__main__`)."""
    return _load(str(paths.bundled_script(script_name)))


@lru_cache(maxsize=None)
def _load(path: str) -> ModuleType:
    name = f"_hf_trainer_script_{Path(path).stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UserError(f"{path} cannot be loaded as a Python module.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and typing look their module up by name while the file executes
    try:
        spec.loader.exec_module(module)
    except Exception:
        sys.modules.pop(name, None)
        raise
    return module


def build_parser(script_name: str) -> argparse.ArgumentParser:
    """A fresh copy of the script's own argument parser (its `build_parser()`, which every bundled script has)."""
    return _build_parser(str(paths.bundled_script(script_name)))


def _build_parser(path: str) -> argparse.ArgumentParser:
    module = _load(path)
    if not callable(getattr(module, "build_parser", None)):
        raise UserError(f"{Path(path).name} has no build_parser(): its defaults cannot be read without running it. "
                        "Give it one (parse_args(argv) returns build_parser().parse_args(argv)).")
    return module.build_parser()


@lru_cache(maxsize=None)
def _defaults(path: str) -> tuple[tuple[str, object], ...]:
    parser = _build_parser(path)
    return tuple((action.dest, action.default) for action in parser._actions
                 if action.dest != argparse.SUPPRESS and action.default is not argparse.SUPPRESS)


def script_defaults(script_name: str) -> dict[str, object]:
    """`{dest: default}` of every option of a bundled script (e.g. "train_grpo.py"), from its argparse parser.

    Cached; the returned dict is a fresh copy (list defaults too), so callers may change it."""
    defaults = _defaults(str(paths.bundled_script(script_name)))
    return {dest: list(default) if isinstance(default, list) else default for dest, default in defaults}


def method_defaults(method: str) -> dict[str, object]:
    """The defaults of the script that trains `method` (sft, dpo, grpo, reward, kto)."""
    if method not in METHOD_SCRIPTS:
        raise UserError(f"method {method!r} has no training script: use one of {', '.join(METHOD_SCRIPTS)}.")
    return script_defaults(METHOD_SCRIPTS[method])
