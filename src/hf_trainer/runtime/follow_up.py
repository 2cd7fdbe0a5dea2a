"""The job that runs after this one: sent by this job once its model is saved and pushed.

`train` with benchmark_tasks plans two jobs: the training run, then scripts/benchmark.py on the pushed model and its
base. A training machine cannot benchmark its own result well (the trainer still holds the GPU's memory), and HF Jobs
has no "start B when A ends", so the training job starts the second one itself. hf-trainer builds that job entirely
at plan time (command, shipped script, flavor, timeout, labels - checked by the same preflight as any job, priced in
the plan the person approved) and hands it over as JSON in HF_TRAINER_FOLLOW_UP; the job's own HF_TOKEN secret is
the only thing added here. A run that fails or stops early never reaches this, so nothing is sent for it.
Standard library only; huggingface_hub is imported inside the function.
"""

import json
import os

from .basics import current_job_id, is_main_process

FOLLOW_UP_ENV = "HF_TRAINER_FOLLOW_UP"


def submit_follow_up() -> str | None:
    """Submit the job described by HF_TRAINER_FOLLOW_UP, if any; its id, or None (nothing planned, or it could not
    be sent: said in the log, and the trained model stays pushed either way)."""
    text = os.environ.get(FOLLOW_UP_ENV)
    if not text or not is_main_process():
        return None
    try:
        spec = json.loads(text)
        what = spec.pop("description", "the follow-up job")
    except (ValueError, AttributeError):
        print(f"warning: {FOLLOW_UP_ENV} is not a job description; no follow-up job was sent.", flush=True)
        return None
    token = os.environ.get("HF_TOKEN")
    if not token:
        print(f"warning: {what} was not sent: this job has no HF_TOKEN secret to send it with.", flush=True)
        return None
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    labels = dict(spec.pop("labels", None) or {})
    if current_job_id():
        labels["hft-after-job"] = current_job_id()
    try:
        # The endpoint read now, not at import (huggingface_hub reads HF_ENDPOINT once): the Hub this job runs on.
        api = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, token=token)
        job = api.run_job(**spec, labels=labels or None, secrets={"HF_TOKEN": token})
    except (HfHubHTTPError, OSError, TypeError, ValueError) as exc:
        print(f"warning: {what} was not sent ({type(exc).__name__}: {str(exc)[:300]}); submit it with "
              "`hf-trainer jobs uv ... scripts/benchmark.py` when you want it.", flush=True)
        return None
    print(f"Sent {what}: job {job.id} ({getattr(job, 'url', '')})", flush=True)
    return job.id
