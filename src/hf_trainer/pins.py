"""The library versions the suite tested, written into every script's PEP 723 header and the pyproject extras at once.

A job on HF Jobs starts with `uv run` resolving the script's header against the package index. Floors alone (`trl>=1.16`)
let tomorrow's release change what the same script text runs, so each header carries two things:
- exact pins (`trl==1.16.0`) for the training stack, taken from the `train` extra of pyproject.toml, which is what the
  suite installs and tests;
- `[tool.uv] exclude-newer`, the date those versions were tested, so every other package (tokenizers, safetensors,
  numpy, CUDA wheels, ...) resolves as it did that day. Exact pins alone would leave the transitive set floating; a
  date alone would still move whenever the date is moved for one library. Both together make the resolution
  reproducible.

They move forward together, by one command (`make pins`): upgrade the venv, run the suite, then `make pins` writes
the venv's versions into the `train` extra, sets the date to today and rewrites every script header.
`make check-scripts` (and tests/test_pins.py) resolves every header for the Jobs platform without installing.
"""

import argparse
import datetime
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from importlib import metadata
from pathlib import Path

from hf_trainer import pep723

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"
SCRIPTS_DIR = ROOT / "scripts"

# Packages whose versions come from the `train` extra (the suite's tested set).
STACK = ("torch", "transformers", "trl", "peft", "datasets", "accelerate", "trackio", "huggingface_hub")

# Scripts whose own key dependency caps the stack. Every Unsloth release from 2026.10.1 on requires trl <= 1.15, so
# train_sft_unsloth.py pins the newest Unsloth and the TRL it accepts (SFTConfig is field-for-field the same in TRL
# 1.15.0 and 1.16.0, checked against the installed sources); Unsloth itself then chooses torch and transformers.
OVERRIDES: dict[str, dict[str, str]] = {
    "train_sft_unsloth.py": {"unsloth": "2026.10.9", "trl": "1.15.0"},
}

# Scripts whose own key dependency lies outside the stack: pinned from the pyproject extra the suite installs and runs
# it with (scripts/benchmark.py and EleutherAI's lm-evaluation-harness: the `benchmark` extra).
SCRIPT_EXTRAS: dict[str, str] = {"benchmark.py": "benchmark"}

# What the docs tell people to add to a script (`uv run --with ...`, `hf jobs uv run --with ...`): resolved with it.
DOCUMENTED_EXTRAS: dict[str, list[str]] = {
    "train_grpo.py": ["vllm==0.30.0"],  # the newest vLLM whose torch pin matches the stack's torch
    "generate_responses.py": ["vllm==0.30.0"],
    "benchmark.py": ["vllm==0.30.0"],
}

# HF Jobs runs Linux x86_64 with the uv image's Python; both interpreters the headers allow are checked.
JOBS_PLATFORM = "x86_64-manylinux_2_28"
JOBS_PYTHONS = ("3.11", "3.12")

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject() -> dict:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))


def tested_versions(extra: str = "train") -> dict[str, str]:
    """{normalized name: version} of an extra's exact pins (the `train` extra: the stack)."""
    versions = {}
    for requirement in _pyproject()["project"]["optional-dependencies"][extra]:
        name, sep, version = requirement.partition("==")
        if sep:
            versions[normalize(name.partition("[")[0])] = version.strip()
    return versions


def tested_date() -> str:
    """The exclude-newer date of the tested set (pyproject `[tool.hf-trainer] exclude-newer`)."""
    return _pyproject()["tool"]["hf-trainer"]["exclude-newer"]


def pinned_dependencies(script_name: str, dependencies: list[str], versions: dict[str, str]) -> list[str]:
    """The header's dependencies with every stack package pinned exactly; a script with overrides pins only those
    (its key dependency chooses the rest of the stack, within the exclude-newer date)."""
    if script_name in OVERRIDES:
        pins = {normalize(k): v for k, v in OVERRIDES[script_name].items()}
    else:
        pins = versions
    pinned = []
    for requirement in dependencies:
        match = _NAME.match(requirement)
        name = match.group(1) if match else requirement
        extras = (match.group(2) or "") if match else ""  # lm_eval[hf,ifeval] keeps its extras
        _, _, marker = requirement.partition(";")
        if normalize(name) in pins:
            requirement = f"{name}{extras}=={pins[normalize(name)]}" + (f"; {marker.strip()}" if marker else "")
        pinned.append(requirement)
    return pinned


def render_header(meta: dict, dependencies: list[str], date: str) -> str:
    lines = ["# /// script"]
    if "requires-python" in meta:
        lines.append(f'# requires-python = "{meta["requires-python"]}"')
    lines.append("# dependencies = [")
    lines += [f'#     "{dep}",' for dep in dependencies]
    lines += ["# ]", "#", "# [tool.uv]", f'# exclude-newer = "{date}"', "# ///"]
    return "\n".join(lines) + "\n"


def render(script_name: str, text: str, versions: dict[str, str], date: str) -> str:
    """The script with its header pinned to the tested versions and date (unchanged when it has no header)."""
    meta = pep723.read_metadata(text, where=f"scripts/{script_name}")
    if meta is None:
        return text
    start = text.index("# /// script\n")
    end = text.index("# ///\n", start + len("# /// script\n")) + len("# ///\n")
    if script_name in SCRIPT_EXTRAS:
        versions = {**versions, **tested_versions(SCRIPT_EXTRAS[script_name])}
    deps = pinned_dependencies(script_name, [str(d) for d in meta.get("dependencies", [])], versions)
    return text[:start] + render_header(meta, deps, date) + text[end:]


def check(scripts_dir: Path = SCRIPTS_DIR) -> list[str]:
    """Scripts whose header differs from the tested versions and date."""
    versions, date = tested_versions(), tested_date()
    return [p.name for p in sorted(scripts_dir.glob("*.py"))
            if render(p.name, p.read_text(encoding="utf-8"), versions, date) != p.read_text(encoding="utf-8")]


def sync(scripts_dir: Path = SCRIPTS_DIR) -> list[str]:
    versions, date = tested_versions(), tested_date()
    changed = []
    for path in sorted(scripts_dir.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        new = render(path.name, text, versions, date)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path.name)
    return changed


def installed_versions() -> dict[str, str]:
    """The stack's versions in this interpreter, without local build tags (torch 2.13.0+cpu -> 2.13.0)."""
    return {name: metadata.version(name).split("+")[0] for name in STACK}


def update_pyproject(versions: dict[str, str], date: str) -> None:
    """Write the versions into the `train` extra and the date into [tool.hf-trainer]."""
    whole = PYPROJECT.read_text(encoding="utf-8")
    start = whole.index("\ntrain = [")
    end = whole.index("\n]", start)
    text = whole[start:end]
    for name, version in versions.items():
        pattern = re.compile(rf'^(\s*"){re.escape(name)}(==|>=)[^"]*(",?)$', re.MULTILINE | re.IGNORECASE)
        text, count = pattern.subn(rf"\g<1>{name}=={version}\g<3>", text, count=1)
        if not count:
            raise SystemExit(f"pyproject.toml's train extra has no line for {name}: add \"{name}=={version}\" to it")
    text = whole[:start] + text + whole[end:]
    text, count = re.subn(r'^exclude-newer = "[^"]*"$', f'exclude-newer = "{date}"', text, count=1, flags=re.M)
    if not count:
        raise SystemExit("pyproject.toml has no [tool.hf-trainer] exclude-newer line")
    PYPROJECT.write_text(text, encoding="utf-8")


def uv_binary() -> str | None:
    local = ROOT / ".venv" / "tools" / "bin" / "uv"
    return str(local) if local.is_file() else shutil.which("uv")


def resolve(script: Path, python: str, extras: list[str] | None = None, uv: str | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """Resolve a script's header (plus extras) as uv would on HF Jobs, without installing anything."""
    uv = uv or uv_binary()
    if not uv:
        raise FileNotFoundError("uv is not installed: `make test` installs it into .venv/tools")
    with tempfile.TemporaryDirectory() as tmp:
        sources = [str(script)]
        if extras:
            extra_file = Path(tmp) / "extras.txt"
            extra_file.write_text("\n".join(extras) + "\n", encoding="utf-8")
            sources.append(str(extra_file))
        # The header's own [tool.uv] exclude-newer applies to `uv run`; `uv pip compile` is given the same date.
        command = [uv, "pip", "compile", *sources, "--python-platform", JOBS_PLATFORM, "--python-version", python,
                   "--exclude-newer", tested_date(), "--no-header", "--quiet", "--cache-dir",
                   str(Path.home() / ".cache" / "uv")]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=tmp)


def resolution_cases(scripts_dir: Path = SCRIPTS_DIR) -> list[tuple[str, str, list[str]]]:
    """(script, python, extras) for every script with a header, and every documented extra."""
    cases: list[tuple[str, str, list[str]]] = []
    for path in sorted(scripts_dir.glob("*.py")):
        if pep723.read_metadata(path.read_text(encoding="utf-8")) is None:
            continue
        for python in JOBS_PYTHONS:
            cases.append((path.name, python, []))
            if path.name in DOCUMENTED_EXTRAS:
                cases.append((path.name, python, DOCUMENTED_EXTRAS[path.name]))
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="Report scripts whose header is not pinned (exit 1).")
    mode.add_argument("--update", action="store_true",
                      help="Take this interpreter's versions of the stack and today's date, then rewrite everything.")
    mode.add_argument("--resolve", action="store_true", help="Resolve every header for the Jobs platform with uv.")
    args = parser.parse_args(argv)
    if args.check:
        stale = check()
        for name in stale:
            print(f"scripts/{name}: header not pinned to the tested versions; run `make pins`")
        return 1 if stale else 0
    if args.resolve:
        failed = 0
        for script, python, extras in resolution_cases():
            result = resolve(SCRIPTS_DIR / script, python, extras)
            label = f"{script} (Python {python}{', with ' + ' '.join(extras) if extras else ''})"
            print(("ok      " if result.returncode == 0 else "FAILED  ") + label, flush=True)
            if result.returncode:
                failed += 1
                print(result.stderr.strip()[-2000:])
        return 1 if failed else 0
    if args.update:
        today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        update_pyproject(installed_versions(), today)
    for name in sync():
        print(f"pinned scripts/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
