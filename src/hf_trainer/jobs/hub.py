"""The Hub backend: HF Jobs through huggingface_hub's HfApi.

- One explicit `HfApi(endpoint, token)`; the namespace is resolved once (whoami-v2 is rate limited on the Hub).
- Scripts never leave as uploads: inline text and local files travel base64-encoded in an environment variable of a
  job on the uv image and are decoded there; URLs pass through to `uv run`. (huggingface_hub's `run_uv_job` uploads
  local files to a bucket and prints to stdout, which would corrupt an MCP stdio stream.)
- Every Hub failure becomes a UserError from jobs/hub_errors.py; passing faults are retried with backoff.
- Every text returned goes through a Redactor holding the caller's token and the secrets submitted.
- huggingface_hub's JobInfo is converted to ours in one function, `to_job_info`.
"""

import base64
import gzip
import os
import queue
import re
import shlex
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterator
from urllib.parse import quote

import httpx2
from huggingface_hub import HfApi
from huggingface_hub import JobInfo as HubJobInfo
from huggingface_hub.errors import HfHubHTTPError

from hf_trainer.bundled_scripts import SCRIPTS
from hf_trainer.errors import UserError
from hf_trainer.hub_client import get_hf_api, hub_endpoint
from hf_trainer.jobs.arguments import HubOptions
from hf_trainer.jobs.base import BackendName, CommandJobRequest, JobInfo, Stage, UvJobRequest, cap_log_lines
from hf_trainer.jobs.hub_errors import LOGIN_HINT, CallDeadline, Context, Retry, run_within, from_hub_error
from hf_trainer.jobs.hub_models import JobMetrics, ScheduledJob
from hf_trainer.jobs.script_source import ScriptSource, resolve_script
from hf_trainer.launch import accelerate_launcher, gpus_for_flavor
from hf_trainer.redaction import Redactor
from hf_trainer.tokens import caller_token, prepare_env_and_secrets
from hf_trainer.timeouts import format_duration

UV_IMAGE = "ghcr.io/astral-sh/uv:python3.12-bookworm"
SCRIPT_ENV = "HF_TRAINER_SCRIPT_GZ_B64"
SCRIPT_NAME_ENV = "HF_TRAINER_SCRIPT_NAME"
SCRIPT_DIR = "/tmp/hf-trainer"
# One environment string is capped at 128 KiB by Linux (MAX_ARG_STRLEN); base64 grows text by a third.
MAX_INLINE_SCRIPT_BYTES = 90_000
# huggingface_hub's paginated listings already retry 5xx/429 five times with backoff (utils.http_backoff).
LISTING_RETRIES = 5


def _display_env(env: dict[str, Any] | None) -> dict[str, str]:
    """The job's env as shown to people: the shipped script is summarised, not dumped."""
    shown = {k: str(v) for k, v in (env or {}).items() if k != SCRIPT_ENV}
    if SCRIPT_ENV in (env or {}):
        shown[SCRIPT_ENV] = f"<inline script, {len(str(env[SCRIPT_ENV]))} characters of gzip+base64>"  # type: ignore[index]
    return shown


def _display_command(command: list[str] | None, env: dict[str, Any] | None) -> list[str]:
    """For a shipped script, the `uv run ...` line it ends in, rather than the decoding wrapper."""
    command = list(command or [])
    if SCRIPT_ENV in (env or {}) and len(command) == 3 and command[:2] == ["bash", "-c"]:
        _, _, tail = command[2].partition("exec ")
        try:
            return shlex.split(tail) or command
        except ValueError:
            return command
    return command


def _stage(raw: Any, message: str | None) -> tuple[Stage, str | None]:
    """The job's stage; one the Hub adds later is shown as SCHEDULING with its name, not a crash of every ps."""
    name = str(getattr(raw, "value", raw)).upper()
    if name in Stage.__members__:
        return Stage(name), message
    return Stage.SCHEDULING, f"Hub stage {name}" + (f": {message}" if message else "")


def to_job_info(job: HubJobInfo, timeout_seconds: int | None = None) -> JobInfo:
    """huggingface_hub's JobInfo -> ours. The one place Hub job records are read."""
    stage, message = _stage(job.status.stage, job.status.message)
    return JobInfo(
        id=job.id,
        backend="hub",
        stage=stage,
        message=message,
        command=_display_command(job.command, job.environment) + list(job.arguments or []),
        image=job.docker_image or (f"hf.co/spaces/{job.space_id}" if job.space_id else None),
        flavor=str(getattr(job.flavor, "value", job.flavor)) if job.flavor else None,
        timeout_seconds=timeout_seconds,
        labels=dict(job.labels or {}),
        env=_display_env(job.environment),
        secret_names=sorted((job.secrets or {}).keys()),
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        owner=job.owner.name if job.owner else None,
        url=job.url,
    )


def to_scheduled_job(info: Any) -> ScheduledJob:
    """huggingface_hub's ScheduledJobInfo -> ours."""
    spec = info.job_spec
    status = info.status
    return ScheduledJob(
        id=info.id,
        schedule=info.schedule,
        suspend=bool(info.suspend),
        concurrency=info.concurrency,
        command=_display_command(spec.command, spec.environment) + list(spec.arguments or []),
        image=spec.docker_image or (f"hf.co/spaces/{spec.space_id}" if spec.space_id else None),
        flavor=str(getattr(spec.flavor, "value", spec.flavor)) if spec.flavor else None,
        timeout_seconds=spec.timeout,
        labels=dict(spec.labels or {}),
        secret_names=sorted((spec.secrets or {}).keys()),
        last_job_id=status.last_job.id if status and status.last_job else None,
        last_job_at=status.last_job.at if status and status.last_job else None,
        next_run_at=status.next_job_run_at if status else None,
        owner=info.owner.name if info.owner else None,
        created_at=info.created_at,
    )


def segment(value: str) -> str:
    """`value` as one URL path segment. huggingface_hub puts ids and namespaces into its URLs unescaped, so a job id
    such as '../../../api/repos/create?x=' would reach another Hub API path with the caller's token: every '/', '?',
    '#' and '%' is percent-encoded, and so is every '.', so that no segment is ever '.' or '..'."""
    return quote(str(value), safe="").replace(".", "%2E")


def _job_name(source: ScriptSource) -> str:
    stem = source.name[:-3] if source.name.endswith(".py") else source.name
    return re.sub(r"[^A-Za-z0-9_-]", "-", stem)[:60] or "script"


# The bundled training scripts, which run one process per GPU under accelerate launch on multi-GPU flavors.
DISTRIBUTED_SCRIPTS = frozenset(name for name, entry in SCRIPTS.items() if entry.distributed)


def uv_command(request: UvJobRequest, source: ScriptSource) -> tuple[list[str], dict[str, str]]:
    """The container command and the extra env for a uv job. Inline and file scripts are decoded from env."""
    uv_args: list[str] = []
    for dependency in request.dependencies:
        uv_args += ["--with", dependency]
    if request.python:
        uv_args += ["--python", request.python]
    launcher = list(getattr(request, "launcher", None) or [])
    name = re.sub(r"[^A-Za-z0-9._-]", "_", source.name) or "script.py"
    target = str(source.url) if source.kind == "url" else f"{SCRIPT_DIR}/{name}"
    if not launcher and source.name in DISTRIBUTED_SCRIPTS:
        # Several GPUs need one process each (accelerate launch); plain python would fall back to DataParallel.
        launcher = accelerate_launcher(target, gpus_for_flavor(request.flavor))
    if source.kind == "url":
        return ["uv", "run", *uv_args, *launcher, target, *request.script_args], {}
    # gzip first: the training scripts carry their shared runtime inline (80+ KB of text, a quarter of that gzipped).
    data = gzip.compress((source.text or "").encode("utf-8"), mtime=0)
    if len(data) > MAX_INLINE_SCRIPT_BYTES:
        raise UserError(
            f"The script {source.name!r} is {len(data)} bytes even gzipped; scripts are shipped inline in the job's "
            f"environment, which holds at most {MAX_INLINE_SCRIPT_BYTES} bytes. Host it at an http(s) URL (e.g. "
            "upload it to a Hub repo and pass its /resolve/main/ URL) and pass that URL as the script."
        )
    run = shlex.join(["uv", "run", *uv_args, *launcher, target, *request.script_args])
    shell = (f'mkdir -p {SCRIPT_DIR} && printf %s "${SCRIPT_ENV}" | base64 -d | gunzip > {shlex.quote(target)} '
             f'&& exec {run}')
    encoded = base64.b64encode(data).decode("ascii")
    return ["bash", "-c", shell], {SCRIPT_ENV: encoded, SCRIPT_NAME_ENV: name}


def shipped_script(environment: dict[str, str]) -> bytes:
    """The script a job spec carries inline (what the container decodes): for tests and for reading jobs back."""
    return gzip.decompress(base64.b64decode(environment[SCRIPT_ENV]))


def _volumes(specs: list[str]) -> list[Any] | None:
    if not specs:
        return None
    from huggingface_hub import Volume
    from huggingface_hub.utils import parse_hf_mount

    volumes = []
    for spec in specs:
        mount = parse_hf_mount(spec)
        volumes.append(Volume(type=mount.source.type, source=mount.source.id, mount_path=mount.mount_path,
                              read_only=mount.read_only, path=mount.source.path_in_repo or None,
                              revision=mount.source.revision or None))
    return volumes


# Arguments with these endings that name a file here would point the job at a path it cannot see.
_LOCAL_FILE_SUFFIXES = (".py", ".sh", ".yaml", ".yml", ".json", ".jsonl", ".toml", ".csv", ".parquet", ".txt")


def _refuse_local_files(script_args: list[str]) -> None:
    for arg in script_args:
        candidate = arg.partition("=")[2] if arg.startswith("--") and "=" in arg else arg
        if candidate.lower().endswith(_LOCAL_FILE_SUFFIXES) and os.path.isfile(candidate):
            raise UserError(
                f"script argument {arg!r} names a file on this machine, which the job on the Hub cannot see. Put it "
                "in a Hub repo or bucket and mount it with volumes (e.g. 'hf://datasets/me/data:/data:ro', then "
                "pass '/data/...'), or pass an http(s) URL to it."
            )


# A log read without follow ends here even when the Hub keeps the stream open (the Hub takes ~5 s for a running job).
LOGS_DEADLINE = 20.0


_FROM_ENV: dict[tuple[str, str], "HubBackend"] = {}


class HubBackend:
    """HF Jobs. Construct with an explicit HfApi (tests pass one pointed at a fake Hub)."""

    name: BackendName = "hub"

    def __init__(
        self,
        api: HfApi,
        namespace: str | None = None,
        *,
        retry: Retry | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        catalog_loader: Callable[[HfApi], Any] | None = None,
    ) -> None:
        self.api = api
        self._namespace = namespace
        self.retry = retry or Retry(sleep=sleep)
        self.clock = clock
        self.sleep = sleep
        self._catalog_loader = catalog_loader
        token = api.token if isinstance(api.token, str) else None
        self.redact = Redactor([token])
        self._timeouts: dict[str, int] = {}

    @classmethod
    def from_env(cls) -> "HubBackend":
        """Token from HF_TOKEN or `hf auth login`; endpoint from HF_ENDPOINT (read now, not at import)."""
        token = caller_token()
        if not token:
            raise UserError(f"No Hugging Face token found, so jobs cannot run on the Hub. {LOGIN_HINT} Or use the "
                            "local backend (backend 'local').")
        # One backend per endpoint and token for the life of the process (an MCP server makes many calls): the
        # namespace is then asked once, and whoami-v2 is rate limited on the Hub.
        key = (hub_endpoint(), token)
        if key not in _FROM_ENV:
            _FROM_ENV[key] = cls(get_hf_api(token))
        return _FROM_ENV[key]

    # --- plumbing ---

    def _call(self, fn: Callable[[], Any], action: str, *, job_id: str | None = None, idempotent: bool = True,
              namespace: str | None = None, client_retries: int = 0, scheduled_job_id: str | None = None,
              attempts: int | None = None, total_timeout: float | None = None) -> Any:
        ctx = Context(action=action, namespace=namespace or self._namespace, job_id=job_id,
                      endpoint=str(self.api.endpoint), scheduled_job_id=scheduled_job_id)
        try:
            return self.retry.call(fn, ctx, idempotent=idempotent, client_retries=client_retries, attempts=attempts,
                                   total_timeout=total_timeout)
        except UserError as exc:
            raise UserError(self.redact(str(exc))) from None

    def namespace(self, override: str | None = None) -> str:
        """The namespace jobs run in: `override`, the one given at construction, else whoami (asked once)."""
        if override:
            return override
        if self._namespace is None:
            # Read inside the call: a malformed answer is then reported as one (the error table), not a crash.
            name = self._call(lambda: str(self.api.whoami()["name"]), "find your user name (whoami)")
            self._namespace = name  # encoded where it enters a URL (segment)
        return self._namespace

    def _out(self, job: JobInfo) -> JobInfo:
        return self.redact.model(job)

    def _info(self, job: HubJobInfo, timeout_seconds: int | None = None) -> JobInfo:
        timeout = timeout_seconds or self._timeouts.get(job.id)
        if timeout_seconds:
            self._timeouts[job.id] = timeout_seconds
        return self._out(to_job_info(job, timeout))

    def catalog(self) -> Any:
        if self._catalog_loader is not None:
            return self._catalog_loader(self.api)
        from hf_trainer.hardware import fallback_catalog, load_catalog

        try:  # load_catalog falls back by itself on errors; a Hub that stalls needs a deadline too
            return run_within(lambda: load_catalog(self.api), self.retry.attempt_timeout)
        except CallDeadline:
            return fallback_catalog()

    def check_flavor(self, flavor: str | None) -> Any:
        """The Flavor record (with its $/h) for `flavor` (default cpu-basic); UserError with did-you-mean."""
        from hf_trainer.hardware import check_flavor

        return check_flavor(flavor or "cpu-basic", self.catalog())

    def _prepare(self, request: UvJobRequest | CommandJobRequest) -> tuple[dict[str, str], dict[str, str]]:
        env, secrets = prepare_env_and_secrets(request.env, request.secrets, self.api.token if isinstance(
            self.api.token, str) else None)
        self.redact.add(*secrets.values())
        return env, secrets

    # --- JobBackend ---

    def uv(self, request: UvJobRequest) -> JobInfo:
        spec = self._uv_spec(request)
        ns = self.namespace(getattr(request, "namespace", None))
        job = self._call(lambda: self.api.run_job(namespace=segment(ns), **spec), "submit the job", idempotent=False,
                         namespace=ns)
        return self._info(job, request.timeout_seconds)

    def run(self, request: CommandJobRequest) -> JobInfo:
        spec = self._run_spec(request)
        ns = self.namespace(getattr(request, "namespace", None))
        job = self._call(lambda: self.api.run_job(namespace=segment(ns), **spec), "submit the job", idempotent=False,
                         namespace=ns)
        return self._info(job, request.timeout_seconds)

    def _uv_spec(self, request: UvJobRequest) -> dict[str, Any]:
        source = resolve_script(request.script)
        _refuse_local_files(request.script_args)
        env, secrets = self._prepare(request)
        command, script_env = uv_command(request, source)
        labels = dict(request.labels)
        return dict(
            image=getattr(request, "image", None) or UV_IMAGE,
            command=command,
            env={**env, **script_env},
            secrets=secrets or None,
            flavor=self.check_flavor(request.flavor).name,
            timeout=request.timeout_seconds,
            labels=labels or None,
            name=None if "name" in labels else _job_name(source),
            **self._hub_extras(request),
        )

    def _run_spec(self, request: CommandJobRequest) -> dict[str, Any]:
        env, secrets = self._prepare(request)
        if not request.image:
            raise UserError("run needs image: a Docker image such as 'python:3.12' (the Hub runs commands in one).")
        return dict(
            image=request.image,
            command=list(request.command),
            env=env,
            secrets=secrets or None,
            flavor=self.check_flavor(request.flavor).name,
            timeout=request.timeout_seconds,
            labels=dict(request.labels) or None,
            **self._hub_extras(request),
        )

    @staticmethod
    def _hub_extras(request: Any) -> dict[str, Any]:
        if not isinstance(request, HubOptions):
            return {}
        return {"volumes": _volumes(request.volumes), "attempts": request.attempts}

    def ps(self, *, all: bool = False, stage: Stage | None = None, labels: dict[str, str] | None = None,
           namespace: str | None = None) -> list[JobInfo]:
        ns = self.namespace(namespace)
        # SCHEDULING is listed with RUNNING: hf-mcp-server hid queued jobs, so people submitted twice.
        status: list[str] | None = [stage.value] if stage else (None if all else [Stage.SCHEDULING.value,
                                                                                  Stage.RUNNING.value])
        jobs = self._call(lambda: list(self.api.list_jobs(namespace=segment(ns), status=status,
                                                          labels=labels or None)),
                          "list jobs", namespace=ns, client_retries=LISTING_RETRIES)
        jobs.sort(key=lambda j: j.created_at or datetime.min.replace(tzinfo=timezone.utc), reverse=True)
        return [self._info(j) for j in jobs]

    def inspect(self, job_id: str, *, namespace: str | None = None) -> JobInfo:
        ns = self.namespace(namespace)
        job = self._call(lambda: self.api.inspect_job(job_id=segment(job_id), namespace=segment(ns)),
                         f"inspect job {job_id!r}", job_id=job_id, namespace=ns)
        return self._info(job)

    def logs(self, job_id: str, *, tail: int | None = None, follow: bool = False, timeout: float | None = None,
             namespace: str | None = None) -> Iterator[str]:
        ns = self.namespace(namespace)
        if not follow:
            # Server-side tail: hf-mcp-server read the whole log from the start for 10 s and cut it locally.
            lines = cap_log_lines(self._read_logs(job_id, ns, tail), f"the job's page, {self.api.endpoint}/jobs/{ns}/"
                                                                     f"{segment(job_id)}")
            return iter([self.redact(line) for line in lines])
        self.inspect(job_id, namespace=ns)  # a wrong id fails now, with our message, not on the first read
        return self._follow(job_id, ns, tail, timeout)

    def _read_logs(self, job_id: str, ns: str, tail: int | None) -> list[str]:
        """The log without following it, within LOGS_DEADLINE: a stream the Hub keeps open (a running job, or one
        that trickles a line a second) is cut there, and what came is returned with a note saying so."""
        received: list[list[str]] = []

        def read() -> list[str]:
            lines: list[str] = []
            received.append(lines)  # a fresh list per attempt: a retry never repeats lines
            for line in self.api.fetch_job_logs(job_id=segment(job_id), namespace=segment(ns), follow=False,
                                                tail=tail):
                lines.append(line)
            return lines

        action = f"read the logs of job {job_id!r}"
        try:
            lines: list[str] = self._call(read, action, job_id=job_id, namespace=ns, total_timeout=LOGS_DEADLINE)
            return lines
        except UserError:
            partial = list(received[-1]) if received else []
            if not partial:
                raise
            kept = partial[-tail:] if tail else partial
            return kept + [f"[hf-trainer: the Hub kept the log stream open; stopped reading after "
                           f"{LOGS_DEADLINE:g} s. Follow the job (follow: true, with a timeout) to read on.]"]

    def _follow(self, job_id: str, ns: str, tail: int | None, timeout: float | None) -> Iterator[str]:
        """Stream lines until the job ends or `timeout` passes, whichever is first.

        huggingface_hub's follow stream blocks between lines (up to two minutes), so it runs in a daemon thread and
        this generator waits on a queue with a deadline.
        """
        lines: queue.Queue[tuple[str, Any]] = queue.Queue()
        stop = threading.Event()

        def pump() -> None:
            try:
                for line in self.api.fetch_job_logs(job_id=segment(job_id), namespace=segment(ns), follow=True,
                                                    tail=tail):
                    if stop.is_set():  # the reader gave up: close the stream at the next line
                        return
                    lines.put(("line", line))
                lines.put(("end", None))
            except Exception as exc:  # noqa: BLE001 - handed to the reading thread, which converts it
                lines.put(("error", exc))

        threading.Thread(target=pump, name=f"logs-{job_id}", daemon=True).start()
        try:
            yield from self._drain(lines, job_id, ns, timeout)
        finally:
            stop.set()

    def _drain(self, lines: "queue.Queue[tuple[str, Any]]", job_id: str, ns: str,
               timeout: float | None) -> Iterator[str]:
        deadline = None if timeout is None else self.clock() + timeout
        while True:
            remaining = None if deadline is None else deadline - self.clock()
            if remaining is not None and remaining <= 0:
                return
            try:
                kind, value = lines.get(timeout=remaining)
            except queue.Empty:
                return
            if kind == "line":
                yield self.redact(cap_log_lines([value], "the job's page")[0])  # one line: cut, never dropped
            elif kind == "end":
                return
            elif isinstance(value, (HfHubHTTPError, httpx2.HTTPError, TimeoutError)):
                ctx = Context(action=f"follow the logs of job {job_id!r}", namespace=ns, job_id=job_id,
                              endpoint=str(self.api.endpoint))
                raise UserError(self.redact(str(from_hub_error(value, ctx)))) from None
            else:
                raise value

    def cancel(self, job_id: str, *, namespace: str | None = None) -> JobInfo:
        ns = self.namespace(namespace)
        self._call(lambda: self.api.cancel_job(job_id=segment(job_id), namespace=segment(ns)), f"cancel job {job_id!r}",
                   job_id=job_id, namespace=ns)
        return self.inspect(job_id, namespace=ns)

    def wait(self, job_id: str, *, timeout: float | None = None, poll_interval: float = 1.0,
             namespace: str | None = None) -> JobInfo:
        deadline = None if timeout is None else self.clock() + timeout
        while True:
            job = self.inspect(job_id, namespace=namespace)
            if job.is_terminal:
                return job  # a failed job is data: ERROR with its message, not an exception
            remaining = None if deadline is None else deadline - self.clock()
            if remaining is not None and remaining <= 0:
                raise UserError(
                    f"Job {job_id} is still {job.stage.value} after {format_duration(timeout or 0)}. It keeps "
                    "running; check again with operation 'wait' or 'inspect', or read progress with 'logs'."
                )
            self.sleep(poll_interval if remaining is None else max(0.0, min(poll_interval, remaining)))

    # --- Hub-only operations ---

    def inspect_many(self, job_ids: list[str], *, namespace: str | None = None) -> list[JobInfo]:
        return [self.inspect(job_id, namespace=namespace) for job_id in job_ids]

    def metrics(self, job_id: str, *, namespace: str | None = None) -> JobMetrics:
        ns = self.namespace(namespace)
        job = self.inspect(job_id, namespace=ns)
        if job.is_terminal:
            return JobMetrics(job_id=job_id, stage=job.stage,
                              note=f"Job {job_id} is {job.stage.value}: metrics exist only while a job runs.")
        samples = self._call(
            lambda: list(self.api.fetch_job_metrics(job_id=segment(job_id), namespace=segment(ns), follow=False)),
            f"read the metrics of job {job_id!r}", job_id=job_id, namespace=ns)
        if not samples:
            return JobMetrics(job_id=job_id, stage=job.stage,
                              note=f"Job {job_id} is {job.stage.value} and has sent no metrics yet; try again soon.")
        sample = samples[-1]
        gpus = [{"id": key, **value} for key, value in (sample.get("gpus") or {}).items()]
        return JobMetrics(job_id=job_id, stage=job.stage, cpu_usage_pct=sample.get("cpu_usage_pct"),
                          cpu_millicores=sample.get("cpu_millicores"),
                          memory_used_bytes=sample.get("memory_used_bytes"),
                          memory_total_bytes=sample.get("memory_total_bytes"), rx_bps=sample.get("rx_bps"),
                          tx_bps=sample.get("tx_bps"), gpus=gpus)

    def hardware(self) -> Any:
        """The flavors on offer with specs and $/h (hardware.CatalogResult)."""
        from hf_trainer.hardware import catalog_result, load_catalog

        if self._catalog_loader is not None:
            return catalog_result(self._catalog_loader(self.api))
        from hf_trainer.hardware import fallback_catalog

        try:
            return catalog_result(run_within(lambda: load_catalog(self.api, refresh=True), self.retry.attempt_timeout))
        except CallDeadline:
            return catalog_result(fallback_catalog())

    def scheduled_create(self, request: UvJobRequest | CommandJobRequest, *, schedule: str,
                         suspend: bool | None = None, concurrency: bool | None = None) -> ScheduledJob:
        spec = self._uv_spec(request) if isinstance(request, UvJobRequest) else self._run_spec(request)
        ns = self.namespace(getattr(request, "namespace", None))
        info = self._call(lambda: self.api.create_scheduled_job(schedule=schedule, suspend=suspend,
                                                                 concurrency=concurrency, namespace=segment(ns),
                                                                 **spec),
                          "create the scheduled job", idempotent=False, namespace=ns)
        return self.redact.model(to_scheduled_job(info))

    def scheduled_ps(self, *, all: bool = False, namespace: str | None = None) -> list[ScheduledJob]:
        ns = self.namespace(namespace)
        infos = self._call(lambda: list(self.api.list_scheduled_jobs(namespace=segment(ns))), "list scheduled jobs",
                           namespace=ns)
        jobs = [self.redact.model(to_scheduled_job(i)) for i in infos]
        return jobs if all else [j for j in jobs if not j.suspend]

    def scheduled_inspect(self, scheduled_job_id: str, *, namespace: str | None = None) -> ScheduledJob:
        ns = self.namespace(namespace)
        info = self._call(lambda: self.api.inspect_scheduled_job(scheduled_job_id=segment(scheduled_job_id),
                                                                   namespace=segment(ns)),
                          f"inspect scheduled job {scheduled_job_id!r}", namespace=ns,
                          scheduled_job_id=scheduled_job_id)
        return self.redact.model(to_scheduled_job(info))

    def scheduled_action(self, action: str, scheduled_job_id: str, *, namespace: str | None = None) -> Any:
        """delete, suspend, resume (-> ScheduledJob or None for delete) or trigger (-> the JobInfo it started)."""
        ns = self.namespace(namespace)
        methods = {"delete": self.api.delete_scheduled_job, "suspend": self.api.suspend_scheduled_job,
                   "resume": self.api.resume_scheduled_job, "trigger": self.api.trigger_scheduled_job}
        result = self._call(lambda: methods[action](scheduled_job_id=segment(scheduled_job_id), namespace=segment(ns)),
                            f"{action} scheduled job {scheduled_job_id!r}", namespace=ns,
                            idempotent=action != "trigger", scheduled_job_id=scheduled_job_id)
        if action == "trigger":
            return self._info(result)
        if action == "delete":
            return None
        return self.scheduled_inspect(scheduled_job_id, namespace=ns)

