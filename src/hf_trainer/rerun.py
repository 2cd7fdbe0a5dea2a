"""Run a finished training job again: the same bundled script with exactly the same arguments, flavor and timeout.

The source is a model repo (its card's `hf_trainer_job` metadata, written by results.model_card), a local model
folder (its README.md), or a job id (the job record's command). `rerun()` plans; with `confirm` it submits, after the
same preflight as a new run. The script is the bundled one today: when its sha256 differs from the recorded one the
plan says so, since the code changed in between.
"""

import hashlib
import json
import math
import re
import shlex
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from hf_trainer import paths
from hf_trainer.bundled_scripts import TRAINING_SCRIPTS
from hf_trainer.errors import UserError
from hf_trainer.jobs import submit
from hf_trainer.jobs.base import BackendName, JobBackend, JobInfo
from hf_trainer.preflight import PreflightReport
from hf_trainer.timeouts import MAX_TIMEOUT_SECONDS

CARD_KEY = "hf_trainer_job"
_JOB_ID = re.compile(r"^[0-9a-fA-F]{1,64}$")  # the hex ids the Hub and the local backend issue (jobs/arguments.py)
_REPO_URL = re.compile(r"^https?://[^/]+/(?P<repo>[^/]+/[^/]+?)/?$")


class RerunRequest(BaseModel):
    """What to run again and where (the rerun tool's and `hf-trainer rerun`'s fields)."""

    source: str = Field(min_length=1, max_length=512, description="The model repo the run pushed to (owner/name; its "
                        "card records the job), a local model folder, or a job id.")
    backend: BackendName | None = Field(None, description="'hub' (default with a token) or 'local'.")
    flavor: str | None = Field(None, max_length=64, description="Override the recorded flavor.")
    timeout: str | None = Field(None, max_length=32, description="Override the timeout, e.g. '2h', '90m', '5400'.")
    confirm: bool = Field(False, description="Submit. Only after the person approved the plan.")
    force: bool = Field(False, description="Submit even when preflight reports errors (never past a leaked token, "
                        "nor a model or dataset the job cannot read).")
    trust_remote_code: bool = Field(False, description="The person's explicit yes to a recorded "
                                    "--trust_remote_code (it runs the model repo's own code with your token).")


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
    ignored: list[str] = Field(default_factory=list, description="Recorded fields left out as malformed.")


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
        lines = [f"Rerun of {self.source} ({self.source_kind}): {self.script} {shlex.join(self.script_args)}",
                 f"  flavor: {self.flavor or '-'}; timeout: {self.timeout_seconds or 'default'}"]
        if self.recorded.libraries:
            lines.append("  recorded with " + ", ".join(f"{k} {v}" for k, v in self.recorded.libraries.items()))
        lines += [f"  note: {note}" for note in self.notes]
        if self.preflight is not None and not self.preflight.ok:
            lines.append("  " + self.preflight.render().replace("\n", "\n  "))
        elif self.preflight is not None and self.preflight.budget_line:
            lines.append(f"  {self.preflight.budget_line}")
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
    if not isinstance(data, dict) or not data.get("script"):
        raise UserError(f"{where} has no recorded hf-trainer job (no '{CARD_KEY}' in its model card), so it cannot "
                        "be rerun. Only models trained by hf-trainer's scripts since this version record it; rerun "
                        "from the job id instead (hf-trainer rerun <job id>) if you have it.")
    clean, notes = validate_recorded(data)
    return RecordedJob.model_validate({**clean, "ignored": notes})


# --- a card is untrusted input: anyone can write one and share the model (issue 30) ---------------------------------

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_FLAVOR = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_LIBRARY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+!-]{0,63}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_RECORDED_ARGUMENTS = 400
MAX_RECORDED_ARGUMENT_CHARS = 4000


def validate_script(script: object) -> str:
    """The recorded script must be one of the bundled training scripts, by its bare name: a card that names a path
    (absolute, '../..', a folder) or any other file is refused, since rerun would run that file with the token."""
    if not isinstance(script, str) or script not in TRAINING_SCRIPTS:
        shown = repr(script)[:120] if isinstance(script, str) else type(script).__name__
        raise UserError(f"The recorded script {shown} is not one of hf-trainer's bundled training scripts "
                        f"({', '.join(sorted(TRAINING_SCRIPTS))}), so it is not run: a model card is "
                        "written by whoever shared the model, and rerun runs only bundled scripts by name. Train with "
                        "'hf-trainer train' (or hf_jobs uv with a script you have read) instead.")
    return script


def validate_arguments(arguments: object) -> list[str]:
    """The recorded arguments: a list of one-line strings of sane size (they are shown in the plan and sent)."""
    if not isinstance(arguments, list) or not all(isinstance(a, str) for a in arguments):
        raise UserError("The recorded arguments are not a list of strings, so the job cannot be rerun from this "
                        "record. Train with 'hf-trainer train' instead.")
    if len(arguments) > MAX_RECORDED_ARGUMENTS or any(len(a) > MAX_RECORDED_ARGUMENT_CHARS for a in arguments):
        raise UserError(f"The recorded arguments are too many or too long (at most {MAX_RECORDED_ARGUMENTS} "
                        f"arguments of {MAX_RECORDED_ARGUMENT_CHARS} characters): not a record hf-trainer wrote.")
    bad = next((a for a in arguments if _CONTROL.search(a)), None)
    if bad is not None:
        raise UserError(f"A recorded argument holds a control character (a newline, NUL, ...): {bad[:80]!r}. "
                        "hf-trainer never records one, so the record is refused.")
    return list(arguments)


def validate_recorded(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Every field of a card's record checked as untrusted input: the script and arguments are refused when wrong
    (they are what runs); a malformed flavor, timeout, sha256, job id or library list is dropped with a note."""
    clean: dict[str, Any] = {"script": validate_script(data.get("script")),
                             "arguments": validate_arguments(data.get("arguments", []))}
    notes: list[str] = []
    flavor, timeout = data.get("flavor"), data.get("timeout_seconds")
    if isinstance(flavor, str) and _FLAVOR.match(flavor):
        clean["flavor"] = flavor
    elif flavor is not None:
        notes.append("the recorded flavor is not a hardware name and was ignored: pass --flavor")
    if isinstance(timeout, int) and not isinstance(timeout, bool) and 0 < timeout <= MAX_TIMEOUT_SECONDS:
        clean["timeout_seconds"] = timeout
    elif timeout is not None:
        notes.append("the recorded timeout is not a number of seconds within 30 days and was ignored")
    runtime = data.get("runtime_seconds")
    if isinstance(runtime, (int, float)) and not isinstance(runtime, bool) and math.isfinite(runtime) \
            and 0 <= runtime <= MAX_TIMEOUT_SECONDS:
        clean["runtime_seconds"] = float(runtime)
    sha = data.get("script_sha256")
    if isinstance(sha, str) and _SHA256.match(sha):
        clean["script_sha256"] = sha
    job_id = data.get("job_id")
    if isinstance(job_id, str) and _JOB_ID.match(job_id):
        clean["job_id"] = job_id
    libraries = data.get("libraries")
    if isinstance(libraries, dict):
        kept = {k: v for k, v in libraries.items()
                if isinstance(k, str) and isinstance(v, str) and _LIBRARY.match(k) and _LIBRARY.match(v)}
        clean["libraries"] = dict(list(kept.items())[:20])
        if len(clean["libraries"]) < len(libraries):
            notes.append(f"{len(libraries) - len(clean['libraries'])} recorded library version(s) were not "
                         "names and versions and were left out")
    return clean, notes


def trust_remote_code_note(arguments: list[str]) -> str | None:
    """The note a plan carries when the record asks for --trust_remote_code (the model's own code runs, with the
    token): it names the model and the push repo, so the person can judge them."""
    # Any spelling counts (argparse also takes a unique prefix such as --trust_remote): better one note too many.
    if not any(a.startswith("--trust_remote") or a.startswith("--trust-remote") for a in arguments):
        return None

    def value(name: str) -> str:
        for i, a in enumerate(arguments):
            if a == name and i + 1 < len(arguments):
                return repr(arguments[i + 1])
            if a.startswith(name + "="):
                return repr(a.split("=", 1)[1])
        return "(none)"

    return (f"the record asks for --trust_remote_code: the model {value('--model_name_or_path')} runs its own Python "
            f"code in the job, with your token (it pushes to {value('--hub_model_id')}). Submitting needs "
            "trust_remote_code: true (CLI --trust-remote-code) beside confirm, only if you trust that model's author")


def confirm_trust_remote_code(arguments: list[str], trust_remote_code: bool) -> None:
    """UserError when the record runs remote code and the person did not confirm it explicitly."""
    note = trust_remote_code_note(arguments)
    if note and not trust_remote_code:
        raise UserError(f"Not submitted: {note}.")


def validate_source(source: object) -> str:
    """The rerun source as given: one line of text without NUL, of sane length."""
    if not isinstance(source, str) or not source.strip():
        raise UserError("rerun needs a source: a model repo (owner/name), a local model folder or a job id.")
    if "\x00" in source or len(source) > 1000:
        raise UserError(f"The rerun source {source[:80]!r} holds a NUL character or is over 1,000 characters: it is "
                        "not a model repo, a folder or a job id. Pass the repo the run pushed to (owner/name).")
    return source.strip()


_REPO_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")


def _repo_id(text: str) -> str | None:
    parts = text.split("/")
    if len(parts) == 2 and all(_REPO_PART.match(p) and ".." not in p for p in parts):
        return text
    return None


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
    # A job's command is untrusted too (anyone in an organization can submit one): a bundled training script by
    # name, with one-line arguments, as for a model card.
    script = next((Path(part).name for part in job.command if Path(part).name in TRAINING_SCRIPTS), None)
    if script is None:
        raise UserError(f"Job {job_id} did not run one of hf-trainer's bundled scripts (its command is "
                        f"{' '.join(job.command)[:200]!r}), so it cannot be rerun as a training job. Use hf_jobs "
                        "'run' or 'uv' with the same command instead.")
    from hf_trainer.jobs.records import read_record  # the timeout it was submitted with, from the job's labels

    return RecordedJob(script=validate_script(script),
                       arguments=validate_arguments(script_args_from_command(job.command)), flavor=job.flavor,
                       timeout_seconds=read_record(job).timeout_seconds, job_id=job.id)


def _source_kind(source: str) -> tuple[Literal["repo", "folder", "job"], str]:
    source = validate_source(source)
    try:
        folder = Path(source).expanduser()
    except RuntimeError:  # an unknown ~user: left as written
        folder = Path(source)
    try:
        if folder.is_dir():
            return "folder", str(folder)
    except OSError:
        pass
    url = _REPO_URL.match(source)
    if url and _repo_id(url.group("repo")):
        return "repo", url.group("repo")
    if _repo_id(source) and not source.startswith((".", "/", "~")):
        return "repo", source
    if _JOB_ID.match(source):
        return "job", source
    raise UserError(f"{source!r} is neither a model repo (owner/name), a local model folder nor a job id. Pass the "
                    "repo the run pushed to, or the id 'hf-trainer jobs ps --all' shows.")


def _label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", text.replace("/", "--"))[:63]


def rerun(source: str, backend: JobBackend, *, api: Any = None, flavor: str | None = None,
          timeout_seconds: int | None = None, confirm: bool = False, force: bool = False,
          trust_remote_code: bool = False) -> RerunPlan:
    """Plan the recorded job again (flavor/timeout overridable); submit it with `confirm` when preflight passes.
    A record that asks for --trust_remote_code also needs `trust_remote_code` (the person's explicit yes)."""
    kind, ref = _source_kind(source)
    if kind == "folder":
        card = Path(ref) / "README.md"
        text = card.read_text(encoding="utf-8") if card.is_file() else ""
        recorded = _recorded(parse_card(text), f"Model folder {ref}")
    elif kind == "repo":
        if api is None:
            from hf_trainer.hub_client import get_hf_api

            api = getattr(backend, "api", None) or get_hf_api()
        recorded = recorded_job_from_repo(api, ref)
    else:
        recorded = recorded_job_from_job(backend, ref)

    script_path = paths.bundled_script(recorded.script)
    now = hashlib.sha256(script_path.read_bytes()).hexdigest()
    changed = bool(recorded.script_sha256) and recorded.script_sha256 != now
    notes = list(recorded.ignored)
    remote_code = trust_remote_code_note(recorded.arguments)
    if remote_code:
        notes.append(remote_code)
    if changed and recorded.script_sha256:
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
    report = submit.lint_training(recorded.script, recorded.arguments, backend, flavor=chosen_flavor,
                                  timeout_seconds=chosen_timeout)
    plan = RerunPlan(source=ref, source_kind=kind, recorded=recorded, script=recorded.script,
                     script_args=list(recorded.arguments), flavor=chosen_flavor, timeout_seconds=chosen_timeout,
                     script_changed=changed, notes=notes, preflight=report)
    if not confirm:
        return plan
    confirm_trust_remote_code(recorded.arguments, trust_remote_code)
    job, _ = submit.submit_training(recorded.script, plan.script_args, backend, flavor=chosen_flavor,
                                    timeout_seconds=chosen_timeout, labels={"rerun-of": _label(ref)}, force=force,
                                    report=report)
    return plan.model_copy(update={"submitted": True, "job": job})


def rerun_request(request: RerunRequest, backend: JobBackend) -> RerunPlan:
    """`rerun` from the tool's and the CLI's fields (the timeout in any form parse_timeout accepts)."""
    from hf_trainer.timeouts import parse_timeout

    return rerun(request.source, backend, flavor=request.flavor,
                 timeout_seconds=parse_timeout(request.timeout) if request.timeout else None, confirm=request.confirm,
                 force=request.force, trust_remote_code=request.trust_remote_code)
