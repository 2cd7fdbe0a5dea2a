"""Issue 21, items 2, 4, 6, 8, 9, 10 and 11 on the local backend, with real jobs (tiny python processes)."""

import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from conftest import CANARY_TOKEN
from hf_trainer.errors import UserError
from hf_trainer.jobs import local_runner as store
from hf_trainer.jobs.base import CommandJobRequest, Stage, UvJobRequest
from hf_trainer.jobs.local import MAX_ANSWER_CHARS, MAX_LINE_CHARS, LocalBackend, job_base_env

PY = sys.executable
WAIT = 30

# A multi-line secret such as a PEM key (not a real one).
PEM = ("-----BEGIN PRIVATE KEY-----\n"
       "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
       "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n"
       "NMoSfm76oqFvAp8Gy0iz5sxjZmSnXyCdPEovGhLa0VzMaQ8s+CLOyS56YyCFGeJZ\n"
       "-----END PRIVATE KEY-----\n")
OTHER_SECRET = "second-secret-of-this-job"


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LocalBackend]:
    backend = LocalBackend(use_uv=False, cwd=tmp_path)
    yield backend
    for job in backend.ps():
        backend.cancel(job.id)


def finished(backend: LocalBackend, job_id: str):
    return backend.wait(job_id, timeout=WAIT, poll_interval=0.05)


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


# --- item 2: multi-line secrets are redacted whole, line by line, across reads --------------------------------------


def test_a_multi_line_secret_printed_by_a_job_never_reaches_its_log(backend: LocalBackend):
    # Whole; with Windows line ends; one line alone; and byte by byte with flushes, so that it arrives in many reads.
    script = (
        "import os, sys, time\n"
        "pem, other = os.environ['PEM'], os.environ['OTHER']\n"
        "print('whole:', pem)\n"
        "print('crlf:', pem.replace('\\n', '\\r\\n'))\n"
        "print('one line:', pem.splitlines()[2])\n"
        "for ch in pem + other + os.environ['HF_TOKEN']:\n"
        "    sys.stdout.write(ch); sys.stdout.flush()\n"
        "    time.sleep(0.0005)\n"
        "print()\nprint('other:', other)\nprint('done')\n"
    )
    job = backend.uv(UvJobRequest(script=script, secrets={"PEM": PEM, "OTHER": OTHER_SECRET,
                                                         "HF_TOKEN": "$HF_TOKEN"}))
    done = finished(backend, job.id)
    assert done.stage == Stage.COMPLETED, list(backend.logs(job.id))
    shown = "\n".join(backend.logs(job.id))
    assert "done" in shown and "whole: ***" in shown
    stored = b"".join(p.read_bytes() for p in files_under(backend.home))
    for line in [*PEM.splitlines(), OTHER_SECRET, CANARY_TOKEN]:
        if len(line) >= 8:
            assert line not in shown, line
            assert line.encode() not in stored, line


# --- item 4: a large log is read from the end, with capped lines and answer -----------------------------------------


def _finished_job_with_log(backend: LocalBackend, content_at: dict[int, bytes], size: int) -> str:
    job = backend.run(CommandJobRequest(command=["true"]))
    finished(backend, job.id)
    log = Path(store.fetch(backend.db_path, job.id)["job_dir"]) / "log.txt"
    with open(log, "wb") as f:
        f.truncate(size)  # sparse: 300 MB of NUL bytes without a newline, costing no disk
        for offset, data in content_at.items():
            f.seek(offset)
            f.write(data)
    return job.id


def test_tail_of_a_300_mb_log_answers_at_once_with_capped_lines(backend: LocalBackend):
    size = 300 * 1024 * 1024
    end = (b"\n" + b"x" * 50_000 + b"\n" + b"step 1/9\rstep 5/9\rstep 9/9 done\n" + b"last line\n")
    job_id = _finished_job_with_log(backend, {size - len(end): end}, size)
    began = time.monotonic()
    assert list(backend.logs(job_id, tail=1)) == ["last line"]
    lines = list(backend.logs(job_id, tail=3))
    assert time.monotonic() - began < 5
    # A progress bar redrawn with carriage returns reads as the terminal shows it; a 50 KB line is cut, and says so.
    assert lines[1:] == ["step 9/9 done", "last line"]
    assert lines[0].startswith("x" * 100) and len(lines[0]) < MAX_LINE_CHARS + 100 and "line cut" in lines[0]


def test_the_whole_of_a_300_mb_log_is_capped_and_says_where_the_rest_is(backend: LocalBackend):
    size = 300 * 1024 * 1024
    job_id = _finished_job_with_log(backend, {size - 6: b"\nend!\n"}, size)
    began = time.monotonic()
    lines = list(backend.logs(job_id))
    assert time.monotonic() - began < 10
    assert sum(len(line) + 1 for line in lines) < MAX_ANSWER_CHARS + 2 * MAX_LINE_CHARS
    assert lines[-1] == "end!" and "earlier output not shown" in lines[0] and "log.txt" in lines[0]


def test_many_short_lines_are_capped_by_the_answer_limit(backend: LocalBackend):
    body = b"".join(b"line %d\n" % i for i in range(200_000))
    job_id = _finished_job_with_log(backend, {0: body}, len(body))
    lines = list(backend.logs(job_id, tail=100_000))
    assert lines[-1] == "line 199999" and "earlier output not shown" in lines[0]
    assert sum(len(line) + 1 for line in lines) <= MAX_ANSWER_CHARS + 1000


# --- item 6 and 11: bad input is refused before anything is recorded -----------------------------------------------


@pytest.mark.parametrize("request_", [
    UvJobRequest(script="print(1)\n", env={"A=B": "1"}),  # '=' in a name: the OS cannot set it
    UvJobRequest(script="print(1)\n", env={"A": "x\x00y"}),  # a NUL in a value
    UvJobRequest(script="print(1)\n", secrets={"S": "x\x00y"}),
    UvJobRequest(script="print(1)\n", env={"": "1"}),
    UvJobRequest(script="print(1)\n", script_args=["--x", "a\x00b"]),  # crashed the supervisor, blamed a restart
    CommandJobRequest(command=["true", "a\x00b"]),
    UvJobRequest.model_construct(script="print(1)\n", script_args=[], dependencies=[], python=None, env={},
                                 secrets={}, labels={}, flavor=None, timeout_seconds=int("9" * 30)),
    CommandJobRequest.model_construct(command=["true"], image=None, env={}, secrets={}, labels={}, flavor=None,
                                      timeout_seconds=10**400),
])
def test_bad_input_is_refused_by_name_and_leaves_no_record(backend: LocalBackend, request_):
    submit = backend.uv if isinstance(request_, UvJobRequest) else backend.run
    with pytest.raises(UserError) as err:
        submit(request_)
    assert any(word in str(err.value) for word in ("NUL", "name", "timeout")), err.value
    assert backend.ps(all=True) == []
    assert not backend.jobs_dir.exists() or not any(backend.jobs_dir.iterdir())


@pytest.mark.parametrize("value", ["9" * 30, "1e308", "NaN", 1e308, float("nan"), 10**300])
def test_absurd_timeouts_are_refused_with_the_accepted_range(value):
    from hf_trainer.timeouts import parse_timeout

    with pytest.raises(UserError, match="timeout"):
        parse_timeout(value)


def test_a_100000_character_job_id_is_simply_unknown(backend: LocalBackend):
    for call in (backend.inspect, backend.cancel, lambda i: list(backend.logs(i))):
        with pytest.raises(UserError, match="No local job with id") as err:
            call("a" * 100_000)
        assert len(str(err.value)) < 400


# --- item 8: a local job starts from a clean environment ------------------------------------------------------------


def test_a_local_job_inherits_no_token_and_no_credential_of_the_server(backend: LocalBackend,
                                                                       monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_TRAINER_MCP_TOKEN", "mcp-auth-token-of-the-server")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-of-the-server")
    monkeypatch.setenv("SOME_UNRELATED_SETTING", "x")
    script = ("import json, os\nprint(json.dumps(sorted(os.environ)))\n")
    job = backend.uv(UvJobRequest(script=script, env={"ASKED": "yes"}))
    finished(backend, job.id)
    import json

    names = set(json.loads(list(backend.logs(job.id))[-1]))
    assert {"ASKED", "PATH", "HOME", "HF_HOME", "JOB_ID"} <= names
    assert not names & {"HF_TOKEN", "HF_TRAINER_MCP_TOKEN", "AWS_SECRET_ACCESS_KEY", "SOME_UNRELATED_SETTING"}


def test_the_base_environment_keeps_the_basics_and_drops_credentials():
    base = job_base_env({"PATH": "/bin", "UV_FIND_LINKS": "/wheels", "UV_INDEX_PASSWORD": "p", "HF_TOKEN": "t",
                         "HF_HUB_TOKEN": "t", "LC_ALL": "C", "GITHUB_TOKEN": "g", "OPENAI_API_KEY": "k",
                         "HF_TRAINER_MCP_TOKEN": "m", "HF_HUB_OFFLINE": "1", "AWS_SECRET_ACCESS_KEY": "s"})
    assert base == {"PATH": "/bin", "UV_FIND_LINKS": "/wheels", "LC_ALL": "C", "HF_HUB_OFFLINE": "1"}


# --- item 9: job files are private ---------------------------------------------------------------------------------


def test_the_home_folder_and_every_job_file_are_private(backend: LocalBackend):
    job = backend.uv(UvJobRequest(script="print('hello')\n"))
    finished(backend, job.id)
    job_dir = Path(store.fetch(backend.db_path, job.id)["job_dir"])
    for folder in (backend.home, backend.jobs_dir, job_dir):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    files = files_under(backend.home)
    assert {"jobs.db", "log.txt", "supervisor.log", "script.py"} <= {p.name for p in files}
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, (path, oct(path.stat().st_mode))


def test_an_existing_wide_home_is_narrowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from hf_trainer import paths

    home = tmp_path / "wide"
    home.mkdir(mode=0o755)
    monkeypatch.setenv("HF_TRAINER_HOME", str(home))
    assert stat.S_IMODE(paths.home().stat().st_mode) == 0o700


# --- item 10: a record whose identity is not proven never leads to a signal ----------------------------------------


@pytest.mark.parametrize("start", [None, "?", "?:123", "", "boot-without-start:"])
def test_a_tampered_record_never_signals_the_process_it_names(backend: LocalBackend, start):
    bystander = subprocess.Popen([PY, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        job = backend.run(CommandJobRequest(command=["true"]))
        finished(backend, job.id)
        with store.session(backend.db_path) as conn:
            conn.execute("UPDATE jobs SET stage='RUNNING', finished_at=NULL, supervisor_pid=?, supervisor_start=?, "
                         "child_pid=?, child_start=? WHERE id=?", (bystander.pid, start, bystander.pid, start, job.id))
        backend.ps()  # read-only, and it signalled
        assert backend.inspect(job.id).stage == Stage.ERROR
        with store.session(backend.db_path) as conn:  # and once more through cancel
            conn.execute("UPDATE jobs SET stage='RUNNING' WHERE id=?", (job.id,))
        backend.cancel(job.id)
        time.sleep(0.2)
        assert bystander.poll() is None, "an unrelated process was signalled"
    finally:
        bystander.kill()
        bystander.wait()


def test_a_proven_identity_is_still_recognised():
    identity = store.process_start(os.getpid())
    assert store.is_same_process(os.getpid(), identity)
    assert not store.is_same_process(os.getpid(), None)
    assert not store.is_same_process(os.getpid(), "?")
