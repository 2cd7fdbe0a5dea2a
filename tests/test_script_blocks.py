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
