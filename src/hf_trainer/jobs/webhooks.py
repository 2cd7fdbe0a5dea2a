"""Webhooks that start a job on Hub repo events: create, list, delete (huggingface_hub's webhook API).

A job webhook copies the spec of a source job (its image, command, arguments, flavor, timeout; not its secrets) and
starts a copy on every event of the watched repos, users or organizations. The job receives the event as JSON in
WEBHOOK_PAYLOAD, plus WEBHOOK_REPO_ID, WEBHOOK_REPO_TYPE and WEBHOOK_SECRET. The source job is an existing job id, or
a job request submitted here (and cancelled at once unless `run_now`, so nothing trains until the first event).
Secrets are passed again ("$HF_TOKEN" becomes the caller's token) and are never shown. A webhook that watches the
repo its own job pushes to would retrain forever: refused.

Endpoints (as huggingface_hub sends them): POST/GET /api/settings/webhooks, GET/DELETE /api/settings/webhooks/{id}.
"""

import re
import secrets as _secrets
from typing import Any, Literal

from pydantic import BaseModel, Field

from hf_trainer.errors import UserError

WATCH_TYPES = ("dataset", "model", "space", "bucket", "user", "org")
Domain = Literal["repo", "discussion"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


class WebhookView(BaseModel):
    """One webhook as hf-trainer shows it (the signing secret and secret values never appear)."""

    id: str
    watched: list[str] = Field(description="type:name items, e.g. dataset:alice/data.")
    domains: list[str]
    url: str | None = None
    job_command: list[str] = Field(default_factory=list, description="The command each event starts.")
    job_flavor: str | None = None
    job_image: str | None = None
    job_secret_names: list[str] = Field(default_factory=list)
    has_secret: bool = Field(default=False, description="Whether payloads are signed with a secret.")
    disabled: bool = False

    def render(self) -> str:
        target = f"starts job {' '.join(self.job_command)[:120]!r} on {self.job_flavor or 'cpu-basic'}" \
            if self.job_command else f"posts to {self.url}"
        state = "disabled" if self.disabled else "active"
        return (f"Webhook {self.id} ({state}): on {'/'.join(self.domains)} events of {', '.join(self.watched)} "
                f"{target}" + (f"; secrets {', '.join(self.job_secret_names)}" if self.job_secret_names else ""))


def parse_watched(items: list[str] | list[dict] | list[Any]) -> list[dict[str, str]]:
    """'dataset:alice/data' (or {"type": ..., "name": ...}) -> {"type", "name"}; UserError naming the forms."""
    if not items:
        raise UserError("watched is empty: name what to watch, e.g. [\"dataset:alice/my-data\"] (types: "
                        f"{', '.join(WATCH_TYPES)}).")
    parsed = []
    for item in items:
        if isinstance(item, dict):
            kind, name = str(item.get("type", "")), str(item.get("name", ""))
        else:
            kind, _, name = str(item).partition(":")
        if kind not in WATCH_TYPES or not _NAME.match(name):
            raise UserError(f"watched item {item!r} is not TYPE:NAME with TYPE one of {', '.join(WATCH_TYPES)}; e.g. "
                            "'dataset:alice/my-data', 'model:alice/my-model', 'org:my-org'.")
        if kind in ("user", "org") and "/" in name:
            article = "an org" if kind == "org" else "a user"
            raise UserError(f"watched item {item!r}: {article} is a single name (e.g. '{kind}:alice'), not a repo id.")
        parsed.append({"type": kind, "name": name})
    return parsed


def _pushes_to(command: list[str]) -> str | None:
    """The --hub_model_id a training command pushes to."""
    for flag, value in zip(command, command[1:]):
        if flag == "--hub_model_id":
            return value
    for part in command:
        if part.startswith("--hub_model_id="):
            return part.split("=", 1)[1]
    return None


def check_no_loop(watched: list[dict[str, str]], command: list[str]) -> None:
    """Refuse a webhook whose job would trigger it again by pushing to a watched repo or namespace."""
    target = _pushes_to(command)
    if not target:
        return
    owner = target.split("/")[0]
    for item in watched:
        if (item["type"] == "model" and item["name"] == target) or (item["type"] in ("user", "org")
                                                                    and item["name"] == owner):
            raise UserError(f"The job pushes to {target!r}, which the webhook watches ({item['type']}:{item['name']}):"
                            " every finished run would start another one. Watch the dataset (dataset:OWNER/NAME) "
                            "instead.")


def to_view(info: Any) -> WebhookView:
    """huggingface_hub's WebhookInfo -> ours. The one place webhook records are read."""
    from hf_trainer.jobs.hub import _display_command  # the `uv run ...` line a shipped script ends in

    job = info.job
    return WebhookView(
        id=info.id,
        watched=[f"{w.type}:{w.name}" for w in info.watched],
        domains=list(info.domains or []),
        url=info.url,
        job_command=(_display_command(job.command, job.environment) + list(job.arguments or [])) if job else [],
        job_flavor=str(getattr(job.flavor, "value", job.flavor)) if job and job.flavor else None,
        job_image=(job.docker_image or (f"hf.co/spaces/{job.space_id}" if job.space_id else None)) if job else None,
        job_secret_names=sorted((job.secrets or {}).keys()) if job and isinstance(job.secrets, dict) else
        sorted(job.secrets or []) if job else [],
        has_secret=bool(info.secret),
        disabled=bool(info.disabled),
    )


# Seconds a webhook call may take in all (a Hub that accepts the connection and never answers included).
DEADLINE_SECONDS = 30.0


def _call(api: Any, fn: Any, action: str, *, idempotent: bool = True) -> Any:
    """A webhook call on the same path as every Hub jobs call: hub_errors.Retry (deadlines, backoff on passing
    faults) and its one table of Hub errors."""
    # Imported here: the result models above stay importable without huggingface_hub's HTTP stack (MCP start-up).
    from hf_trainer.jobs.hub_errors import Context, Retry

    ctx = Context(action=action, endpoint=str(getattr(api, "endpoint", "") or "") or None)
    return Retry().call(fn, ctx, idempotent=idempotent, total_timeout=DEADLINE_SECONDS)


def create_job_webhook(api: Any, *, watched: list[str] | list[dict], job_id: str | None = None,
                       backend: Any = None, request: Any = None, run_now: bool = False,
                       domains: list[Domain] | None = None, secret: str | None = None,
                       secrets: dict[str, str] | None = None) -> tuple[WebhookView, str]:
    """Create a webhook that starts a copy of a job on every event. Returns (webhook, source job id).

    The source is `job_id`, or `request` (a uv/command job request) submitted on `backend` now and cancelled at once
    unless `run_now`. `secrets` default to {"HF_TOKEN": "$HF_TOKEN"} (training jobs push with it); `secret` (the
    signing secret) defaults to a random one; `domains` to ["repo"] (commits, not discussions)."""
    from hf_trainer.tokens import caller_token, prepare_env_and_secrets

    items = parse_watched(watched)
    if (job_id is None) == (request is None):
        raise UserError("Give the job to start: job_id (an existing job, e.g. the training run to repeat) or a job "
                        "request (script or command), not both.")
    if request is not None:
        command = list(getattr(request, "script_args", None) or getattr(request, "command", None) or [])
        check_no_loop(items, command)
        source = backend.uv(request) if hasattr(request, "script") else backend.run(request)
        if not run_now:
            backend.cancel(source.id)
        job_id = source.id
    elif backend is not None:
        check_no_loop(items, backend.inspect(job_id).command)
    _, job_secrets = prepare_env_and_secrets(None, secrets if secrets is not None else {"HF_TOKEN": "$HF_TOKEN"},
                                             caller_token())
    info = _call(api, lambda: api.create_webhook(job_id=job_id, watched=items, domains=list(domains or ["repo"]),
                                                 secret=secret or _secrets.token_urlsafe(24),
                                                 secrets=job_secrets or None), "create a webhook", idempotent=False)
    assert job_id is not None  # given, or the source job just submitted
    return to_view(info), job_id


def list_webhooks(api: Any) -> list[WebhookView]:
    return [to_view(info) for info in _call(api, lambda: list(api.list_webhooks()), "list webhooks")]


def delete_webhook(api: Any, webhook_id: str) -> None:
    from huggingface_hub.errors import HfHubHTTPError

    from hf_trainer.jobs.hub import segment  # huggingface_hub puts the id into the URL unescaped

    def delete() -> None:
        try:
            api.delete_webhook(segment(webhook_id))
        except HfHubHTTPError as exc:
            if exc.response is not None and exc.response.status_code == 404:
                raise UserError(f"No webhook {webhook_id!r}. List yours with hf_jobs operation 'webhook ps' (CLI: "
                                "hf-trainer jobs webhook ps) and check the id.") from None
            raise

    _call(api, delete, f"delete webhook {webhook_id}")


def webhooks_table(items: list[WebhookView]) -> str:
    if not items:
        return "No webhooks."
    return "\n".join(item.render() for item in items)
