"""Script headers pin what the suite tested, and every one of them resolves for HF Jobs (Linux x86_64, CPython 3.11
and 3.12, CUDA torch from the index) - resolved with uv, without installing (src/hf_trainer/pins.py)."""

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hf_trainer import pep723, pins

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def test_every_script_header_pins_the_tested_versions_and_date():
    assert pins.check(SCRIPTS) == [], "run `make pins`"


def test_the_pinned_stack_is_what_this_suite_runs():
    # The train extra is the single source: the suite installs it, `make pins` copies it into the headers.
    assert pins.tested_versions() == {pins.normalize(k): v for k, v in pins.installed_versions().items()}


@pytest.mark.parametrize("script", ["train_sft.py", "train_grpo.py", "evaluate.py"])
def test_a_training_header_pins_torch_trl_and_transformers_and_carries_the_date(script):
    meta = pep723.read_metadata((SCRIPTS / script).read_text(encoding="utf-8"))
    deps = set(meta["dependencies"])
    versions = pins.tested_versions()
    assert f"torch=={versions['torch']}" in deps and f"transformers=={versions['transformers']}" in deps
    assert meta["tool"]["uv"]["exclude-newer"] == pins.tested_date()


def test_the_unsloth_script_pins_unsloth_with_a_trl_it_accepts_and_leaves_the_rest_to_unsloth():
    deps = pep723.dependencies((SCRIPTS / "train_sft_unsloth.py").read_text(encoding="utf-8"))
    assert "unsloth==2026.10.9" in deps and "trl==1.15.0" in deps
    assert "datasets" in deps  # no floor: Unsloth 2026.10 needs datasets < 5


def test_pinning_keeps_markers_and_packages_outside_the_stack():
    pinned = pins.pinned_dependencies("x.py", ["trl>=1.16", "bitsandbytes>=0.45; sys_platform == 'linux'"],
                                      {"trl": "1.16.0"})
    assert pinned == ["trl==1.16.0", "bitsandbytes>=0.45; sys_platform == 'linux'"]


def _index_reachable() -> str | None:
    """None when uv can resolve from the package index here, else why not."""
    if not pins.uv_binary():
        return "uv is not installed (make test installs it into .venv/tools)"
    try:
        result = subprocess.run([pins.uv_binary(), "pip", "compile", "-", "--quiet", "--no-header"],
                                input="packaging\n", capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "the package index did not answer within 60 s"
    return None if result.returncode == 0 else f"the package index is unreachable: {result.stderr.strip()[-300:]}"


def test_every_script_header_resolves_for_hf_jobs_and_a_conflicting_one_does_not(tmp_path):
    reason = _index_reachable()
    if reason:
        pytest.skip(f"cannot check that the script headers resolve: {reason}")
    # The header Unsloth jobs had before: every unsloth release from 2026.10.1 on requires trl <= 1.15.
    broken = tmp_path / "train_sft_unsloth_before.py"
    broken.write_text('# /// script\n# requires-python = ">=3.11"\n# dependencies = ["unsloth>=2026.10", "trl>=1.16"]\n'
                      "# ///\n", encoding="utf-8")
    cases = [(SCRIPTS / script, python, extras) for script, python, extras in pins.resolution_cases(SCRIPTS)]
    cases.append((broken, "3.12", []))
    with ThreadPoolExecutor(max_workers=8) as pool:  # network-bound: uv mostly waits on the index
        results = list(pool.map(lambda case: pins.resolve(*case), cases))
    failed = {f"{path.name} py{python} {' '.join(extras)}".strip(): result.stderr.strip()[-600:]
              for (path, python, extras), result in zip(cases, results) if result.returncode}
    assert list(failed) == ["train_sft_unsloth_before.py py3.12"], failed
