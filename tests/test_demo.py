"""`hf-trainer demo` runs end to end: tiny model, local job, trained model, metrics, summary."""

import json
import subprocess
import sys
from pathlib import Path


def test_demo_trains_through_the_local_backend_and_reports_where_everything_is(isolated_env):
    result = subprocess.run([sys.executable, "-m", "hf_trainer.cli", "demo", "--max_steps", "8", "--json"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])

    assert summary["stage"] == "COMPLETED" and summary["steps"] == 8
    assert summary["last_loss"] < summary["first_loss"]
    assert (Path(summary["model_dir"]) / "model.safetensors").is_file()
    assert Path(summary["trackio_dir"], f"{summary['trackio_project']}.db").is_file()
    # The job is a real record of the local backend, listed like any other job.
    ps = subprocess.run([sys.executable, "-m", "hf_trainer.cli", "jobs", "ps", "--all", "--backend", "local",
                         "--json"], capture_output=True, text=True, timeout=60)
    assert summary["job_id"] in [job["id"] for job in json.loads(ps.stdout)]


def test_demo_text_summary_names_the_dashboard_command():
    from hf_trainer.demo import DemoResult
    from hf_trainer.jobs.base import Stage

    text = DemoResult(job_id="abc", stage=Stage.COMPLETED, steps=3, first_loss=5.0, last_loss=4.0,
                      runtime_seconds=9, model_dir="/m", dataset_path="/d.jsonl", trackio_dir="/t",
                      trackio_project="p", log_path="/l").render()
    assert "5.000 -> 4.000" in text and "TRACKIO_DIR=/t" in text and "trackio show --project p" in text
