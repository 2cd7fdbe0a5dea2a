"""The budget: set by the person (environment or a 0600 file), raised only at a terminal, and checked against the fake
Hub's ledger before a job spends money."""

import json
import os
import stat
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from conftest import CANARY_TOKEN
from fakes.fake_hub import FakeHub
from huggingface_hub import HfApi

from hf_trainer import budget as b
from hf_trainer.errors import UserError
from hf_trainer.jobs.hub import HubBackend
from hf_trainer.jobs.hub_errors import Retry

UTC = timezone.utc
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
DAY = datetime(2026, 12, 6, tzinfo=UTC)  # periods of a budget set at NOW count from the start of its day


@pytest.fixture(autouse=True)
def no_budget_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (b.ENV_USD, b.ENV_PERIOD, b.ENV_START):
        monkeypatch.delenv(name, raising=False)


def make_backend(hub: FakeHub) -> HubBackend:
    return HubBackend(HfApi(endpoint=hub.url, token=CANARY_TOKEN), retry=Retry(sleep=lambda s: None))


def env_budget(monkeypatch: pytest.MonkeyPatch, usd: str, start: str = "2026-12-01") -> None:
    monkeypatch.setenv(b.ENV_USD, usd)
    monkeypatch.setenv(b.ENV_START, start)


# --- where the budget comes from -------------------------------------------------------------------------------


def test_no_budget_means_no_limit_and_no_hub_call(fake_hub: FakeHub) -> None:
    assert b.load_budget() is None
    assert b.check_spend(make_backend(fake_hub), flavor="h200", timeout_seconds=86400, now=NOW) is None
    assert fake_hub.requests == []


def test_the_environment_sets_the_budget_its_period_and_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(b.ENV_USD, "$75.50")
    monkeypatch.setenv(b.ENV_PERIOD, "7d")
    monkeypatch.setenv(b.ENV_START, "2026-12-01")
    budget = b.load_budget()
    assert (budget.limit_usd, budget.period, budget.source, budget.where) == (75.5, "7d", "environment", b.ENV_USD)
    assert budget.schedule.window(NOW) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 8, tzinfo=UTC))


@pytest.mark.parametrize("name, value", [
    (b.ENV_USD, "fifty"),  # not a number
    (b.ENV_USD, "-5"),  # negative
    (b.ENV_USD, "nan"),
    (b.ENV_PERIOD, "1 month"),
    (b.ENV_START, "yesterday"),
])
def test_a_malformed_environment_budget_refuses_rather_than_switching_the_guard_off(
        monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(b.ENV_USD, "50")
    monkeypatch.setenv(name, value)
    with pytest.raises(UserError) as info:
        b.load_budget()
    assert repr(value) in str(info.value)


def test_budget_set_writes_a_private_file_and_the_environment_wins_over_it(monkeypatch: pytest.MonkeyPatch) -> None:
    budget = b.set_budget("40", "30d", now=NOW)
    assert (budget.limit_usd, budget.period, budget.start, budget.source) == (40.0, "30d", DAY, "config file")
    assert stat.S_IMODE(os.stat(b.config_path()).st_mode) == 0o600
    assert b.load_budget().limit_usd == 40.0
    monkeypatch.setenv(b.ENV_USD, "10")
    assert (b.load_budget().limit_usd, b.load_budget().source) == (10.0, "environment")


def test_lowering_the_budget_needs_no_terminal_but_raising_it_does() -> None:
    b.set_budget(40, now=NOW)
    assert b.set_budget(25, now=NOW).limit_usd == 25.0  # lowering: at once
    for attempt in ({}, {"interactive": False, "confirm": lambda prompt: "60.00"}, {"interactive": True}):
        with pytest.raises(UserError, match="interactive terminal"):
            b.set_budget(60, **attempt)
    assert b.load_budget().limit_usd == 25.0
    with pytest.raises(UserError, match="not '60.00'"):
        b.set_budget(60, interactive=True, confirm=lambda prompt: "600")
    prompts: list[str] = []
    raised = b.set_budget(60, interactive=True, confirm=lambda prompt: prompts.append(prompt) or "60.00")
    assert raised.limit_usd == 60.0 and "from $25.00 per 30d to $60.00 per 30d" in prompts[0]
    assert raised.start == DAY  # the same period length keeps counting from the same day


def test_a_shorter_period_is_a_raise_too() -> None:
    b.set_budget(40, "30d", now=NOW)
    with pytest.raises(UserError, match="interactive terminal"):
        b.set_budget(40, "7d")


def test_removing_the_budget_needs_the_person_at_a_terminal() -> None:
    assert b.clear_budget() is False  # nothing to remove
    b.set_budget(40, now=NOW)
    with pytest.raises(UserError, match="interactive terminal"):
        b.clear_budget()
    assert b.clear_budget(interactive=True, confirm=lambda prompt: "remove") is True
    assert b.load_budget() is None


def test_a_damaged_budget_file_is_named_with_the_fix() -> None:
    b.config_path().write_text("{", encoding="utf-8")
    with pytest.raises(UserError, match="budget set"):
        b.load_budget()


# --- the check --------------------------------------------------------------------------------------------------


def spend_some(hub: FakeHub, now: datetime = NOW) -> None:
    """Spent $3.00 (2 h on a10g-large at $1.50/h, four days before `now`); committed $5.00 (h200 at $5.00/h, queued,
    1 h timeout recorded)."""
    from hf_trainer.jobs.base import JobInfo, Stage
    from hf_trainer.ledger import record_job

    hub.add_job("COMPLETED", flavor="a10g-large", started_at=now - timedelta(days=4, hours=2),
                finished_at=now - timedelta(days=4))
    queued = hub.add_job("SCHEDULING", flavor="h200", created_at=now - timedelta(hours=1))
    record_job(JobInfo(id=queued["id"], backend="hub", stage=Stage.SCHEDULING, flavor="h200"), route="uv",
               timeout_seconds=3600)


def test_a_job_that_fits_reports_what_it_leaves(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    spend_some(fake_hub)
    env_budget(monkeypatch, "20")
    result = b.check_spend(make_backend(fake_hub), flavor="a100-large", timeout_seconds=2 * 3600, now=NOW)
    # 20 - 3 spent - 5 committed - 2 h x $2.50 = 7
    assert (result.budget.spent_usd, result.budget.committed_usd, result.worst_case_usd, result.left_after_usd) == \
        (3.0, 5.0, 5.0, 7.0)
    assert "$7.00 left after it" in result.render()


def test_a_job_over_budget_is_refused_with_every_figure_and_how_the_person_raises_it(
        fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    spend_some(fake_hub)
    env_budget(monkeypatch, "20")
    with pytest.raises(UserError) as info:
        b.check_spend(make_backend(fake_hub), flavor="h200", timeout_seconds=3 * 3600, now=NOW, action="Not submitted")
    text = str(info.value)
    for figure in ("Not submitted: over budget", "$15.00 at most", "h200 at $5.00/h", "180 min timeout",
                   "$20.00 per 30d", "$12.00 left", "spent $3.00", "committed $5.00", "= $23.00 > $20.00",
                   "force does not override", "hf-trainer budget set", b.ENV_USD):
        assert figure in text, figure


def test_a_job_without_a_timeout_is_counted_at_the_hubs_default(fake_hub: FakeHub,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    env_budget(monkeypatch, "1")
    result = b.check_spend(make_backend(fake_hub), flavor="a10g-large", timeout_seconds=None, now=NOW)
    assert (result.timeout_seconds, result.worst_case_usd, result.left_after_usd) == (1800, 0.75, 0.25)


def test_a_schedule_is_charged_for_every_run_due_before_the_period_ends(fake_hub: FakeHub,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    env_budget(monkeypatch, "30")
    # @daily on a10g-large, 1 h each: 24 runs (Dec 7 .. 30) x $1.50 = $36 > $30
    with pytest.raises(UserError, match=r"x 24 runs due this period"):
        b.check_spend(make_backend(fake_hub), flavor="a10g-large", timeout_seconds=3600, schedule="@daily", now=NOW,
                      action="Not scheduled")
    weekly = b.check_spend(make_backend(fake_hub), flavor="a10g-large", timeout_seconds=3600, schedule="@weekly",
                           now=NOW)
    assert (weekly.runs, weekly.worst_case_usd) == (3, 4.5)


def test_an_unknown_flavor_is_refused_by_name(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    env_budget(monkeypatch, "30")
    with pytest.raises(UserError, match="'a10g-hugh'"):
        b.check_spend(make_backend(fake_hub), flavor="a10g-hugh", timeout_seconds=60, now=NOW)


def test_local_jobs_are_never_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    class Local:
        name = "local"

    env_budget(monkeypatch, "0")
    assert b.check_spend(Local(), flavor=None, timeout_seconds=None) is None


def test_the_spend_report_shows_the_budget_and_the_ledger(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    spend_some(fake_hub)
    env_budget(monkeypatch, "20")
    report = b.spend_report(make_backend(fake_hub), now=NOW)
    assert (report.budget.spent_usd, report.budget.committed_usd, report.budget.left_usd) == (3.0, 5.0, 12.0)
    assert "Budget $20.00 per 30d" in report.render() and "$12.00 left" in report.render()
    monkeypatch.delenv(b.ENV_USD)
    report = b.spend_report(make_backend(fake_hub), now=NOW)
    assert report.budget is None and "No budget set" in report.render()
    assert report.ledger.spent_usd == 3.0  # the ledger works without a budget: 30 days from the month's first day
    assert report.ledger.period_start == datetime(2026, 12, 1, tzinfo=UTC)


def test_an_environment_budget_without_a_start_counts_from_the_first_of_the_month(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(b.ENV_USD, "50")
    assert b.load_budget().schedule.window(NOW) == (datetime(2026, 12, 1, tzinfo=UTC),
                                                    datetime(2026, 12, 31, tzinfo=UTC))


# --- every money route, from MCP and the CLI -------------------------------------------------------------------

from test_submit_routes import SUBMITS, _failed_job, cli_call, mcp_call, route, stand_ins  # noqa: E402,F401


def _nothing_spent(hub: FakeHub) -> None:
    assert hub.count("POST", SUBMITS) == 0
    assert hub.count("POST", r"/run$") == 0
    assert hub.count("POST", r"^/api/settings/webhooks$") == 0


@pytest.mark.parametrize("name", ["uv", "scheduled uv", "run", "scheduled run", "retry", "rerun", "train"])
def test_every_money_route_refuses_a_job_over_budget_from_mcp_and_the_cli_alike(
        name: str, fake_hub: FakeHub, stand_ins, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    if name == "retry":
        stand_ins.hours = 0.2  # a retry the preflight accepts: what refuses it is the budget
    monkeypatch.setenv(b.ENV_USD, "0")  # any job costs more than nothing
    tool, arguments, argv = route(name, "clean", fake_hub)
    refused_mcp, mcp_text = mcp_call(tool, arguments)
    refused_cli, cli_text = cli_call(capsys, argv)
    assert refused_mcp and refused_cli, (mcp_text, cli_text)
    assert mcp_text == cli_text
    assert "over budget" in mcp_text and "force does not override the budget" in mcp_text
    assert "$0.00 per 30d" in mcp_text and "hf-trainer budget set" in mcp_text
    _nothing_spent(fake_hub)


def test_force_never_passes_the_budget(fake_hub: FakeHub, stand_ins, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(b.ENV_USD, "1")
    tool, arguments, _ = route("uv", "clean", fake_hub)  # a10g-large for 4 h: $6.00
    arguments["args"]["force"] = True
    refused, text = mcp_call(tool, arguments)
    assert refused and "$6.00 at most" in text and "force does not override the budget" in text
    _nothing_spent(fake_hub)


def test_a_webhook_is_refused_when_one_run_of_its_job_does_not_fit(fake_hub: FakeHub, stand_ins,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(b.ENV_USD, "1")
    template = fake_hub.add_job("COMPLETED", flavor="h200", labels={"hft-timeout": "3600"})  # $5.00 a run
    refused, text = mcp_call("hf_jobs", {"operation": "webhook create", "args": {
        "watched": ["dataset:alice/data"], "job_id": template["id"]}})
    assert refused and text.startswith("Webhook not created: over budget") and "$5.00 at most" in text
    refused, text = mcp_call("hf_jobs", {"operation": "webhook create", "args": {
        "watched": ["dataset:alice/data"], "image": "python:3.12", "command": ["python", "-c", "1"],
        "flavor": "a10g-large", "timeout": "2h"}})
    assert refused and text.startswith("Webhook not created: over budget") and "$3.00 at most" in text
    _nothing_spent(fake_hub)


def test_triggering_a_scheduled_job_is_checked_too(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(b.ENV_USD, "1")
    item = fake_hub.add_scheduled("@yearly", flavor="h200", timeout_seconds=3600)
    refused, text = mcp_call("hf_jobs", {"operation": "scheduled trigger", "args": {"scheduled_job_id": item["id"]}})
    assert refused and text.startswith("Not triggered: over budget")
    assert fake_hub.count("POST", r"/run$") == 0


def test_resuming_a_schedule_is_checked_for_every_run_due(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(b.ENV_USD, "1")
    monkeypatch.setenv(b.ENV_START, (datetime.now(UTC) - timedelta(days=1)).isoformat())  # 29 days of runs left
    item = fake_hub.add_scheduled("@hourly", flavor="t4-small", timeout_seconds=600, suspend=True)
    refused, text = mcp_call("hf_jobs", {"operation": "scheduled resume", "args": {"scheduled_job_id": item["id"]}})
    assert refused and text.startswith("Not resumed: over budget") and "runs due this period" in text
    assert fake_hub.scheduled[item["id"]]["suspend"] is True


def test_a_job_within_budget_is_submitted_and_says_what_it_leaves(fake_hub: FakeHub, stand_ins,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(b.ENV_USD, "10")
    tool, arguments, _ = route("uv", "clean", fake_hub)  # a10g-large for 4 h: $6.00
    refused, text = mcp_call(tool, arguments)
    assert not refused, text
    assert "budget: $10.00 per 30d" in text and "$6.00 at most" in text and "$4.00 left after it" in text
    # the local record gives the ledger the job's timeout and model repo; the next job sees it as committed
    refused, text = mcp_call(tool, arguments)
    assert refused and "committed $6.00" in text and "$4.00 left" in text


@pytest.mark.parametrize("name", ["train", "rerun", "retry"])
def test_every_plan_shows_the_budget_left_after_its_job(name: str, fake_hub: FakeHub, stand_ins,
                                                        capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(b.ENV_USD, "100")
    stand_ins.hours = 0.2
    tool, arguments, argv = route(name, "clean", fake_hub)
    if tool == "hf_jobs":
        arguments["args"]["confirm"] = False
    else:
        arguments["confirm"] = False
    refused, text = mcp_call(tool, arguments)
    assert not refused, text
    assert "left after it" in text or '"left_after_usd": ' in text  # the plan's words, or its data
    refused, text = cli_call(capsys, [word for word in argv if word != "--confirm"])
    assert not refused, text
    assert "budget: $100.00 per 30d" in text and "left after it" in text
    assert fake_hub.count("POST", SUBMITS) == 0


def test_a_plan_over_budget_says_so_before_anyone_agrees(fake_hub: FakeHub, stand_ins,
                                                         capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(b.ENV_USD, "0.50")
    _, _, argv = route("uv", "clean", fake_hub)
    job = fake_hub.add_job("ERROR", command=["uv", "run", "/tmp/hf-trainer/train_sft.py", "--model_name_or_path",
                                             "Qwen/Qwen2.5-0.5B", "--dataset_name", "alice/chat", "--push_to_hub",
                                             "--hub_model_id", "alice/qwen-chat"],
                           flavor="a10g-large", labels={"hft-timeout": "3600"},
                           dockerImage="ghcr.io/astral-sh/uv:python3.12-bookworm")
    refused, text = cli_call(capsys, ["rerun", job["id"], "--backend", "hub"])
    assert not refused and "OVER BUDGET" in text and "force does not override the budget" in text


# --- the budget is the person's: no MCP tool changes it ----------------------------------------------------------


def _mcp(method: str, *args: Any) -> Any:
    import asyncio

    from mcp import Client

    from hf_trainer.server import mcp

    async def go() -> Any:
        async with Client(mcp) as client:
            return await getattr(client, method)(*args)

    return asyncio.run(go())


def _property_names(schema: Any) -> list[str]:
    if isinstance(schema, dict):
        names = list(schema.get("properties", {})) if isinstance(schema.get("properties"), dict) else []
        return names + [n for value in schema.values() for n in _property_names(value)]
    if isinstance(schema, list):
        return [n for value in schema for n in _property_names(value)]
    return []


def test_no_mcp_tool_or_operation_can_change_the_budget(fake_hub: FakeHub, stand_ins) -> None:
    from hf_trainer.operations import OPERATIONS

    b.set_budget(40, now=NOW)
    before = b.config_path().read_bytes(), b.config_path().stat().st_mtime_ns
    tools = _mcp("list_tools").tools
    for tool in tools:  # no tool takes a budget: no input field of any tool or operation is named after one
        assert not [key for key in _property_names(tool.input_schema) if "budget" in key.lower()], tool.name
    calls = [(t.name, {}) for t in tools if t.name not in ("hf_jobs", "hf_jobs_status")]
    calls += [(tool, {"operation": name, "args": {**(op.example or {}), "limit_usd": 1000, "budget": 1000}})
              for tool in ("hf_jobs", "hf_jobs_status") for name, op in OPERATIONS.items()]
    for name, arguments in calls:
        _mcp("call_tool", name, arguments)  # answers or refuses; either way the budget stays
    assert (b.config_path().read_bytes(), b.config_path().stat().st_mtime_ns) == before
    assert b.load_budget().limit_usd == 40.0
    assert len(calls) > len(OPERATIONS)


def real_clock_budget(hub: FakeHub, monkeypatch: pytest.MonkeyPatch, usd: str) -> None:
    """For calls that read the real clock: jobs just before now, in a period that started ten days ago."""
    now = datetime.now(UTC)
    spend_some(hub, now)
    env_budget(monkeypatch, usd, start=(now - timedelta(days=10)).isoformat())


def test_the_status_tool_shows_the_ledger_and_the_budget(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    real_clock_budget(fake_hub, monkeypatch, "20")
    result = _mcp("call_tool", "hf_jobs_status", {"operation": "spend"})
    assert not result.is_error, result.content[0].text
    text, data = result.content[0].text, result.structured_content
    assert "Budget $20.00 per 30d" in text and "spent $3.00" in text
    assert data["spend"]["budget"]["limit_usd"] == 20.0
    assert [job["flavor"] for job in data["spend"]["ledger"]["jobs"]] == ["h200", "a10g-large"]


# --- the person's commands -------------------------------------------------------------------------------------


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    from hf_trainer.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_budget_commands_set_show_and_refuse_a_raise_without_a_terminal(capsys: pytest.CaptureFixture[str],
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    assert "No budget set" in run_cli(capsys, "budget", "show")[1]
    code, out, _ = run_cli(capsys, "budget", "set", "40", "--period", "7d")
    assert code == 0 and "Budget $40.00 per 7d" in out
    code, out, _ = run_cli(capsys, "budget", "show", "--json")
    assert json.loads(out)["limit_usd"] == 40.0
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, _, err = run_cli(capsys, "budget", "set", "80", "--period", "7d")
    assert code == 2 and "interactive terminal" in err
    code, _, err = run_cli(capsys, "budget", "clear")
    assert code == 2 and "interactive terminal" in err
    assert b.load_budget().limit_usd == 40.0


def test_a_person_at_a_terminal_raises_the_budget_by_typing_the_amount(capsys: pytest.CaptureFixture[str],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    run_cli(capsys, "budget", "set", "40")
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "80.00")
    code, out, _ = run_cli(capsys, "budget", "set", "80")
    assert code == 0 and "Budget $80.00 per 30d" in out
    monkeypatch.setenv(b.ENV_USD, "5")
    assert f"{b.ENV_USD} is set" in run_cli(capsys, "budget", "set", "70")[1]


def test_spend_prints_the_ledger_and_its_json(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    real_clock_budget(fake_hub, monkeypatch, "20")
    code, out, _ = run_cli(capsys, "spend", "--backend", "hub")
    assert code == 0 and "Budget $20.00 per 30d" in out and "a10g-large" in out
    code, out, _ = run_cli(capsys, "spend", "--backend", "hub", "--json")
    data = json.loads(out)
    assert data["budget"]["spent_usd"] == 3.0 and data["ledger"]["committed_usd"] == 5.0


def test_a_server_holds_the_strictest_budget_it_has_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(b, "_held", [])
    monkeypatch.setattr(b, "_holding", [])
    b.set_budget(40, now=NOW)
    b.hold_strictest()
    b.config_path().unlink()  # a local job or a shell command deletes the file: the server keeps its budget
    held = b.load_budget()
    assert held.limit_usd == 40.0 and "restarts" in held.where
    b.set_budget(100, now=NOW)  # written behind the server's back (no terminal asked): not in force
    assert b.load_budget().limit_usd == 40.0
    b.set_budget(20, now=NOW)  # lower: in force at once
    assert b.load_budget().limit_usd == 20.0
    monkeypatch.setenv(b.ENV_USD, "30")
    assert b.load_budget().limit_usd == 20.0


def test_the_stdio_server_holds_the_budget_from_its_start() -> None:
    import inspect

    from hf_trainer import server

    assert "hold_strictest()" in inspect.getsource(server.serve)


def test_a_job_the_hub_may_retry_is_charged_for_every_attempt(fake_hub: FakeHub,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(b.ENV_USD, "5")
    arguments = {"operation": "run", "backend": "hub", "args": {
        "image": "python:3.12", "command": ["python", "-c", "1"], "flavor": "a10g-large", "timeout": "1h",
        "attempts": 4}}
    refused, text = mcp_call("hf_jobs", arguments)  # 4 x 1 h x $1.50 = $6.00 > $5.00
    assert refused and "$6.00 at most" in text and "x 4 attempts" in text
    arguments["args"]["attempts"] = 3
    refused, text = mcp_call("hf_jobs", arguments)
    assert not refused and "$4.50 at most" in text and "$0.50 left after it" in text
