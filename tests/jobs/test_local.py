"""The local backend: the HF Jobs lifecycle with real processes on this machine (tiny print-and-sleep scripts)."""

import http.server
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import types
from pathlib import Path
from typing import Iterator

import pytest
from conftest import CANARY_TOKEN

from hf_trainer.errors import UserError
from hf_trainer.jobs import local_runner as store
from hf_trainer.jobs.base import CommandJobRequest, Stage, UvJobRequest
from hf_trainer.jobs.local import LocalBackend
from hf_trainer.jobs.backends import get_backend

PY = sys.executable
WAIT = 30  # generous: the CPU is shared; jobs themselves take well under a second


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LocalBackend]:
    backend = LocalBackend(use_uv=False, cwd=tmp_path)
    yield backend
    # A failed test must not leave its sleepers running on a shared machine.
    for job in backend.ps():
        backend.cancel(job.id)


def wait_for(predicate, timeout: float = WAIT) -> None:
    """Poll a condition that another process makes true (a file appears, a pid is recorded)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def finished(backend: LocalBackend, job_id: str):
    return backend.wait(job_id, timeout=WAIT, poll_interval=0.05)


def alive(pid: int) -> bool:
    return store.process_start(pid) is not None


def no_job_folders(backend: LocalBackend) -> bool:
    return not backend.jobs_dir.exists() or not any(backend.jobs_dir.iterdir())


def row(backend: LocalBackend, job_id: str) -> sqlite3.Row:
    return store.fetch(backend.db_path, job_id)


# --- submit and run ---------------------------------------------------------------------------------------------


def test_an_inline_script_runs_to_completion_with_its_arguments_env_and_labels(backend: LocalBackend, tmp_path: Path):
    script = "import os, sys\nprint('args', sys.argv[1:])\nprint('env', os.environ['GREETING'], os.getcwd())\n"
    job = backend.uv(UvJobRequest(script=script, script_args=["--max_steps", "3"], env={"GREETING": "hello"},
                                  labels={"task": "sft"}))
    assert job.stage in (Stage.SCHEDULING, Stage.RUNNING) and job.backend == "local"
    done = finished(backend, job.id)
    assert (done.stage, done.exit_code, done.message) == (Stage.COMPLETED, 0, "exited with code 0")
    assert done.labels == {"task": "sft"} and done.env == {"GREETING": "hello"}
    assert done.created_at <= done.started_at <= done.finished_at
    assert list(backend.logs(job.id)) == ["args ['--max_steps', '3']", f"env hello {tmp_path}"]
    log_file = Path(done.url.removeprefix("file://"))
    assert log_file.is_file() and log_file.parent.name == job.id
    # The supervisor itself had nothing to complain about.
    assert (log_file.parent / "supervisor.log").read_text(encoding="utf-8") == ""


def test_a_script_file_is_copied_into_the_job_folder_and_run_from_the_copy(backend: LocalBackend, tmp_path: Path):
    source = tmp_path / "train_tiny.py"
    source.write_text('# /// script\n# dependencies = ["trl>=1.16"]\n# ///\nprint("from file")\n', encoding="utf-8")
    job = backend.uv(UvJobRequest(script=str(source), dependencies=["peft>=0.21"]))
    source.write_text("raise SystemExit('the original was run, not the copy')\n", encoding="utf-8")
    assert finished(backend, job.id).stage == Stage.COMPLETED
    copy = Path(row(backend, job.id)["job_dir"]) / "train_tiny.py"
    assert job.command == [PY, str(copy)]
    lines = list(backend.logs(job.id))
    # Without uv the declared dependencies are not installed: the log says so before the script's output.
    assert "dependencies are not installed (peft>=0.21, trl>=1.16)" in lines[0] and lines[-1] == "from file"


@pytest.mark.parametrize(
    "command, stage, message, exit_code",
    [
        ([PY, "-c", "raise SystemExit(3)"], Stage.ERROR, "exited with code 3", 3),  # a failing command
        ([PY, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"], Stage.ERROR,
         "killed by SIGKILL (9)", 137),  # killed by a signal (e.g. the OOM killer)
        (["true"], Stage.COMPLETED, "exited with code 0", 0),  # a plain program
    ],
)
def test_a_finished_command_records_its_stage_and_cause(backend: LocalBackend, command, stage, message, exit_code):
    job = backend.run(CommandJobRequest(command=command))
    done = finished(backend, job.id)
    assert (done.stage, done.message, done.exit_code) == (stage, message, exit_code)


def test_secret_values_reach_the_job_but_not_the_store_or_the_logs(backend: LocalBackend):
    secret = "s3cr3t-value-for-the-job"
    script = ("import os\nprint('secret', os.environ['API_KEY'])\nprint('token', os.environ['HF_TOKEN'])\n"
              "print('len', len(os.environ['API_KEY']))\n")
    job = backend.uv(UvJobRequest(script=script, secrets={"API_KEY": secret, "HF_TOKEN": "$HF_TOKEN"}))
    done = finished(backend, job.id)
    assert done.secret_names == ["API_KEY", "HF_TOKEN"] and "API_KEY" not in done.env
    lines = list(backend.logs(job.id))
    # The job saw the real value (its length), yet neither value was written anywhere.
    assert lines == ["secret ***", "token ***", f"len {len(secret)}"]
    for path in backend.home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert secret.encode() not in data and CANARY_TOKEN.encode() not in data, path


def test_hf_token_reference_in_secrets_becomes_the_callers_token(backend: LocalBackend):
    # The job gets the token under the name asked for, and no HF_TOKEN it did not ask for.
    job = backend.uv(UvJobRequest(script="import os\nprint('HF_TOKEN' in os.environ, os.environ['TOKEN_COPY'][::-1])\n",
                                  secrets={"TOKEN_COPY": "$HF_TOKEN"}))
    finished(backend, job.id)
    assert list(backend.logs(job.id)) == [f"False {CANARY_TOKEN[::-1]}"]


# --- logs -------------------------------------------------------------------------------------------------------


def test_logs_tail_returns_the_last_lines(backend: LocalBackend):
    job = backend.uv(UvJobRequest(script="for i in range(10):\n    print(i)\n"))
    finished(backend, job.id)
    assert list(backend.logs(job.id, tail=3)) == ["7", "8", "9"]
    assert list(backend.logs(job.id, tail=0)) == []


def test_follow_streams_lines_as_they_come_and_stops_when_the_job_ends(backend: LocalBackend):
    script = "import time\nfor i in range(5):\n    print('step', i)\n    time.sleep(0.1)\nprint('end', end='')\n"
    job = backend.uv(UvJobRequest(script=script))
    lines = list(backend.logs(job.id, follow=True, timeout=WAIT))
    assert lines == [f"step {i}" for i in range(5)] + ["end"]
    assert backend.inspect(job.id).stage == Stage.COMPLETED


def test_progress_bar_redraws_read_as_the_terminal_shows_them(backend: LocalBackend):
    script = ("import sys\nfor i in range(3):\n    sys.stdout.write(f'\\rstep {i}/3')\n"
              "sys.stdout.write('\\r' + ' ' * 10 + '\\r{\\'loss\\': 1.5}\\n')\nprint('windows line', end='\\r\\n')\n")
    job = backend.uv(UvJobRequest(script=script))
    finished(backend, job.id)
    assert list(backend.logs(job.id)) == ["{'loss': 1.5}", "windows line"]


def test_follow_gives_up_after_its_timeout_while_the_job_runs(backend: LocalBackend):
    job = backend.uv(UvJobRequest(script="import time\nprint('started')\ntime.sleep(60)\n"))
    wait_for(lambda: (Path(row(backend, job.id)["job_dir"]) / "log.txt").read_text(encoding="utf-8"))
    began = time.monotonic()
    assert list(backend.logs(job.id, follow=True, timeout=0.5)) == ["started"]
    assert time.monotonic() - began < 5
    assert backend.inspect(job.id).stage == Stage.RUNNING
    backend.cancel(job.id)


# --- ps and durability ------------------------------------------------------------------------------------------


def test_ps_lists_unfinished_jobs_newest_first_and_filters_by_stage_and_label(backend: LocalBackend):
    done = backend.run(CommandJobRequest(command=["true"], labels={"team": "a"}))
    finished(backend, done.id)
    slow = backend.run(CommandJobRequest(command=["sleep", "60"], labels={"team": "b"}))
    slower = backend.run(CommandJobRequest(command=["sleep", "60"], labels={"team": "a"}))
    try:
        assert [j.id for j in backend.ps()] == [slower.id, slow.id]
        assert [j.id for j in backend.ps(all=True)] == [slower.id, slow.id, done.id]
        assert [j.id for j in backend.ps(stage=Stage.COMPLETED)] == [done.id]
        assert [j.id for j in backend.ps(all=True, labels={"team": "a"})] == [slower.id, done.id]
        assert backend.ps(labels={"team": "c"}) == []
    finally:
        backend.cancel(slow.id)
        backend.cancel(slower.id)


def test_records_survive_a_new_backend_instance(backend: LocalBackend):
    job = backend.run(CommandJobRequest(command=["true"], labels={"k": "v"}))
    finished(backend, job.id)
    again = LocalBackend(use_uv=False)
    assert again.inspect(job.id).model_dump() == backend.inspect(job.id).model_dump()
    assert [j.id for j in again.ps(all=True)] == [job.id]
    # A unique prefix of the id is enough, as with git.
    assert again.inspect(job.id[:8]).id == job.id


def test_jobs_submitted_at_once_are_all_recorded_and_completed(backend: LocalBackend):
    # Several supervisors and submitters write the same SQLite file at the same time.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        jobs = list(pool.map(lambda i: backend.run(CommandJobRequest(command=["echo", str(i)])), range(6)))
    assert len({j.id for j in jobs}) == 6
    assert [finished(backend, j.id).stage for j in jobs] == [Stage.COMPLETED] * 6
    assert [list(backend.logs(j.id)) for j in jobs] == [[str(i)] for i in range(6)]


def test_a_job_outlives_the_process_that_submitted_it(tmp_path: Path):
    marker = tmp_path / "marker.txt"
    submitter = textwrap.dedent(f"""
        from hf_trainer.jobs.base import UvJobRequest
        from hf_trainer.jobs.local import LocalBackend
        script = "import time\\ntime.sleep(1.5)\\nopen({str(marker)!r}, 'w').write('done')\\n"
        print(LocalBackend(use_uv=False).uv(UvJobRequest(script=script)).id)
    """)
    result = subprocess.run([PY, "-c", submitter], capture_output=True, text=True, timeout=WAIT, check=True)
    submitter_gone = time.time()
    job_id = result.stdout.strip()
    assert not marker.exists()  # the submitter is gone and the job has not finished yet
    done = finished(LocalBackend(use_uv=False), job_id)
    assert done.stage == Stage.COMPLETED and marker.read_text() == "done"
    assert done.finished_at.timestamp() > submitter_gone


# --- cancel, timeout, vanished supervisors ----------------------------------------------------------------------


def test_cancel_kills_the_whole_process_tree_and_records_canceled(backend: LocalBackend, tmp_path: Path):
    pids = tmp_path / "pids.json"
    script = textwrap.dedent(f"""
        import json, os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open({str(pids)!r} + ".tmp", "w").write(json.dumps([os.getpid(), child.pid]))
        os.rename({str(pids)!r} + ".tmp", {str(pids)!r})
        time.sleep(60)
    """)
    job = backend.uv(UvJobRequest(script=script))
    wait_for(pids.exists)
    script_pid, grandchild_pid = json.loads(pids.read_text())
    assert alive(script_pid) and alive(grandchild_pid)
    canceled = backend.cancel(job.id)
    assert (canceled.stage, canceled.message) == (Stage.CANCELED, "canceled by the user")
    assert not alive(script_pid) and not alive(grandchild_pid)
    assert not alive(row(backend, job.id)["supervisor_pid"])
    # Canceling again changes nothing; the supervisor did not overwrite the verdict.
    assert backend.cancel(job.id).stage == Stage.CANCELED
    assert finished(backend, job.id).stage == Stage.CANCELED


def test_the_timeout_stops_the_job_and_records_the_reason(backend: LocalBackend, tmp_path: Path):
    job = backend.run(CommandJobRequest(command=[PY, "-c", "import time\nprint('working')\ntime.sleep(60)"],
                                        timeout_seconds=1))
    began = time.monotonic()
    done = finished(backend, job.id)
    assert done.stage == Stage.ERROR and done.message.startswith("timed out after 1s")
    assert time.monotonic() - began < 15
    assert not alive(row(backend, job.id)["child_pid"])
    assert list(backend.logs(job.id)) == ["working"]


def test_a_killed_supervisor_is_detected_and_its_job_marked_error(backend: LocalBackend):
    job = backend.run(CommandJobRequest(command=["sleep", "60"]))
    wait_for(lambda: row(backend, job.id)["child_pid"] is not None)
    record = row(backend, job.id)
    os.kill(record["supervisor_pid"], signal.SIGKILL)
    wait_for(lambda: not alive(record["supervisor_pid"]))
    info = backend.inspect(job.id)
    assert info.stage == Stage.ERROR
    assert f"supervisor process (pid {record['supervisor_pid']}) is gone" in info.message
    # The orphaned command was stopped too, so nothing of the job keeps running.
    wait_for(lambda: not alive(record["child_pid"]), timeout=5)
    assert backend.ps() == []


def _before_a_reboot(pid: int) -> str:
    ticks = store.process_start(pid).rsplit(":", 1)[1]
    return f"00000000-0000-0000-0000-000000000000:{ticks}"


@pytest.mark.parametrize(
    "supervisor_pid, supervisor_start",
    [
        (2**22 + 12345, "boot:1"),  # a pid no process has (after a reboot, say)
        (os.getpid(), "boot:0"),  # a live pid reused by another process: its start time differs
        (os.getpid(), _before_a_reboot(os.getpid())),  # same pid and start time, but recorded in an earlier boot
    ],
)
def test_a_running_record_whose_supervisor_is_gone_becomes_error(backend: LocalBackend, supervisor_pid,
                                                                 supervisor_start):
    job = backend.run(CommandJobRequest(command=["true"]))
    finished(backend, job.id)
    with store.session(backend.db_path) as conn:
        conn.execute("UPDATE jobs SET stage='RUNNING', message=NULL, finished_at=NULL, supervisor_pid=?, "
                     "supervisor_start=?, child_pid=NULL WHERE id=?", (supervisor_pid, supervisor_start, job.id))
    # ps does not list it as running any more: reading found the supervisor gone and recorded why.
    assert backend.ps() == []
    info = backend.inspect(job.id)
    assert info.stage == Stage.ERROR and f"(pid {supervisor_pid}) is gone" in info.message


def test_a_supervisor_that_died_with_output_points_at_its_log(backend: LocalBackend):
    job = backend.run(CommandJobRequest(command=["true"]))
    finished(backend, job.id)
    supervisor_log = Path(row(backend, job.id)["job_dir"]) / "supervisor.log"
    supervisor_log.write_text("ModuleNotFoundError: No module named 'hf_trainer'\n", encoding="utf-8")
    with store.session(backend.db_path) as conn:
        conn.execute("UPDATE jobs SET stage='SCHEDULING', supervisor_pid=?, supervisor_start='boot:1' WHERE id=?",
                     (2**22 + 54321, job.id))
    assert f"The supervisor's own output is in {supervisor_log}." in backend.inspect(job.id).message


# --- wait -------------------------------------------------------------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_wait_raises_when_its_timeout_passes_first_without_sleeping_for_real(backend: LocalBackend):
    job = backend.run(CommandJobRequest(command=["true"]))
    finished(backend, job.id)
    # A record that stays RUNNING: its supervisor is this (live) test process.
    with store.session(backend.db_path) as conn:
        conn.execute("UPDATE jobs SET stage='RUNNING', supervisor_pid=?, supervisor_start=? WHERE id=?",
                     (os.getpid(), store.process_start(os.getpid()), job.id))
    fake = FakeTime()
    patient = LocalBackend(use_uv=False, clock=fake.clock, sleep=fake.sleep)
    try:
        still_running = rf"Job {job.id} is still RUNNING after 10s\. Follow it with .*logs {job.id}"
        with pytest.raises(UserError, match=still_running):
            patient.wait(job.id, timeout=10, poll_interval=3)
        assert fake.sleeps == [3, 3, 3, 1]
        with pytest.raises(UserError, match="poll interval 0 must be positive"):
            patient.wait(job.id, timeout=10, poll_interval=0)
    finally:
        # Finish the forged record, or the fixture's clean-up would "cancel" this test process.
        store.finish(backend.db_path, job.id, "COMPLETED", None, 0)


# --- uv or the current interpreter ------------------------------------------------------------------------------


@pytest.fixture
def fake_uv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `uv` on PATH that prints the arguments it was given, one per line."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    uv = bin_dir / "uv"
    uv.write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n', encoding="utf-8")
    uv.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("HF_TRAINER_LOCAL_PYTHON", raising=False)
    return uv


def test_scripts_run_under_uv_run_when_uv_is_on_path(fake_uv: Path, tmp_path: Path):
    auto = LocalBackend(cwd=tmp_path)
    job = auto.uv(UvJobRequest(script="print(1)\n", script_args=["--x", "1"], dependencies=["trl>=1.16"],
                               python="3.12"))
    finished(auto, job.id)
    script = str(Path(row(auto, job.id)["job_dir"]) / "script.py")
    assert job.command == [str(fake_uv), "run", "--with", "trl>=1.16", "--python", "3.12", script, "--x", "1"]
    assert list(auto.logs(job.id)) == job.command[1:]


def test_urls_are_handed_to_uv_unread(fake_uv: Path, tmp_path: Path):
    auto = LocalBackend(cwd=tmp_path)
    url = "https://example.com/train.py"
    job = auto.uv(UvJobRequest(script=url))
    assert job.command == [str(fake_uv), "run", url]


@pytest.mark.parametrize(
    "value, expected",
    [
        (PY, PY),  # the path of an interpreter
        ("current", PY),  # this interpreter
    ],
)
def test_hf_trainer_local_python_names_the_interpreter(fake_uv: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch, value: str, expected: str):
    monkeypatch.setenv("HF_TRAINER_LOCAL_PYTHON", value)
    assert LocalBackend(cwd=tmp_path).uv(UvJobRequest(script="print(1)\n")).command[0] == expected


def test_an_interpreter_that_does_not_exist_is_refused(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_TRAINER_LOCAL_PYTHON", "/no/such/python3")
    with pytest.raises(UserError, match=r"interpreter '/no/such/python3' .* was not found"):
        LocalBackend().uv(UvJobRequest(script="print(1)\n"))


def test_a_job_reading_stdin_gets_end_of_file_instead_of_hanging(backend: LocalBackend):
    job = backend.uv(UvJobRequest(script="import sys\nprint(repr(sys.stdin.read()))\n"))
    assert finished(backend, job.id).stage == Stage.COMPLETED
    assert list(backend.logs(job.id)) == ["''"]


def test_asking_for_uv_when_it_is_missing_names_the_alternative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    wanting_uv = LocalBackend(use_uv=True)
    with pytest.raises(UserError, match=r"uv was not found on PATH.*--local-python"):
        wanting_uv.uv(UvJobRequest(script="print(1)\n"))
    assert no_job_folders(wanting_uv)


def test_a_url_script_is_downloaded_when_running_with_the_current_interpreter(backend: LocalBackend):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"print('served over http')\n" if self.path == "/train.py" else b""
            self.send_response(200 if body else 404)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        job = backend.uv(UvJobRequest(script=f"{base}/train.py"))
        finished(backend, job.id)
        assert list(backend.logs(job.id)) == ["served over http"]
        assert Path(job.command[1]).name == "train.py"
        with pytest.raises(UserError, match=r"Downloading the script .*/missing.py' failed with HTTP 404"):
            backend.uv(UvJobRequest(script=f"{base}/missing.py"))
        assert len(list(backend.jobs_dir.iterdir())) == 1  # only the first job's folder
    finally:
        server.shutdown()


# --- bad input --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, message",
    [
        # a script file that does not exist
        (lambda b: b.uv(UvJobRequest(script="no_such_train.py")), r"'no_such_train.py' does not exist"),
        # an unclosed PEP 723 header
        (lambda b: b.uv(UvJobRequest(script="# /// script\n# dependencies = []\nprint(1)\n")), r"never closes"),
        # invalid TOML in the header
        (lambda b: b.uv(UvJobRequest(script="# /// script\n# dependencies = [\n# ///\n")), r"not valid TOML"),
        # an unknown job id, with the way to list jobs
        (lambda b: b.inspect("0123456789abcdef01234567"),
         r"No local job with id '0123456789abcdef01234567'\. List local jobs with `hf-trainer jobs ps --all"),
        (lambda b: list(b.logs("nope")), r"No local job with id 'nope'"),  # logs of an unknown job
        (lambda b: b.cancel("nope"), r"No local job with id 'nope'"),  # cancel of an unknown job
        (lambda b: b.wait("nope", timeout=1), r"No local job with id 'nope'"),  # wait for an unknown job
        (lambda b: b.wait("anything", timeout=0), r"timeout 0 must be positive"),  # zero wait timeout
        (lambda b: b.wait("anything", timeout=-5), r"timeout -5 must be positive"),  # negative wait timeout
        (lambda b: b.logs("anything", tail=-1), r"tail -1 must be a whole number"),  # negative tail
        # a command that is not installed
        (lambda b: b.run(CommandJobRequest(command=["no-such-program-xyz"])), r"'no-such-program-xyz' was not found"),
        # a literal token in env (env values are shown; tokens go in secrets)
        (lambda b: b.run(CommandJobRequest(command=["true"], env={"TOKEN": CANARY_TOKEN})),
         r"env 'TOKEN' holds a Hugging Face token in plain text"),
    ],
)
def test_bad_input_is_refused_with_a_message_that_names_the_fix(backend: LocalBackend, call, message: str):
    with pytest.raises(UserError, match=message) as excinfo:
        call(backend)
    assert CANARY_TOKEN not in str(excinfo.value)
    assert backend.ps(all=True) == [] and no_job_folders(backend)  # nothing was recorded or created


def test_a_negative_timeout_is_refused_before_anything_runs(backend: LocalBackend):
    # Requests refuse it (pydantic); a request built around validation is still refused by the backend.
    with pytest.raises(ValueError):
        UvJobRequest(script="print(1)\n", timeout_seconds=-1)
    request = CommandJobRequest.model_construct(command=["true"], image=None, env={}, secrets={}, labels={},
                                                flavor=None, timeout_seconds=-1)
    with pytest.raises(UserError, match=r"timeout -1 must be a whole number of seconds from 1"):
        backend.run(request)


# --- choosing a backend -----------------------------------------------------------------------------------------


def test_without_a_token_the_default_backend_is_local(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("HF_TOKEN")
    assert get_backend().name == "local"
    assert get_backend("local").name == "local"


def test_with_a_token_the_default_backend_is_the_hub(monkeypatch: pytest.MonkeyPatch):
    hub = types.ModuleType("hf_trainer.jobs.hub")

    class HubBackend:
        name = "hub"

        @classmethod
        def from_env(cls) -> "HubBackend":
            return cls()

    hub.HubBackend = HubBackend
    monkeypatch.setitem(sys.modules, "hf_trainer.jobs.hub", hub)
    assert isinstance(get_backend(), HubBackend)
    assert get_backend("local").name == "local"
