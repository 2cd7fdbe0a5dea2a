"""The Hub backend against a fake Hub on 127.0.0.1, driven by the real huggingface_hub client."""

import base64
import random
import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import CANARY_TOKEN
from fakes.fake_hub import FakeHub
from huggingface_hub import HfApi

from hf_trainer.errors import UserError
from hf_trainer.jobs import hub as hub_module
from hf_trainer.jobs.arguments import HubCommandJobRequest, HubUvJobRequest
from hf_trainer.jobs.base import Stage, UvJobRequest
from hf_trainer.jobs.hub import SCRIPT_ENV, UV_IMAGE, HubBackend, shipped_script
from hf_trainer.jobs.hub_errors import Retry
from hf_trainer.operations import parse_call


class FakeClock:
    """Monotonic time that moves only when the backend sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_backend(hub: FakeHub, clock: FakeClock, token: str = CANARY_TOKEN, **kwargs) -> HubBackend:
    api = HfApi(endpoint=hub.url, token=token)
    retry = Retry(sleep=clock.sleep, rand=lambda: 1.0)
    return HubBackend(api, retry=retry, clock=clock, sleep=clock.sleep, **kwargs)


@pytest.fixture
def backend(fake_hub: FakeHub, clock: FakeClock) -> HubBackend:
    return make_backend(fake_hub, clock)


def posted_spec(hub: FakeHub) -> dict:
    bodies = hub.bodies("POST", r"^/api/jobs/[^/]+$")
    assert len(bodies) == 1
    return bodies[0]


# --- submitting ---


def test_an_inline_script_is_sent_as_base64_in_env_on_the_uv_image(fake_hub: FakeHub, backend: HubBackend) -> None:
    script = "# /// script\n# dependencies = ['rich']\n# ///\nprint('héllo \"world\"')\n"
    call = parse_call("uv", {"script": script, "flavor": "a10g-large", "timeout": "2h", "script_args": ["--n", "3"],
                             "secrets": {"HF_TOKEN": "$HF_TOKEN"}, "labels": {"project": "sft"},
                             "with_deps": ["trl>=1.16"], "python": "3.12"})
    job = backend.uv(call.uv)

    spec = posted_spec(fake_hub)
    assert spec["dockerImage"] == UV_IMAGE
    assert spec["flavor"] == "a10g-large"
    assert spec["timeoutSeconds"] == 7200
    assert spec["secrets"] == {"HF_TOKEN": CANARY_TOKEN}  # the token travels only as a secret
    assert CANARY_TOKEN not in str(spec["environment"]) and CANARY_TOKEN not in str(spec["command"])
    assert spec["labels"] == {"project": "sft", "name": "script"}
    assert shipped_script(spec["environment"]) == script.encode("utf-8")
    assert spec["command"][:2] == ["bash", "-c"]
    assert spec["command"][2].endswith(
        "exec uv run --with 'trl>=1.16' --python 3.12 /tmp/hf-trainer/script.py --n 3")

    assert job.id in fake_hub.jobs
    assert job.stage is Stage.SCHEDULING
    assert job.url == f"{fake_hub.url}/jobs/alice/{job.id}"
    assert job.flavor == "a10g-large" and job.timeout_seconds == 7200
    assert job.secret_names == ["HF_TOKEN"]
    assert job.command == ["uv", "run", "--with", "trl>=1.16", "--python", "3.12", "/tmp/hf-trainer/script.py",
                           "--n", "3"]
    assert job.env[SCRIPT_ENV].startswith("<inline script")  # not the whole base64 blob


def test_the_shipped_command_decodes_the_same_bytes_and_passes_arguments_intact(
    fake_hub: FakeHub, backend: HubBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Run the container's command here, with a stand-in `uv` that runs the decoded file with this Python.
    monkeypatch.setattr(hub_module, "SCRIPT_DIR", str(tmp_path / "job"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    uv = bin_dir / "uv"
    uv.write_text(f"#!/bin/sh\nshift\nexec {sys.executable} \"$@\"\n", encoding="utf-8")
    uv.chmod(uv.stat().st_mode | stat.S_IEXEC)
    script = ("import sys, json\nprint(json.dumps(sys.argv[1:]))\n"
              "print(open(__file__, encoding='utf-8').read().count('é'))\n# é é\n")
    args = ["--text", "it's a \"test\" $HOME `x`", "a;b|c", ""]
    backend.uv(UvJobRequest(script=script, script_args=args))
    spec = posted_spec(fake_hub)

    env = {**os.environ, **spec["environment"], "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    out = subprocess.run(spec["command"], env=env, capture_output=True, text=True, timeout=60, check=True).stdout
    first, second = out.splitlines()
    assert json.loads(first) == args
    assert second == "3"  # the two in the comment and the one in the count call
    assert (tmp_path / "job" / "script.py").read_bytes() == script.encode("utf-8")


def test_a_local_script_file_is_read_and_shipped_inline_without_upload_or_stdout(
    fake_hub: FakeHub, backend: HubBackend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "train_sft.py"
    path.write_text("print('training')\n", encoding="utf-8")
    job = backend.uv(UvJobRequest(script=str(path)))
    spec = posted_spec(fake_hub)
    assert shipped_script(spec["environment"]) == b"print('training')\n"
    assert spec["command"][2].endswith("exec uv run /tmp/hf-trainer/train_sft.py")
    assert spec["labels"]["name"] == "train_sft"
    assert "volumes" not in spec  # huggingface_hub would mount an uploaded bucket here
    assert [r.path for r in fake_hub.requests if "bucket" in r.path] == []
    assert capsys.readouterr().out == ""  # stdout is the MCP channel
    assert job.command == ["uv", "run", "/tmp/hf-trainer/train_sft.py"]


def test_a_script_url_passes_through_to_uv_run(fake_hub: FakeHub, backend: HubBackend) -> None:
    url = "https://huggingface.co/datasets/me/scripts/resolve/main/train.py"
    backend.uv(UvJobRequest(script=url, script_args=["--x", "1"], dependencies=["trl"]))
    spec = posted_spec(fake_hub)
    assert spec["command"] == ["uv", "run", "--with", "trl", url, "--x", "1"]
    assert SCRIPT_ENV not in spec["environment"]


def test_a_launcher_prefix_goes_between_uv_run_and_the_script(fake_hub: FakeHub, backend: HubBackend) -> None:
    request = HubUvJobRequest(script="https://example.com/t.py", launcher=["accelerate", "launch"])
    backend.uv(request)
    assert posted_spec(fake_hub)["command"] == ["uv", "run", "accelerate", "launch", "https://example.com/t.py"]


def test_a_script_too_large_for_the_environment_is_refused_with_the_url_alternative(backend: HubBackend) -> None:
    # Random text: gzip cannot shrink it below the limit, as it does for ordinary code.
    noise = base64.b64encode(random.Random(0).randbytes(100_000)).decode("ascii")
    with pytest.raises(UserError, match=r"is \d+ bytes even gzipped.*at most 90000 bytes. Host it at an http\(s\) URL"):
        backend.uv(UvJobRequest(script=f"x = '{noise}'\n"))


def test_every_bundled_script_fits_the_job_environment() -> None:
    from conftest import SCRIPTS
    from hf_trainer.jobs.hub import MAX_INLINE_SCRIPT_BYTES, uv_command
    from hf_trainer.jobs.script_source import resolve_script

    for path in sorted(SCRIPTS.glob("*.py")):
        _, env = uv_command(UvJobRequest(script=str(path)), resolve_script(str(path)))
        assert len(base64.b64decode(env[SCRIPT_ENV])) <= MAX_INLINE_SCRIPT_BYTES, path.name


def test_run_sends_the_image_command_volumes_and_attempts(fake_hub: FakeHub, backend: HubBackend) -> None:
    call = parse_call("run", {"image": "python:3.12", "command": "python -c 'print(1)'", "flavor": "h200",
                              "timeout": 90, "env": {"MODE": "x"}, "attempts": 3,
                              "volumes": ["hf://datasets/org/data:/data:ro", "hf://buckets/me/out:/outputs"]})
    job = backend.run(call.run)
    spec = posted_spec(fake_hub)
    assert spec["command"] == ["python", "-c", "print(1)"]
    assert spec["dockerImage"] == "python:3.12"
    assert spec["flavor"] == "h200"  # new flavors are accepted (the live list has them)
    assert spec["timeoutSeconds"] == 90
    assert spec["environment"] == {"MODE": "x"}
    assert "secrets" not in spec
    assert spec["attempts"] == 3
    assert spec["volumes"] == [
        {"type": "dataset", "source": "org/data", "mountPath": "/data", "readOnly": True},
        {"type": "bucket", "source": "me/out", "mountPath": "/outputs"},
    ]
    assert job.image == "python:3.12"


def test_a_space_image_is_sent_as_space_id(fake_hub: FakeHub, backend: HubBackend) -> None:
    backend.run(HubCommandJobRequest(image="hf.co/spaces/lhoestq/duckdb", command=["duckdb"]))
    assert posted_spec(fake_hub)["spaceId"] == "lhoestq/duckdb"


@pytest.mark.parametrize(
    ("flavor", "message"),
    [
        ("a10g-larg", "Did you mean 'a10g-large'"),  # a typo gets the close name
        ("h100", "Unknown hardware flavor 'h100'"),  # retired: not on the live list
    ],
)
def test_an_unknown_flavor_is_refused_before_submitting(fake_hub: FakeHub, backend: HubBackend, flavor: str,
                                                        message: str) -> None:
    with pytest.raises(UserError, match=message):
        backend.run(HubCommandJobRequest(image="python:3.12", command=["true"], flavor=flavor))
    assert fake_hub.count("POST", r"^/api/jobs/") == 0


def test_the_namespace_is_asked_once_and_an_explicit_one_is_used_as_given(fake_hub: FakeHub,
                                                                          backend: HubBackend) -> None:
    backend.ps()
    backend.ps(all=True)
    job = backend.run(HubCommandJobRequest(image="python:3.12", command=["true"]))
    backend.inspect(job.id)
    assert fake_hub.count("GET", r"^/api/whoami-v2$") == 1
    backend.run(HubCommandJobRequest(image="python:3.12", command=["true"], namespace="my-org"))
    assert fake_hub.count("POST", r"^/api/jobs/my-org$") == 1
    assert fake_hub.count("GET", r"^/api/whoami-v2$") == 1


# --- reading ---


def test_ps_shows_scheduling_and_running_jobs_newest_first_across_pages(fake_hub: FakeHub,
                                                                         backend: HubBackend) -> None:
    done = fake_hub.add_job("COMPLETED")
    queued = [fake_hub.add_job("SCHEDULING") for _ in range(2)]
    running = [fake_hub.add_job("RUNNING") for _ in range(2)]
    ids = [j.id for j in backend.ps()]
    assert set(ids) == {j["id"] for j in queued + running}
    assert ids == sorted(ids, key=lambda i: fake_hub.jobs[i]["createdAt"], reverse=True)
    assert done["id"] in [j.id for j in backend.ps(all=True)]
    assert len(backend.ps(all=True)) == 5  # page size 2: three pages followed through Link headers


def test_ps_filters_by_stage_and_label_on_the_server(fake_hub: FakeHub, backend: HubBackend) -> None:
    failed = fake_hub.add_job("ERROR", labels={"project": "sft"})
    fake_hub.add_job("ERROR", labels={"project": "dpo"})
    fake_hub.add_job("RUNNING", labels={"project": "sft"})
    jobs = backend.ps(stage=Stage.ERROR, labels={"project": "sft"})
    assert [j.id for j in jobs] == [failed["id"]]
    listing = [r for r in fake_hub.requests if r.path == "/api/jobs/alice"][-1]
    assert listing.query["stage"] == ["ERROR"] and listing.query["label"] == ["project=sft"]


def test_logs_use_a_server_side_tail_and_hide_the_token(fake_hub: FakeHub, backend: HubBackend) -> None:
    job = fake_hub.add_job("COMPLETED", logs=["one", f"token is {CANARY_TOKEN}", "three", "four"])
    assert list(backend.logs(job["id"], tail=2)) == ["three", "four"]
    assert [r.query.get("tail") for r in fake_hub.requests if r.path.endswith("/logs")] == [["2"]]
    everything = list(backend.logs(job["id"]))
    assert everything == ["one", "token is ***", "three", "four"]  # the 'Job started' banner is dropped


def test_logs_follow_stops_when_the_job_has_ended(fake_hub: FakeHub, backend: HubBackend) -> None:
    job = fake_hub.add_job("COMPLETED", logs=["a", "b"])
    assert list(backend.logs(job["id"], follow=True, timeout=30)) == ["a", "b"]


def test_logs_follow_of_a_running_job_returns_within_its_bound(fake_hub: FakeHub) -> None:
    # Real time here: the bound is what keeps an MCP call from hanging on a job that keeps running.
    backend = HubBackend(HfApi(endpoint=fake_hub.url, token=CANARY_TOKEN))
    job = fake_hub.add_job("RUNNING", logs=["started"])
    start = time.monotonic()
    lines = list(backend.logs(job["id"], follow=True, timeout=1.0))
    assert time.monotonic() - start < 5
    assert lines[:1] == ["started"]
    fake_hub.set_stage(job["id"], "COMPLETED")  # lets the background reader finish


def test_inspect_of_an_unknown_job_names_it_and_how_to_list_jobs(backend: HubBackend) -> None:
    with pytest.raises(UserError, match=r"No job 'nope' in namespace 'alice'\. List your jobs.*ps --all"):
        backend.inspect("nope")


def test_cancel_reports_the_canceled_job(fake_hub: FakeHub, backend: HubBackend) -> None:
    job = fake_hub.add_job("RUNNING")
    assert backend.cancel(job["id"]).stage is Stage.CANCELED
    assert fake_hub.count("POST", rf"/api/jobs/alice/{job['id']}/cancel$") == 1


def test_wait_returns_a_failed_job_as_data(fake_hub: FakeHub, backend: HubBackend) -> None:
    job = fake_hub.add_job("ERROR", message="exit code 1")
    info = backend.wait(job["id"], timeout=10)
    assert info.stage is Stage.ERROR and info.message == "exit code 1"


def test_wait_gives_up_after_its_timeout_with_what_to_do_next(fake_hub: FakeHub, backend: HubBackend,
                                                               clock: FakeClock) -> None:
    job = fake_hub.add_job("RUNNING")
    with pytest.raises(UserError, match=r"still RUNNING after 30s.*'wait' or 'inspect'"):
        backend.wait(job["id"], timeout=30, poll_interval=10)
    assert clock.sleeps == [10, 10, 10]


def test_metrics_of_a_running_job_report_cpu_gpu_and_memory(fake_hub: FakeHub, backend: HubBackend) -> None:
    job = fake_hub.add_job("RUNNING")
    fake_hub.metrics[job["id"]] = [{"cpu_usage_pct": 80, "cpu_millicores": 4000, "memory_used_bytes": 2 * 1024**3,
                                    "memory_total_bytes": 16 * 1024**3, "rx_bps": 1, "tx_bps": 2,
                                    "gpus": {"g0": {"utilization": 95, "memory_used_bytes": 20 * 1024**3,
                                                    "memory_total_bytes": 24 * 1024**3}}}]
    metrics = backend.metrics(job["id"])
    assert metrics.cpu_usage_pct == 80 and metrics.gpus[0]["utilization"] == 95
    assert "GPU g0: 95% busy, 20.0 / 24.0 GiB" in metrics.render()


def test_metrics_of_a_finished_job_say_why_there_are_none(fake_hub: FakeHub, backend: HubBackend) -> None:
    job = fake_hub.add_job("COMPLETED")
    assert "metrics exist only while a job runs" in backend.metrics(job["id"]).render()


def test_hardware_lists_live_flavors_with_prices(backend: HubBackend) -> None:
    catalog = backend.hardware()
    prices = {row.name: row.price_per_hour for row in catalog.flavors}
    assert catalog.source == "live"
    assert prices["h200"] == pytest.approx(5.0, abs=0.01)
    assert prices["rtx-pro-6000"] == pytest.approx(2.75, abs=0.01)


# --- scheduled jobs ---


def test_scheduled_jobs_go_through_their_whole_life(fake_hub: FakeHub, backend: HubBackend) -> None:
    call = parse_call("scheduled uv", {"script": "print(1)\n", "schedule": "@daily",
                                       "secrets": {"HF_TOKEN": "$HF_TOKEN"}})
    item = backend.scheduled_create(call.uv, schedule=call.schedule)
    body = fake_hub.bodies("POST", r"^/api/scheduled-jobs/alice$")[0]
    assert body["schedule"] == "@daily"
    assert body["jobSpec"]["secrets"] == {"HF_TOKEN": CANARY_TOKEN}
    assert shipped_script(body["jobSpec"]["environment"]) == b"print(1)\n"
    assert item.schedule == "@daily" and item.secret_names == ["HF_TOKEN"] and not item.suspend

    assert [s.id for s in backend.scheduled_ps()] == [item.id]
    assert backend.scheduled_action("suspend", item.id).suspend is True
    assert backend.scheduled_ps() == []  # suspended ones only with all
    assert [s.id for s in backend.scheduled_ps(all=True)] == [item.id]
    assert backend.scheduled_action("resume", item.id).suspend is False
    started = backend.scheduled_action("trigger", item.id)
    assert started.id in fake_hub.jobs
    assert backend.scheduled_inspect(item.id).last_job_id == started.id
    assert backend.scheduled_action("delete", item.id) is None
    with pytest.raises(UserError, match=rf"No scheduled job '{item.id}' in namespace 'alice'.*'scheduled ps'"):
        backend.scheduled_inspect(item.id)


# --- errors ---


def test_a_refused_token_says_how_to_log_in(fake_hub: FakeHub, clock: FakeClock) -> None:
    backend = make_backend(fake_hub, clock, token="hf_" + "wrongToken" + "x" * 30)
    with pytest.raises(UserError) as err:
        backend.ps()
    assert "401 Unauthorized" in str(err.value) and "Run 'hf auth login' or set HF_TOKEN" in str(err.value)
    assert "hf_wrongToken" not in str(err.value)


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (403, {}, r"Your token may not submit the job in namespace 'alice' \(403 Forbidden\).*write"),  # read token
        (429, {"Retry-After": "30"}, r"rate limiting.*Retry in 30 seconds"),  # Retry-After in seconds
        (429, {}, r"rate limiting.*Retry in a minute"),  # no hint from the server
        (402, {}, r"no credits or payment method.*billing"),  # no payment method
        (400, {}, r"refused the request to submit the job \(400\)\. The Hub said: injected 400"),  # server text
    ],
)
def test_hub_errors_on_submit_become_actionable_messages(fake_hub: FakeHub, backend: HubBackend, status: int,
                                                         headers: dict, expected: str) -> None:
    backend.namespace()
    fake_hub.fail("POST", r"^/api/jobs/alice$", status, headers=headers)
    with pytest.raises(UserError, match=expected):
        backend.run(HubCommandJobRequest(image="python:3.12", command=["true"]))


def test_a_passing_server_error_on_a_read_is_retried_with_backoff(fake_hub: FakeHub, backend: HubBackend,
                                                                  clock: FakeClock) -> None:
    job = fake_hub.add_job("RUNNING")
    backend.namespace()
    fake_hub.fail("GET", rf"^/api/jobs/alice/{job['id']}$", 503, times=2)
    assert backend.inspect(job["id"]).stage is Stage.RUNNING
    assert clock.sleeps == [0.5, 1.0]  # exponential, with the jitter source pinned at its maximum


def test_a_lasting_server_error_is_reported_after_the_retries(fake_hub: FakeHub, backend: HubBackend,
                                                              clock: FakeClock) -> None:
    job = fake_hub.add_job("RUNNING")
    backend.namespace()
    fake_hub.fail("GET", rf"^/api/jobs/alice/{job['id']}$", 500, times=10)
    with pytest.raises(UserError, match=r"Hub is unavailable \(HTTP 500\) after 4 attempts while trying to inspect"):
        backend.inspect(job["id"])
    assert len(clock.sleeps) == 3


def test_a_server_error_on_submit_is_not_retried_so_no_job_is_started_twice(fake_hub: FakeHub,
                                                                            backend: HubBackend) -> None:
    backend.namespace()
    fake_hub.fail("POST", r"^/api/jobs/alice$", 500)
    with pytest.raises(UserError, match=r"HTTP 500"):
        backend.run(HubCommandJobRequest(image="python:3.12", command=["true"]))
    assert fake_hub.count("POST", r"^/api/jobs/alice$") == 1


def test_an_unreachable_hub_is_reported_with_its_address(clock: FakeClock) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: nothing listens there
    backend = HubBackend(HfApi(endpoint=f"http://127.0.0.1:{port}", token=CANARY_TOKEN), namespace="alice",
                         retry=Retry(sleep=clock.sleep), clock=clock, sleep=clock.sleep)
    with pytest.raises(UserError, match=rf"Could not reach the Hub at http://127.0.0.1:{port} after 4 attempts "
                                        r"while trying to inspect job 'abc' \(ConnectError\)"):
        backend.inspect("abc")


def test_a_server_message_holding_the_token_is_redacted(fake_hub: FakeHub, backend: HubBackend) -> None:
    backend.namespace()
    fake_hub.fail("GET", r"^/api/jobs/alice/", 400, message=f"bad token {CANARY_TOKEN}")
    with pytest.raises(UserError) as err:
        backend.inspect("abc")
    assert CANARY_TOKEN not in str(err.value) and "bad token ***" in str(err.value)


def test_retry_delays_grow_exponentially_up_to_the_cap() -> None:
    retry = Retry(base_delay=1, max_delay=5, rand=lambda: 1.0)
    assert [retry.delay(n) for n in range(1, 6)] == [1, 2, 4, 5, 5]
    assert Retry(base_delay=1, rand=lambda: 0.0).delay(3) == 2  # jitter keeps at least half


# --- construction ---


def test_from_env_uses_hf_endpoint_and_hf_token(fake_hub: FakeHub) -> None:
    backend = HubBackend.from_env()
    assert backend.api.endpoint == fake_hub.url
    assert backend.namespace() == "alice"


def test_from_env_without_a_token_says_how_to_log_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(UserError, match="No Hugging Face token found.*hf auth login"):
        HubBackend.from_env()


# --- CLI parity: hf-trainer jobs metrics / hardware / scheduled ... (jobs/hub_cli.py) ---


def cli(*argv: str) -> int:
    from hf_trainer.cli import main

    return main(list(argv))


def test_cli_scheduled_commands_reach_the_hub(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("jobs", "scheduled", "run", "--json", "-s", "HF_TOKEN", "--flavor", "cpu-basic", "@daily",
               "python:3.12", "python", "-c", "print(1)") == 0
    created = json.loads(capsys.readouterr().out)
    sid = created["scheduled_job"]["id"]
    body = fake_hub.bodies("POST", r"^/api/scheduled-jobs/alice$")[0]
    assert body["jobSpec"]["command"] == ["python", "-c", "print(1)"]
    assert body["jobSpec"]["secrets"] == {"HF_TOKEN": CANARY_TOKEN}
    assert cli("jobs", "scheduled", "suspend", sid) == 0
    assert cli("jobs", "scheduled", "ps") == 0
    assert capsys.readouterr().out.strip().endswith("No scheduled jobs.")
    assert cli("jobs", "scheduled", "ps", "--all") == 0
    out = capsys.readouterr().out
    assert sid in out and "suspended" in out and CANARY_TOKEN not in out
    assert cli("jobs", "scheduled", "uv", "@hourly", "print(2)\n") == 0
    assert cli("jobs", "scheduled", "delete", sid) == 0
    assert f"Scheduled job {sid} deleted." in capsys.readouterr().out


def test_cli_metrics_and_hardware(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
    job = fake_hub.add_job("COMPLETED")
    assert cli("jobs", "metrics", job["id"]) == 0
    assert "metrics exist only while a job runs" in capsys.readouterr().out
    assert cli("jobs", "hardware") == 0
    assert "`rtx-pro-6000`" in capsys.readouterr().out


def test_cli_refuses_bad_hub_arguments_with_the_same_messages_as_the_tool(
    fake_hub: FakeHub, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("jobs", "scheduled", "run", "every-day", "python:3.12", "true") == 2
    assert "is not a CRON expression" in capsys.readouterr().err
    assert cli("jobs", "scheduled", "uv", "--timeout", "2hours", "@daily", "print(1)") == 2
    assert "timeout '2hours' is not a duration" in capsys.readouterr().err


def test_cli_uv_ps_logs_on_the_hub_backend(fake_hub: FakeHub, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "hello.py"
    script.write_text("print('hello')\n", encoding="utf-8")
    assert cli("jobs", "uv", "--backend", "hub", "--json", "--flavor", "t4-small", "--timeout", "90m",
               "-s", "HF_TOKEN", str(script), "--epochs", "2") == 0
    job = json.loads(capsys.readouterr().out)
    spec = posted_spec(fake_hub)
    assert spec["flavor"] == "t4-small" and spec["timeoutSeconds"] == 5400
    assert spec["secrets"] == {"HF_TOKEN": CANARY_TOKEN}
    assert spec["command"][2].endswith("exec uv run /tmp/hf-trainer/hello.py --epochs 2")
    fake_hub.logs[job["id"]] = ["epoch 1", "epoch 2"]
    assert cli("jobs", "logs", job["id"], "--backend", "hub", "--tail", "1") == 0
    assert capsys.readouterr().out == "epoch 2\n"
    assert cli("jobs", "ps", "--backend", "hub") == 0
    assert job["id"] in capsys.readouterr().out


def test_a_script_argument_naming_a_local_file_is_refused_for_the_hub(fake_hub: FakeHub, backend: HubBackend,
                                                                      tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("lr: 1\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"argument '--config=.*config.yaml' names a file on this machine.*volumes"):
        backend.uv(UvJobRequest(script="print(1)\n", script_args=[f"--config={config}"]))
    assert fake_hub.count("POST", r"^/api/jobs/") == 0


def test_a_stage_the_hub_adds_later_does_not_break_listing(fake_hub: FakeHub, backend: HubBackend) -> None:
    job = fake_hub.add_job("PAUSED")
    info = backend.inspect(job["id"])
    assert info.stage is Stage.SCHEDULING and info.message == "Hub stage PAUSED"


def test_following_the_logs_of_an_unknown_job_fails_at_the_call(backend: HubBackend) -> None:
    with pytest.raises(UserError, match="No job 'nope'"):
        backend.logs("nope", follow=True, timeout=1)  # no iteration needed


def test_cli_uv_takes_the_hub_options_namespace_volume_and_attempts(fake_hub: FakeHub,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("jobs", "run", "--backend", "hub", "--namespace", "my-org", "-v", "hf://buckets/me/out:/outputs",
               "--attempts", "2", "python:3.12", "python", "-V") == 0
    spec = fake_hub.bodies("POST", r"^/api/jobs/my-org$")[0]
    assert spec["volumes"] == [{"type": "bucket", "source": "me/out", "mountPath": "/outputs"}]
    assert spec["attempts"] == 2 and spec["command"] == ["python", "-V"]
    assert cli("jobs", "uv", "--backend", "local", "-v", "hf://buckets/me/out:/outputs", "print(1)\n") == 2
    err = capsys.readouterr().err
    assert "only appl" in err and "Hugging Face Jobs" in err and "Remove" in err


def test_a_slow_hub_answer_still_arrives(fake_hub: FakeHub, backend: HubBackend) -> None:
    job = fake_hub.add_job("RUNNING")
    backend.namespace()
    fake_hub.fail("GET", rf"^/api/jobs/alice/{job['id']}$", 200, delay=0.3)  # a pure delay, then the normal answer
    start = time.monotonic()
    assert backend.inspect(job["id"]).stage is Stage.RUNNING
    assert time.monotonic() - start >= 0.3
