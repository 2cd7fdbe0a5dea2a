"""Hardening III, finding 10: the CLI a person meets in a shell.

`hf-trainer jobs wait ... | head` ended in "BrokenPipeError ... a bug in hf-trainer"; a NUL in train's output_dir
(and other paths) landed in the generic "This is a bug" text. Both now end as a shell user expects: quietly for a
reader that went away (status 141, as for SIGPIPE), with a named error for the NUL.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hf_trainer.failures import named_error


@pytest.mark.parametrize("command", [["jobs", "ps", "--backend", "local", "--all"], ["--help"]])
def test_a_reader_that_goes_away_ends_the_command_quietly(command: list[str], tmp_path: Path) -> None:
    env = {**os.environ, "HF_TRAINER_HOME": str(tmp_path / "home")}
    process = subprocess.Popen([sys.executable, "-m", "hf_trainer.cli", *command], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env)
    process.stdout.close()  # `| head` that has read enough
    err = process.stderr.read().decode()
    code = process.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipe" not in err and "bug" not in err, err
    assert code in (0, 141)


@pytest.mark.parametrize("exc", [ValueError("embedded null byte"), ValueError("embedded null character")])
def test_a_nul_in_a_path_is_named(exc: ValueError) -> None:
    text = str(named_error(exc, "hf-trainer train"))
    assert "NUL" in text and "bug" not in text


def test_train_with_a_nul_in_output_dir_gets_a_named_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            tiny_model: Path) -> None:
    from hf_trainer.cli import main
    from hf_trainer.tiny import chat_rows, write_jsonl

    data = write_jsonl(chat_rows(8), tmp_path / "chat.jsonl")
    code = main(["train", "--method", "sft", "--model_name_or_path", str(tiny_model), "--dataset_name", str(data),
                 "--output_dir", "out\x00put", "--backend", "local"])
    err = capsys.readouterr().err
    assert code != 0 and "NUL" in err and "bug" not in err, err
