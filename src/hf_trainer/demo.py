"""`hf-trainer demo`: the whole local path in under two minutes, with no account, no GPU and no network.

It builds a tiny Llama and a tiny chat dataset on the spot, submits scripts/train_sft.py to the local job backend
(exactly as an agent would submit a job), shows the loss while it trains, and summarises where everything landed.
"""

import json
import re
import sys
import time
from pathlib import Path
from typing import Callable

from pydantic import BaseModel

from hf_trainer import paths
from hf_trainer.errors import UserError
from hf_trainer.jobs.base import Stage, UvJobRequest
from hf_trainer.jobs.local import LocalBackend

TRACKIO_PROJECT = "hf-trainer-demo"
# The trainer logs dict lines like {'loss': '3.9', 'grad_norm': ..., 'epoch': '1.5'}.
_LOSS_LINE = re.compile(r"^\{'loss': '([0-9.eE+-]+)'")


class DemoResult(BaseModel):
    job_id: str
    stage: Stage
    steps: int
    first_loss: float | None
    last_loss: float | None
    runtime_seconds: float
    model_dir: str
    dataset_path: str
    trackio_dir: str
    trackio_project: str
    log_path: str

    def render(self) -> str:
        return "\n".join([
            "",
            f"Demo finished: job {self.job_id} {self.stage.value} in {self.runtime_seconds:.0f}s.",
            f"  steps        {self.steps}",
            f"  loss         {self.first_loss:.3f} -> {self.last_loss:.3f}" if self.first_loss is not None else
            "  loss         n/a",
            f"  model        {self.model_dir}",
            f"  data         {self.dataset_path}",
            f"  job log      {self.log_path}   (hf-trainer jobs logs {self.job_id} --backend local)",
            f"  metrics      {self.trackio_dir}/{self.trackio_project}.db",
            f"  dashboard    TRACKIO_DIR={self.trackio_dir} .venv/bin/trackio show --project {self.trackio_project}",
            "",
            "Next: the same script trains real models on Hugging Face Jobs; see README.md (Usage).",
        ])


def _say(progress: bool, text: str) -> None:
    if progress:
        print(text, file=sys.stderr, flush=True)


def run_demo(max_steps: int = 30, progress: bool = True, workdir: Path | None = None,
             backend: LocalBackend | None = None, on_line: Callable[[str], None] | None = None) -> DemoResult:
    """Build the tiny model and data, train through the local backend, and return the summary."""
    if max_steps <= 0:
        raise UserError(f"--max_steps {max_steps} must be positive.")
    try:
        from hf_trainer.tiny import build_model, chat_rows, write_jsonl
    except ImportError as exc:
        raise UserError(f"The demo needs the training extra ({exc.name} is missing). Run `make demo`, or "
                        "`pip install -e '.[train]'` after `pip install torch==2.13.0`.") from None
    started = time.time()
    workdir = Path(workdir) if workdir else paths.home() / "demo" / time.strftime("%Y%m%d-%H%M%S")
    workdir.mkdir(parents=True, exist_ok=True)
    _say(progress, f"Building a tiny Llama and a chat dataset in {workdir} ...")
    model_dir = build_model(workdir / "base-model")
    dataset = write_jsonl(chat_rows(64), workdir / "chat.jsonl")
    output_dir = workdir / "trained-model"
    trackio_dir = workdir / "trackio"

    # The current interpreter, not `uv run`: it already has the training stack, and uv would download one.
    backend = backend or LocalBackend(use_uv=False)
    job = backend.uv(UvJobRequest(
        script=str(paths.bundled_script("train_sft.py")),
        script_args=["--model_name_or_path", str(model_dir), "--dataset_name", str(dataset),
                     "--output_dir", str(output_dir), "--max_steps", str(max_steps), "--learning_rate", "3e-3",
                     "--per_device_train_batch_size", "8", "--gradient_accumulation_steps", "1",
                     "--max_length", "128", "--save_steps", str(max(1, max_steps // 2)),
                     "--trackio_project", TRACKIO_PROJECT, "--run_name", "demo", "--json"],
        env={"TRACKIO_DIR": str(trackio_dir), "TOKENIZERS_PARALLELISM": "false",
             "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"},
        labels={"demo": "true", "method": "sft"},
        timeout_seconds=900,
    ))
    _say(progress, f"Submitted local job {job.id}; training {max_steps} steps of SFT ...")

    last_line = ""
    step = 0
    for line in backend.logs(job.id, follow=True, timeout=900):
        if on_line:
            on_line(line)
        match = _LOSS_LINE.match(line)
        if match:
            step += 1
            _say(progress, f"  step {step:>3}/{max_steps}  loss {float(match.group(1)):.3f}")
        if line.strip():
            last_line = line.strip()
    final = backend.wait(job.id, timeout=60, poll_interval=0.2)
    if final.stage != Stage.COMPLETED:
        raise UserError(f"The demo job {job.id} ended {final.stage.value}: {final.message or 'no reason recorded'}. "
                        f"Read its log: hf-trainer jobs logs {job.id} --backend local")
    try:
        summary = json.loads(last_line)
    except json.JSONDecodeError:
        raise UserError(f"The demo job {job.id} finished without its JSON summary; last log line: {last_line!r}. "
                        f"Read its log: hf-trainer jobs logs {job.id} --backend local") from None
    return DemoResult(
        job_id=job.id, stage=final.stage, steps=summary["steps"], first_loss=summary["first_loss"],
        last_loss=summary["last_loss"], runtime_seconds=time.time() - started, model_dir=summary["output_dir"],
        dataset_path=str(dataset), trackio_dir=str(trackio_dir), trackio_project=TRACKIO_PROJECT,
        log_path=(final.url or "").removeprefix("file://"),
    )

