"""Inlined copies of package modules in scripts/ must match their sources."""

from pathlib import Path

from hf_trainer import script_blocks

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def test_every_inlined_block_matches_its_source_module():
    stale = script_blocks.check(SCRIPTS)
    assert stale == [], f"run `make sync-scripts`: stale inline blocks in {stale}"


def test_render_replaces_a_block_body_with_the_module_source(tmp_path):
    script = ("x = 1\n# >>> inline: hf_trainer/errors.py (generated)\nold body\n# <<< inline: hf_trainer/errors.py\n"
              "y = 2\n")
    rendered = script_blocks.render(script)
    assert "old body" not in rendered and "class UserError(Exception):" in rendered
    assert rendered.startswith("x = 1\n") and rendered.endswith("# <<< inline: hf_trainer/errors.py\ny = 2\n")
    assert script_blocks.inlined_modules(script) == ["hf_trainer/errors.py"]


def test_no_two_modules_inlined_into_one_script_define_the_same_name():
    clashes = {path.name: script_blocks.collisions(path.read_text(encoding="utf-8"))
               for path in sorted(SCRIPTS.glob("*.py"))}
    assert {name: found for name, found in clashes.items() if found} == {}


def test_a_clash_between_inlined_modules_is_found():
    script = ("# >>> inline: hf_trainer/errors.py (x)\n# <<< inline: hf_trainer/errors.py\n"
              "# >>> inline: hf_trainer/errors.py (x)\n# <<< inline: hf_trainer/errors.py\n")
    assert script_blocks.collisions(script) == {"UserError": ["hf_trainer/errors.py", "hf_trainer/errors.py"]}
