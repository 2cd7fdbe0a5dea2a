"""The `hf_jobs` operation runner behind the MCP tool (and usable from anywhere): one parsed call -> one result.

`execute(call, backend)` runs a `JobsCall` (jobs/arguments.py) on a backend and returns a `JobsResult`: structured
fields for machines and `text` for people (after a submit: id, URL, flavor, $/h, timeout and how to follow up; ps as
a compact table). Everything it returns, errors included, has the caller's token and the submitted secrets redacted.
"""

import json
from typing import Any

from pydantic import BaseModel, Field

from hf_trainer.errors import UserError
from hf_trainer.jobs.arguments import JobsCall
from hf_trainer.jobs.base import CommandJobRequest, JobBackend, JobInfo, UvJobRequest
from hf_trainer.jobs.hub_models import JobMetrics, ScheduledJob
from hf_trainer.jobs.webhooks import WebhookView
from hf_trainer.secrets import Redactor
from hf_trainer.timeouts import format_duration

HUB_ONLY = {"metrics", "hardware", "scheduled run", "scheduled uv", "scheduled ps", "scheduled inspect",
            "scheduled delete", "scheduled suspend", "scheduled resume", "scheduled trigger",
            "webhook create", "webhook ps", "webhook delete"}
READ_ONLY = {"help", "ps", "inspect", "logs", "wait", "metrics", "hardware", "scheduled ps", "scheduled inspect",
             "diagnose", "webhook ps"}
HUB_DEFAULT_TIMEOUT_SECONDS = 30 * 60

USAGE = """hf_jobs: run and manage jobs on Hugging Face Jobs (backend "hub") or on this machine (backend "local").
Call with operation + args (hf-mcp-server's shape). backend defaults to "hub" when a Hugging Face token is found,
else "local".

Operations and args (examples):
  uv        run a Python (PEP 723) script with uv. script: inline code, a local .py path (read and shipped inline,
            never uploaded) or an http(s) URL.
            {"script": "train_sft.py", "script_args": ["--max_steps", "100"], "with_deps": ["trl>=1.16"],
             "flavor": "a10g-large", "timeout": "2h", "secrets": {"HF_TOKEN": "$HF_TOKEN"}}
  run       run a command in a Docker image.
            {"image": "python:3.12", "command": ["python", "-c", "print('hello')"], "flavor": "cpu-basic"}
            command may be a string (split like a shell, but without one: use ["bash", "-c", "a && b"] for
            pipes, redirections and command lists).
  ps        list jobs, newest first; SCHEDULING and RUNNING by default.  {"all": true} {"status": "ERROR"}
            {"labels": {"project": "sft"}}
  logs      last lines of a job's log (server-side tail, default 50).  {"job_id": "...", "tail": 100}
            follow new lines until the job ends or timeout passes:  {"job_id": "...", "follow": true,
            "timeout": "60s"}
  inspect   one job or several.  {"job_id": "..."}  {"job_id": ["id1", "id2"]}
  cancel    stop a job (destructive).  {"job_id": "..."}
  wait      block until the job finishes (default at most 10m).  {"job_id": "...", "timeout": "30m"}
  metrics   CPU/GPU use and memory of a running job (hub).  {"job_id": "..."}
  hardware  flavors on offer with specs and $/h (hub).
  scheduled run | scheduled uv   as run / uv plus {"schedule": "@daily" or "0 9 * * 1", "suspend": false}
  scheduled ps | scheduled inspect | scheduled delete | scheduled suspend | scheduled resume | scheduled trigger
            {"scheduled_job_id": "..."}  (scheduled ps takes {"all": true} to include suspended ones)
  webhook create  start a job on every Hub repo event (hub): {"watched": ["dataset:me/data"], "job_id": "..."}
            or, instead of job_id, a job as for uv (submitted, then cancelled: it only serves as the
            template): {"watched": [...], "script": "train_sft.py", "script_args": [...], "flavor": ...}.
            The job gets the event in WEBHOOK_PAYLOAD. secrets default to {"HF_TOKEN": "$HF_TOKEN"};
            domains ["repo"] (or "discussion"); run_now true keeps the first run. See references/webhooks.md.
  webhook ps | webhook delete {"webhook_id": "..."}
  diagnose  why a finished job failed (out of memory, timeout, 401/403, data format, no CUDA, NaN or flat loss, push
            failure, dependency resolution) and the one change that fixes it.  {"job_id": "..."}
  retry     the failed job again with that change: a plan, submitted only with confirm (after the person agreed).
            {"job_id": "...", "confirm": true}

Before uv and run submit, preflight lints the job (PEP 723 header, results pushed with an HF_TOKEN secret, literal
tokens, renamed TRL arguments, local paths, ...): a job with errors is refused unless args has "force": true.

Common submit args: flavor (see 'hardware'; default cpu-basic), timeout (seconds, or a number with s/m/h/d such as
"90m" or "2h"; default 30m on the Hub), env {"K": "v"} (never tokens), secrets {"HF_TOKEN": "$HF_TOKEN"} ("$HF_TOKEN"
becomes your token, sent encrypted), labels {"k": "v"}, namespace (an organization), volumes
["hf://datasets/org/data:/data:ro", "hf://buckets/me/out:/outputs"], attempts (1-10).
Jobs always run detached: follow up with inspect, logs or wait."""


class JobsResult(BaseModel):
    """What an hf_jobs call returns. `text` is the readable summary; the other fields carry the data."""

    operation: str
    backend: str | None = None
    text: str = Field(description="Readable summary of the result.")
    job: JobInfo | None = None
    jobs: list[JobInfo] = Field(default_factory=list)
    logs: list[str] | None = None
    metrics: JobMetrics | None = None
    hardware: list[dict[str, Any]] | None = Field(default=None, description="Flavors with specs and price_per_hour.")
    scheduled_job: ScheduledJob | None = None
    scheduled_jobs: list[ScheduledJob] = Field(default_factory=list)
    price_per_hour: float | None = Field(default=None, description="USD per hour of the submitted job's flavor.")
    webhook: WebhookView | None = None
    webhooks: list[WebhookView] = Field(default_factory=list)
    diagnosis: dict[str, Any] | None = Field(default=None, description="diagnose/retry: the failure, its evidence "
                                             "and the fixed job (script_args, flavor, timeout).")

    def render(self) -> str:
        return self.text


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


def _flavor_price(backend: Any, flavor: str | None) -> float | None:
    check = getattr(backend, "check_flavor", None)
    if check is None or not flavor:
        return None
    try:
        return check(flavor).price_per_hour
    except UserError:
        return None


def _hub_only(call: JobsCall, backend: JobBackend) -> None:
    if call.operation in HUB_ONLY and getattr(backend, "name", None) != "hub":
        raise UserError(f"operation {call.operation!r} exists only on Hugging Face Jobs. Use backend 'hub' "
                        "(it needs a token: run 'hf auth login' or set HF_TOKEN).")
    request = call.uv or call.run
    if request is not None and getattr(backend, "name", None) != "hub":
        extras = [name for name in ("volumes", "attempts", "namespace") if getattr(request, name, None)]
        if extras:
            raise UserError(f"{', '.join(extras)} only apply to Hugging Face Jobs; the local backend cannot use "
                            "them. Remove them, or use backend 'hub'.")


def _ns(call: JobsCall, backend: JobBackend) -> dict[str, Any]:
    return {"namespace": call.namespace} if call.namespace and getattr(backend, "name", None) == "hub" else {}


def _preflight_gate(op: str, request: Any, backend: str | None, force: bool) -> None:
    """Refuse a job that preflight finds errors in, unless forced: nothing is spent on a job that would fail."""
    from hf_trainer.jobs.script_source import resolve_script
    from hf_trainer.preflight import PreflightInput, preflight

    if op == "uv":
        source = resolve_script(request.script)
        if source.kind == "url":
            return  # nothing to read here; the Hub fetches it
        job = PreflightInput(script_text=source.text or "", script_name=source.name, script_args=request.script_args,
                             env=request.env, secrets=request.secrets, backend=backend or "hub",
                             flavor=request.flavor, timeout_seconds=request.timeout_seconds)
    else:
        # A command job has no script to lint; its command words are checked like script arguments.
        job = PreflightInput(script_text="# /// script\n# dependencies = []\n# ///\n", script_name="command",
                             script_args=request.command, env=request.env, secrets=request.secrets,
                             backend=backend or "hub", flavor=request.flavor, timeout_seconds=request.timeout_seconds)
    report = preflight(job)
    if not report.ok and not force:
        raise UserError("Not submitted: preflight found errors (pass \"force\": true to submit anyway).\n"
                        + report.render())


def _local_request(request: Any) -> Any:
    """The backend-neutral part of a request, for the local backend."""
    base = UvJobRequest if isinstance(request, UvJobRequest) else CommandJobRequest
    return base.model_validate(request.model_dump(include=set(base.model_fields)))


def execute(call: JobsCall, backend: JobBackend) -> JobsResult:
    """Run one call. UserError (redacted) for anything the caller can fix."""
    request = call.uv or call.run
    redact = Redactor.for_caller(request.secrets if request is not None else None)
    try:
        result = _execute(call, backend)
    except UserError as exc:
        raise UserError(redact(str(exc))) from None
    return redact.model(result)


def _execute(call: JobsCall, backend: JobBackend) -> JobsResult:
    op = call.operation
    name = getattr(backend, "name", None)
    if op == "help":
        return JobsResult(operation=op, backend=name, text=USAGE)
    _hub_only(call, backend)
    ns = _ns(call, backend)
    hub: Any = backend  # Hub-only methods, checked by _hub_only
    if op in ("uv", "run"):
        request = call.uv if op == "uv" else call.run
        _preflight_gate(op, request, name, call.force)
        if name != "hub":
            request = _local_request(request)
        job = backend.uv(request) if op == "uv" else backend.run(request)
        price = _flavor_price(backend, job.flavor)
        return JobsResult(operation=op, backend=name, job=job, price_per_hour=price,
                          text=submit_text(job, name or "?", price))
    if op == "ps":
        jobs = backend.ps(all=call.all, stage=call.stage, labels=call.labels or None, **ns)
        return JobsResult(operation=op, backend=name, jobs=jobs, text=ps_table(jobs))
    if op == "inspect":
        jobs = [backend.inspect(job_id, **ns) for job_id in call.job_ids]
        return JobsResult(operation=op, backend=name, job=jobs[0] if len(jobs) == 1 else None, jobs=jobs,
                          text="\n\n".join(job_text(j) for j in jobs))
    if op == "logs":
        job_id = call.job_ids[0]
        lines = list(backend.logs(job_id, tail=call.tail, follow=call.follow,
                                  timeout=call.wait_seconds if call.follow else None, **ns))
        header = f"Last {len(lines)} log lines of job {job_id}" if not call.follow else \
            f"{len(lines)} log lines of job {job_id} (followed for at most {format_duration(call.wait_seconds or 0)})"
        body = "\n".join(lines) if lines else "(no log lines yet)"
        return JobsResult(operation=op, backend=name, logs=lines, text=f"{header}:\n{body}")
    if op == "cancel":
        job = backend.cancel(call.job_ids[0], **ns)
        return JobsResult(operation=op, backend=name, job=job, text=job_text(job))
    if op == "wait":
        job = backend.wait(call.job_ids[0], timeout=call.wait_seconds, poll_interval=5.0 if name == "hub" else 1.0,
                           **ns)
        return JobsResult(operation=op, backend=name, job=job, text=job_text(job))
    if op in ("diagnose", "retry"):
        from hf_trainer.train import retry_job  # diagnosis and resubmission live with the training workflow

        plan = retry_job(backend, call.job_ids[0], confirm=op == "retry" and call.confirm, force=call.force)
        return JobsResult(operation=op, backend=name, job=plan.job, diagnosis=plan.model_dump(mode="json"),
                          text=plan.render())
    if op == "metrics":
        metrics = hub.metrics(call.job_ids[0], **ns)
        return JobsResult(operation=op, backend=name, metrics=metrics, text=metrics.render())
    if op == "hardware":
        catalog = hub.hardware()
        rows = [row.model_dump(mode="json") for row in catalog.flavors]
        return JobsResult(operation=op, backend=name, hardware=rows, text=catalog.render())
    if op.startswith("webhook "):
        return _webhook(call, hub)
    if op in ("scheduled run", "scheduled uv"):
        request = call.uv if op == "scheduled uv" else call.run
        item = hub.scheduled_create(request, schedule=call.schedule, suspend=call.suspend,
                                    concurrency=call.concurrency)
        return JobsResult(operation=op, backend=name, scheduled_job=item,
                          text=f"Scheduled job {item.id} created ({item.schedule}"
                               f"{', suspended' if item.suspend else ''}).\n" + scheduled_table([item]))
    if op == "scheduled ps":
        items = hub.scheduled_ps(all=call.all, **ns)
        return JobsResult(operation=op, backend=name, scheduled_jobs=items, text=scheduled_table(items))
    if op == "scheduled inspect":
        item = hub.scheduled_inspect(call.scheduled_job_id, **ns)
        return JobsResult(operation=op, backend=name, scheduled_job=item, text=scheduled_table([item]))
    action = op.split(" ", 1)[1]
    outcome = hub.scheduled_action(action, call.scheduled_job_id, **ns)
    if action == "trigger":
        return JobsResult(operation=op, backend=name, job=outcome,
                          text=f"Scheduled job {call.scheduled_job_id} started a run now.\n" + job_text(outcome))
    if action == "delete":
        return JobsResult(operation=op, backend=name, text=f"Scheduled job {call.scheduled_job_id} deleted.")
    return JobsResult(operation=op, backend=name, scheduled_job=outcome,
                      text=f"Scheduled job {call.scheduled_job_id} {action}d.\n" + scheduled_table([outcome]))


def _webhook(call: JobsCall, hub: Any) -> JobsResult:
    """webhook create / ps / delete on the Hub backend's client (jobs/webhooks.py)."""
    from hf_trainer.jobs import webhooks

    op = call.operation
    if op == "webhook ps":
        items = webhooks.list_webhooks(hub.api)
        return JobsResult(operation=op, backend="hub", webhooks=items, text=webhooks.webhooks_table(items))
    if op == "webhook delete":
        webhooks.delete_webhook(hub.api, call.webhook_id)
        return JobsResult(operation=op, backend="hub", text=f"Webhook {call.webhook_id} deleted.")
    request = call.uv or call.run
    if request is not None:  # every event will run this job: lint it once now
        _preflight_gate("uv" if call.uv is not None else "run", request, "hub", call.force)
    secrets = request.secrets if request is not None else (call.webhook_secrets or None)
    view, job_id = webhooks.create_job_webhook(
        hub.api, watched=call.watched, job_id=call.job_ids[0] if call.job_ids else None, backend=hub,
        request=request, run_now=call.run_now, domains=call.domains or None, secret=call.webhook_signing_secret,
        secrets=secrets)
    started = "is running now" if request is not None and call.run_now else "was cancelled at once" \
        if request is not None else "is the template"
    return JobsResult(operation=op, backend="hub", webhook=view,
                      text=f"{view.render()}\nSource job {job_id} {started}; each event starts a copy of it. Stop "
                           f"with operation 'webhook delete' and args {{\"webhook_id\": \"{view.id}\"}}.")
