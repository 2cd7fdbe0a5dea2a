"""Result records of the Hub-only operations (metrics, scheduled jobs). Pydantic only: the MCP server imports them
at start-up for its output schema, without huggingface_hub's HTTP stack."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from hf_trainer.jobs.base import Stage


class JobMetrics(BaseModel):
    """One sample of a running job's resource use."""

    job_id: str
    stage: Stage | None = None
    cpu_usage_pct: float | None = None
    cpu_millicores: int | None = None
    memory_used_bytes: int | None = None
    memory_total_bytes: int | None = None
    rx_bps: float | None = None
    tx_bps: float | None = None
    gpus: list[dict[str, Any]] = Field(default_factory=list, description="Per GPU: utilization, memory used/total.")
    note: str | None = None

    def render(self) -> str:
        if self.note:
            return self.note
        gib = 1024**3
        lines = [f"Job {self.job_id} ({self.stage or 'RUNNING'})"]
        if self.cpu_usage_pct is not None:
            lines.append(f"CPU {self.cpu_usage_pct:.0f}% of {(self.cpu_millicores or 0) / 1000:g} cores")
        if self.memory_used_bytes is not None and self.memory_total_bytes:
            lines.append(f"RAM {self.memory_used_bytes / gib:.1f} / {self.memory_total_bytes / gib:.1f} GiB")
        for gpu in self.gpus:
            used, total = gpu.get("memory_used_bytes") or 0, gpu.get("memory_total_bytes") or 0
            lines.append(f"GPU {gpu.get('id', '?')}: {gpu.get('utilization', 0)}% busy, "
                         f"{used / gib:.1f} / {total / gib:.1f} GiB")
        return "\n".join(lines)


class ScheduledJob(BaseModel):
    """A scheduled job: its schedule, state and the job it starts."""

    id: str
    schedule: str | None = None
    suspend: bool = False
    concurrency: bool | None = None
    command: list[str] = Field(default_factory=list)
    image: str | None = None
    flavor: str | None = None
    timeout_seconds: int | None = Field(default=None, description="Each run's timeout (what a run may cost).")
    labels: dict[str, str] = Field(default_factory=dict)
    secret_names: list[str] = Field(default_factory=list)
    last_job_id: str | None = None
    last_job_at: datetime | None = None
    next_run_at: datetime | None = None
    owner: str | None = None
    created_at: datetime | None = None
