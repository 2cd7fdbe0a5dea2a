"""What a job was submitted with, kept where it survives this machine: the job's own labels and command.

huggingface_hub's JobInfo carries no timeout (only the JobSpec that was sent has one), and a record kept on this
machine is lost with it. Labels do survive on the Hub (and in the local backend's database), and the command carries
the script and its arguments. So every bundled training job is submitted with a few `hft-*` labels:

    hft-timeout    the timeout it was given, in seconds
    hft-flavor     the flavor it was planned for
    hft-script     the bundled script's stem (train_sft)
    hft-estimate   the plan's estimate of the whole run, in seconds (absent when it was not estimated)
    hft-args       a short hash of the script arguments, so a reader knows the command it read back is the one sent

`record_labels` writes them; `read_record` reads a job back into a `JobRecord` (labels first, then the backend's own
fields), so diagnose, retry and rerun use the values the job really had. Label values keep to letters, digits, '.',
'_' and '-' (the Hub stores labels as tags), at most 63 characters.
"""

import hashlib
import re
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, Field

from hf_trainer.jobs.base import JobInfo

TIMEOUT_LABEL = "hft-timeout"
FLAVOR_LABEL = "hft-flavor"
SCRIPT_LABEL = "hft-script"
ESTIMATE_LABEL = "hft-estimate"
ARGS_LABEL = "hft-args"
RETRY_LABEL = "retry-of"
RECORD_LABELS = (TIMEOUT_LABEL, FLAVOR_LABEL, SCRIPT_LABEL, ESTIMATE_LABEL, ARGS_LABEL)

_VALUE = re.compile(r"^[A-Za-z0-9_.-]{1,63}$")


class JobRecord(BaseModel):
    """A job as it was submitted: read from its labels and command (see the module docstring)."""

    job_id: str
    script: str | None = Field(None, description="The script the job ran (file name), e.g. train_sft.py.")
    script_args: list[str] = Field(default_factory=list, description="The script's arguments, as submitted.")
    flavor: str | None = None
    timeout_seconds: int | None = Field(None, description="The timeout the job was submitted with.")
    timeout_source: str = Field("unknown", description="Where the timeout was read: 'label' (the job's own record), "
                                "'backend' (the backend reported it) or 'unknown'.")
    estimated_seconds: float | None = Field(None, description="The plan's estimate of the whole run, when recorded.")
    args_match: bool | None = Field(None, description="The arguments read back hash to the recorded ones (None: no "
                                    "hash was recorded).")
    retry_of: str | None = None


def args_digest(script_args: list[str]) -> str:
    """A short, label-safe hash of a job's script arguments."""
    return hashlib.sha256("\0".join(script_args).encode("utf-8")).hexdigest()[:16]


def record_labels(*, script: str | None, script_args: list[str], flavor: str | None, timeout_seconds: int | None,
                  estimated_seconds: float | None = None) -> dict[str, str]:
    """The `hft-*` labels that record how a job is submitted (only the values that are known)."""
    labels = {ARGS_LABEL: args_digest(list(script_args))}
    if timeout_seconds:
        labels[TIMEOUT_LABEL] = str(int(timeout_seconds))
    if flavor and _VALUE.match(flavor):
        labels[FLAVOR_LABEL] = flavor
    if script:
        stem = PurePosixPath(script).name.removesuffix(".py")
        if _VALUE.match(stem):
            labels[SCRIPT_LABEL] = stem
    if estimated_seconds is not None and estimated_seconds > 0:
        labels[ESTIMATE_LABEL] = str(round(estimated_seconds))
    return labels


def script_args_from_command(command: list[str]) -> list[str]:
    """The arguments after the script in a job's command (`python x.py ...`, `uv run ... x.py ...`)."""
    for i, part in enumerate(command):
        if part.endswith(".py") or "/resolve/" in part and part.split("?")[0].endswith(".py"):
            return list(command[i + 1:])
    return []


def script_from_command(command: list[str]) -> str | None:
    """The file name of the script in a job's command, or None when it runs no .py script."""
    for part in command:
        path = part.split("?")[0]
        if path.endswith(".py"):
            return PurePosixPath(path).name
    return None


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value else None
    except ValueError:
        return None


def read_record(job: JobInfo) -> JobRecord:
    """How `job` was submitted: its `hft-*` labels first, then what the backend reports (command, flavor, timeout)."""
    labels = job.labels or {}
    script_args = script_args_from_command(job.command)
    script = script_from_command(job.command)
    if script is None and labels.get(SCRIPT_LABEL):
        script = labels[SCRIPT_LABEL] + ".py"
    timeout = _int(labels.get(TIMEOUT_LABEL))
    source = "label" if timeout else "unknown"
    if timeout is None and job.timeout_seconds:
        timeout, source = job.timeout_seconds, "backend"
    recorded_digest = labels.get(ARGS_LABEL)
    estimate = _int(labels.get(ESTIMATE_LABEL))
    return JobRecord(job_id=job.id, script=script, script_args=script_args,
                     flavor=job.flavor or labels.get(FLAVOR_LABEL), timeout_seconds=timeout, timeout_source=source,
                     estimated_seconds=float(estimate) if estimate else None,
                     args_match=None if not recorded_digest else recorded_digest == args_digest(script_args),
                     retry_of=labels.get(RETRY_LABEL))


def with_record(request: Any, script: str | None, estimated_seconds: float | None = None) -> Any:
    """`request` (a uv or command job request) with the `hft-*` labels of a bundled training `script`; labels the
    caller set already win (a plan's own estimate). Other jobs are returned unchanged."""
    if script is None:
        return request
    words = getattr(request, "script_args", None)
    recorded = record_labels(script=script, script_args=list(words if words is not None else request.command),
                             flavor=request.flavor, timeout_seconds=request.timeout_seconds,
                             estimated_seconds=estimated_seconds)
    return request.model_copy(update={"labels": {**recorded, **request.labels}})
