"""The runtime block each script carries: generated from src/hf_trainer/runtime/, placed after the script's own code,
with a hard boundary (standard library + training stack only, every name defined or imported from a sibling)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from hf_trainer import script_blocks

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
RUNTIME = ROOT / "src" / "hf_trainer" / "runtime"
# What a runtime module may import: the standard library, the training stack, and its siblings (relative imports).
TRAINING_STACK = {"torch", "transformers", "trl", "peft", "datasets", "accelerate", "trackio", "huggingface_hub",
                  "httpx2", "httpx", "pyarrow", "bitsandbytes", "liger_kernel", "vllm", "unsloth", "PIL", "numpy",
                  "safetensors", "jinja2", "tokenizers", "kernels", "flash_attn"}


def test_every_runtime_block_matches_its_sources():
    stale = script_blocks.check(SCRIPTS)
    assert stale == [], f"run `make sync-scripts`: stale runtime blocks in {stale}"


def test_a_block_carries_the_named_modules_after_their_dependencies_without_relative_imports():
    script = ("def main():\n    return map_row\n\n"
              "# ===== generated runtime: x =====\n# runtime modules: train_common\nold body\n"
              "# ===== end of generated runtime =====\n\nif __name__ == '__main__':\n    main()\n")
    rendered = script_blocks.render(script)
    assert "old body" not in rendered
    assert rendered.index("# ----- runtime/mappings.py") < rendered.index("# ----- runtime/train_common.py")
    assert "from .mappings import" not in rendered
    assert rendered.startswith("def main():") and rendered.endswith("if __name__ == '__main__':\n    main()\n")
    carried = script_blocks.runtime_modules(script)
    assert carried[-1] == "train_common" and carried.index("mappings") < carried.index("train_common")


@pytest.mark.parametrize("module", sorted(p.stem for p in RUNTIME.glob("*.py") if p.stem != "__init__"))
def test_runtime_modules_import_only_the_standard_library_the_training_stack_and_siblings(module):
    tree = ast.parse((RUNTIME / f"{module}.py").read_text(encoding="utf-8"))
    outside = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top not in sys.stdlib_module_names and top not in TRAINING_STACK:
                outside.append(name)
    assert outside == [], f"runtime/{module}.py imports {outside}: the scripts cannot carry that"


def test_runtime_modules_and_scripts_use_no_undefined_name():
    # pyflakes finds names used but never defined or imported (what `# noqa: F821` used to hide).
    targets = [str(RUNTIME), *map(str, sorted(SCRIPTS.glob("*.py")))]
    result = subprocess.run([sys.executable, "-m", "pyflakes", *targets], capture_output=True, text=True)
    undefined = [line for line in result.stdout.splitlines() if "undefined name" in line]
    assert undefined == []


def test_the_scripts_own_code_comes_before_the_runtime_block():
    for path in sorted(SCRIPTS.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        if "# runtime modules:" not in text:
            continue
        own = text[:text.index(script_blocks.OPEN)]
        assert "def main(" in own, f"{path.name}: main() must come before the generated runtime block"
        assert text.rstrip().splitlines()[-1].strip() != script_blocks.CLOSE, f"{path.name}: no entry point after the block"


def test_no_two_parts_of_one_script_define_the_same_name():
    clashes = {path.name: script_blocks.collisions(path.read_text(encoding="utf-8"))
               for path in sorted(SCRIPTS.glob("*.py"))}
    assert {name: found for name, found in clashes.items() if found} == {}


def test_a_clash_between_the_script_and_its_runtime_is_found():
    script = ("class ScriptError(Exception):\n    pass\n\n# ===== generated runtime: x =====\n"
              "# runtime modules: train_common\n# ===== end of generated runtime =====\n")
    assert script_blocks.collisions(script)["ScriptError"] == ["script", "runtime/basics.py"]


def _after_docstring(text: str) -> list[str]:
    """A script's lines after its module docstring (the PEP 723 header and the docstring come first)."""
    docstring = ast.parse(text).body[0]
    assert isinstance(docstring, ast.Expr) and isinstance(docstring.value, ast.Constant), "no module docstring"
    return text.splitlines()[docstring.end_lineno:]


@pytest.mark.parametrize("path", sorted(SCRIPTS.glob("train_*.py")), ids=lambda p: p.name)
def test_a_training_scripts_own_code_is_under_300_lines_and_starts_on_the_first_screen(path):
    text = path.read_text(encoding="utf-8")
    assert script_blocks.own_code_lines(text) < 300, f"{path.name}: move shared code to src/hf_trainer/runtime/"
    first_screen = "\n".join(_after_docstring(text)[:40])
    # Its imports and its own definitions, not inlined code, follow the docstring.
    assert "import argparse" in first_screen and "\ndef " in first_screen and script_blocks.OPEN not in first_screen


def test_own_code_lines_count_what_comes_before_the_block():
    script = "a\nb\n\n# ===== generated runtime: x =====\n# runtime modules: train_common\n# ===== end of generated runtime =====\n"
    assert script_blocks.own_code_lines(script) == 2
    assert script_blocks.own_code_lines("a\nb\nc\n") == 3


@pytest.mark.parametrize("path", sorted(SCRIPTS.glob("*.py")), ids=lambda p: p.name)
def test_a_script_names_only_runtime_modules_its_own_code_uses(path):
    # Each named module costs the script its lines and its dependencies' (e.g. evaluation brings rewards): a module
    # the script's own code takes nothing from is dead weight on every job.
    text = path.read_text(encoding="utf-8")
    used = {node.id for node in ast.walk(ast.parse(script_blocks._BLOCK.sub("", text))) if isinstance(node, ast.Name)}
    for module in script_blocks.named_modules(text):
        assert script_blocks.top_level_names(script_blocks.module_source(module)) & used, (
            f"{path.name} carries runtime/{module}.py but its own code uses none of its names")


def test_a_relative_import_the_block_would_not_strip_is_refused(tmp_path, monkeypatch) -> None:
    # One inside a function would ship as it is and fail on the job (no package there): refused at generation.
    from hf_trainer import script_blocks

    (tmp_path / "good.py").write_text("from .basics import ScriptError\n\n\ndef f():\n    return ScriptError\n",
                                      encoding="utf-8")
    (tmp_path / "nested.py").write_text("def f():\n    from .basics import ScriptError\n    return ScriptError\n",
                                        encoding="utf-8")
    monkeypatch.setattr(script_blocks, "RUNTIME_DIR", tmp_path)
    assert script_blocks.dependencies("good") == ["basics"]
    with pytest.raises(ValueError, match="nested.py line 2: a relative import inside a function"):
        script_blocks.dependencies("nested")
