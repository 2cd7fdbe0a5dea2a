"""diagnose: name why a job failed and the smallest change that fixes it, one change at a time.

Input: the job's stage and message, its log lines, and the arguments it ran with (script args, flavor, timeout).
Output: the failure kind, the log line that shows it, an explanation, and one change, already applied to the
arguments, so `train` can resubmit it as it is. Pure functions over text; no network.
"""

import math
import re
from typing import Any, Literal

from pathlib import Path

from pydantic import BaseModel, Field

from hf_trainer.jobs.base import JobBackend, JobInfo, Stage
from hf_trainer.preflight import PreflightReport

FailureKind = Literal[
    "out_of_memory", "timeout", "unauthorized", "forbidden", "dataset_format", "no_cuda", "nan_loss", "flat_loss",
    "hub_push_failure", "dependency_resolution", "canceled", "completed", "unknown",
]

# Larger flavors to move to when memory runs out, smallest first (GPU memory in GB).
FLAVOR_LADDER = ["t4-small", "l4x1", "a10g-large", "l40sx1", "a100-large", "h200"]
FLAVOR_UPGRADES = {"t4-small": "l4x1", "t4-medium": "l4x1", "l4x1": "a10g-large", "a10g-small": "a10g-large",
                   "a10g-large": "l40sx1", "l40sx1": "a100-large", "a100-large": "h200",
                   "rtx-pro-6000": "h200", "cpu-basic": "t4-small", "cpu-upgrade": "t4-small"}

# Patterns per failure kind, checked in this order (the first that matches wins).
_PATTERNS: list[tuple[FailureKind, re.Pattern]] = [
    ("out_of_memory", re.compile(r"CUDA out of memory|OutOfMemoryError|torch\.OutOfMemoryError|CUBLAS_STATUS_ALLOC_FAILED"
                                 r"|Killed process .* \(python|MemoryError", re.I)),
    ("no_cuda", re.compile(r"needs a CUDA GPU|no CUDA GPUs are available|Torch not compiled with CUDA|"
                           r"Found no NVIDIA driver|CUDA driver version is insufficient|requires a CUDA GPU", re.I)),
    ("dependency_resolution", re.compile(r"No solution found when resolving (script )?dependencies|"
                                         r"ResolutionImpossible|ModuleNotFoundError: No module named|"
                                         r"Because .* depends on .* we can conclude", re.I)),
    ("unauthorized", re.compile(r"\b401\b.*(Unauthorized|Client Error)|Invalid user token|"
                                r"Invalid credentials in Authorization header", re.I)),
    ("forbidden", re.compile(r"\b403\b.*(Forbidden|Client Error)|You don't have the rights|"
                             r"does not have write access|not authorized to (create|push)", re.I)),
    ("hub_push_failure", re.compile(r"Failed to push|push_to_hub.*(failed|error)|upload_folder.*(failed|Error)|"
                                    r"Error while uploading|HfHubHTTPError.*(upload|commit|preupload)", re.I)),
    ("nan_loss", re.compile(r"training diverged: (loss|grad_norm) is", re.I)),
    ("dataset_format", re.compile(r"no usable columns|KeyError: '(messages|text|prompt|completion|chosen|rejected|"
                                  r"label)'|Split '.*' not found|DatasetGenerationError|"
                                  r"The dataset has no usable columns|ArrowInvalid|"
                                  r"needs conversational data|dataset is not conversational", re.I)),
]
_LOSS = re.compile(r"'loss': '?([0-9.eE+-]+|nan|inf)'?")
_TIMEOUT_MESSAGE = re.compile(r"timed? ?out|timeout", re.I)


class Change(BaseModel):
    """One change to the job, applied: resubmit with these arguments."""

    description: str
    script_args: list[str] = Field(description="The script's arguments with the change applied.")
    flavor: str | None = None
    timeout_seconds: int | None = None


class Diagnosis(BaseModel):
    kind: FailureKind
    summary: str
    evidence: str | None = Field(default=None, description="The log line that shows the failure.")
    change: Change | None = Field(default=None, description="The smallest change that fixes it, or None.")
    next_steps: list[str] = Field(default_factory=list)

    def render(self) -> str:
        lines = [f"diagnosis: {self.kind} - {self.summary}"]
        if self.evidence:
            lines.append(f"  evidence: {self.evidence}")
        if self.change:
            lines.append(f"  fix: {self.change.description}")
        lines += [f"  then: {step}" for step in self.next_steps]
        return "\n".join(lines)


# --- argument edits -----------------------------------------------------------------------------------------------

def get_arg(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args) and not args[i + 1].startswith("--"):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def has_flag(args: list[str], name: str) -> bool:
    return name in args


def set_arg(args: list[str], name: str, value: str | None) -> list[str]:
    """`args` with `--name value` set (value None: a bare flag), replacing any earlier value."""
    out, skip = [], False
    for i, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg == name:
            skip = i + 1 < len(args) and not args[i + 1].startswith("--")
            continue
        if arg.startswith(name + "="):
            continue
        out.append(arg)
    return out + ([name] if value is None else [name, value])


def remove_flag(args: list[str], name: str) -> list[str]:
    return [a for a in args if a != name]


# --- the fixes ----------------------------------------------------------------------------------------------------

def _oom_change(args: list[str], flavor: str | None) -> tuple[Change | None, list[str]]:
    """Halve the batch and double accumulation; then activation checkpointing; then LoRA; then a bigger flavor."""
    given = get_arg(args, "--per_device_train_batch_size")
    accumulation = int(get_arg(args, "--gradient_accumulation_steps") or 4)
    bigger = FLAVOR_UPGRADES.get(flavor or "")
    later = [f"move to {bigger or 'a flavor with more GPU memory'}"]
    if given is None:
        # The scripts pick the batch themselves (1 or 4 rows): pin the smallest, keeping the effective batch.
        new = set_arg(set_arg(args, "--per_device_train_batch_size", "1"),
                      "--gradient_accumulation_steps", str(accumulation * 4))
        return Change(description=f"set the batch to 1 row and gradient accumulation to {accumulation * 4}: the "
                                  "same effective batch, the least activation memory", script_args=new,
                      flavor=flavor), later
    batch = int(given)
    if batch > 1:
        new = set_arg(set_arg(args, "--per_device_train_batch_size", str(batch // 2)),
                      "--gradient_accumulation_steps", str(accumulation * 2))
        return Change(description=f"halve the batch ({batch} -> {batch // 2}) and double gradient accumulation "
                                  f"({accumulation} -> {accumulation * 2}): same effective batch, less memory",
                      script_args=new, flavor=flavor), later
    if has_flag(args, "--no-activation_checkpointing"):
        # Checkpointing is the scripts' GPU default; only an explicit opt-out leaves something to turn on.
        new = set_arg(remove_flag(args, "--no-activation_checkpointing"), "--activation_checkpointing", None)
        return Change(description="turn activation checkpointing back on (recompute activations instead of storing "
                                  "them)", script_args=new, flavor=flavor), later
    if not has_flag(args, "--use_peft"):
        return Change(description="train a LoRA adapter instead of all weights (--use_peft): no gradients or "
                                  "optimizer state for the base model", script_args=set_arg(args, "--use_peft", None),
                      flavor=flavor), later
    if bigger:
        return Change(description=f"move from {flavor} to {bigger} (more GPU memory)", script_args=list(args),
                      flavor=bigger), []
    return None, ["use a smaller model or a shorter --max_length"]


def _loss_values(lines: list[str]) -> list[float]:
    values = []
    for line in lines:
        match = _LOSS.search(line)
        if match:
            values.append(float(match.group(1)))
    return values


def diagnose(stage: Stage, message: str | None, log_lines: list[str], script_args: list[str] | None = None,
             flavor: str | None = None, timeout_seconds: int | None = None) -> Diagnosis:
    """Classify a job's outcome from its stage, message and logs, and propose one change."""
    args = list(script_args or [])
    text_lines = [line.rstrip("\n") for line in log_lines]

    if stage == Stage.CANCELED:
        return Diagnosis(kind="canceled", summary="The job was canceled; nothing failed.")

    for kind, pattern in _PATTERNS:
        evidence = next((line for line in reversed(text_lines) if pattern.search(line)), None)
        if evidence is not None and stage != Stage.COMPLETED:
            return _explain(kind, evidence.strip()[:300], args, flavor, timeout_seconds)

    losses = _loss_values(text_lines)
    if any(not math.isfinite(v) for v in losses):
        evidence = next(line for line in text_lines if _LOSS.search(line) and
                        not math.isfinite(float(_LOSS.search(line).group(1))))
        return _explain("nan_loss", evidence.strip()[:300], args, flavor, timeout_seconds)
    if len(losses) >= 5 and max(losses) - min(losses) < 1e-3 * max(1.0, abs(losses[0])):
        return _explain("flat_loss", f"loss stayed at {losses[0]:.4f} for {len(losses)} logged steps", args,
                        flavor, timeout_seconds)

    if stage == Stage.ERROR and message and _TIMEOUT_MESSAGE.search(message):
        return _explain("timeout", message, args, flavor, timeout_seconds)
    if stage == Stage.COMPLETED:
        return Diagnosis(kind="completed", summary="The job completed; its loss moved normally.")
    if stage == Stage.ERROR:
        tail = next((line.strip() for line in reversed(text_lines) if line.strip()), message or "")
        reason = message or "no message"
        return Diagnosis(kind="unknown", summary=f"The job failed for a reason not in the table: {reason}.",
                         evidence=tail[:300] or None,
                         next_steps=["read the full log (hf_jobs logs)", "rerun the configuration with --smoke "
                                     "locally or on a small flavor"])
    return Diagnosis(kind="unknown", summary=f"The job is {stage.value}; diagnose it once it has ended.")


def _explain(kind: FailureKind, evidence: str, args: list[str], flavor: str | None,
             timeout_seconds: int | None) -> Diagnosis:
    if kind == "out_of_memory":
        change, later = _oom_change(args, flavor)
        return Diagnosis(kind=kind, summary="The GPU ran out of memory.", evidence=evidence, change=change,
                         next_steps=later)
    if kind == "timeout":
        current = timeout_seconds or 1800
        new = int(current * 2)
        return Diagnosis(kind=kind, summary=f"The job hit its timeout ({current}s) before finishing.",
                         evidence=evidence,
                         change=Change(description=f"double the timeout ({current}s -> {new}s) and resume from the "
                                                   "last pushed checkpoint of the same run (--resume auto)",
                                       script_args=set_arg(args, "--resume", "auto"), flavor=flavor,
                                       timeout_seconds=new),
                         next_steps=["or move to a faster flavor (see estimate_cost)"])
    if kind == "unauthorized":
        return Diagnosis(kind=kind, summary="The Hub refused the token (401): it is missing, expired or invalid.",
                         evidence=evidence, next_steps=[
                             "run 'hf auth login' (or set HF_TOKEN) and pass secrets {\"HF_TOKEN\": \"$HF_TOKEN\"}"])
    if kind == "forbidden":
        return Diagnosis(kind=kind, summary="The token may not write there (403): it is read-only, or the repo "
                                            "belongs to an organisation it has no write access to.",
                         evidence=evidence, next_steps=[
                             "create a token with write access at https://huggingface.co/settings/tokens",
                             "or push to a repo in your own namespace (--hub_model_id <you>/<name>)"])
    if kind == "hub_push_failure":
        return Diagnosis(kind=kind, summary="Training ran but pushing to the Hub failed.", evidence=evidence,
                         change=Change(description="resubmit with --resume auto: it continues from the last "
                                                   "checkpoint of the same run that reached the Hub",
                                       script_args=set_arg(args, "--resume", "auto"),
                                       flavor=flavor, timeout_seconds=timeout_seconds),
                         next_steps=["check the token's write access and the repo id"])
    if kind == "dataset_format":
        return Diagnosis(kind=kind, summary="The dataset's columns or values do not fit the method.",
                         evidence=evidence, next_steps=[
                             "run dataset_inspect on the dataset for this method and pass the --dataset_mapping it "
                             "returns"])
    if kind == "no_cuda":
        target = "t4-small" if not flavor or flavor.startswith("cpu") else flavor
        return Diagnosis(kind=kind, summary="The script needs a CUDA GPU and the job had none.", evidence=evidence,
                         change=Change(description=f"run on a GPU flavor ({target})" if target != flavor else
                                       "drop --load_in_4bit (QLoRA needs CUDA)",
                                       script_args=args if target != flavor else remove_flag(args, "--load_in_4bit"),
                                       flavor=target, timeout_seconds=timeout_seconds))
    if kind == "nan_loss":
        lr = float(get_arg(args, "--learning_rate") or (2e-4 if has_flag(args, "--use_peft") else 2e-5))
        return Diagnosis(kind=kind, summary="The loss became NaN or infinite: the updates diverged.",
                         evidence=evidence,
                         change=Change(description=f"lower the learning rate tenfold ({lr:g} -> {lr / 10:g})",
                                       script_args=set_arg(args, "--learning_rate", f"{lr / 10:g}"), flavor=flavor,
                                       timeout_seconds=timeout_seconds),
                         next_steps=["on a T4 (fp16) move to a bf16 GPU (L4, A10G)", "check the data for empty rows"])
    if kind == "flat_loss":
        lr = float(get_arg(args, "--learning_rate") or (2e-4 if has_flag(args, "--use_peft") else 2e-5))
        return Diagnosis(kind=kind, summary="The loss did not move: nothing is being learned.", evidence=evidence,
                         change=Change(description=f"raise the learning rate tenfold ({lr:g} -> {lr * 10:g})",
                                       script_args=set_arg(args, "--learning_rate", f"{lr * 10:g}"), flavor=flavor,
                                       timeout_seconds=timeout_seconds),
                         next_steps=["run with --smoke: it fails when the gradient is zero (all labels masked)"])
    # dependency_resolution
    return Diagnosis(kind=kind, summary="uv could not install the script's dependencies.", evidence=evidence,
                     next_steps=["pin compatible versions in the PEP 723 header (e.g. trl>=1.16, transformers>=5.2)",
                                 "add the missing package to the header's dependencies"])


# --- a job, read from its backend ---------------------------------------------------------------------------------

DIAGNOSE_LOG_LINES = 2000


def script_args_from_command(command: list[str]) -> list[str]:
    """The arguments after the script in a job's command (`python x.py ...`, `uv run ... x.py ...`)."""
    for i, part in enumerate(command):
        if part.endswith(".py") or "/resolve/" in part and part.split("?")[0].endswith(".py"):
            return list(command[i + 1:])
    return []


def diagnose_job(backend: Any, job_id: str) -> Diagnosis:
    """Read a job's record and the end of its log from `backend`, then diagnose it."""
    job = backend.inspect(job_id)
    lines = list(backend.logs(job_id, tail=DIAGNOSE_LOG_LINES))
    return diagnose(job.stage, job.message, lines, script_args_from_command(job.command), flavor=job.flavor,
                    timeout_seconds=job.timeout_seconds)


# --- retry: the failed job again, with the fix --------------------------------------------------------------------


class RetryPlan(BaseModel):
    """A failed job, its diagnosis, and the same job with the one fix applied (submitted with confirm)."""

    failed_job_id: str
    diagnosis: Diagnosis
    script: str | None
    script_args: list[str]
    flavor: str | None
    timeout_seconds: int | None
    preflight: PreflightReport | None
    submitted: bool = False
    job: JobInfo | None = None

    def render(self) -> str:
        lines = [self.diagnosis.render()]
        if self.script is None:
            lines.append("  resubmit: not possible automatically (the job did not run a bundled script); apply the "
                         "fix by hand")
        elif self.diagnosis.change is None:
            lines.append("  resubmit: no automatic change for this failure; follow the steps above")
        elif self.submitted and self.job:
            lines.append(f"  resubmitted as job {self.job.id}: {self.job.url}")
        else:
            lines.append(f"  resubmit {self.script} with: {' '.join(self.script_args)}"
                         + (f" on {self.flavor}" if self.flavor else "")
                         + " (call again with confirm: true after the person agrees)")
        if self.preflight is not None and not self.preflight.ok:
            lines.append("  " + self.preflight.render().replace("\n", "\n  "))
        return "\n".join(lines)


def retry_job(backend: JobBackend, job_id: str, *, confirm: bool = False, force: bool = False) -> RetryPlan:
    """Diagnose a finished job and, for a bundled training script, plan (or with confirm submit) it with the fix,
    through the same estimate, preflight and submit as every other job."""
    from hf_trainer.jobs import submit  # the pipeline reads scripts and the estimator only when a retry is planned

    job = backend.inspect(job_id)
    diagnosis = diagnose(job.stage, job.message, list(backend.logs(job_id, tail=DIAGNOSE_LOG_LINES)),
                         script_args_from_command(job.command), flavor=job.flavor,
                         timeout_seconds=job.timeout_seconds)
    script = next((Path(part).name for part in job.command if Path(part).name in submit.TRAINING_SCRIPTS), None)
    change = diagnosis.change
    plan = RetryPlan(failed_job_id=job_id, diagnosis=diagnosis, script=script,
                     script_args=change.script_args if change else [], flavor=change.flavor if change else job.flavor,
                     timeout_seconds=(change.timeout_seconds if change else None) or job.timeout_seconds,
                     preflight=None)
    if script is None or change is None:
        return plan
    report = submit.plan_training(script, plan.script_args, backend, flavor=plan.flavor,
                                  timeout_seconds=plan.timeout_seconds)
    plan = plan.model_copy(update={"preflight": report})
    if not confirm:
        return plan
    labels = {**job.labels, "retry-of": job_id}
    new_job, _ = submit.submit_training(script, plan.script_args, backend, flavor=plan.flavor,
                                        timeout_seconds=plan.timeout_seconds, labels=labels, force=force,
                                        report=report, action="Not resubmitted")
    return plan.model_copy(update={"submitted": True, "job": new_job})
