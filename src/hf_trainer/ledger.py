"""What each HF job cost in a period, and what running and scheduled jobs may still cost in it.

Figures come from two places:
- the Hub's job list (flavor, started, finished, stage), priced at the catalog's $/h (hardware.load_catalog, the same
  figures estimates and plans use) and billed per started minute: a job that ran 10 min 5 s costs 11 minutes;
- local records (`jobs_ledger.jsonl`, 0600, under the tool's home) that hf-trainer writes when it submits a Hub job:
  its timeout (the Hub's job record carries none) and the model repo it pushes to; without one, the timeout a
  bundled training job carries in its `hft-timeout` label (jobs/records.py).

Spent: the minutes each job ran inside the period. Committed: what the active jobs may still cost (a running job's
timeout left, a queued job's whole timeout) plus every run of an active scheduled job due before the period ends, each
at its timeout. A job whose timeout is unknown (submitted without hf-trainer) is counted at the Hub's default, 30 min,
and says so. Local jobs cost nothing and are not listed.

The result models are pydantic only (the MCP server imports them for its output schema); the Hub is reached through a
backend passed in, never imported here at module level.
"""

from __future__ import annotations

import json
import math
import os
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

from pydantic import BaseModel, Field

from hf_trainer import paths
from hf_trainer.errors import UserError
from hf_trainer.jobs.base import JobInfo, Stage
from hf_trainer.jobs.records import read_record
from hf_trainer.timeouts import HUB_DEFAULT_TIMEOUT_SECONDS

RECORDS_FILE = "jobs_ledger.jsonl"
MAX_PERIOD_DAYS = 366
_PERIOD = re.compile(r"^\s*(\d{1,3})\s*d\s*$", re.IGNORECASE)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


def _day(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")


def money(usd: float) -> str:
    return f"${usd:,.2f}"


# --- periods ----------------------------------------------------------------------------------------------------


def parse_period(text: str | int) -> int:
    """Days in a period written '30d' (1 to 366 days); UserError naming the form otherwise."""
    match = _PERIOD.match(str(text)) if isinstance(text, (str, int)) and not isinstance(text, bool) else None
    days = int(match.group(1)) if match else 0
    if not match or not 1 <= days <= MAX_PERIOD_DAYS:
        raise UserError(f"period {text!r} is not a number of days from 1 to {MAX_PERIOD_DAYS} written like '30d' "
                        "(e.g. '7d', '30d').")
    return days


class Period(BaseModel):
    """Back-to-back windows of `days` days counted from `anchor` (UTC); without an anchor, from the first day of the
    month `now` is in (a 30-day period then reads as this month's spend)."""

    days: int = Field(ge=1, le=MAX_PERIOD_DAYS)
    anchor: datetime | None = None

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        """The window that holds `now`: [start, end)."""
        length = timedelta(days=self.days)
        now = _utc(now)
        anchor = _utc(self.anchor) if self.anchor else datetime(now.year, now.month, 1, tzinfo=timezone.utc)
        index = math.floor((now - anchor) / length)
        start = anchor + index * length
        return start, start + length


# --- local records ----------------------------------------------------------------------------------------------


class JobRecord(BaseModel):
    """What hf-trainer knew when it submitted a Hub job, and the Hub does not keep."""

    job_id: str
    namespace: str | None = None
    flavor: str | None = None
    timeout_seconds: int | None = None
    model_repo: str | None = None
    route: str | None = Field(default=None, description="How it was submitted: uv, run, train, retry, rerun, ...")
    submitted_at: datetime | None = None


def records_path() -> Path:
    return paths.home() / RECORDS_FILE


def pushes_to(args: Iterable[str]) -> str | None:
    """The model repo a training command pushes to (its --hub_model_id), or None."""
    words = list(args)
    for flag, value in zip(words, words[1:]):
        if flag == "--hub_model_id":
            return value
    for word in words:
        if word.startswith("--hub_model_id="):
            return word.split("=", 1)[1]
    return None


def record_job(job: JobInfo, *, route: str, timeout_seconds: int | None = None, model_repo: str | None = None,
               now: datetime | None = None, path: Path | None = None) -> JobRecord:
    """Append one submitted Hub job to the local records (a 0600 file: job ids and repo names are private)."""
    record = JobRecord(job_id=job.id, namespace=job.owner, flavor=job.flavor,
                       timeout_seconds=timeout_seconds or job.timeout_seconds,
                       model_repo=model_repo or pushes_to(job.command), route=route,
                       submitted_at=now or utcnow())
    path = path or records_path()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(record.model_dump_json() + "\n")
    return record


def read_records(path: Path | None = None) -> dict[str, JobRecord]:
    """The local records by job id (the last line for an id wins); a damaged line is skipped, not fatal."""
    path = path or records_path()
    records: dict[str, JobRecord] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return records
    for line in lines:
        try:
            record = JobRecord.model_validate_json(line)
        except ValueError:
            continue
        records[record.job_id] = record
    return records


# --- cron: how many runs of a schedule fall in a window ----------------------------------------------------------

_MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
           "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
_NAMES = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10,
          "nov": 11, "dec": 12, "sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
_FIELDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def _cron_field(text: str, low: int, high: int) -> tuple[set[int], bool]:
    """The values one cron field allows, and whether it was '*' (day-of-month/day-of-week combine by OR otherwise)."""
    values: set[int] = set()
    for part in text.lower().split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if body == "*":
            first, last = low, high
        elif "-" in body:
            a, b = body.split("-", 1)
            first, last = int(_NAMES.get(a, a)), int(_NAMES.get(b, b))
        else:
            first = int(_NAMES.get(body, body))
            last = high if step_text else first
        if step < 1 or not low <= first <= last <= high:
            raise ValueError(part)
        values.update(range(first, last + 1, step))
    return values, text == "*"


def cron_runs(schedule: str, after: datetime, before: datetime) -> int:
    """How many times a cron schedule (5 fields or @daily-style, UTC) fires at t with after < t < before.
    ValueError when the schedule is not one we read."""
    fields = _MACROS.get(schedule.strip().lower(), schedule).split()
    if len(fields) != 5:
        raise ValueError(schedule)
    (minutes, _), (hours, _), (doms, dom_any), (months, _), (dows, dow_any) = (
        _cron_field(text, low, high) for text, (low, high) in zip(fields, _FIELDS))
    dows = {d % 7 for d in dows}
    after, before = _utc(after), _utc(before)
    count = 0
    day: date = after.date()
    while day <= before.date():
        dow = (day.weekday() + 1) % 7  # cron: Sunday is 0
        dom_ok, dow_ok = day.day in doms, dow in dows
        day_ok = dom_ok and dow_ok if dom_any or dow_any else dom_ok or dow_ok
        if day.month in months and day_ok:
            midnight = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
            for hour in hours:
                for minute in minutes:
                    when = midnight + timedelta(hours=hour, minutes=minute)
                    if after < when < before:
                        count += 1
        day += timedelta(days=1)
    return count


# --- the ledger -------------------------------------------------------------------------------------------------


class JobCost(BaseModel):
    """One Hub job in the period: what it cost so far and what it may still cost."""

    job_id: str
    namespace: str | None = None
    flavor: str | None = None
    stage: Stage
    started_at: datetime | None = None
    finished_at: datetime | None = None
    billed_minutes: int = Field(description="Minutes billed inside the period (each started minute counts).")
    price_per_hour: float | None = Field(description="The catalog's USD per hour for the flavor; None if unknown.")
    cost_usd: float = Field(description="billed_minutes x price_per_hour / 60.")
    timeout_seconds: int | None = None
    committed_usd: float = Field(default=0.0, description="What it may still cost: the timeout left (running) or "
                                 "the whole timeout (queued), at its price.")
    model_repo: str | None = Field(default=None, description="The model repo the job pushes to (--hub_model_id).")
    route: str | None = Field(default=None, description="How hf-trainer submitted it, if it did.")
    note: str | None = None

    @property
    def duration_text(self) -> str:
        return f"{self.billed_minutes} min"


class ScheduledCost(BaseModel):
    """An active scheduled job: its runs still due in the period, each at its timeout."""

    scheduled_job_id: str
    schedule: str | None = None
    flavor: str | None = None
    timeout_seconds: int
    price_per_hour: float | None = None
    runs_due: int
    per_run_usd: float
    committed_usd: float
    note: str | None = None


class Ledger(BaseModel):
    """The Hub jobs of one period: each job's cost, the totals, and what active jobs may still cost."""

    period_days: int
    period_start: datetime
    period_end: datetime
    as_of: datetime
    jobs: list[JobCost] = Field(default_factory=list)
    scheduled: list[ScheduledCost] = Field(default_factory=list)
    spent_usd: float = Field(description="What the period's jobs have cost so far.")
    committed_usd: float = Field(description="What running, queued and scheduled jobs may still cost this period.")
    price_source: str | None = Field(default=None, description="Where the prices came from (live, cache, fallback).")
    notes: list[str] = Field(default_factory=list)

    def render(self) -> str:
        lines = [f"Spend {_day(self.period_start)} to {_day(self.period_end)} ({self.period_days}-day period), as of "
                 f"{_day(self.as_of)}: spent {money(self.spent_usd)}, committed {money(self.committed_usd)} "
                 "(running, queued and scheduled jobs at their timeouts)."]
        if self.jobs:
            lines.append("")
            lines.append("job                       flavor          stage       billed    cost  may still cost  model")
            for row in self.jobs:
                price = "" if row.price_per_hour is not None else " (price unknown)"
                lines.append(f"{row.job_id[:24]:<25} {(row.flavor or '?')[:15]:<15} {row.stage.value:<11} "
                             f"{row.billed_minutes:>4} min {money(row.cost_usd):>7} {money(row.committed_usd):>15}  "
                             f"{row.model_repo or '-'}{price}" + (f"  [{row.note}]" if row.note else ""))
        else:
            lines.append("No Hub jobs ran in this period.")
        for item in self.scheduled:
            lines.append(f"scheduled {item.scheduled_job_id} ({item.schedule}, {item.flavor}): {item.runs_due} runs "
                         f"due this period x {money(item.per_run_usd)} = {money(item.committed_usd)}"
                         + (f"  [{item.note}]" if item.note else ""))
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)


def _billed(seconds: float) -> int:
    return max(0, math.ceil(seconds / 60 - 1e-9))


def _usd(minutes: float, price_per_hour: float | None) -> float:
    return 0.0 if price_per_hour is None else round(minutes * price_per_hour / 60, 6)


def worst_case_usd(price_per_hour: float, timeout_seconds: int | None, runs: int = 1) -> float:
    """What a job may cost at most: its timeout (the Hub's default when none), billed per started minute."""
    return _usd(_billed(timeout_seconds or HUB_DEFAULT_TIMEOUT_SECONDS) * runs, price_per_hour)


def job_cost(job: JobInfo, *, price_per_hour: float | None, start: datetime, end: datetime, now: datetime,
             record: JobRecord | None = None) -> JobCost | None:
    """One job's cost inside [start, end) as of `now`, or None when it neither ran nor may run in the window."""
    notes: list[str] = []
    # The local record, else the job's own hft-timeout label (jobs/records.py), else what the backend reports.
    timeout = (record.timeout_seconds if record else None) or read_record(job).timeout_seconds
    if timeout is None:
        timeout = HUB_DEFAULT_TIMEOUT_SECONDS
        if not job.is_terminal:
            notes.append("timeout unknown (not submitted here): the Hub's default 30 min assumed")
    started = _utc(job.started_at) if job.started_at else None
    finished = _utc(job.finished_at) if job.finished_at else None
    billed, committed = 0, 0
    if started is not None:
        run_end = finished or now
        if finished is None and job.is_terminal:
            run_end = min(now, started + timedelta(seconds=timeout))
            notes.append("the Hub gave no end time: counted to its timeout")
        overlap = (min(run_end, end, now) - max(started, start)).total_seconds()
        billed = _billed(overlap)
        if not job.is_terminal:
            left = _billed(timeout) - _billed((now - started).total_seconds())
            committed = max(0, left)
            if left <= 0:
                notes.append("running past its known timeout")
        elif run_end < start:
            return None
    elif job.is_terminal:
        created = _utc(job.created_at) if job.created_at else None
        if created is None or not start <= created < end:
            return None
    else:
        committed = _billed(timeout)  # queued: it may still run its whole timeout
    if started is not None and billed == 0 and committed == 0 and started >= end:
        return None
    if price_per_hour is None:
        notes.append(f"flavor {job.flavor!r} is not in the price catalog: cost unknown")
    return JobCost(job_id=job.id, namespace=job.owner, flavor=job.flavor, stage=job.stage, started_at=started,
                   finished_at=finished, billed_minutes=billed, price_per_hour=price_per_hour,
                   cost_usd=_usd(billed, price_per_hour), timeout_seconds=timeout,
                   committed_usd=_usd(committed, price_per_hour),
                   model_repo=(record.model_repo if record else None) or pushes_to(job.command),
                   route=record.route if record else None, note="; ".join(notes) or None)


def scheduled_cost(item: Any, *, price_per_hour: float | None, after: datetime, end: datetime,
                   timeout_seconds: int | None = None) -> ScheduledCost:
    """The runs of a scheduled job due after `after` and before the period `end`, each at its timeout."""
    note = None
    timeout = timeout_seconds or getattr(item, "timeout_seconds", None)
    if timeout is None:
        timeout = HUB_DEFAULT_TIMEOUT_SECONDS
        note = "timeout unknown: the Hub's default 30 min assumed per run"
    try:
        runs = cron_runs(item.schedule or "", after, end)
    except ValueError:
        next_run = getattr(item, "next_run_at", None)
        runs = 1 if next_run is not None and after < _utc(next_run) < end else 0
        note = f"schedule {item.schedule!r} not understood here: only its next run counted"
    per_run = worst_case_usd(price_per_hour or 0.0, timeout)
    if price_per_hour is None:
        note = f"flavor {item.flavor!r} is not in the price catalog: cost unknown"
    return ScheduledCost(scheduled_job_id=item.id, schedule=item.schedule, flavor=item.flavor, timeout_seconds=timeout,
                         price_per_hour=price_per_hour, runs_due=runs, per_run_usd=per_run,
                         committed_usd=round(per_run * runs, 6), note=note)


def _prices(backend: Any) -> tuple[dict[str, float], str | None]:
    catalog = backend.catalog()
    return {f.name: f.price_per_hour for f in catalog.flavors}, f"{catalog.source} ({catalog.note})"


def build_ledger(backend: Any, *, period: Period, now: datetime | None = None,
                 records: dict[str, JobRecord] | None = None) -> Ledger:
    """The ledger of the period that holds `now`, from the Hub backend's job list, scheduled jobs and catalog, and the
    local records. A backend that is not the Hub (local jobs cost nothing) gives an empty ledger."""
    now = _utc(now or utcnow())
    start, end = period.window(now)
    if getattr(backend, "name", None) != "hub":
        return Ledger(period_days=period.days, period_start=start, period_end=end, as_of=now, spent_usd=0.0,
                      committed_usd=0.0, notes=["local jobs cost nothing: only Hub jobs are in the ledger"])
    records = read_records() if records is None else records
    prices, source = _prices(backend)
    default_ns = backend.namespace()
    namespaces = [default_ns] + sorted({r.namespace for r in records.values() if r.namespace} - {default_ns})
    rows: list[JobCost] = []
    for namespace in namespaces:
        for job in backend.ps(all=True, namespace=namespace):
            row = job_cost(job, price_per_hour=prices.get(job.flavor or "cpu-basic"), start=start, end=end, now=now,
                           record=records.get(job.id))
            if row is not None:
                rows.append(row)
    rows.sort(key=lambda r: r.started_at or now, reverse=True)
    scheduled = [scheduled_cost(item, price_per_hour=prices.get(item.flavor or "cpu-basic"), after=now, end=end)
                 for item in backend.scheduled_ps(all=False)]
    spent = round(sum(r.cost_usd for r in rows), 6)
    committed = round(sum(r.committed_usd for r in rows) + sum(s.committed_usd for s in scheduled), 6)
    notes = []
    if any(r.price_per_hour is None for r in rows):
        notes.append("some flavors have no catalog price; their cost shows as $0.00")
    return Ledger(period_days=period.days, period_start=start, period_end=end, as_of=now, jobs=rows,
                  scheduled=scheduled, spent_usd=spent, committed_usd=committed, price_source=source, notes=notes)


def write_json(ledger: Ledger) -> str:
    return json.dumps(ledger.model_dump(mode="json"), indent=1)
