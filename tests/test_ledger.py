"""The spend ledger against the fake Hub (real huggingface_hub client): exact figures for jobs at known flavors and
times, local records, scheduled runs due in the period, and the cron counting behind them."""

import json
import os
import stat
from datetime import datetime, timedelta, timezone

import pytest
from conftest import CANARY_TOKEN
from fakes.fake_hub import FakeHub
from huggingface_hub import HfApi

from hf_trainer import ledger
from hf_trainer.errors import UserError
from hf_trainer.jobs.hub import HubBackend
from hf_trainer.jobs.hub_errors import Retry
from hf_trainer.ledger import Period, build_ledger, cron_runs, parse_period, read_records, record_job

UTC = timezone.utc
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)  # a Sunday
PERIOD = Period(days=30, anchor=datetime(2026, 12, 1, tzinfo=UTC))  # 2026-12-01 to 2026-12-31


def at(day: int, hour: int, minute: int = 0, second: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


def make_backend(hub: FakeHub) -> HubBackend:
    return HubBackend(HfApi(endpoint=hub.url, token=CANARY_TOKEN), retry=Retry(sleep=lambda s: None))


def add_known_jobs(hub: FakeHub) -> dict[str, str]:
    """Jobs at the fake Hub's catalog prices ($/h: a10g-large 1.50, t4-small 0.40, h200 5.00, a100-large 2.50,
    cpu-basic 0.01), with what each is; returns name -> job id."""
    ids = {}
    # 40 min on a10g-large: $1.00
    ids["done"] = hub.add_job("COMPLETED", flavor="a10g-large", started_at=at(2, 10), finished_at=at(2, 10, 40),
                              arguments=["--hub_model_id", "alice/done-model"])["id"]
    # 10 min 5 s on t4-small: billed 11 started minutes, 11 x 0.40 / 60
    ids["failed"] = hub.add_job("ERROR", flavor="t4-small", started_at=at(3, 8), finished_at=at(3, 8, 10, 5))["id"]
    # one hour on h200 across the period's start: only the 30 min inside it count, $2.50
    ids["across"] = hub.add_job("COMPLETED", flavor="h200", started_at=at(30, 23, 30, month=11),
                                finished_at=at(1, 0, 30))["id"]
    # a whole November job: not in this period
    ids["november"] = hub.add_job("COMPLETED", flavor="a100-large", started_at=at(10, 8, month=11),
                                  finished_at=at(10, 20, month=11))["id"]
    # running for 60 min on a100-large, 3 h timeout in the local record: spent $2.50, may still cost 120 min = $5.00
    ids["running"] = hub.add_job("RUNNING", flavor="a100-large", started_at=at(6, 11))["id"]
    # queued on h200, 2 h timeout in the local record: may still cost $10.00
    ids["queued"] = hub.add_job("SCHEDULING", flavor="h200", created_at=at(6, 11, 59))["id"]
    # running for 10 min on t4-small, not submitted here (timeout unknown: the Hub's 30 min default)
    ids["foreign"] = hub.add_job("RUNNING", flavor="t4-small", started_at=at(6, 11, 50))["id"]
    # cancelled before it started: costs nothing, still listed
    ids["cancelled"] = hub.add_job("CANCELED", flavor="h200", created_at=at(5, 9))["id"]
    return ids


def write_records(ids: dict[str, str]) -> None:
    from hf_trainer.jobs.base import JobInfo, Stage

    record_job(JobInfo(id=ids["running"], backend="hub", stage=Stage.RUNNING, flavor="a100-large", owner="alice",
                       command=["uv", "run", "train_sft.py", "--hub_model_id", "alice/model-x"]),
               route="train", timeout_seconds=3 * 3600, now=at(6, 10, 59))
    record_job(JobInfo(id=ids["queued"], backend="hub", stage=Stage.SCHEDULING, flavor="h200", owner="alice"),
               route="uv", timeout_seconds=2 * 3600, now=at(6, 11, 59))


def test_the_ledger_bills_each_job_per_started_minute_at_the_catalog_price_inside_the_period(
        fake_hub: FakeHub) -> None:
    ids = add_known_jobs(fake_hub)
    write_records(ids)
    result = build_ledger(make_backend(fake_hub), period=PERIOD, now=NOW)
    rows = {row.job_id: row for row in result.jobs}
    assert ids["november"] not in rows
    expected = {  # name: (billed minutes, cost, may still cost)
        "done": (40, 1.0, 0.0),
        "failed": (11, 0.073333, 0.0),
        "across": (30, 2.5, 0.0),
        "running": (60, 2.5, 5.0),
        "queued": (0, 0.0, 10.0),
        "foreign": (10, 0.066667, 0.133333),
        "cancelled": (0, 0.0, 0.0),
    }
    for name, (minutes, cost, committed) in expected.items():
        row = rows[ids[name]]
        got = (row.billed_minutes, round(row.cost_usd, 6), round(row.committed_usd, 6))
        assert got == (minutes, cost, committed), name
    assert rows[ids["running"]].model_repo == "alice/model-x" and rows[ids["running"]].route == "train"
    assert rows[ids["done"]].model_repo == "alice/done-model"  # read from the Hub's record of its arguments
    assert rows[ids["running"]].timeout_seconds == 3 * 3600
    assert "timeout unknown" in rows[ids["foreign"]].note
    assert result.spent_usd == pytest.approx(6.14, abs=1e-6)
    assert result.committed_usd == pytest.approx(15.133333, abs=1e-6)
    assert (result.period_start, result.period_end) == (at(1, 0), at(31, 0))
    text = result.render()
    assert "spent $6.14, committed $15.13" in text and "alice/model-x" in text


def test_scheduled_jobs_commit_every_run_due_before_the_period_ends(fake_hub: FakeHub) -> None:
    # @daily on a10g-large, 1 h each: Dec 7 .. Dec 30 at 00:00 are due after Sunday Dec 6 12:00 -> 24 x $1.50
    daily = fake_hub.add_scheduled("@daily", flavor="a10g-large", timeout_seconds=3600)
    # Mondays 09:00 on cpu-basic, no timeout: the Hub's 30 min each; Dec 7, 14, 21, 28 -> 4 x $0.005
    mondays = fake_hub.add_scheduled("0 9 * * 1", flavor="cpu-basic")
    fake_hub.add_scheduled("@hourly", flavor="h200", timeout_seconds=3600, suspend=True)  # suspended: nothing due
    result = build_ledger(make_backend(fake_hub), period=PERIOD, now=NOW, records={})
    items = {item.scheduled_job_id: item for item in result.scheduled}
    assert set(items) == {daily["id"], mondays["id"]}
    assert (items[daily["id"]].runs_due, items[daily["id"]].per_run_usd, items[daily["id"]].committed_usd) == \
        (24, 1.5, 36.0)
    assert (items[mondays["id"]].runs_due, items[mondays["id"]].committed_usd) == (4, 0.02)
    assert "timeout unknown" in items[mondays["id"]].note
    assert result.committed_usd == pytest.approx(36.02)
    assert result.spent_usd == 0


def test_a_scheduled_job_created_through_the_client_reads_back_its_timeout(fake_hub: FakeHub) -> None:
    api = HfApi(endpoint=fake_hub.url, token=CANARY_TOKEN)
    api.create_scheduled_job(image="python:3.12", command=["true"], schedule="@weekly", flavor="t4-small",
                             timeout="2h", namespace="alice")
    (item,) = make_backend(fake_hub).scheduled_ps()
    assert item.timeout_seconds == 7200


def test_the_ledger_lists_jobs_of_every_namespace_hf_trainer_submitted_to(fake_hub: FakeHub) -> None:
    job = fake_hub.add_job("COMPLETED", flavor="a10g-large", started_at=at(4, 9), finished_at=at(4, 9, 20))
    job["owner"]["name"] = "my-org"
    from hf_trainer.jobs.base import JobInfo, Stage

    record_job(JobInfo(id=job["id"], backend="hub", stage=Stage.RUNNING, owner="my-org"), route="uv",
               timeout_seconds=3600)
    result = build_ledger(make_backend(fake_hub), period=PERIOD, now=NOW)
    assert [(r.job_id, r.namespace, r.cost_usd) for r in result.jobs] == [(job["id"], "my-org", 0.5)]


def test_a_job_without_a_local_record_is_committed_at_the_timeout_its_label_records(fake_hub: FakeHub) -> None:
    # submitted from another machine: 10 min into a 1 h timeout (hft-timeout label) on a10g-large -> 50 min = $1.25
    job = fake_hub.add_job("RUNNING", flavor="a10g-large", started_at=at(6, 11, 50), labels={"hft-timeout": "3600"})
    (row,) = build_ledger(make_backend(fake_hub), period=PERIOD, now=NOW, records={}).jobs
    assert (row.job_id, row.timeout_seconds, row.cost_usd, row.committed_usd, row.note) == (job["id"], 3600, 0.25,
                                                                                           1.25, None)


def test_local_jobs_cost_nothing_and_ask_nothing() -> None:
    class Local:
        name = "local"

    result = build_ledger(Local(), period=PERIOD, now=NOW)
    assert (result.jobs, result.spent_usd, result.committed_usd) == ([], 0.0, 0.0)


def test_records_are_private_and_a_damaged_line_is_skipped(isolated_env) -> None:
    from hf_trainer.jobs.base import JobInfo, Stage

    record_job(JobInfo(id="a1", backend="hub", stage=Stage.RUNNING, flavor="h200"), route="uv", timeout_seconds=60)
    path = ledger.records_path()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with path.open("a", encoding="utf-8") as handle:
        handle.write("{not json\n")
    record_job(JobInfo(id="a2", backend="hub", stage=Stage.RUNNING), route="run")
    assert sorted(read_records()) == ["a1", "a2"]
    assert read_records()["a1"].timeout_seconds == 60


@pytest.mark.parametrize("schedule, after, before, runs", [
    ("@hourly", at(6, 12), at(7, 12), 23),  # strictly between: 13:00 .. 11:00 next day
    ("@daily", at(6, 12), at(31, 0), 24),
    ("@weekly", at(6, 12), at(31, 0), 3),  # Sundays 13, 20, 27
    ("@monthly", at(6, 12), at(31, 0), 0),
    ("@yearly", at(1, 0, month=11), datetime(2027, 2, 1, tzinfo=UTC), 1),
    ("*/15 9-10 * * mon-fri", at(7, 0), at(8, 0), 8),  # Monday 09:00 .. 10:45
    ("0 0 1,15 * *", at(1, 0), at(31, 0), 1),  # the 1st at 00:00 is not after `after`
    ("0 12 13 * 5", at(1, 0), at(31, 0), 5),  # day-of-month OR day-of-week: the 13th plus Fridays 4, 11, 18, 25
    ("0 0 * * 7", at(6, 12), at(31, 0), 3),  # 7 is Sunday too
])
def test_cron_runs_counts_the_runs_strictly_inside_the_window(schedule, after, before, runs) -> None:
    assert cron_runs(schedule, after, before) == runs


@pytest.mark.parametrize("schedule", ["every day", "61 * * * *", "* * *", "*/0 * * * *"])
def test_cron_runs_refuses_what_it_cannot_read(schedule) -> None:
    with pytest.raises(ValueError):
        cron_runs(schedule, NOW, NOW + timedelta(days=1))


@pytest.mark.parametrize("text, days", [("30d", 30), ("7d", 7), (" 1D ", 1), ("366d", 366)])
def test_periods_are_whole_days(text, days) -> None:
    assert parse_period(text) == days


@pytest.mark.parametrize("text", ["30", "1m", "0d", "367d", "month", ""])
def test_a_period_that_is_not_days_is_refused_with_the_form(text) -> None:
    with pytest.raises(UserError, match="'30d'"):
        parse_period(text)


def test_periods_are_back_to_back_windows_from_their_anchor() -> None:
    assert PERIOD.window(at(31, 0)) == (at(31, 0), at(31, 0) + timedelta(days=30))
    assert PERIOD.window(at(30, 23, month=11)) == (at(1, 0, month=11), at(1, 0))


def test_the_ledger_serialises_to_json(fake_hub: FakeHub) -> None:
    ids = add_known_jobs(fake_hub)
    data = json.loads(build_ledger(make_backend(fake_hub), period=PERIOD, now=NOW).model_dump_json())
    assert {row["job_id"] for row in data["jobs"]} >= {ids["done"], ids["running"]}
