"""Hardening III, finding 9: `hf-trainer preflight script.py` on a script holding a literal token printed only the
token error; the lint's other findings (renamed TRL arguments, results that would be lost) came only after a second
round. Now every finding is listed together, the token one included, and the token itself is never printed."""

from pathlib import Path

import pytest
from conftest import CANARY_TOKEN

from hf_trainer.cli import main
from hf_trainer.preflight import PreflightInput, preflight

OTHER = "hf_" + "OtherPersonsToken" + "0123456789abcdefghij"


def _script(tmp_path: Path, token: str) -> Path:
    path = tmp_path / "train.py"
    path.write_text(
        "# /// script\n# dependencies = ['trl']\n# ///\n"
        "from trl import SFTConfig, SFTTrainer\n"
        f"TOKEN = 'x_{token}'\n"  # glued to a word character
        "config = SFTConfig(output_dir='out', max_seq_length=512)\n"
        "SFTTrainer(model='m', args=config, train_dataset=None).train()\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("token", [CANARY_TOKEN, OTHER], ids=["callers-token", "any-hf-token"])
def test_preflight_of_a_script_with_a_token_lists_every_finding_at_once(tmp_path, capsys, token):
    code = main(["preflight", str(_script(tmp_path, token))])
    out, err = capsys.readouterr()
    assert code == 1, err
    for rule in ("literal-token", "renamed-argument", "results-lost"):
        assert f"[{rule}]" in out, (rule, out)
    assert "(line 5)" in out  # where the token is
    assert token not in out + err and token[3:] not in out + err


def test_preflight_reads_the_token_rule_over_env_and_secret_names_too() -> None:
    report = preflight(PreflightInput(script_text="print(1)\n", env={"NOTE": f"a_{OTHER}_b", OTHER: "1"},
                                      secrets={CANARY_TOKEN: "$HF_TOKEN"}, script_args=[f"--x=y{CANARY_TOKEN}"]))
    found = [f.message for f in report.findings if f.rule == "literal-token"]
    assert len(found) == 4 and not report.ok
    assert not any(CANARY_TOKEN in m or OTHER in m for m in found)
