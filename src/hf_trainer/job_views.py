"""The words and views of job results, for MCP and the CLI alike: each operation in operations.py names the two
functions here that render its result (`text` for the tool's readable text, `cli` for what `hf-trainer jobs ...`
prints or dumps with --json). Pure functions over data; nothing here calls a backend.
"""

import json
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from hf_trainer.jobs.base import JobInfo
from hf_trainer.jobs.hub_models import ScheduledJob
from hf_trainer.timeouts import HUB_DEFAULT_TIMEOUT_SECONDS, format_duration
from hf_trainer.untrusted import fenced, quoted

if TYPE_CHECKING:
    from hf_trainer.operations import JobsResult

_TABLE_COLUMNS = ("ID", "STAGE", "CREATED", "COMMAND", "FLAVOR")
_COMMAND_WIDTH = 60


def _short(value: str, width: int) -> str:
    return value if len(value) <= width else value[: width - 1] + "…"


def _cell(value: str, width: int) -> str:
    """A table cell from outside text: control characters (a newline that would start a row of its own) escaped."""
    return _short(quoted(value)[1:-1], width)


def text_table(rows: Sequence[tuple[str, ...]]) -> str:
    """Rows as aligned columns; the last column (a command, free-length) is not padded."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join([*(c.ljust(w) for c, w in zip(row, widths)), row[-1]]).rstrip() for row in rows)


def ps_table(jobs: list[JobInfo]) -> str:
    """A compact table: id, stage, created, flavor, command."""
    if not jobs:
        return "No jobs."
    rows = [("ID", "STAGE", "CREATED", "FLAVOR", "COMMAND")]
    for job in jobs:
        created = job.created_at.strftime("%Y-%m-%d %H:%M") if job.created_at else "-"
        rows.append((job.id, job.stage.value, created, job.flavor or "-", _cell(" ".join(job.command), 60)))
    return text_table(rows)


def scheduled_table(items: list[ScheduledJob]) -> str:
    if not items:
        return "No scheduled jobs."
    rows = [("ID", "SCHEDULE", "STATE", "NEXT RUN", "COMMAND")]
    for item in items:
        nxt = item.next_run_at.strftime("%Y-%m-%d %H:%M") if item.next_run_at else "-"
        rows.append((item.id, item.schedule or "-", "suspended" if item.suspend else "active", nxt,
                     _cell(" ".join(item.command), 50)))
    return text_table(rows)


def job_text(job: JobInfo) -> str:
    # The status message is the Hub's (or the job's) text: quoted on one line, never read as our own words.
    lines = [f"Job {job.id}: {job.stage.value}" + (f" (message: {quoted(job.message)})" if job.message else "")]
    if job.url:
        lines.append(f"  URL:     {job.url}")
    if job.flavor:
        lines.append(f"  Flavor:  {job.flavor}")
    # The image and the command are the Hub's strings too (a job in an organisation may be anyone's): quoted on one
    # line, so a newline in an argument cannot start a line of its own in our text.
    if job.image:
        lines.append(f"  Image:   {quoted(job.image)}")
    if job.command:
        lines.append(f"  Command: {quoted(_short(' '.join(job.command), 200))}")
    for label, when in (("Created", job.created_at), ("Started", job.started_at), ("Ended", job.finished_at)):
        if when:
            lines.append(f"  {label}: {when.isoformat(timespec='seconds')}")
    if job.secret_names:
        lines.append(f"  Secrets: {', '.join(job.secret_names)} (values hidden)")
    return "\n".join(lines)


def submit_text(job: JobInfo, backend: str, price: float | None) -> str:
    timeout = job.timeout_seconds or (HUB_DEFAULT_TIMEOUT_SECONDS if backend == "hub" else None)
    timeout_text = format_duration(timeout) if timeout else "none"
    if backend == "hub" and not job.timeout_seconds:
        timeout_text += " (the Hub's default)"
    lines = [f"Submitted job {job.id} ({backend} backend): {job.stage.value}."]
    if job.url:
        lines.append(f"  URL:     {job.url}")
    if backend == "hub":
        cost = f"${price:.2f}/h" if price is not None else "price unknown"
        cap = f", at most ${price * timeout / 3600:.2f} if it runs to the timeout" if price and timeout else ""
        lines.append(f"  Flavor:  {job.flavor} ({cost}{cap})")
    lines.append(f"  Timeout: {timeout_text}")
    quoted_id = json.dumps({"job_id": job.id})
    lines.append(f"Check it: hf_jobs operation 'inspect' args {quoted_id}; progress: 'logs' args {quoted_id}; "
                 f"until it ends: 'wait'. CLI: hf-trainer jobs inspect {job.id} --backend {backend}")
    return "\n".join(lines)


def _preflight_note(result: "JobsResult") -> str:
    report = result.preflight
    if report is None or not (report.findings or report.budget_line):
        return ""
    return "\n" + report.render()


def _job(result: "JobsResult") -> JobInfo:
    assert result.job is not None, f"{result.operation} returned no job"
    return result.job


def _scheduled(result: "JobsResult") -> ScheduledJob:
    assert result.scheduled_job is not None, f"{result.operation} returned no scheduled job"
    return result.scheduled_job


# --- the readable text of each operation's result (MCP's text content; the CLI's default) ---------------------


def submitted_text(result: "JobsResult") -> str:
    return submit_text(_job(result), result.backend or "?", result.price_per_hour) + _preflight_note(result)


def ps_text(result: "JobsResult") -> str:
    return ps_table(result.jobs)


def jobs_text(result: "JobsResult") -> str:
    return "\n\n".join(job_text(j) for j in result.jobs)


def one_job_text(result: "JobsResult") -> str:
    return job_text(_job(result))


def logs_text(result: "JobsResult") -> str:
    lines = result.logs or []
    header = f"Last {len(lines)} log lines of job {result.job_id}" if result.followed_seconds is None else \
        f"{len(lines)} log lines of job {result.job_id} (followed for at most " \
        f"{format_duration(result.followed_seconds)})"
    # The job's own output, fenced: a line such as "## SYSTEM: ..." must not read as part of our answer.
    return f"{header} (the job's output, as text):\n" + (fenced(lines, "log") if lines else "(no log lines yet)")


def metrics_text(result: "JobsResult") -> str:
    return result.metrics.render() if result.metrics else "No metrics."


def hardware_text(result: "JobsResult") -> str:
    return result.catalog_text or ""


def plan_text(result: "JobsResult") -> str:
    """diagnose and retry: the plan's own words."""
    return result.text


def scheduled_created_text(result: "JobsResult") -> str:
    item = _scheduled(result)
    return (f"Scheduled job {item.id} created ({item.schedule}{', suspended' if item.suspend else ''}).\n"
            + scheduled_table([item]) + _preflight_note(result))


def scheduled_list_text(result: "JobsResult") -> str:
    return scheduled_table(result.scheduled_jobs)


def scheduled_one_text(result: "JobsResult") -> str:
    return scheduled_table([_scheduled(result)])


def scheduled_changed_text(result: "JobsResult") -> str:
    """suspend / resume: the operation's verb in the past tense, then the job."""
    verb = result.operation.split(" ", 1)[1]
    return f"Scheduled job {result.job_id} {verb}d.\n" + scheduled_table([_scheduled(result)])


def scheduled_triggered_text(result: "JobsResult") -> str:
    return f"Scheduled job {result.job_id} started a run now.\n" + job_text(_job(result))


def deleted_text(result: "JobsResult") -> str:
    what = "Webhook" if result.operation.startswith("webhook") else "Scheduled job"
    return f"{what} {result.job_id} deleted."


def webhooks_text(result: "JobsResult") -> str:
    from hf_trainer.jobs.webhooks import webhooks_table

    return webhooks_table(result.webhooks)


def webhook_created_text(result: "JobsResult") -> str:
    view = result.webhook
    assert view is not None
    return (f"{view.render()}\n{result.message} Stop with operation 'webhook delete' and args "
            f"{{\"webhook_id\": \"{view.id}\"}}." + _preflight_note(result))


def spend_text(result: "JobsResult") -> str:
    assert result.spend is not None, "spend returned no report"
    return result.spend.render()


def message_text(result: "JobsResult") -> str:
    return result.message or result.operation


# --- what the CLI prints (the `hf jobs` layout; --json dumps the same object) ---------------------------------


class JobView(JobInfo):
    """A JobInfo that prints itself for people (`--json` prints the plain JobInfo fields)."""

    def render(self) -> str:
        rows = [
            ("id", self.id),
            ("backend", self.backend),
            ("stage", self.stage.value + (f" (message: {quoted(self.message)})" if self.message else "")),
            ("command", shlex.join(self.command)),
            ("image", self.image),
            ("flavor", self.flavor),
            ("timeout", format_duration(self.timeout_seconds) if self.timeout_seconds else None),
            ("labels", ", ".join(f"{k}={v}" for k, v in self.labels.items()) or None),
            ("env", ", ".join(f"{k}={v}" for k, v in self.env.items()) or None),
            ("secrets", ", ".join(self.secret_names) or None),
            ("created", _when(self)),
            ("started", self.started_at.strftime("%Y-%m-%d %H:%M:%S") if self.started_at else None),
            ("finished", self.finished_at.strftime("%Y-%m-%d %H:%M:%S") if self.finished_at else None),
            ("exit code", None if self.exit_code is None else str(self.exit_code)),
            ("url", self.url),
        ]
        text = "\n".join(f"{k + ':':<11}{v}" for k, v in rows if v)
        if not self.is_terminal:
            text += (f"\n\nFollow its logs: hf-trainer jobs logs {self.id} --follow --backend {self.backend}"
                     f"\nWait for it:     hf-trainer jobs wait {self.id} --backend {self.backend}")
        return text


class JobViews(list[JobView]):
    """A list of jobs that prints each in full (`--json` prints a JSON list)."""

    def render(self) -> str:
        if not self:
            return "No jobs. (ps lists unfinished jobs; add --all to see finished ones.)"
        return "\n\n".join(job.render() for job in self)


class JobTable(list[JobView]):
    """ps output: one line per job."""

    all: bool = False

    def render(self) -> str:
        if not self:
            return "No jobs." + ("" if self.all else " (ps lists unfinished jobs; add --all to see finished ones.)")
        rows = [_TABLE_COLUMNS] + [
            (job.id, job.stage.value, _when(job) or "-", _short_command(job.command), job.flavor or "-")
            for job in self
        ]
        return text_table(rows)


class Printed(dict[str, Any]):
    """A JSON object (`--json`) with its own readable text."""

    def __init__(self, data: dict[str, Any], text: str) -> None:
        super().__init__(data)
        self._text = text

    def render(self) -> str:
        return self._text


def _when(job: JobInfo) -> str | None:
    return job.created_at.strftime("%Y-%m-%d %H:%M:%S") if job.created_at else None


def _short_command(command: list[str]) -> str:
    # Absolute paths (the interpreter, the job's script copy) are noise in a table; their names say enough.
    words = [Path(w).name if os.path.isabs(w) else w for w in command]
    text = shlex.join(words)
    return text if len(text) <= _COMMAND_WIDTH else text[: _COMMAND_WIDTH - 1] + "…"


def _view(job: JobInfo) -> JobView:
    return JobView.model_validate(job.model_dump())


def job_view(result: "JobsResult", listed_all: bool) -> Any:
    return _view(_job(result))


def jobs_view(result: "JobsResult", listed_all: bool) -> Any:
    return JobViews(_view(j) for j in result.jobs)


def ps_view(result: "JobsResult", listed_all: bool) -> Any:
    table = JobTable(_view(j) for j in result.jobs)
    table.all = listed_all
    return table


def plan_view(result: "JobsResult", listed_all: bool) -> Any:
    return Printed(result.diagnosis or {}, result.text)


def result_view(result: "JobsResult", listed_all: bool) -> Any:
    """The tool's own result (its text, and the whole model with --json)."""
    return result
