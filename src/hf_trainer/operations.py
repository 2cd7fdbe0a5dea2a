"""The table of `hf_jobs` operations: one row each, with its args model, its handler, its flags and the two
functions that render its result (job_views.py).

The MCP tools `hf_jobs` / `hf_jobs_status` (server.py) and the `hf-trainer jobs ...` commands (cli_jobs.py) are both
generated from `OPERATIONS` and both call `parse_call` then `run_call`: same validation (the args models in
jobs/arguments.py, published to MCP clients as one schema per operation), same submit pipeline (jobs/submit.py),
same error text (errors.to_user_error, redacted). A new operation is one row here.

Layers: this module sits above jobs/ (backends and the pipeline) beside train, rerun and retry; nothing in jobs/
imports it (tests/test_layering.py).
"""

import json
import re
from dataclasses import dataclass
from typing import Any, Callable

from pydantic import BaseModel, Field, ValidationError

from hf_trainer import budget
from hf_trainer import job_views as v
from hf_trainer.errors import UserError, did_you_mean, to_user_error
from hf_trainer.jobs import arguments as a
from hf_trainer.jobs import submit
from hf_trainer.jobs.base import JobBackend, JobInfo, JobRequest
from hf_trainer.jobs.hub_models import JobMetrics, ScheduledJob
from hf_trainer.jobs.webhooks import WebhookView
from hf_trainer.preflight import PreflightReport


class JobsResult(BaseModel):
    """What an hf_jobs call returns. `text` is the readable summary; the other fields carry the data."""

    operation: str
    backend: str | None = None
    text: str = Field(default="", description="Readable summary of the result.")
    job: JobInfo | None = None
    jobs: list[JobInfo] = Field(default_factory=list)
    logs: list[str] | None = None
    metrics: JobMetrics | None = None
    hardware: list[dict[str, Any]] | None = Field(default=None, description="Flavors with specs and price_per_hour.")
    scheduled_job: ScheduledJob | None = None
    scheduled_jobs: list[ScheduledJob] = Field(default_factory=list)
    price_per_hour: float | None = Field(default=None, description="USD per hour of the submitted job's flavor.")
    preflight: PreflightReport | None = Field(default=None, description="What the submitted job was linted with.")
    webhook: WebhookView | None = None
    webhooks: list[WebhookView] = Field(default_factory=list)
    diagnosis: dict[str, Any] | None = Field(default=None, description="diagnose/retry: the failure, its evidence "
                                             "and the fixed job (script_args, flavor, timeout).")
    message: str | None = Field(default=None, description="A one-line outcome (deleted, started, ...).")
    job_id: str | None = Field(default=None, description="The job an operation was about.")
    followed_seconds: int | None = Field(default=None, description="logs with follow: how long it streamed.")
    catalog_text: str | None = Field(default=None, description="hardware: the flavor table.")
    spend: budget.SpendReport | None = Field(default=None, description="spend: each Hub job's cost this period, what "
                                             "active jobs may still cost, and the budget (read only).")

    def render(self) -> str:
        return self.text


Handler = Callable[[Any, JobBackend], JobsResult]
Text = Callable[[JobsResult], str]
# What the CLI prints (and dumps with --json): the result itself, or a view of it; the flag: `ps --all` was given.
CliView = Callable[[JobsResult, bool], Any]


@dataclass(frozen=True)
class Operation:
    """One hf_jobs operation: its args model, its handler and what it does to the world."""

    name: str
    args: type[a.Args]
    handler: Handler
    summary: str
    example: dict[str, Any] | None = None
    read_only: bool = False
    hub_only: bool = False
    spends_money: bool = False
    # The CLI's positional arguments, in order ("*" after a name: it takes the rest of the command line).
    positional: tuple[str, ...] = ()
    # Its result in words (MCP's text content, the CLI's default) and what the CLI prints or dumps with --json.
    text: Text = v.message_text
    cli: CliView = v.result_view

    @property
    def accepted(self) -> list[str]:
        return sorted([*self.args.model_fields, *getattr(self.args, "ALIASES", {})])


# --- handlers ---------------------------------------------------------------------------------------------------


def _name(backend: JobBackend) -> str | None:
    return getattr(backend, "name", None)


def _ns(args: Any, backend: JobBackend) -> dict[str, Any]:
    namespace = getattr(args, "namespace", None)
    return {"namespace": namespace} if namespace and _name(backend) == "hub" else {}


def _price(backend: Any, flavor: str | None) -> float | None:
    check = getattr(backend, "check_flavor", None)
    if check is None or not flavor:
        return None
    try:
        price: float | None = check(flavor).price_per_hour
        return price
    except UserError:
        return None


def _needs_image(args: Any, backend: JobBackend) -> None:
    if isinstance(args, a.RunArgs) and not args.image and _name(backend) == "hub":
        raise UserError("run needs image on the Hub: a Docker image such as 'python:3.12' or "
                        "'hf.co/spaces/user/space'.")


def _submit(args: a.UvArgs | a.RunArgs, backend: JobBackend, op: str) -> JobsResult:
    _needs_image(args, backend)
    job, report = submit.submit(args.request(), backend, force=args.force)
    return JobsResult(operation=op, backend=_name(backend), job=job, preflight=report,
                      price_per_hour=_price(backend, job.flavor))


def _uv(args: a.UvArgs, backend: JobBackend) -> JobsResult:
    return _submit(args, backend, "uv")


def _run(args: a.RunArgs, backend: JobBackend) -> JobsResult:
    return _submit(args, backend, "run")


def _scheduled_create(args: a.ScheduledUvArgs | a.ScheduledRunArgs, backend: Any) -> JobsResult:
    # Linted once, now, for every tick it will run: a scheduled GPU job spends money at each one.
    _needs_image(args, backend)
    request, report = submit.check(args.request(), backend, force=args.force, action="Not scheduled",
                                   schedule=args.schedule)
    request = submit.card_env(request, backend)
    item = backend.scheduled_create(request, schedule=args.schedule, suspend=args.suspend,
                                    concurrency=args.concurrency)
    op = "scheduled uv" if isinstance(args, a.ScheduledUvArgs) else "scheduled run"
    return JobsResult(operation=op, backend="hub", scheduled_job=item, preflight=report,
                      price_per_hour=_price(backend, args.flavor))


def _ps(args: a.PsArgs, backend: JobBackend) -> JobsResult:
    jobs = backend.ps(all=args.all or args.status is not None, stage=args.status, labels=args.labels or None,
                      **_ns(args, backend))
    return JobsResult(operation="ps", backend=_name(backend), jobs=jobs)


def _inspect(args: a.InspectArgs, backend: JobBackend) -> JobsResult:
    jobs = [backend.inspect(job_id, **_ns(args, backend)) for job_id in args.job_ids]
    return JobsResult(operation="inspect", backend=_name(backend), job=jobs[0] if len(jobs) == 1 else None, jobs=jobs)


def _logs(args: a.LogsArgs, backend: JobBackend) -> JobsResult:
    lines = list(backend.logs(args.job_id, tail=args.tail, follow=args.follow,
                              timeout=args.wait_seconds if args.follow else None, **_ns(args, backend)))
    return JobsResult(operation="logs", backend=_name(backend), logs=lines, job_id=args.job_id,
                      followed_seconds=args.wait_seconds if args.follow else None)


def _cancel(args: a.JobArgs, backend: JobBackend) -> JobsResult:
    return JobsResult(operation="cancel", backend=_name(backend), job=backend.cancel(args.job_id, **_ns(args, backend)))


def _wait(args: a.WaitArgs, backend: JobBackend) -> JobsResult:
    interval = args.poll_interval or (5.0 if _name(backend) == "hub" else 1.0)
    job = backend.wait(args.job_id, timeout=args.wait_seconds, poll_interval=interval, **_ns(args, backend))
    return JobsResult(operation="wait", backend=_name(backend), job=job)


def _diagnose(args: a.JobArgs, backend: JobBackend) -> JobsResult:
    from hf_trainer.retry import retry_job  # the diagnosis and the job that fixes it (retry.py)

    plan = retry_job(backend, args.job_id)
    return JobsResult(operation="diagnose", backend=_name(backend), diagnosis=plan.model_dump(mode="json"),
                      text=plan.render())


def _retry(args: a.RetryArgs, backend: JobBackend) -> JobsResult:
    from hf_trainer.retry import retry_job

    plan = retry_job(backend, args.job_id, confirm=args.confirm, force=args.force, flavor=args.flavor,
                     timeout_seconds=args.timeout)
    return JobsResult(operation="retry", backend=_name(backend), job=plan.job, diagnosis=plan.model_dump(mode="json"),
                      text=plan.render())


def _metrics(args: a.JobArgs, hub: Any) -> JobsResult:
    return JobsResult(operation="metrics", backend="hub", metrics=hub.metrics(args.job_id, **_ns(args, hub)))


def _hardware(args: a.NoArgs, hub: Any) -> JobsResult:
    catalog = hub.hardware()
    return JobsResult(operation="hardware", backend="hub", hardware=[r.model_dump(mode="json") for r in catalog.flavors],
                      catalog_text=catalog.render())


def _scheduled_ps(args: a.ScheduledPsArgs, hub: Any) -> JobsResult:
    items = hub.scheduled_ps(all=args.all, **_ns(args, hub))
    return JobsResult(operation="scheduled ps", backend="hub", scheduled_jobs=items)


def _scheduled_inspect(args: a.ScheduledIdArgs, hub: Any) -> JobsResult:
    item = hub.scheduled_inspect(args.scheduled_job_id, **_ns(args, hub))
    return JobsResult(operation="scheduled inspect", backend="hub", scheduled_job=item)


def _scheduled_action(action: str) -> Handler:
    def handler(args: a.ScheduledIdArgs, hub: Any) -> JobsResult:
        if action in ("trigger", "resume") and budget.load_budget() is not None:
            # A run now costs its timeout; a resumed schedule, every run due this period.
            item = hub.scheduled_inspect(args.scheduled_job_id, **_ns(args, hub))
            budget.check_spend(hub, flavor=item.flavor, timeout_seconds=item.timeout_seconds,
                               schedule=item.schedule if action == "resume" else None,
                               action="Not triggered" if action == "trigger" else "Not resumed")
        outcome = hub.scheduled_action(action, args.scheduled_job_id, **_ns(args, hub))
        result = JobsResult(operation=f"scheduled {action}", backend="hub", job_id=args.scheduled_job_id)
        if action == "trigger":
            return result.model_copy(update={"job": outcome})
        if action == "delete":
            return result
        return result.model_copy(update={"scheduled_job": outcome})
    return handler


def _webhook_ps(args: a.NoArgs, hub: Any) -> JobsResult:
    from hf_trainer.jobs import webhooks

    return JobsResult(operation="webhook ps", backend="hub", webhooks=webhooks.list_webhooks(hub.api))


def _webhook_delete(args: a.WebhookDeleteArgs, hub: Any) -> JobsResult:
    from hf_trainer.jobs import webhooks

    webhooks.delete_webhook(hub.api, args.webhook_id)
    return JobsResult(operation="webhook delete", backend="hub", job_id=args.webhook_id)


def _webhook_create(args: a.WebhookCreateArgs, hub: Any) -> JobsResult:
    from hf_trainer.jobs import webhooks

    request: JobRequest | None = args.request()
    report = None
    if request is not None:
        # Every event will run this job: it goes through the same pipeline now, once.
        request, report = submit.check(request, hub, force=args.force, action="Webhook not created")
        request = submit.card_env(request, hub)
    elif args.job_id and budget.load_budget() is not None:
        from hf_trainer.jobs.records import read_record

        # Each event runs a copy of this job: one run of it must fit what the budget leaves.
        template = hub.inspect(args.job_id)
        budget.check_spend(hub, flavor=template.flavor, timeout_seconds=read_record(template).timeout_seconds,
                           action="Webhook not created")
    secrets = request.secrets if request is not None else (args.secrets or None)
    view, job_id = webhooks.create_job_webhook(
        hub.api, watched=args.watched, job_id=args.job_id, backend=hub, request=request, run_now=args.run_now,
        domains=args.domains or None, secret=args.secret, secrets=secrets)
    started = "is running now" if request is not None and args.run_now else "was cancelled at once" \
        if request is not None else "is the template"
    return JobsResult(operation="webhook create", backend="hub", webhook=view, preflight=report, job_id=job_id,
                      message=f"Source job {job_id} {started}; each event starts a copy of it.")


def _spend(args: a.NoArgs, backend: JobBackend) -> JobsResult:
    # Read only: the budget is the person's (CLI `budget set` or the environment); no operation changes it.
    return JobsResult(operation="spend", backend=_name(backend), spend=budget.spend_report(backend))


def _help(args: a.NoArgs, backend: JobBackend) -> JobsResult:
    return JobsResult(operation="help", backend=_name(backend), text=usage())



# --- the table --------------------------------------------------------------------------------------------------

_UV_EXAMPLE = {"script": "train_sft.py", "script_args": ["--model_name_or_path", "Qwen/Qwen2.5-0.5B", "--dataset_name",
               "trl-lib/Capybara", "--push_to_hub", "--hub_model_id", "<you>/qwen-sft"], "flavor": "a10g-large",
               "timeout": "2h", "secrets": {"HF_TOKEN": "$HF_TOKEN"}}
_RUN_EXAMPLE = {"image": "python:3.12", "command": ["python", "-c", "print('hello')"], "flavor": "cpu-basic"}

OPERATIONS: dict[str, Operation] = {op.name: op for op in [
    Operation("help", a.NoArgs, _help, "this usage text.", text=v.plan_text, read_only=True),
    Operation("uv", a.UvArgs, _uv, "run a Python (PEP 723) script with uv: inline code, a local .py path (shipped "
              "inline), a bundled script by name, or an http(s) URL. Estimated and preflighted first.", _UV_EXAMPLE,
              spends_money=True, positional=("script", "script_args*"), text=v.submitted_text, cli=v.job_view),
    Operation("run", a.RunArgs, _run, "run a command in a Docker image (locally: as a process). Preflighted first.",
              _RUN_EXAMPLE, spends_money=True, positional=("image", "command*"), text=v.submitted_text, cli=v.job_view),
    Operation("ps", a.PsArgs, _ps, "list jobs, newest first (SCHEDULING and RUNNING unless all or status).",
              {"all": True, "status": "ERROR"}, read_only=True, text=v.ps_text, cli=v.ps_view),
    Operation("logs", a.LogsArgs, _logs, "last lines of a job's log; follow streams until it ends or timeout.",
              {"job_id": "<id>", "tail": 100}, read_only=True, positional=("job_id",), text=v.logs_text),
    Operation("inspect", a.InspectArgs, _inspect, "one job or several in full.", {"job_id": "<id>"}, read_only=True,
              positional=("job_id*",), text=v.jobs_text, cli=v.jobs_view),
    Operation("cancel", a.JobArgs, _cancel, "stop a job (destructive).", {"job_id": "<id>"}, positional=("job_id",), text=v.one_job_text, cli=v.job_view),
    Operation("wait", a.WaitArgs, _wait, "block until the job finishes (default at most 10m).",
              {"job_id": "<id>", "timeout": "30m"}, read_only=True, positional=("job_id",), text=v.one_job_text, cli=v.job_view),
    Operation("metrics", a.JobArgs, _metrics, "CPU/GPU use and memory of a running job.", {"job_id": "<id>"},
              read_only=True, hub_only=True, positional=("job_id",), text=v.metrics_text),
    Operation("hardware", a.NoArgs, _hardware, "flavors on offer with specs and $/h.", read_only=True, hub_only=True, text=v.hardware_text),
    Operation("spend", a.NoArgs, _spend, "what each Hub job cost this period (flavor, minutes, cost, model repo), "
              "what running, queued and scheduled jobs may still cost, and the budget with what is left. The budget "
              "is the person's: no tool changes it.", read_only=True, text=v.spend_text),
    Operation("scheduled run", a.ScheduledRunArgs, _scheduled_create, "as run, on a schedule; linted once, now, for "
              "every run it will start.", {**_RUN_EXAMPLE, "schedule": "@daily"}, hub_only=True, spends_money=True,
              positional=("schedule", "image", "command*"), text=v.scheduled_created_text),
    Operation("scheduled uv", a.ScheduledUvArgs, _scheduled_create, "as uv, on a schedule; estimated and linted once, "
              "now.", {"script": "report.py", "schedule": "0 9 * * 1"}, hub_only=True, spends_money=True,
              positional=("schedule", "script", "script_args*"), text=v.scheduled_created_text),
    Operation("scheduled ps", a.ScheduledPsArgs, _scheduled_ps, "list scheduled jobs (all: suspended ones too).",
              {"all": True}, read_only=True, hub_only=True, text=v.scheduled_list_text),
    Operation("scheduled inspect", a.ScheduledIdArgs, _scheduled_inspect, "one scheduled job.",
              {"scheduled_job_id": "<id>"}, read_only=True, hub_only=True, positional=("scheduled_job_id",), text=v.scheduled_one_text),
    Operation("scheduled delete", a.ScheduledIdArgs, _scheduled_action("delete"), "delete a scheduled job.",
              {"scheduled_job_id": "<id>"}, hub_only=True, positional=("scheduled_job_id",), text=v.deleted_text),
    Operation("scheduled suspend", a.ScheduledIdArgs, _scheduled_action("suspend"), "pause a scheduled job.",
              {"scheduled_job_id": "<id>"}, hub_only=True, positional=("scheduled_job_id",), text=v.scheduled_changed_text),
    Operation("scheduled resume", a.ScheduledIdArgs, _scheduled_action("resume"), "resume a paused scheduled job.",
              {"scheduled_job_id": "<id>"}, hub_only=True, positional=("scheduled_job_id",), text=v.scheduled_changed_text),
    Operation("scheduled trigger", a.ScheduledIdArgs, _scheduled_action("trigger"), "start a run now.",
              {"scheduled_job_id": "<id>"}, hub_only=True, spends_money=True, positional=("scheduled_job_id",), text=v.scheduled_triggered_text),
    Operation("diagnose", a.JobArgs, _diagnose, "why a finished job failed (out of memory, timeout, 401/403, gated or "
              "missing repo, wrong split/config/revision, data format, no CUDA, NaN, diverging or flat loss, GRPO "
              "rewards that never differ, stalled, push failure, dependency resolution; the timeout it was submitted "
              "with is read from its labels) and the job that fixes it.", {"job_id": "<id>"}, read_only=True, positional=("job_id",), text=v.plan_text, cli=v.plan_view),
    Operation("retry", a.RetryArgs, _retry, "the failed job again with that change, sized with the estimator (out of "
              "memory: the first change that fits the flavor, else the cheapest flavor that fits, else no retry), "
              "resumed from its last checkpoint, with a timeout for the work left: a plan, submitted only with "
              "confirm (after the person agreed), through the same preflight.", {"job_id": "<id>", "confirm": True},
              spends_money=True, positional=("job_id",), text=v.plan_text, cli=v.plan_view),
    Operation("webhook create", a.WebhookCreateArgs, _webhook_create, "start a job on every Hub repo event: job_id, "
              "or a job as for uv/run (linted now, submitted as the template and cancelled unless run_now). The job "
              "gets the event in WEBHOOK_PAYLOAD.", {"watched": ["dataset:<you>/data"], "job_id": "<id>"},
              hub_only=True, spends_money=True, text=v.webhook_created_text),
    Operation("webhook ps", a.NoArgs, _webhook_ps, "list webhooks.", read_only=True, hub_only=True, text=v.webhooks_text),
    Operation("webhook delete", a.WebhookDeleteArgs, _webhook_delete, "delete a webhook.", {"webhook_id": "<id>"},
              hub_only=True, positional=("webhook_id",), text=v.deleted_text),
]}
READ_ONLY = frozenset(name for name, op in OPERATIONS.items() if op.read_only)
HUB_ONLY = frozenset(name for name, op in OPERATIONS.items() if op.hub_only)
SPENDS_MONEY = frozenset(name for name, op in OPERATIONS.items() if op.spends_money)


# --- parsing and running ----------------------------------------------------------------------------------------


def normalize_operation(operation: str | None) -> str:
    """'scheduled_run', 'Scheduled-Run' and 'scheduled run' are the same operation; None means help."""
    if operation is None or not str(operation).strip():
        return "help"
    op = re.sub(r"[\s_\-]+", " ", str(operation).strip().lower())
    if op not in OPERATIONS:
        raise UserError(f"operation {str(operation)[:100]!r} is not known.{did_you_mean(op, OPERATIONS)} Operations: "
                        f"{', '.join(OPERATIONS)}.")
    return op


@dataclass(frozen=True)
class Call:
    """One parsed call: the operation and its validated args."""

    operation: str
    args: Any

    # The requests a call carries, for callers that submit them themselves.
    @property
    def uv(self) -> Any:
        return self.args.request() if isinstance(self.args, a.UvArgs) else None

    @property
    def run(self) -> Any:
        return self.args.request() if isinstance(self.args, a.RunArgs) else None

    @property
    def schedule(self) -> str | None:
        return getattr(self.args, "schedule", None)


def parse_call(operation: str | None, args: dict[str, Any] | str | None) -> Call:
    """Check `args` against `operation`'s model. UserError names the bad argument, the value and the forms."""
    if isinstance(args, str):
        # Some clients send nested objects as JSON text.
        text = args
        try:
            args = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError:
            raise UserError(f"args {text[:200]!r} is not a JSON object. Pass an object, e.g. {{\"job_id\": \"...\"}}.") \
                from None
    if args is not None and not isinstance(args, dict):
        raise UserError(f"args {str(args)[:200]!r} must be an object, e.g. {{\"job_id\": \"...\"}}.")
    args = dict(args or {})
    if args.get("help") is True:
        return Call("help", a.NoArgs())
    op = normalize_operation(operation)
    if "repo" in args and op in ("uv", "scheduled uv"):
        # hf-mcp-server stored scripts in a repo; here they travel inline with the job.
        raise UserError(f"{op} does not take 'repo': the script is shipped inline with the job, nothing is uploaded. "
                        "Remove 'repo'.")
    entry = OPERATIONS[op]
    given = args.get("secrets")
    secrets = {str(k): v for k, v in given.items() if isinstance(v, str)} if isinstance(given, dict) else None
    try:
        return Call(op, entry.args.model_validate(args))
    except ValidationError as exc:
        raise to_user_error(exc, what=op, accepted=entry.accepted, secrets=secrets) from None


def run_call(call: Call, backend: JobBackend) -> JobsResult:
    """Run a parsed call on `backend`; every UserError comes out redacted (the caller's token and the call's secrets)."""
    entry = OPERATIONS[call.operation]
    secrets = getattr(call.args, "secrets", None)
    try:
        if entry.hub_only and _name(backend) != "hub":
            raise UserError(f"operation {call.operation!r} exists only on Hugging Face Jobs. Use backend 'hub' (it "
                            "needs a token: run 'hf auth login' or set HF_TOKEN).")
        result = entry.handler(call.args, backend)
    except (UserError, ValidationError) as exc:
        raise to_user_error(exc, what=call.operation, secrets=secrets) from None
    from hf_trainer.redaction import Redactor

    return present(Redactor.for_caller(secrets).model(result))


def present(result: JobsResult) -> JobsResult:
    """The result with its readable text, made by its operation's row."""
    return result.model_copy(update={"text": OPERATIONS[result.operation].text(result)})


# --- the words generated from the table (usage text, schema descriptions) ---------------------------------------


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


def args_json_schema(read_only: bool = False) -> dict[str, Any]:
    """The JSON schema of `hf_jobs.args`: one object schema per operation (titled with the operation's name), so a
    client sees every operation's fields, types and limits before it calls. References are inlined: the schema is
    embedded in the tool's input schema, which has no $defs of its own."""
    choices = []
    for name, op in OPERATIONS.items():
        if name == "help" or (read_only and not op.read_only):
            continue
        schema = inline_refs(op.args.model_json_schema())
        schema["title"] = f"args for operation {name!r}"
        schema["description"] = f"{name}: {op.summary}"
        choices.append(schema)
    return {"anyOf": [*choices, {"type": "string", "description": "the same object as JSON text"}, {"type": "null"}],
            "description": "The operation's arguments (hf-mcp-server's shape): the schema titled with the operation's "
                           "name applies."}


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its $defs references replaced by the definitions (for embedding)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk({**defs[ref.split("/")[-1]], **{k: x for k, x in node.items() if k != "$ref"}})
            return {k: walk(x) for k, x in node.items()}
        if isinstance(node, list):
            return [walk(x) for x in node]
        return node

    result = walk(schema)
    assert isinstance(result, dict)
    return result
