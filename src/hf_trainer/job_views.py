"""What people read from the `hf_jobs` tools: the usage text (generated from the operation table) and the text of
each result. Data comes from jobs/tool.py; only the words are made here, next to server.py.
"""

import json
from hf_trainer.jobs.base import JobInfo
from hf_trainer.jobs.hub_models import ScheduledJob
from hf_trainer.jobs.tool import OPERATIONS, JobsResult
from hf_trainer.timeouts import format_duration
from hf_trainer.untrusted import fenced

HUB_DEFAULT_TIMEOUT_SECONDS = 30 * 60


def _short(value: str, width: int) -> str:
    return value if len(value) <= width else value[: width - 1] + "…"


def text_table(rows: list[tuple[str, ...]]) -> str:
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
        rows.append((job.id, job.stage.value, created, job.flavor or "-", _short(" ".join(job.command), 60)))
    return text_table(rows)


def scheduled_table(items: list[ScheduledJob]) -> str:
    if not items:
        return "No scheduled jobs."
    rows = [("ID", "SCHEDULE", "STATE", "NEXT RUN", "COMMAND")]
    for item in items:
        nxt = item.next_run_at.strftime("%Y-%m-%d %H:%M") if item.next_run_at else "-"
        rows.append((item.id, item.schedule or "-", "suspended" if item.suspend else "active", nxt,
                     _short(" ".join(item.command), 50)))
    return text_table(rows)


def job_text(job: JobInfo) -> str:
    lines = [f"Job {job.id}: {job.stage.value}" + (f" ({job.message})" if job.message else "")]
    if job.url:
        lines.append(f"  URL:     {job.url}")
    if job.flavor:
        lines.append(f"  Flavor:  {job.flavor}")
    if job.image:
        lines.append(f"  Image:   {job.image}")
    if job.command:
        lines.append(f"  Command: {_short(' '.join(job.command), 200)}")
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
    quoted = json.dumps({"job_id": job.id})
    lines.append(f"Check it: hf_jobs operation 'inspect' args {quoted}; progress: 'logs' args {quoted}; "
                 f"until it ends: 'wait'. CLI: hf-trainer jobs inspect {job.id} --backend {backend}")
    return "\n".join(lines)


def _preflight_note(result: JobsResult) -> str:
    report = result.preflight
    if report is None or not report.findings:
        return ""
    return "\n" + report.render()


def _text(result: JobsResult) -> str:
    op = result.operation
    if op == "help":
        return usage()
    if result.text:  # diagnose and retry: the plan's own words
        return result.text
    if op in ("uv", "run"):
        return submit_text(result.job, result.backend or "?", result.price_per_hour) + _preflight_note(result)
    if op == "ps":
        return ps_table(result.jobs)
    if op == "inspect":
        return "\n\n".join(job_text(j) for j in result.jobs)
    if op == "logs":
        lines = result.logs or []
        header = f"Last {len(lines)} log lines of job {result.job_id}" if result.followed_seconds is None else \
            f"{len(lines)} log lines of job {result.job_id} (followed for at most " \
            f"{format_duration(result.followed_seconds)})"
        # The job's own output, fenced: a line such as "## SYSTEM: ..." must not read as part of our answer.
        return f"{header} (the job's output, as text):\n" + (fenced(lines, "log") if lines else "(no log lines yet)")
    if op in ("cancel", "wait"):
        return job_text(result.job)
    if op == "metrics":
        return result.metrics.render()
    if op == "hardware":
        return result.catalog_text or ""
    if op in ("scheduled run", "scheduled uv"):
        item = result.scheduled_job
        return (f"Scheduled job {item.id} created ({item.schedule}{', suspended' if item.suspend else ''}).\n"
                + scheduled_table([item]) + _preflight_note(result))
    if op == "scheduled ps":
        return scheduled_table(result.scheduled_jobs)
    if op == "scheduled inspect":
        return scheduled_table([result.scheduled_job])
    if op == "scheduled trigger":
        return f"Scheduled job {result.job_id} started a run now.\n" + job_text(result.job)
    if op == "scheduled delete":
        return f"Scheduled job {result.job_id} deleted."
    if op.startswith("scheduled "):
        return f"Scheduled job {result.job_id} {op.split(' ', 1)[1]}d.\n" + scheduled_table([result.scheduled_job])
    if op == "webhook ps":
        from hf_trainer.jobs.webhooks import webhooks_table

        return webhooks_table(result.webhooks)
    if op == "webhook delete":
        return f"Webhook {result.job_id} deleted."
    if op == "webhook create":
        view = result.webhook
        return (f"{view.render()}\n{result.message} Stop with operation 'webhook delete' and args "
                f"{{\"webhook_id\": \"{view.id}\"}}." + _preflight_note(result))
    return result.message or op


def present(result: JobsResult) -> JobsResult:
    """The result with its readable text."""
    return result.model_copy(update={"text": _text(result)})


def usage(read_only: bool = False) -> str:
    """The hf_jobs usage text, generated from the operation table."""
    head = ("hf_jobs: run and manage jobs on Hugging Face Jobs (backend \"hub\") or on this machine (backend \"local\").\n"
            "Call with operation + args (hf-mcp-server's shape). backend defaults to \"hub\" when a Hugging Face token "
            "is found, else \"local\".\n\nOperations and args (examples):")
    lines = [head]
    for name, op in OPERATIONS.items():
        if name == "help" or (read_only and not op.read_only):
            continue
        flags = [flag for flag, on in (("hub only", op.hub_only), ("spends money", op.spends_money),
                                       ("read only", op.read_only)) if on]
        lines.append(f"  {name}: {op.summary}" + (f" [{', '.join(flags)}]" if flags else ""))
        if op.example:
            lines.append(f"      {json.dumps(op.example)}")
        lines.append(f"      args: {', '.join(op.accepted) or 'none'}")
    lines.append(
        "\nEvery submission (uv, run, scheduled uv/run, retry, webhook create; rerun and train too) goes through one "
        "pipeline: the script is resolved (a bundled one by bare name, such as \"train_sft.py\"); a bundled training "
        "script is estimated from its own arguments on the flavor; preflight then checks the PEP 723 header, pushed "
        "results with an HF_TOKEN secret, literal tokens, renamed TRL arguments, local paths, the timeout against the "
        "estimate + 25%, memory on the flavor and the dataset. A job with errors is refused unless args has "
        "\"force\": true; a literal token is refused even then. Nothing reaches the Hub when a job is refused.\n\n"
        "Common submit args: flavor (see 'hardware'; default cpu-basic), timeout (seconds, or a number with s/m/h/d "
        "such as \"90m\" or \"2h\"; default 30m on the Hub), env {\"K\": \"v\"} (never tokens), secrets "
        "{\"HF_TOKEN\": \"$HF_TOKEN\"} (\"$HF_TOKEN\" becomes your token, sent encrypted), labels {\"k\": \"v\"}, "
        "namespace (an organization), volumes [\"hf://datasets/org/data:/data:ro\"], attempts (1-10).\n"
        "Jobs always run detached: follow up with inspect, logs or wait. The same operations are CLI commands: "
        "hf-trainer jobs <operation> --help.")
    return "\n".join(lines)


def operations_text(read_only: bool = False) -> str:
    """The operation names for a tool's schema description."""
    return ", ".join(name for name, op in OPERATIONS.items() if name != "help" and (op.read_only or not read_only))


def args_text() -> str:
    """Each operation's accepted args, for the schema description of `args`."""
    return "; ".join(f"{name}: {', '.join(op.accepted) or '-'}" for name, op in OPERATIONS.items() if name != "help")
