"""The hf_jobs MCP tools through the in-process MCP client, against the fake Hub."""

import asyncio
import json
from typing import Any

import pytest
from conftest import CANARY_TOKEN
from fakes.fake_hub import FakeHub
from mcp import Client

from hf_trainer.server import mcp

SEEN: list[str] = []  # every text and structured result of this module, checked for the canary at the end


def call(tool: str, operation: str | None = None, args: dict[str, Any] | None = None,
         backend: str | None = None) -> Any:
    arguments: dict[str, Any] = {}
    if operation is not None:
        arguments["operation"] = operation
    if args is not None:
        arguments["args"] = args
    if backend is not None:
        arguments["backend"] = backend

    async def go() -> Any:
        async with Client(mcp) as client:
            return await client.call_tool(tool, arguments)

    result = asyncio.run(go())
    SEEN.append(result.content[0].text)
    SEEN.append(json.dumps(result.structured_content))
    return result


def ok(operation: str | None = None, args: dict[str, Any] | None = None, tool: str = "hf_jobs",
       backend: str | None = None) -> tuple[str, dict]:
    result = call(tool, operation, args, backend)
    assert not result.is_error, result.content[0].text
    return result.content[0].text, result.structured_content


def refused(operation: str | None, args: dict[str, Any] | None, tool: str = "hf_jobs",
            backend: str | None = None) -> str:
    result = call(tool, operation, args, backend)
    assert result.is_error
    return result.content[0].text


def test_both_tools_are_listed_with_honest_annotations_and_an_output_schema() -> None:
    async def go() -> Any:
        async with Client(mcp) as client:
            return await client.list_tools()

    tools = {t.name: t for t in asyncio.run(go()).tools}
    assert tools["hf_jobs"].annotations.destructive_hint is True
    assert tools["hf_jobs"].annotations.read_only_hint is False
    assert tools["hf_jobs_status"].annotations.read_only_hint is True
    assert tools["hf_jobs_status"].annotations.destructive_hint is False
    assert {"job", "jobs", "text", "logs"} <= set(tools["hf_jobs"].output_schema["properties"])


@pytest.mark.parametrize("arguments", [(None, None), (None, {"help": True}), ("help", None), ("ps", {"help": True})])
def test_no_operation_or_help_returns_usage_with_examples(arguments: tuple) -> None:
    text, data = ok(*arguments)
    assert "Operations and args" in text and '"script": "train_sft.py"' in text
    assert data["operation"] == "help"


def test_uv_submits_and_says_id_url_flavor_price_timeout_and_how_to_check(fake_hub: FakeHub) -> None:
    text, data = ok("uv", {"script": "print('hi')\n", "flavor": "a10g-large", "timeout": "2h",
                           "secrets": {"HF_TOKEN": "$HF_TOKEN"}})
    job_id = data["job"]["id"]
    assert job_id in fake_hub.jobs
    assert f"Submitted job {job_id} (hub backend): SCHEDULING." in text
    assert f"URL:     {fake_hub.url}/jobs/alice/{job_id}" in text
    assert "Flavor:  a10g-large ($1.50/h, at most $3.00 if it runs to the timeout)" in text
    assert "Timeout: 2h00m" in text
    assert f"'inspect' args {{\"job_id\": \"{job_id}\"}}" in text
    assert data["price_per_hour"] == pytest.approx(1.5)
    assert fake_hub.bodies("POST", r"^/api/jobs/alice$")[0]["secrets"] == {"HF_TOKEN": CANARY_TOKEN}


def test_run_without_a_timeout_states_the_hubs_default(fake_hub: FakeHub) -> None:
    text, data = ok("run", {"image": "python:3.12", "command": ["python", "-c", "print(1)"]})
    assert "Timeout: 30m (the Hub's default)" in text
    assert "cpu-basic ($0.01/h" in text
    assert data["job"]["image"] == "python:3.12"


def test_ps_is_a_compact_table_that_shows_queued_jobs(fake_hub: FakeHub) -> None:
    queued = fake_hub.add_job("SCHEDULING")
    fake_hub.add_job("COMPLETED")
    text, data = ok("ps")
    lines = text.splitlines()
    assert lines[0].split() == ["ID", "STAGE", "CREATED", "FLAVOR", "COMMAND"]
    assert len(lines) == 2 and lines[1].startswith(queued["id"]) and "SCHEDULING" in lines[1]
    assert [j["id"] for j in data["jobs"]] == [queued["id"]]
    text, data = ok("ps", {"all": True}, tool="hf_jobs_status")
    assert len(data["jobs"]) == 2


def test_logs_inspect_wait_cancel_and_metrics(fake_hub: FakeHub) -> None:
    job = fake_hub.add_job("RUNNING", logs=["loss 1.0", "loss 0.5"])
    fake_hub.metrics[job["id"]] = [{"cpu_usage_pct": 10, "cpu_millicores": 2000, "memory_used_bytes": 1,
                                    "memory_total_bytes": 2, "rx_bps": 0, "tx_bps": 0, "gpus": {}}]
    text, data = ok("logs", {"job_id": job["id"], "tail": 1})
    assert data["logs"] == ["loss 0.5"] and text.endswith("\nloss 0.5\n```")  # fenced: the job's text, not ours
    text, data = ok("inspect", {"job_id": [job["id"], job["id"]]})
    assert len(data["jobs"]) == 2 and f"Job {job['id']}: RUNNING" in text
    text, data = ok("metrics", {"job_id": job["id"]})
    assert data["metrics"]["cpu_usage_pct"] == 10 and "CPU 10% of 2 cores" in text
    text, data = ok("cancel", {"job_id": job["id"]})
    assert data["job"]["stage"] == "CANCELED"
    text, data = ok("wait", {"job_id": job["id"], "timeout": "10s"})
    assert data["job"]["stage"] == "CANCELED"


def test_hardware_lists_flavors_with_prices(fake_hub: FakeHub) -> None:
    text, data = ok("hardware", tool="hf_jobs_status")
    names = {row["name"]: row for row in data["hardware"]}
    assert names["h200"]["price_per_hour"] == pytest.approx(5.0, abs=0.01)
    assert "`h200`" in text


def test_scheduled_operations_end_to_end(fake_hub: FakeHub) -> None:
    text, data = ok("scheduled run", {"image": "python:3.12", "command": ["true"], "schedule": "0 9 * * 1"})
    sid = data["scheduled_job"]["id"]
    assert f"Scheduled job {sid} created (0 9 * * 1)" in text
    assert [s["id"] for s in ok("scheduled ps", tool="hf_jobs_status")[1]["scheduled_jobs"]] == [sid]
    assert ok("scheduled suspend", {"scheduled_job_id": sid})[1]["scheduled_job"]["suspend"] is True
    assert ok("scheduled_resume", {"scheduled_job_id": sid})[1]["scheduled_job"]["suspend"] is False
    text, data = ok("scheduled trigger", {"scheduled_job_id": sid})
    assert data["job"]["id"] in fake_hub.jobs
    assert ok("scheduled inspect", {"scheduled_job_id": sid})[1]["scheduled_job"]["last_job_id"] == data["job"]["id"]
    assert "deleted" in ok("scheduled delete", {"scheduled_job_id": sid})[0]
    ok("scheduled uv", {"script": "print(1)\n", "schedule": "@hourly", "suspend": True})
    assert ok("scheduled ps", {"all": True})[1]["scheduled_jobs"][0]["suspend"] is True


@pytest.mark.parametrize(
    ("operation", "args", "message"),
    [
        ("deploy", {}, "operation 'deploy' is not known."),  # unknown operation
        ("logs", {"job_id": "abc123", "taill": 3}, "logs does not take the argument 'taill'. Did you mean 'tail'?"),
        ("run", {"image": "ubuntu", "command": "ls | wc -l"}, "uses the shell operator '|'"),  # pipe in a string
        ("run", {"image": "ubuntu", "command": "make && make test"}, "uses the shell operator '&&'"),
        ("run", {"image": "ubuntu", "command": "echo hi > out.txt"}, "[\"bash\", \"-c\""),  # redirection: hint
        ("run", {"image": "ubuntu", "command": []}, "command [] must be a non-empty list"),
        ("run", {"command": ["ls"]}, "run needs image"),
        ("uv", {"script": "print(1)", "timeout": "2hours"}, "timeout '2hours' is not a duration"),  # hf-mcp-server: 2 s
        ("uv", {"script": "print(1)", "timeout": "5x"}, "timeout '5x' is not a duration"),
        ("uv", {"script": "print(1)", "timeout": 0}, "timeout 0 is not a duration"),
        ("uv", {"script": "print(1)", "timeout": -5}, "timeout -5 is not a duration"),
        ("uv", {"script": "print(1)", "volumes": ["hf://datasets/org/d"]}, "Missing mount path"),  # no mount path
        ("uv", {"script": "print(1)", "volumes": ["/data:/data"]}, "is not a Hub mount"),  # not hf://
        ("uv", {"script": "print(1)", "flavor": "a100-larg"}, "Did you mean 'a100-large'"),  # typo
        ("uv", {"script": "print(1)", "attempts": 0}, "attempts 0 must be at least 1"),
        ("uv", {"script": "print(1)", "labels": {"bad key": "v"}}, "'bad key'='v': label keys and values use only"),
        ("uv", {"script": "print(1)", "env": {"TOKEN": CANARY_TOKEN}}, "Pass it as a secret instead"),
        ("uv", {"script": "missing_file.py"}, "The script file 'missing_file.py' does not exist"),
        ("uv", {}, "uv needs script"),
        ("uv", {"script": "print(1)", "repo": "me/scripts"}, "the script is shipped inline"),  # hf-mcp-server's repo
        ("scheduled run", {"image": "u", "command": ["ls"], "schedule": "every day"}, "is not a CRON expression"),
        ("inspect", {}, "inspect needs job_id"),
        ("ps", {"status": "DONE"}, "status 'DONE' is not a job stage"),
        ("scheduled delete", {}, "scheduled delete needs scheduled_job_id"),
        ("logs", {"job_id": "abc123", "timeout": "1m"}, "logs takes timeout only with follow=true"),
        # Ids are checked against the formats the Hub issues before they can reach a URL (issue 21 item 1).
        ("cancel", {"job_id": "../../../api/repos/create?x="}, "job_id '../../../api/repos/create?x=' is not a job id"),
        ("inspect", {"job_id": ["abc123", "a/b"]}, "is not a job id: ids are hexadecimal"),
        ("logs", {"job_id": "abc#frag"}, "is not a job id"),
        ("scheduled delete", {"scheduled_job_id": "../../../api/repos/delete?"}, "is not a scheduled job id"),
        ("webhook delete", {"webhook_id": "a%2F..%2Fapi"}, "is not a webhook id"),
        ("retry", {"job_id": ".."}, "is not a job id"),
    ],
)
def test_bad_inputs_are_refused_with_their_message(fake_hub: FakeHub, operation: str, args: dict,
                                                   message: str) -> None:
    text = refused(operation, args)
    assert message in text
    assert fake_hub.count("POST", r"^/api/") == 0  # nothing was submitted


def test_args_sent_as_json_text_are_read_and_other_shapes_refused(fake_hub: FakeHub) -> None:
    job = fake_hub.add_job("RUNNING")
    text, data = ok("inspect", json.dumps({"job_id": job["id"]}))  # type: ignore[arg-type]
    assert data["job"]["id"] == job["id"]
    assert "args '{job_id' is not a JSON object" in refused("inspect", "{job_id")  # type: ignore[arg-type]


def test_the_read_only_tool_refuses_operations_that_change_things(fake_hub: FakeHub) -> None:
    job = fake_hub.add_job("RUNNING")
    assert "hf_jobs_status only reads; operation 'cancel'" in refused("cancel", {"job_id": job["id"]},
                                                                     tool="hf_jobs_status")
    assert fake_hub.jobs[job["id"]]["status"]["stage"] == "RUNNING"


def test_an_unknown_job_and_a_refused_token_get_actionable_errors(fake_hub: FakeHub) -> None:
    assert "No job '0123456789abcdef01234567' in namespace 'alice'" in refused(
        "inspect", {"job_id": "0123456789abcdef01234567"})
    fake_hub.tokens = {"hf_" + "someOtherToken" + "x" * 26}
    # A new token means a new backend: the cached one for the canary token would keep its namespace.
    assert "Run 'hf auth login' or set HF_TOKEN" in refused("ps", None)


def test_hub_only_operations_on_the_local_backend_say_so() -> None:
    assert "exists only on Hugging Face Jobs" in refused("hardware", None, backend="local")


def test_without_a_token_the_default_backend_is_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_TOKEN")
    text, data = ok("ps")
    assert data["backend"] == "local" and text == "No jobs."


def test_a_submitted_secret_is_redacted_from_later_logs_and_inspect(fake_hub: FakeHub) -> None:
    secret = "wandb-secret-value-0123456789"
    _, data = ok("run", {"image": "python:3.12", "command": ["python", "train.py"],
                         "secrets": {"WANDB_API_KEY": secret}})
    job_id = data["job"]["id"]
    fake_hub.logs[job_id] = [f"wandb: logging in with {secret}", f"hf: {CANARY_TOKEN}"]
    text, data = ok("logs", {"job_id": job_id}, tool="hf_jobs_status")
    assert data["logs"] == ["wandb: logging in with ***", "hf: ***"]
    assert secret not in text
    text, data = ok("inspect", {"job_id": job_id})
    assert data["job"]["secret_names"] == ["WANDB_API_KEY"] and secret not in json.dumps(data)


def test_the_canary_token_appeared_in_no_output_of_this_module() -> None:
    # Runs last in this module (pytest keeps file order): every result above was recorded in SEEN.
    assert len(SEEN) > 40
    assert not [text for text in SEEN if CANARY_TOKEN in text]
