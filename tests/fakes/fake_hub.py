"""A fake Hugging Face Hub on 127.0.0.1 that speaks the Jobs API, for the real huggingface_hub client.

- Endpoints (see shared/FACTS.md): whoami-v2, jobs create/list (stage and label filters, Link pagination)/inspect/
  cancel/duplicate, SSE logs (with ?tail=N) and metrics, hardware, scheduled jobs (create, list, inspect, delete,
  suspend, resume, run).
- A route table: other tests add endpoints with `fake.route("GET", r"/api/models/(?P<repo>.+)")(handler)` without
  editing this file. Added routes are matched before the built-in ones.
- Every request is recorded (`fake.requests`) with its JSON body; `fake.fail(...)` injects 401/403/404/429/500 (and
  delays) on matching requests; errors carry X-Error-Message like the Hub.
- Use the `fake_hub` fixture: a started server, HF_ENDPOINT pointed at it, the canary token accepted.
"""

import json
import re
import secrets as _secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from conftest import CANARY_TOKEN

USER = {"id": "5e9ecfc04957053f60648a3e", "name": "alice", "type": "user"}
TERMINAL = {"COMPLETED", "CANCELED", "ERROR", "DELETED"}

# /api/jobs/hardware as the Hub shows it (a subset, official prices per minute).
HARDWARE = [
    {"name": "cpu-basic", "prettyName": "CPU Basic", "cpu": "2 vCPU", "ram": "16 GB", "accelerator": None,
     "unitCostMicroUSD": 167, "unitCostUSD": 0.000167, "unitLabel": "minute"},
    {"name": "cpu-upgrade", "prettyName": "CPU Upgrade", "cpu": "8 vCPU", "ram": "32 GB", "accelerator": None,
     "unitCostMicroUSD": 500, "unitCostUSD": 0.0005, "unitLabel": "minute"},
    {"name": "t4-small", "prettyName": "Nvidia T4 - small", "cpu": "4 vCPU", "ram": "15 GB",
     "accelerator": {"type": "gpu", "model": "T4", "quantity": "1", "vram": "16 GB", "manufacturer": "Nvidia"},
     "unitCostMicroUSD": 6667, "unitCostUSD": 0.006667, "unitLabel": "minute"},
    {"name": "a10g-large", "prettyName": "Nvidia A10G - large", "cpu": "12 vCPU", "ram": "46 GB",
     "accelerator": {"type": "gpu", "model": "A10G", "quantity": "1", "vram": "24 GB", "manufacturer": "Nvidia"},
     "unitCostMicroUSD": 25000, "unitCostUSD": 0.025, "unitLabel": "minute"},
    {"name": "a100-large", "prettyName": "Nvidia A100 - large", "cpu": "12 vCPU", "ram": "142 GB",
     "accelerator": {"type": "gpu", "model": "A100", "quantity": "1", "vram": "80 GB", "manufacturer": "Nvidia"},
     "unitCostMicroUSD": 41667, "unitCostUSD": 0.041667, "unitLabel": "minute"},
    {"name": "h200", "prettyName": "Nvidia H200", "cpu": "23 vCPU", "ram": "256 GB",
     "accelerator": {"type": "gpu", "model": "H200", "quantity": "1", "vram": "141 GB", "manufacturer": "Nvidia"},
     "unitCostMicroUSD": 83333, "unitCostUSD": 0.083333, "unitLabel": "minute"},
    {"name": "rtx-pro-6000", "prettyName": "Nvidia RTX PRO 6000", "cpu": "16 vCPU", "ram": "128 GB",
     "accelerator": {"type": "gpu", "model": "RTX PRO 6000", "quantity": "1", "vram": "96 GB",
                     "manufacturer": "Nvidia"},
     "unitCostMicroUSD": 45833, "unitCostUSD": 0.045833, "unitLabel": "minute"},
]

# The end of a real log of a job that ran out of GPU memory on an A10G (24 GB) after its first pushed checkpoint.
OOM_LOG = [
    "{'loss': '1.921', 'grad_norm': '0.8', 'learning_rate': '2e-05', 'epoch': '0.3'}",
    "hf-trainer checkpoint: step 300 of 1000 (checkpoint-300)",
    "Traceback (most recent call last):",
    '  File "/tmp/hf-trainer/train_sft.py", line 160, in main',
    "    trainer.train(resume_from_checkpoint=checkpoint)",
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 22.06 GiB "
    "of which 1.13 GiB is free. Including non-PyTorch memory, this process has 20.92 GiB memory in use.",
]


def hub_time(when: datetime | None = None) -> str:
    """The Hub's date format: 2026-11-25T13:55:36.012Z."""
    when = when or datetime.now(timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    groups: dict[str, str] = field(default_factory=dict)

    @property
    def token(self) -> str | None:
        auth = self.headers.get("authorization", "")
        return auth[len("Bearer "):] if auth.startswith("Bearer ") else None


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    sse: list[str] | None = None  # SSE lines, written one by one
    raw: bytes | None = None  # a file's bytes (downloads), sent as they are instead of JSON


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    times: int
    message: str | None
    headers: dict[str, str]
    delay: float


Handler = Callable[[Request], "Response | dict | list | None"]


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status, {"error": message}, {"X-Error-Message": message, **(headers or {})})


class FakeHub:
    """The state of a fake Hub and its HTTP server."""

    def __init__(self, tokens: set[str] | None = None, page_size: int = 2) -> None:
        self.tokens = tokens if tokens is not None else {CANARY_TOKEN}
        self.page_size = page_size
        self.user = dict(USER)
        self.jobs: dict[str, dict] = {}
        self.scheduled: dict[str, dict] = {}
        self.logs: dict[str, list[str]] = {}
        self.metrics: dict[str, list[dict]] = {}
        self.hardware = [dict(h) for h in HARDWARE]
        self.initial_stage = "SCHEDULING"
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        # Paths answered without a token too (the Hub's public model and dataset pages); hardware always is.
        self.public: list[re.Pattern[str]] = []
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._lock = threading.Lock()
        self._clock = 0
        self._builtins_done = False
        self._builtin_routes()
        self._builtins_done = True
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    # --- public API for tests ---

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeHub":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        """Add an endpoint: `pattern` is a regex matched against the whole path (named groups reach the handler)."""

        def register(handler: Handler) -> Handler:
            entry = (method.upper(), re.compile(pattern + r"\Z"), handler)
            # Built-in routes keep their order (hardware before /api/jobs/{ns}); added ones take precedence.
            if self._builtins_done:
                self._routes.insert(0, entry)
            else:
                self._routes.append(entry)
            return handler

        return register

    def fail(self, method: str, pattern: str, status: int, *, times: int = 1, message: str | None = None,
             headers: dict[str, str] | None = None, delay: float = 0.0) -> None:
        """The next `times` requests matching method and path regex get `status` (after `delay` seconds)."""
        self.faults.append(Fault(method.upper(), re.compile(pattern), status, times, message, headers or {}, delay))

    def add_job(self, stage: str = "RUNNING", *, logs: list[str] | None = None, message: str | None = None,
                created_at: datetime | None = None, started_at: datetime | None = None,
                finished_at: datetime | None = None, **spec: Any) -> dict:
        """A job that exists already (as if created earlier); the dates, when given, are the Hub's record of when it
        was created, started and finished (what the spend ledger bills)."""
        job = self._new_job({"command": ["python", "-c", "print(1)"], "arguments": [], "environment": {},
                             "flavor": "cpu-basic", "dockerImage": "python:3.12", **spec})
        job["status"] = {"stage": stage, "message": message}
        for key, when in (("createdAt", created_at), ("startedAt", started_at), ("finishedAt", finished_at)):
            if when is not None:
                job[key] = hub_time(when)
        if logs is not None:
            self.logs[job["id"]] = list(logs)
        return job

    def add_scheduled(self, schedule: str, *, suspend: bool = False, timeout_seconds: int | None = None,
                      **spec: Any) -> dict:
        """A scheduled job that exists already; `spec` is more of its JobSpec (flavor, ...)."""
        sid = _secrets.token_hex(12)
        job_spec = {"command": ["python", "-c", "print(1)"], "arguments": [], "environment": {},
                    "flavor": "cpu-basic", "dockerImage": "python:3.12", "timeout": timeout_seconds, **spec}
        self.scheduled[sid] = {
            "id": sid, "createdAt": self._next_time(), "jobSpec": job_spec, "schedule": schedule, "suspend": suspend,
            "concurrency": False, "owner": dict(self.user),
            "status": {"lastJob": None, "nextJobRunAt": hub_time(datetime.now(timezone.utc) + timedelta(hours=1))},
        }
        return self.scheduled[sid]

    def spec(self, job_id: str) -> dict:
        """What a job was created with, as the Hub keeps it: labels, flavor, command and the timeout sent."""
        job = self.jobs[job_id]
        return {"labels": dict(job.get("labels") or {}), "flavor": job["flavor"], "timeoutSeconds": job["timeout"],
                "command": list(job["command"] or []) + list(job.get("arguments") or [])}

    def set_stage(self, job_id: str, stage: str, message: str | None = None) -> None:
        self.jobs[job_id]["status"] = {"stage": stage, "message": message}

    def bodies(self, method: str, pattern: str) -> list[Any]:
        """JSON bodies of the recorded requests matching method and path regex."""
        rx = re.compile(pattern)
        return [r.body for r in self.requests if r.method == method.upper() and rx.search(r.path)]

    def count(self, method: str, pattern: str) -> int:
        rx = re.compile(pattern)
        return sum(1 for r in self.requests if r.method == method.upper() and rx.search(r.path))

    # --- state helpers ---

    def _next_time(self) -> str:
        # Strictly increasing creation times, in the past, so ordering and SSE replay cut-offs are stable.
        with self._lock:
            self._clock += 1
            tick = self._clock
        return hub_time(datetime.now(timezone.utc) - timedelta(hours=1) + timedelta(seconds=tick))

    def _new_job(self, spec: dict) -> dict:
        job_id = _secrets.token_hex(12)
        job = {
            "id": job_id,
            "createdAt": self._next_time(),
            "command": spec.get("command"),
            "arguments": spec.get("arguments", []),
            "environment": spec.get("environment", {}),
            # The Hub never sends secret values back: names only.
            "secrets": {k: None for k in (spec.get("secrets") or {})},
            "flavor": spec.get("flavor", "cpu-basic"),
            "labels": spec.get("labels"),
            "volumes": spec.get("volumes"),
            "status": {"stage": self.initial_stage, "message": None},
            "owner": dict(self.user),
            "timeout": spec.get("timeoutSeconds"),
        }
        for key in ("dockerImage", "spaceId"):
            if key in spec:
                job[key] = spec[key]
        self.jobs[job_id] = job
        self.logs.setdefault(job_id, [])
        return job

    def _job_or_404(self, req: Request) -> dict | Response:
        job = self.jobs.get(req.groups["job"])
        if job is None or req.groups["ns"] != job["owner"]["name"]:
            return _error(404, "Job not found")
        return job

    # --- built-in routes ---

    def _builtin_routes(self) -> None:
        r = self.route

        @r("GET", r"/api/whoami-v2")
        def whoami(req: Request) -> dict:
            return {**self.user, "auth": {"accessToken": {"role": "write"}}}

        @r("GET", r"/api/jobs/hardware")
        def hardware(req: Request) -> list:
            return self.hardware

        @r("POST", r"/api/jobs/(?P<ns>[^/]+)")
        def create(req: Request) -> dict | Response:
            if not isinstance(req.body, dict) or not req.body.get("command"):
                return _error(400, "command is required")
            if req.body.get("flavor") not in {h["name"] for h in self.hardware}:
                return _error(400, f"Invalid flavor {req.body.get('flavor')}")
            job = self._new_job(req.body)
            job["owner"]["name"] = req.groups["ns"]
            return job

        @r("GET", r"/api/jobs/(?P<ns>[^/]+)")
        def list_jobs(req: Request) -> Response:
            jobs = [j for j in self.jobs.values() if j["owner"]["name"] == req.groups["ns"]]
            stages = req.query.get("stage")
            if stages:
                jobs = [j for j in jobs if j["status"]["stage"] in stages]
            for label in req.query.get("label", []):
                key, _, value = label.partition("=")
                jobs = [j for j in jobs if (j.get("labels") or {}).get(key) == value]
            jobs.sort(key=lambda j: j["createdAt"], reverse=True)
            start = int(req.query.get("cursor", ["0"])[0])
            page = jobs[start:start + self.page_size]
            headers = {}
            if start + self.page_size < len(jobs):
                query = {k: v for k, v in req.query.items() if k != "cursor"}
                query["cursor"] = [str(start + self.page_size)]
                headers["Link"] = f'<{self.url}{req.path}?{urlencode(query, doseq=True)}>; rel="next"'
            return Response(200, page, headers)

        @r("GET", r"/api/jobs/(?P<ns>[^/]+)/(?P<job>[^/]+)")
        def inspect(req: Request) -> dict | Response:
            return self._job_or_404(req)

        @r("POST", r"/api/jobs/(?P<ns>[^/]+)/(?P<job>[^/]+)/cancel")
        def cancel(req: Request) -> dict | Response:
            job = self._job_or_404(req)
            if isinstance(job, dict) and job["status"]["stage"] not in TERMINAL:
                job["status"] = {"stage": "CANCELED", "message": None}
            return job if isinstance(job, Response) else {}

        @r("POST", r"/api/jobs/(?P<ns>[^/]+)/(?P<job>[^/]+)/duplicate")
        def duplicate(req: Request) -> dict | Response:
            job = self._job_or_404(req)
            if isinstance(job, Response):
                return job
            return self._new_job({k: v for k, v in job.items() if k not in ("id", "status", "owner")})

        @r("GET", r"/api/jobs/(?P<ns>[^/]+)/(?P<job>[^/]+)/logs")
        def logs(req: Request) -> Response:
            job = self._job_or_404(req)
            if isinstance(job, Response):
                return job
            lines = ["===== Job started at 2026-11-25 13:55:36 ====="] + self.logs.get(job["id"], [])
            tail = req.query.get("tail")
            if tail:
                lines = lines[-int(tail[0]):]
            base = datetime.now(timezone.utc) - timedelta(minutes=30)
            events = [f"data: {json.dumps({'data': line, 'timestamp': hub_time(base + timedelta(seconds=i))})}"
                      for i, line in enumerate(lines)]
            return Response(200, sse=events)

        @r("GET", r"/api/jobs/(?P<ns>[^/]+)/(?P<job>[^/]+)/metrics")
        def metrics(req: Request) -> Response:
            job = self._job_or_404(req)
            if isinstance(job, Response):
                return job
            if job["status"]["stage"] in TERMINAL:
                return _error(406, "Job is not running")
            return Response(200, sse=["event: metric"] + [f"data: {json.dumps(m)}"
                                                          for m in self.metrics.get(job["id"], [])])

        @r("POST", r"/api/scheduled-jobs/(?P<ns>[^/]+)")
        def create_scheduled(req: Request) -> dict | Response:
            body = req.body or {}
            if "jobSpec" not in body or "schedule" not in body:
                return _error(400, "jobSpec and schedule are required")
            spec = dict(body["jobSpec"])
            spec["secrets"] = {k: None for k in (spec.get("secrets") or {})}
            spec["timeout"] = spec.get("timeoutSeconds")  # sent as timeoutSeconds, read back as timeout
            sid = _secrets.token_hex(12)
            self.scheduled[sid] = {
                "id": sid, "createdAt": self._next_time(), "jobSpec": spec, "schedule": body["schedule"],
                "suspend": bool(body.get("suspend", False)), "concurrency": body.get("concurrency", False),
                "status": {"lastJob": None, "nextJobRunAt": hub_time(datetime.now(timezone.utc) + timedelta(hours=1))},
                "owner": {**self.user, "name": req.groups["ns"]},
            }
            return self.scheduled[sid]

        @r("GET", r"/api/scheduled-jobs/(?P<ns>[^/]+)")
        def list_scheduled(req: Request) -> list:
            return [s for s in self.scheduled.values() if s["owner"]["name"] == req.groups["ns"]]

        def scheduled_or_404(req: Request) -> dict | Response:
            item = self.scheduled.get(req.groups["sid"])
            return item if item is not None else _error(404, "Scheduled job not found")

        @r("GET", r"/api/scheduled-jobs/(?P<ns>[^/]+)/(?P<sid>[^/]+)")
        def inspect_scheduled(req: Request) -> dict | Response:
            return scheduled_or_404(req)

        @r("DELETE", r"/api/scheduled-jobs/(?P<ns>[^/]+)/(?P<sid>[^/]+)")
        def delete_scheduled(req: Request) -> dict | Response:
            item = scheduled_or_404(req)
            if isinstance(item, dict):
                del self.scheduled[item["id"]]
                return {}
            return item

        @r("POST", r"/api/scheduled-jobs/(?P<ns>[^/]+)/(?P<sid>[^/]+)/(?P<action>suspend|resume)")
        def suspend_resume(req: Request) -> dict | Response:
            item = scheduled_or_404(req)
            if isinstance(item, dict):
                item["suspend"] = req.groups["action"] == "suspend"
                return {}
            return item

        @r("POST", r"/api/scheduled-jobs/(?P<ns>[^/]+)/(?P<sid>[^/]+)/run")
        def trigger(req: Request) -> dict | Response:
            item = scheduled_or_404(req)
            if isinstance(item, Response):
                return item
            job = self._new_job(item["jobSpec"])
            item["status"]["lastJob"] = {"id": job["id"], "at": job["createdAt"]}
            return job

    # --- HTTP plumbing ---

    def _dispatch(self, req: Request) -> Response:
        self.requests.append(req)
        for fault in self.faults:
            if fault.times > 0 and fault.method == req.method and fault.pattern.search(req.path):
                fault.times -= 1
                if fault.delay:
                    time.sleep(fault.delay)
                if fault.status == 200:
                    break  # a pure delay
                return _error(fault.status, fault.message or f"injected {fault.status}", fault.headers)
        public = req.path == "/api/jobs/hardware" or any(p.match(req.path) for p in self.public)
        if not public and req.token not in self.tokens:
            return _error(401, "Invalid user token.")
        for method, pattern, handler in self._routes:
            match = pattern.match(req.path)
            if method == req.method and match:
                req.groups = match.groupdict()
                result = handler(req)
                if isinstance(result, Response):
                    return result
                return Response(200, result if result is not None else {})
        return _error(404, f"No route for {req.method} {req.path}")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class HubRequestHandler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

            def _handle(self) -> None:
                parsed = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except json.JSONDecodeError:
                    body = raw.decode("utf-8", "replace")
                req = Request(self.command, parsed.path, parse_qs(parsed.query),
                              {k.lower(): v for k, v in self.headers.items()}, body)
                resp = hub._dispatch(req)
                self.send_response(resp.status)
                for key, value in resp.headers.items():
                    self.send_header(key, value)
                if resp.sse is not None:
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    for line in _sse_lines(resp.sse):
                        self.wfile.write(line)
                        self.wfile.flush()
                    return
                if resp.raw is not None:
                    data, kind = resp.raw, "application/octet-stream"
                else:
                    data, kind = json.dumps(resp.body).encode("utf-8"), "application/json"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PUT = do_HEAD = _handle

        return HubRequestHandler


def _sse_lines(lines: list[str]) -> Iterator[bytes]:
    for line in lines:
        yield (line + "\n\n").encode("utf-8")


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A running fake Hub accepting the canary token; HF_ENDPOINT points at it."""
    hub = FakeHub().start()
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    try:
        yield hub
    finally:
        hub.stop()
