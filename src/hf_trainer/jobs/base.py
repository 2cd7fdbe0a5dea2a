"""What every job backend speaks: the requests, the job record, the stages and the protocol.

Both backends return `JobInfo`, so the CLI, the MCP server and the training workflow never care where a job runs.
Hub responses are converted into it once, at the boundary (jobs/hub.py).
"""

from datetime import datetime
from enum import StrEnum
from typing import Iterator, Literal, Protocol

from pydantic import BaseModel, Field

from hf_trainer.timeouts import MAX_TIMEOUT_SECONDS


class Stage(StrEnum):
    """Job stages, as HF Jobs names them."""

    SCHEDULING = "SCHEDULING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    CANCELED = "CANCELED"
    ERROR = "ERROR"
    DELETED = "DELETED"


TERMINAL_STAGES = frozenset({Stage.COMPLETED, Stage.CANCELED, Stage.ERROR, Stage.DELETED})

# What one `logs` answer holds at most, on every backend: a line shows MAX_LOG_LINE_CHARS characters, an answer
# MAX_LOG_ANSWER_CHARS (a 20 MB answer helps no one and can stall a client).
MAX_LOG_LINE_CHARS = 4_000
MAX_LOG_ANSWER_CHARS = 200_000


def cap_log_lines(lines: list[str], where: str) -> list[str]:
    """The last lines that fit one answer, each cut at MAX_LOG_LINE_CHARS; a first line says what was left out and
    `where` the rest can be read."""
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        if len(line) > MAX_LOG_LINE_CHARS:
            line = f"{line[:MAX_LOG_LINE_CHARS]} [hf-trainer: line cut, {len(line)} characters in all]"
        if size + len(line) > MAX_LOG_ANSWER_CHARS and kept:
            kept.append(f"[hf-trainer: {len(lines) - len(kept)} earlier lines not shown (answers hold at most "
                        f"{MAX_LOG_ANSWER_CHARS // 1000}k characters): ask for fewer lines with tail, or see {where}]")
            break
        kept.append(line)
        size += len(line) + 1
    return kept[::-1]

BackendName = Literal["local", "hub"]


class UvJobRequest(BaseModel):
    """Run a (PEP 723) Python script with uv."""

    script: str = Field(description="The script: inline Python text, a local file path, or an http(s) URL.")
    script_args: list[str] = Field(default_factory=list, description="Arguments passed to the script.")
    dependencies: list[str] = Field(default_factory=list, description="Extra packages, beyond the script's header.")
    python: str | None = Field(default=None, description="Python version for uv, e.g. '3.12'.")
    env: dict[str, str] = Field(default_factory=dict, description="Environment variables (never tokens).")
    secrets: dict[str, str] = Field(default_factory=dict, description="Secret environment variables (tokens).")
    labels: dict[str, str] = Field(default_factory=dict)
    flavor: str | None = Field(default=None, description="Hardware flavor (hub backend), e.g. 'a10g-large'.")
    timeout_seconds: int | None = Field(default=None, gt=0, le=MAX_TIMEOUT_SECONDS)


class CommandJobRequest(BaseModel):
    """Run a command (in a Docker image on the Hub; as a process locally)."""

    command: list[str] = Field(min_length=1)
    image: str | None = Field(default=None, description="Docker image (hub backend).")
    env: dict[str, str] = Field(default_factory=dict)
    secrets: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    flavor: str | None = None
    timeout_seconds: int | None = Field(default=None, gt=0, le=MAX_TIMEOUT_SECONDS)


# What a backend runs: a uv script or a command in an image (the Hub's subclasses add its options).
JobRequest = UvJobRequest | CommandJobRequest


class JobInfo(BaseModel):
    """One job, wherever it runs. Secret values are never stored here: only their names."""

    id: str
    backend: BackendName
    stage: Stage
    message: str | None = Field(default=None, description="Why the job is in its stage (the cause of an ERROR).")
    command: list[str] = Field(default_factory=list)
    image: str | None = None
    flavor: str | None = None
    timeout_seconds: int | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)
    secret_names: list[str] = Field(default_factory=list)
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    exit_code: int | None = None
    owner: str | None = None
    url: str | None = Field(default=None, description="Where to look at the job (Hub page, or the local log file).")

    @property
    def is_terminal(self) -> bool:
        return self.stage in TERMINAL_STAGES


class JobBackend(Protocol):
    """The operations both backends offer. Errors the caller can fix are raised as `hf_trainer.errors.UserError`."""

    name: BackendName

    def uv(self, request: UvJobRequest) -> JobInfo: ...

    def run(self, request: CommandJobRequest) -> JobInfo: ...

    def ps(
        self, *, all: bool = False, stage: Stage | None = None, labels: dict[str, str] | None = None
    ) -> list[JobInfo]:
        """Jobs, newest first. Without `all`, only jobs that are not finished (SCHEDULING and RUNNING)."""
        ...

    def inspect(self, job_id: str) -> JobInfo: ...

    def logs(self, job_id: str, *, tail: int | None = None, follow: bool = False,
             timeout: float | None = None) -> Iterator[str]:
        """Log lines. `follow` streams until the job ends or `timeout` seconds pass."""
        ...

    def cancel(self, job_id: str) -> JobInfo: ...

    def wait(self, job_id: str, *, timeout: float | None = None, poll_interval: float = 1.0) -> JobInfo:
        """Block until the job reaches a terminal stage; UserError when `timeout` passes first."""
        ...
