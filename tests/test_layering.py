"""The package's layers, read from its imports with ast: nothing runs back up.

- jobs/ (backends, the operation table, the submit pipeline) never imports the workflows above it (train, rerun),
  the front ends (cli, cli_jobs, server) or their presentation (views);
- runtime/ (the code the scripts carry) imports nothing of hf_trainer;
- argparse lives only in the command-line modules: the library behind the MCP server never imports it.
Imports inside functions count too: a lazy import is still a dependency.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "hf_trainer"


def imported_modules(path: Path, text: str | None = None) -> set[str]:
    """Every module a file imports, absolute names (relative imports resolved against its package)."""
    tree = ast.parse(text if text is not None else path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(("hf_trainer", *path.relative_to(PACKAGE).parent.parts))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names.add(module)
            # `from hf_trainer import train` imports the module hf_trainer.train.
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _files(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).glob("*.py"))


def _offending(path: Path, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(name for name in imported_modules(path)
                  if any(name == f or name.startswith(f + ".") for f in forbidden))


UPPER_LAYERS = tuple(f"hf_trainer.{m}" for m in ("train", "rerun", "retry", "operations", "cli", "cli_jobs", "server", "job_views"))


@pytest.mark.parametrize("path", _files("jobs"), ids=lambda p: p.name)
def test_jobs_never_imports_the_workflows_or_front_ends_above_it(path: Path) -> None:
    assert not _offending(path, UPPER_LAYERS), f"jobs/{path.name} imports {_offending(path, UPPER_LAYERS)}"


@pytest.mark.parametrize("path", _files("runtime"), ids=lambda p: p.name)
def test_runtime_imports_nothing_of_hf_trainer(path: Path) -> None:
    inside = [name for name in _offending(path, ("hf_trainer",)) if not name.startswith("hf_trainer.runtime")]
    assert not inside, f"runtime/{path.name} imports {inside}: the scripts carry this file, hf_trainer is not there"


LIBRARY = [*_files("jobs"), *(PACKAGE / name for name in ("server.py", "job_views.py", "operations.py", "train.py", "rerun.py",
                                                         "diagnose.py", "preflight.py", "errors.py"))]


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.name)
def test_argparse_lives_only_in_the_command_line_modules(path: Path) -> None:
    assert not _offending(path, ("argparse",)), f"{path.name} imports argparse (only cli.py and cli_jobs.py may)"


def test_the_checks_see_lazy_relative_and_from_imports() -> None:
    # The walker itself, on text with each form, so a silent parser cannot pass the package.
    text = ("def f():\n    from hf_trainer.train import train\n"
            "from .. import server\nimport hf_trainer.cli_jobs as c\nimport argparse\n")
    names = imported_modules(PACKAGE / "jobs" / "probe.py", text)
    assert {"hf_trainer.train", "hf_trainer.server", "hf_trainer.cli_jobs", "argparse"} <= names


# --- every module has a layer, and imports go down or sideways, never up ------------------------------------------
# A new module fails the test below until it is given a layer here: the table is the architecture, read at a glance.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation: words, secrets, paths, registries", (
        "errors", "redaction", "tokens", "untrusted", "timeouts", "paths", "pep723", "launch", "bundled_scripts",
        "hub_client", "failures", "pins", "script_blocks", "script_defaults", "tiny", "cli_options")),
    ("job data: requests, records, arguments, the Hub's errors and scripts", (
        "jobs.base", "jobs.records", "jobs.hub_models", "jobs.arguments", "jobs.hub_errors", "jobs.script_source")),
    ("capabilities: inspect, estimate, price, lint, budget", (
        "dataset_inspect", "data_checks", "estimate", "hardware", "model_size", "preflight", "budget", "ledger",
        "plan_decisions", "output_repo")),
    ("jobs: the backends and the one submit pipeline", (
        "jobs.hub", "jobs.local", "jobs.local_runner", "jobs.backends", "jobs.webhooks", "jobs.submit",
        "benchmark_plan")),
    ("workflows: the operation table and what it runs", (
        "operations", "job_views", "train", "rerun", "retry", "diagnose", "smoke", "demo")),
    ("front ends: MCP and the CLI", ("server", "cli", "cli_jobs")),
]
LAYER_OF = {f"hf_trainer.{module}": rank for rank, (_, modules) in enumerate(LAYERS) for module in modules}


def _package_modules() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if "runtime" not in p.parts and p.name != "__init__.py"]


def _module_name(path: Path) -> str:
    return ".".join(("hf_trainer", *path.relative_to(PACKAGE).with_suffix("").parts))


def test_every_module_has_a_layer() -> None:
    missing = [_module_name(p) for p in _package_modules() if _module_name(p) not in LAYER_OF]
    assert not missing, f"give these modules a layer in tests/test_layering.py LAYERS: {missing}"


@pytest.mark.parametrize("path", _package_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_down_or_sideways_never_up(path: Path) -> None:
    name = _module_name(path)
    if name not in LAYER_OF:
        pytest.skip("no layer yet (test_every_module_has_a_layer fails)")
    up = sorted(other for other in imported_modules(path) if LAYER_OF.get(other, -1) > LAYER_OF[name])
    assert not up, f"{name} ({LAYERS[LAYER_OF[name]][0]}) imports from a layer above it: {up}"
