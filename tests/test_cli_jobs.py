"""`hf-trainer jobs ...` end to end through `hf_trainer.cli.main`, on the local backend."""

import json
import os
import sys
from pathlib import Path

import pytest
from conftest import CANARY_TOKEN

from hf_trainer.cli import main

LOCAL = ["--backend", "local"]


@pytest.fixture(autouse=True)
def no_job_left_running():
    yield
    # A failed test must not leave its sleepers running on a shared machine.
    from hf_trainer.jobs.local import LocalBackend

    backend = LocalBackend()
    for job in backend.ps():
        backend.cancel(job.id)


def cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert CANARY_TOKEN not in out + err
    return code, out, err


def cli_json(capsys: pytest.CaptureFixture, *argv: str):
    code, out, err = cli(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def submit(capsys: pytest.CaptureFixture, *argv: str) -> dict:
    """Submit with --json placed before the script or command (everything after them belongs to the job)."""
    sub, rest = argv[0], argv[1:]
    code, out, err = cli(capsys, "jobs", sub, "--json", *LOCAL, *rest)
    assert code == 0, err
    return json.loads(out)


def test_a_uv_job_is_submitted_waited_for_inspected_and_its_logs_read(capsys, tmp_path: Path):
    job = submit(capsys, "uv", "--local-python", "-e", "WHO=world", "-s", "API_KEY=abcdefgh12345678", "-l", "kind=demo",
                 "--timeout", "5m", "import os, sys\nprint('hello', os.environ['WHO'], sys.argv[1:])\n",
                 "--max_steps", "2")
    assert job["backend"] == "local" and job["stage"] in ("SCHEDULING", "RUNNING")
    assert (job["timeout_seconds"], job["labels"], job["env"], job["secret_names"]) == \
        (300, {"kind": "demo"}, {"WHO": "world"}, ["API_KEY"])
    done = cli_json(capsys, "jobs", "wait", job["id"], "--timeout", "60", "--poll-interval", "0.05", *LOCAL)
    assert (done["id"], done["stage"], done["exit_code"]) == (job["id"], "COMPLETED", 0)
    assert cli_json(capsys, "jobs", "logs", job["id"], *LOCAL) == ["hello world ['--max_steps', '2']"]
    code, out, _ = cli(capsys, "jobs", "logs", job["id"], "--tail", "1", *LOCAL)
    assert (code, out) == (0, "hello world ['--max_steps', '2']\n")
    [inspected] = cli_json(capsys, "jobs", "inspect", job["id"], *LOCAL)
    assert inspected == done
    code, out, _ = cli(capsys, "jobs", "inspect", job["id"], *LOCAL)
    assert "stage:     COMPLETED (message: \"exited with code 0\")" in out and "secrets:   API_KEY" in out
    assert "abcdefgh12345678" not in out


def test_ps_prints_a_compact_table_and_json(capsys):
    job = submit(capsys, "run", "true")
    cli_json(capsys, "jobs", "wait", job["id"], "--poll-interval", "0.05", *LOCAL)
    assert cli_json(capsys, "jobs", "ps", *LOCAL) == []
    assert [j["id"] for j in cli_json(capsys, "jobs", "ps", "--all", *LOCAL)] == [job["id"]]
    code, out, _ = cli(capsys, "jobs", "ps", "-a", "--stage", "completed", *LOCAL)
    header, line = out.splitlines()
    assert header.split() == ["ID", "STAGE", "CREATED", "COMMAND", "FLAVOR"]
    assert line.split()[:2] == [job["id"], "COMPLETED"] and line.split()[-2:] == ["true", "-"]
    assert line.index("COMPLETED") == header.index("STAGE") and line.index("true") == header.index("COMMAND")
    code, out, _ = cli(capsys, "jobs", "ps", *LOCAL)
    assert (code, out) == (0, "No jobs. (ps lists unfinished jobs; add --all to see finished ones.)\n")


def test_run_takes_a_first_word_that_is_no_program_as_the_image(capsys):
    job = submit(capsys, "run", "python:3.12", sys.executable, "-c", "print('in image?')")
    assert job["image"] == "python:3.12" and job["command"] == [sys.executable, "-c", "print('in image?')"]
    cli_json(capsys, "jobs", "wait", job["id"], "--poll-interval", "0.05", *LOCAL)
    lines = cli_json(capsys, "jobs", "logs", job["id"], *LOCAL)
    assert lines[0].startswith("[hf-trainer] note: image 'python:3.12' is not used") and lines[-1] == "in image?"


def test_cancel_stops_a_running_job(capsys):
    job = submit(capsys, "run", "--label", "k=v", "sleep", "60")
    assert [j["id"] for j in cli_json(capsys, "jobs", "ps", "--label", "k=v", *LOCAL)] == [job["id"]]
    canceled = cli_json(capsys, "jobs", "cancel", job["id"], *LOCAL)
    assert (canceled["stage"], canceled["message"]) == ("CANCELED", "canceled by the user")


def test_follow_prints_lines_until_the_job_ends(capsys):
    job = submit(capsys, "uv", "--local-python", "import time\nfor i in range(3):\n    print(i)\n    time.sleep(0.1)\n")
    code, out, _ = cli(capsys, "jobs", "logs", job["id"], "--follow", "--timeout", "60", *LOCAL)
    assert (code, out) == (0, "0\n1\n2\n")


def test_without_a_token_jobs_default_to_the_local_backend(capsys, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("HF_TOKEN")
    code, out, err = cli(capsys, "jobs", "ps", "--all", "--json")
    assert (code, out, err) == (0, "[]\n", "")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["jobs", "uv", "--local-python", "--timeout", "2hours", "print(1)"], "timeout '2hours' is not a duration"),
        (["jobs", "uv", "--local-python", "--timeout", "-5", "print(1)"], "timeout '-5' is not a duration"),
        (["jobs", "uv", "--local-python", "--timeout", "0", "print(1)"], "timeout '0' is not a duration"),
        (["jobs", "uv", "--local-python", "missing_script.py"], "script file 'missing_script.py' does not exist"),
        (["jobs", "uv", "--local-python", "# /// script\nprint(1)\n"], "never closes"),  # malformed header
        (["jobs", "uv", "--local-python", "-e", "NOVALUE", "print(1)"], "env ['NOVALUE'] has the entry 'NOVALUE', which is not KEY=value"),
        (["jobs", "uv", "--local-python", "-s", "UNSET_SECRET_XYZ", "print(1)"],
         "secret 'UNSET_SECRET_XYZ' has no value and UNSET_SECRET_XYZ is not set"),  # bare secret not in env
        (["jobs", "uv", "--local-python", "--backend", "hub", "print(1)"], "cannot be combined with --backend hub"),
        (["jobs", "run", "no-such-program-xyz"], "'no-such-program-xyz' was not found"),
        (["jobs", "inspect", "feedbeef00"], "No local job with id 'feedbeef00'. List local jobs with "
                                            "`hf-trainer jobs ps --all --backend local`"),
        (["jobs", "logs", "feedbeef00"], "No local job with id 'feedbeef00'"),
        (["jobs", "logs", "feedbeef00", "--tail", "-2"], "tail -2 must be at least 1"),
        (["jobs", "wait", "feedbeef00", "--timeout", "1m"], "No local job with id 'feedbeef00'"),
        (["jobs", "cancel", "feedbeef00"], "No local job with id 'feedbeef00'"),
        (["jobs", "ps", "--stage", "DONE"], "status 'DONE' is not a job stage"),
        (["jobs", "ps", "--label", "novalue"], "has the entry 'novalue', which is not KEY=value"),
    ],
)
def test_bad_input_exits_2_with_a_message_and_no_traceback(capsys, argv: list[str], message: str):
    if argv[1] != "uv" or "--backend" not in argv:
        argv = [*argv[:2], *LOCAL, *argv[2:]]
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_a_secret_named_without_a_value_comes_from_the_environment(capsys, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MY_API_KEY", "value-from-the-shell-123")
    job = submit(capsys, "uv", "--local-python", "-s", "MY_API_KEY",
                 "import os\nprint(os.environ['MY_API_KEY'] == 'value-from-the-shell-123')\n")
    cli_json(capsys, "jobs", "wait", job["id"], "--poll-interval", "0.05", *LOCAL)
    assert cli_json(capsys, "jobs", "logs", job["id"], *LOCAL) == ["True"]
    assert job["secret_names"] == ["MY_API_KEY"] and "MY_API_KEY" not in job["env"]
    assert os.environ["MY_API_KEY"]  # untouched


def test_diagnose_and_retry_from_the_command_line(tmp_path, capsys):
    script = tmp_path / "fails.py"
    script.write_text("import sys\nprint('torch.OutOfMemoryError: CUDA out of memory.')\nsys.exit(1)\n",
                      encoding="utf-8")
    assert main(["jobs", "uv", "--backend", "local", "--local-python", "--json", str(script)]) == 0
    job_id = json.loads(capsys.readouterr().out)["id"]
    main(["jobs", "wait", job_id, "--backend", "local", "--poll-interval", "0.1", "--timeout", "60"])
    capsys.readouterr()

    assert main(["jobs", "diagnose", job_id, "--backend", "local", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["diagnosis"]["kind"] == "out_of_memory" and plan["submitted"] is False
    assert main(["jobs", "retry", job_id, "--backend", "local", "--confirm"]) == 0
    assert "not possible automatically" in capsys.readouterr().out  # not a bundled script: named, not resubmitted
