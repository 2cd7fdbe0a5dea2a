"""hf_jobs runs preflight before uv/run, and offers diagnose and retry for finished jobs."""

import pytest

from hf_trainer.errors import UserError
from hf_trainer.jobs.local import LocalBackend
from hf_trainer.server import run_hf_jobs

NEEDS_TRL = "import trl\nprint('training')\n"


def test_a_job_with_preflight_errors_is_refused_and_nothing_starts(monkeypatch):
    monkeypatch.setenv("HF_TRAINER_LOCAL_PYTHON", "current")
    with pytest.raises(UserError, match=r"(?s)preflight found errors.*\[pep723-header\]"):
        run_hf_jobs("uv", {"script": NEEDS_TRL}, "local")
    assert LocalBackend().ps(all=True) == []


def test_force_submits_a_job_despite_preflight_errors(monkeypatch):
    monkeypatch.setenv("HF_TRAINER_LOCAL_PYTHON", "current")
    result = run_hf_jobs("uv", {"script": "print('hi')\n", "force": True}, "local")
    assert result.job is not None


def test_diagnose_names_the_failure_and_retry_resubmits_only_with_confirm(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_TRAINER_LOCAL_PYTHON", "current")
    script = "import sys\nprint('torch.OutOfMemoryError: CUDA out of memory.')\nsys.exit(1)\n"
    job = run_hf_jobs("uv", {"script": script, "script_args": ["--per_device_train_batch_size", "8"]}, "local").job
    LocalBackend().wait(job.id, timeout=60, poll_interval=0.1)

    diagnosis = run_hf_jobs("diagnose", {"job_id": job.id}, "local")
    assert diagnosis.diagnosis["diagnosis"]["kind"] == "out_of_memory" and "out of memory" in diagnosis.text
    # Not a bundled script: the fix is named but cannot be resubmitted automatically.
    retry = run_hf_jobs("retry", {"job_id": job.id, "confirm": True}, "local")
    assert retry.job is None and "not possible automatically" in retry.text
    with pytest.raises(UserError, match="hf_jobs_status only reads"):
        run_hf_jobs("retry", {"job_id": job.id}, "local", read_only=True)
