"""Faults the product must survive and report: Hub rate limits, server errors and timeouts (retried with backoff and
jitter, then reported with what to do), and local ones: the MCP server SIGKILLed while its jobs run, a training job
SIGKILLed (ERROR with the cause, then resumed from its checkpoint), and a job log that cannot be written: a file-size
limit on the supervisor (fails writes like a full disk does, anywhere), and a real 2 MB tmpfs filled by the job's own
log (where mounting one is allowed)."""

import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import httpx2
import pytest
from conftest import CANARY_TOKEN
from fakes.fake_hub import FakeHub
from huggingface_hub import HfApi
from mcp import Client

from hf_trainer import hub_client
from hf_trainer.errors import UserError
from hf_trainer.jobs import hub as hub_module
from hf_trainer.jobs import local_runner as store
from hf_trainer.jobs.arguments import HubCommandJobRequest
from hf_trainer.jobs.base import Stage, UvJobRequest
from hf_trainer.jobs.hub import HubBackend
from hf_trainer.jobs.hub_errors import Retry
from hf_trainer.jobs.local import LocalBackend
from hf_trainer.paths import bundled_script
from hf_trainer.server import mcp
from hf_trainer.tiny import chat_rows, write_jsonl


class Sleeps:
    """A sleep that only records (the backoff is checked, not waited out)."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def hub_backend(hub: FakeHub, sleeps: Sleeps, rand: Any = lambda: 1.0) -> HubBackend:
    backend = HubBackend(HfApi(endpoint=hub.url, token=CANARY_TOKEN), retry=Retry(sleep=sleeps, rand=rand),
                         sleep=sleeps)
    backend.namespace()
    return backend


# --- Hub faults ---


def test_a_rate_limited_read_waits_as_told_then_succeeds(fake_hub: FakeHub, sleeps: Sleeps) -> None:
    backend = hub_backend(fake_hub, sleeps)
    job = fake_hub.add_job("RUNNING")
    fake_hub.fail("GET", rf"^/api/jobs/alice/{job['id']}$", 429, times=2, headers={"Retry-After": "3"})
    assert backend.inspect(job["id"]).stage is Stage.RUNNING
    assert sleeps.calls == [3.0, 3.0]  # Retry-After is longer than the backoff: it wins


def test_a_lasting_rate_limit_is_reported_after_the_retries_with_when_to_retry(fake_hub: FakeHub,
                                                                               sleeps: Sleeps) -> None:
    backend = hub_backend(fake_hub, sleeps)
    fake_hub.fail("GET", r"^/api/jobs/alice/abc$", 429, times=10)
    with pytest.raises(UserError, match=r"rate limiting your requests \(429 Too Many Requests\) after 4 attempts "
                                        r"while trying to inspect job 'abc'\. Retry in a minute\."):
        backend.inspect("abc")
    assert sleeps.calls == [0.5, 1.0, 2.0]


def test_a_rate_limit_that_resets_in_an_hour_is_reported_at_once(fake_hub: FakeHub, sleeps: Sleeps) -> None:
    backend = hub_backend(fake_hub, sleeps)
    fake_hub.fail("GET", r"^/api/jobs/alice/abc$", 429, headers={"Retry-After": "3600"})
    with pytest.raises(UserError, match=r"Retry in 3600 seconds"):
        backend.inspect("abc")
    assert sleeps.calls == []


@pytest.mark.parametrize("status", [500, 502, 503, 504])  # every 5xx a gateway or the Hub itself answers
def test_server_errors_on_reads_are_retried_with_jittered_exponential_backoff(fake_hub: FakeHub, sleeps: Sleeps,
                                                                              status: int) -> None:
    draws = iter([0.0, 1.0, 0.5])
    backend = hub_backend(fake_hub, sleeps, rand=lambda: next(draws))
    job = fake_hub.add_job("COMPLETED")
    fake_hub.fail("GET", rf"^/api/jobs/alice/{job['id']}$", status, times=3)
    assert backend.inspect(job["id"]).stage is Stage.COMPLETED
    # Full jitter between half and all of 0.5 * 2^(n-1): 0.25 (low draw), 1.0 (high draw), 1.5 (middle draw).
    assert sleeps.calls == [0.25, 1.0, 1.5]


@pytest.fixture
def short_http_timeout() -> Iterator[None]:
    hub_client.use_http_timeouts(httpx2.Timeout(0.5, connect=2.0))
    try:
        yield
    finally:
        hub_client.use_http_timeouts()


def test_a_hub_that_stops_answering_a_read_times_out_and_is_retried(fake_hub: FakeHub, sleeps: Sleeps,
                                                                     short_http_timeout: None) -> None:
    backend = hub_backend(fake_hub, sleeps)
    job = fake_hub.add_job("RUNNING")
    fake_hub.fail("GET", rf"^/api/jobs/alice/{job['id']}$", 200, delay=1.5)  # one answer comes too late
    assert backend.inspect(job["id"]).stage is Stage.RUNNING
    assert len(sleeps.calls) == 1


def test_a_hub_that_never_answers_is_reported_after_the_retries(fake_hub: FakeHub, sleeps: Sleeps,
                                                                short_http_timeout: None) -> None:
    backend = hub_backend(fake_hub, sleeps)
    fake_hub.fail("GET", r"^/api/jobs/alice/abc$", 200, times=4, delay=1.0)
    started = time.monotonic()
    with pytest.raises(UserError, match=r"Could not reach the Hub at http://127\.0\.0\.1:\d+ after 4 attempts while "
                                        r"trying to inspect job 'abc' \(ReadTimeout\)"):
        backend.inspect("abc")
    assert time.monotonic() - started < 10


def test_a_submit_whose_answer_times_out_is_not_sent_twice_and_says_to_check_first(fake_hub: FakeHub, sleeps: Sleeps,
                                                                                   short_http_timeout: None) -> None:
    backend = hub_backend(fake_hub, sleeps)
    fake_hub.fail("POST", r"^/api/jobs/alice$", 200, delay=1.5)  # the Hub creates the job but answers too late
    with pytest.raises(UserError, match=r"may have been submitted.*operation 'ps'"):
        backend.run(HubCommandJobRequest(image="python:3.12", command=["true"]))
    assert fake_hub.count("POST", r"^/api/jobs/alice$") == 1
    time.sleep(1.6)  # the late answer lands: one job, not two
    assert len(fake_hub.jobs) == 1


def test_the_http_client_has_timeouts_once_the_server_picks_the_hub_backend(fake_hub: FakeHub) -> None:
    from huggingface_hub.utils import get_session

    HubBackend.from_env()
    assert get_session().timeout == hub_client.HTTP_TIMEOUT  # huggingface_hub's own default waits forever


def test_through_the_mcp_tool_a_dead_hub_is_a_clear_error_not_a_crash(fake_hub: FakeHub,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Retry, "sleep", staticmethod(lambda seconds: None))
    HubBackend.from_env().namespace()
    fake_hub.fail("GET", r"^/api/jobs/alice/", 503, times=10)

    async def go() -> Any:
        async with Client(mcp) as client:
            return await client.call_tool("hf_jobs_status", {"operation": "inspect", "args": {"job_id": "abc"}})

    result = asyncio.run(go())
    assert result.is_error
    assert "The Hub is unavailable (HTTP 503) after 4 attempts while trying to inspect job 'abc'" in \
        result.content[0].text


# --- local faults ---

TICKS = "import time\nfor i in range(8):\n    print('tick', i, flush=True)\n    time.sleep(0.4)\n"


def _rpc(server: subprocess.Popen, message: dict) -> None:
    server.stdin.write((json.dumps(message) + "\n").encode())
    server.stdin.flush()


def _answer(server: subprocess.Popen, request_id: int) -> dict:
    while True:
        line = server.stdout.readline()
        assert line, "the server closed its output"
        message = json.loads(line)
        if message.get("id") == request_id:
            return message


def test_sigkill_of_the_mcp_server_leaves_its_jobs_running_and_their_records_intact(tmp_path: Path) -> None:
    env = {**os.environ, "HF_TRAINER_LOCAL_PYTHON": "current"}
    server = subprocess.Popen([sys.executable, "-m", "hf_trainer.cli", "mcp"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=tmp_path)
    try:
        _rpc(server, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
        _answer(server, 1)
        _rpc(server, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        job_ids = []
        for n in range(2):
            _rpc(server, {"jsonrpc": "2.0", "id": 10 + n, "method": "tools/call", "params": {"name": "hf_jobs",
                 "arguments": {"operation": "uv", "backend": "local", "args": {"script": TICKS}}}})
            result = _answer(server, 10 + n)["result"]
            assert not result.get("isError"), result
            job_ids.append(result["structuredContent"]["job"]["id"])
    finally:
        server.kill()  # SIGKILL: no clean-up code of the server runs
        server.wait(timeout=30)
    assert server.returncode == -signal.SIGKILL

    backend = LocalBackend()
    assert {j.id for j in backend.ps()} == set(job_ids)  # still running after the server died
    for job_id in job_ids:
        final = backend.wait(job_id, timeout=120, poll_interval=0.2)
        assert final.stage is Stage.COMPLETED and final.exit_code == 0, final
        assert list(backend.logs(job_id)) == [f"tick {i}" for i in range(8)]


def test_a_sigkilled_training_job_is_an_error_with_its_cause_and_resumes_from_its_checkpoint(
        tiny_model: Path, tmp_path: Path) -> None:
    backend = LocalBackend(use_uv=False)
    data = write_jsonl(chat_rows(64), tmp_path / "chat.jsonl")
    out = tmp_path / "out"
    args = ["--model_name_or_path", str(tiny_model), "--dataset_name", str(data), "--output_dir", str(out),
            "--max_steps", "8", "--save_steps", "2", "--report_to", "none", "--eval_split_size", "0",
            "--max_length", "128", "--per_device_train_batch_size", "8", "--learning_rate", "3e-3", "--json"]
    script = str(bundled_script("train_sft.py"))
    first = backend.uv(UvJobRequest(script=script, script_args=args))
    deadline = time.monotonic() + 240
    while not (out / "checkpoint-2" / "trainer_state.json").exists():
        assert backend.inspect(first.id).stage in (Stage.SCHEDULING, Stage.RUNNING), list(backend.logs(first.id))
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    row = store.fetch(backend.db_path, first.id)
    os.kill(row["child_pid"], signal.SIGKILL)

    killed = backend.wait(first.id, timeout=60, poll_interval=0.2)
    assert killed.stage is Stage.ERROR and killed.message == "killed by SIGKILL (9)" and killed.exit_code == 137
    saved = sorted(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*") if (p / "trainer_state.json").exists())
    assert saved and saved[-1] < 8  # killed mid-run

    second = backend.uv(UvJobRequest(script=script, script_args=[*args, "--resume"]))
    done = backend.wait(second.id, timeout=300, poll_interval=0.2)
    assert done.stage is Stage.COMPLETED, "\n".join(backend.logs(second.id, tail=30))
    summary = json.loads(list(backend.logs(second.id, tail=1))[-1])
    assert summary["steps"] == 8
    state = json.loads((out / "checkpoint-8" / "trainer_state.json").read_text(encoding="utf-8"))
    assert [e["step"] for e in state["log_history"] if "loss" in e] == list(range(1, 9))  # resumed, not restarted


LOG_LIMIT = 64 * 1024  # bytes a file of the supervisor's may reach; the job prints about 240 KB


def _limit_file_size() -> None:
    # What a full disk does to a writer, without filling a disk: writes past the limit fail (EFBIG). SIGXFSZ would
    # kill the writer instead of failing the write, so it is ignored, as a server would.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LOG_LIMIT, LOG_LIMIT))


def test_a_log_that_cannot_be_written_is_reported_and_the_job_and_server_go_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_popen = subprocess.Popen

    def popen(args: Any, **kwargs: Any) -> subprocess.Popen:
        if "hf_trainer.jobs.local_runner" in args:
            kwargs["preexec_fn"] = _limit_file_size
        return real_popen(args, **kwargs)

    backend = LocalBackend(use_uv=False)
    script = "for i in range(6000):\n    print(f'line {i:05d} ' + 'x' * 30)\nprint('done')\n"
    with monkeypatch.context() as patched:
        patched.setattr(subprocess, "Popen", popen)
        job = backend.uv(UvJobRequest(script=script))

    final = backend.wait(job.id, timeout=120, poll_interval=0.2)
    assert final.stage is Stage.COMPLETED and final.exit_code == 0  # the job was not blocked by its full log
    assert final.message.startswith("exited with code 0; the log could not be written after ")
    assert "File too large" in final.message and "free disk space" in final.message
    log_size = (Path(final.url.removeprefix("file://")).stat().st_size)
    assert log_size <= LOG_LIMIT
    lines = list(backend.logs(job.id, tail=3))
    assert lines and lines[-1].startswith("line ")  # what was written is still readable

    async def go() -> Any:
        async with Client(mcp) as client:
            return await client.call_tool("hf_jobs_status", {"operation": "inspect", "backend": "local",
                                                             "args": {"job_id": job.id}})

    result = asyncio.run(go())  # the server reads the record and reports the log problem
    assert not result.is_error and "the log could not be written" in result.content[0].text


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MB file system (tmpfs), where this machine lets us mount one (root in a container that allows it)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True,
                             text=True) if os.geteuid() == 0 else None
    if mounted is None or mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root and mount rights); the file-size-limit test above "
                    "covers the log writer")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def _mcp_call(name: str, arguments: dict) -> tuple[bool, str, dict]:
    async def go() -> Any:
        async with Client(mcp) as client:
            return await client.call_tool(name, arguments)

    result = asyncio.run(go())
    text = result.content[0].text
    assert text.strip() != f"Error executing tool {name}", "a masked crash"
    return bool(result.is_error), text, result.structured_content or {}


def test_a_really_full_disk_is_reported_by_the_server_which_goes_on_after_space_is_freed(
        small_disk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TRAINER_HOME", str(small_disk / "home"))
    monkeypatch.setenv("HF_TRAINER_LOCAL_PYTHON", "current")
    # The job's own output fills the disk (4 MB of log on a 2 MB disk).
    noisy = "for i in range(40000):\n    print(f'line {i:06d} ' + 'x' * 90)\nprint('done')\n"
    is_error, text, data = _mcp_call("hf_jobs", {"operation": "uv", "backend": "local", "args": {"script": noisy}})
    assert not is_error, text
    job_id = data["job"]["id"]

    deadline = time.monotonic() + 120
    while True:  # while the disk is full, reads may be refused - with our message, never as a crash
        is_error, text, data = _mcp_call("hf_jobs_status", {"operation": "inspect", "backend": "local",
                                                            "args": {"job_id": job_id}})
        assert not is_error or "free space" in text or "Free disk space" in text, text
        if not is_error and data["job"]["stage"] not in ("SCHEDULING", "RUNNING"):
            break
        assert time.monotonic() < deadline, text
        time.sleep(0.3)
    job = data["job"]
    assert job["stage"] == "COMPLETED" and job["exit_code"] == 0, job  # not blocked by its full log
    assert "the log could not be written" in job["message"] and "No space left on device" in job["message"]

    filler = small_disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        with pytest.raises(OSError):
            while True:
                f.write(b"\0" * 4096)
    is_error, text, _ = _mcp_call("hf_jobs", {"operation": "uv", "backend": "local", "args": {"script": "print(1)"}})
    assert is_error and ("Free disk space" in text or "free space" in text), text

    filler.unlink()
    is_error, text, data = _mcp_call("hf_jobs_status", {"operation": "ps", "backend": "local", "args": {"all": True}})
    assert not is_error and [j["id"] for j in data["jobs"]] == [job_id], text  # the record survived intact
    is_error, text, _ = _mcp_call("hf_jobs_status", {"operation": "logs", "backend": "local",
                                                     "args": {"job_id": job_id, "tail": 2}})
    assert not is_error and "line 0" in text, text
