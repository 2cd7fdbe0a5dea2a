"""Run a finished training job again: the same bundled script with exactly the same arguments, flavor and timeout.

The source is a model repo (its card's `hf_trainer_job` metadata, written by results.model_card), a local model
folder (its README.md), or a job id (the job record's command). `rerun()` plans; with `confirm` it submits, after the
same preflight as a new run. The script is the bundled one today: when its sha256 differs from the recorded one the
plan says so, since the code changed in between.
"""

import hashlib
import json
import math
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from hf_trainer import paths
from hf_trainer.errors import UserError
from hf_trainer.jobs import submit
from hf_trainer.jobs.base import JobBackend, JobInfo
from hf_trainer.preflight import PreflightReport

CARD_KEY = "hf_trainer_job"
_JOB_ID = re.compile(r"^[0-9a-fA-F]{1,64}$")  # the hex ids the Hub and the local backend issue (jobs/arguments.py)
_REPO_URL = re.compile(r"^https?://[^/]+/(?P<repo>[^/]+/[^/]+?)/?$")


class RecordedJob(BaseModel):
    """The job that made a model, as recorded."""

    script: str = Field(description="Bundled script name, e.g. train_sft.py.")
    script_sha256: str | None = None
    arguments: list[str] = Field(default_factory=list, description="The script's arguments, exactly.")
    flavor: str | None = None
    timeout_seconds: int | None = None
    runtime_seconds: float | None = Field(default=None, description="How long the recorded run took.")
    job_id: str | None = None
    libraries: dict[str, str] = Field(default_factory=dict)


class RerunPlan(BaseModel):
    """The same job again; `submitted` and `job` once confirmed."""

    source: str
    source_kind: Literal["repo", "folder", "job"]
    recorded: RecordedJob
    script: str
    script_args: list[str]
    flavor: str | None
    timeout_seconds: int | None
    script_changed: bool = Field(description="The bundled script's sha256 differs from the recorded one.")
    notes: list[str] = Field(default_factory=list)
    preflight: PreflightReport | None = None
    submitted: bool = False
    job: JobInfo | None = None

    def render(self) -> str:
        lines = [f"Rerun of {self.source} ({self.source_kind}): {self.script} {' '.join(self.script_args)}",
                 f"  flavor: {self.flavor or '-'}; timeout: {self.timeout_seconds or 'default'}"]
        if self.recorded.libraries:
            lines.append("  recorded with " + ", ".join(f"{k} {v}" for k, v in self.recorded.libraries.items()))
        lines += [f"  note: {note}" for note in self.notes]
        if self.preflight is not None and not self.preflight.ok:
            lines.append("  " + self.preflight.render().replace("\n", "\n  "))
        if self.submitted and self.job:
            lines.append(f"  submitted as job {self.job.id}: {self.job.url or ''}")
        else:
            lines.append("  not submitted: run again with --confirm (MCP: confirm true) after the person agrees")
        return "\n".join(lines)


def parse_card(text: str) -> dict[str, Any] | None:
    """The `hf_trainer_job` record in a model card's YAML front matter (one JSON line), or None."""
    if not text.startswith("---"):
        return None
    front = text.split("\n---", 1)[0]
    for line in front.splitlines():
        if line.startswith(CARD_KEY + ":"):
            try:
                value = json.loads(line.split(":", 1)[1])
            except json.JSONDecodeError:
                return None
            return value if isinstance(value, dict) else None
    return None


def _recorded(data: dict[str, Any] | None, where: str) -> RecordedJob:
    if not data or not data.get("script"):
        raise UserError(f"{where} has no recorded hf-trainer job (no '{CARD_KEY}' in its model card), so it cannot "
                        "be rerun. Only models trained by hf-trainer's scripts since this version record it; rerun "
                        "from the job id instead (hf-trainer rerun <job id>) if you have it.")
    return RecordedJob.model_validate({k: v for k, v in data.items() if k in RecordedJob.model_fields})


def recorded_job_from_repo(api: Any, repo_id: str) -> RecordedJob:
    """Read the record from the model repo's card metadata (the Hub returns the card's YAML as cardData)."""
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    try:
        info = api.model_info(repo_id)
    except RepositoryNotFoundError:
        raise UserError(f"Model repo {repo_id!r} was not found (or your token cannot read it). Check the name; "
                        "private repos need a token with read access (hf auth login).") from None
    except HfHubHTTPError as exc:
        raise UserError(f"Could not read the model card of {repo_id!r}: {exc}. Try again later.") from None
    card = info.card_data.to_dict() if info.card_data is not None else {}
    return _recorded(card.get(CARD_KEY), f"Model repo {repo_id!r}")


def recorded_job_from_job(backend: JobBackend, job_id: str) -> RecordedJob:
    """Read the script and its arguments from a job's command."""
    from hf_trainer.diagnose import script_args_from_command

    job = backend.inspect(job_id)
    bundled = {p.name for p in paths.scripts_dir().glob("*.py")}
    script = next((Path(part).name for part in job.command if Path(part).name in bundled), None)
    if script is None:
        raise UserError(f"Job {job_id} did not run one of hf-trainer's bundled scripts (its command is "
                        f"{' '.join(job.command)[:200]!r}), so it cannot be rerun as a training job. Use hf_jobs "
                        "'run' or 'uv' with the same command instead.")
    return RecordedJob(script=script, arguments=script_args_from_command(job.command), flavor=job.flavor,
                       timeout_seconds=job.timeout_seconds, job_id=job.id)


def _source_kind(source: str) -> tuple[Literal["repo", "folder", "job"], str]:
    if Path(source).expanduser().is_dir():
        return "folder", str(Path(source).expanduser())
    url = _REPO_URL.match(source)
    if url:
        return "repo", url.group("repo")
    if source.count("/") == 1 and not source.startswith((".", "/", "~")):
        return "repo", source
    if _JOB_ID.match(source):
        return "job", source
    raise UserError(f"{source!r} is neither a model repo (owner/name), a local model folder nor a job id. Pass the "
                    "repo the run pushed to, or the id 'hf-trainer jobs ps --all' shows.")


def _label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", text.replace("/", "--"))[:63]


def rerun(source: str, backend: JobBackend, *, api: Any = None, flavor: str | None = None,
          timeout_seconds: int | None = None, confirm: bool = False, force: bool = False) -> RerunPlan:
    """Plan the recorded job again (flavor/timeout overridable); submit it with `confirm` when preflight passes."""
    kind, ref = _source_kind(source)
    if kind == "folder":
        card = Path(ref) / "README.md"
        text = card.read_text(encoding="utf-8") if card.is_file() else ""
        recorded = _recorded(parse_card(text), f"Model folder {ref}")
    elif kind == "repo":
        if api is None:
            from huggingface_hub import HfApi

            from hf_trainer.tokens import caller_token

            api = getattr(backend, "api", None) or HfApi(endpoint=os.environ.get("HF_ENDPOINT") or
                                                         "https://huggingface.co", token=caller_token())
        recorded = recorded_job_from_repo(api, ref)
    else:
        recorded = recorded_job_from_job(backend, ref)

    script_path = paths.bundled_script(recorded.script)
    now = hashlib.sha256(script_path.read_bytes()).hexdigest()
    changed = bool(recorded.script_sha256) and recorded.script_sha256 != now
    notes = []
    if changed:
        notes.append(f"{recorded.script} changed since the recorded run (sha256 {recorded.script_sha256[:12]} then, "
                     f"{now[:12]} now): the current bundled script runs, with the same arguments")
    chosen_flavor = flavor or recorded.flavor
    if backend.name == "hub" and chosen_flavor is None:
        notes.append("no flavor was recorded (the run was local): pass --flavor, else the Hub uses cpu-basic")
    chosen_timeout = timeout_seconds or recorded.timeout_seconds
    if chosen_timeout is None and backend.name == "hub" and recorded.runtime_seconds:
        # Twice the recorded duration, in whole half-hours: the Hub's default of 30 minutes would cut most runs short.
        chosen_timeout = max(1800, math.ceil(2 * recorded.runtime_seconds / 1800) * 1800)
        notes.append(f"timeout {chosen_timeout // 60} min: twice the recorded run ({recorded.runtime_seconds:.0f} s), "
                     "as no timeout was recorded; --timeout overrides it")
    # Estimated and preflighted as any new job is (jobs/submit.py), with the arguments it ran with.
    report = submit.plan_training(recorded.script, recorded.arguments, backend, flavor=chosen_flavor,
                                  timeout_seconds=chosen_timeout)
    plan = RerunPlan(source=ref, source_kind=kind, recorded=recorded, script=recorded.script,
                     script_args=list(recorded.arguments), flavor=chosen_flavor, timeout_seconds=chosen_timeout,
                     script_changed=changed, notes=notes, preflight=report)
    if not confirm:
        return plan
    job, _ = submit.submit_training(recorded.script, plan.script_args, backend, flavor=chosen_flavor,
                                    timeout_seconds=chosen_timeout, labels={"rerun-of": _label(ref)}, force=force,
                                    report=report)
    return plan.model_copy(update={"submitted": True, "job": job})
