"""retry gives a job that passes its own checks: sized with the estimator, resumed, with the timeout it was submitted
with (read back from the job's labels), or a plain statement that no retry can work. Against the fake Hub, with the
estimator and the dataset inspector stood in (jobs/submit.py's hooks) by a memory model whose numbers a case sets."""

from types import SimpleNamespace
from typing import Any

import pytest
from conftest import CANARY_TOKEN
from fakes.fake_hub import OOM_LOG, FakeHub
from huggingface_hub import HfApi

from hf_trainer.diagnose import get_arg
from hf_trainer.errors import UserError
from hf_trainer.jobs import submit
from hf_trainer.jobs.hub import HubBackend
from hf_trainer.jobs.records import TIMEOUT_LABEL, read_record, record_labels
from hf_trainer.retry import read_progress, retry_job

ARGS = ["--model_name_or_path", "Qwen/Qwen2.5-7B", "--dataset_name", "alice/chat", "--per_device_train_batch_size",
        "8", "--gradient_accumulation_steps", "2", "--push_to_hub", "--hub_model_id", "alice/oom"]
# GPU memory and $/h of the fake Hub's GPU flavors.
GPUS = {"t4-small": (16, 0.4), "a10g-large": (24, 1.5), "a100-large": (80, 2.5), "rtx-pro-6000": (96, 2.75),
        "h200": (141, 5.0)}


@pytest.fixture
def backend(fake_hub: FakeHub) -> HubBackend:
    return HubBackend(HfApi(endpoint=fake_hub.url, token=CANARY_TOKEN))


@pytest.fixture
def model(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """The stood-in estimator: memory = weights (less with LoRA, an 8-bit optimizer, a 4-bit base) + 2 GiB per row of
    the micro-batch; `hours` for the whole run on every flavor."""
    state = SimpleNamespace(weights=6.0, hours=2.0, requests=[])

    def inspector(params: Any) -> Any:
        verdict = SimpleNamespace(verdict="READY", reasons=[], mapping=None)
        return SimpleNamespace(methods={m: verdict for m in ("sft", "dpo", "grpo", "reward", "kto")},
                               source=SimpleNamespace(num_rows=16000, num_rows_exact=True), sample_rows=50,
                               token_stats=SimpleNamespace(mean=500.0))

    def estimator(request: Any, api: Any = None) -> Any:
        state.requests.append(request)
        weights = state.weights * (0.45 if request.load_in_4bit else 0.5 if request.use_peft else
                                   0.75 if request.optim == "adamw_bnb_8bit" else 1.0)
        need = weights + 2.0 * (request.per_device_train_batch_size or 4)
        rows = [SimpleNamespace(flavor=name, gpu=name, verdict="fits" if need <= gib else "does not fit", changes=[],
                                script_args=[], hours=state.hours, cost_usd=state.hours * price, price_per_hour=price,
                                memory_gib=need, memory_available_gib=gib, within_time_limit=True)
                for name, (gib, price) in GPUS.items() if not request.flavors or name in request.flavors]
        return SimpleNamespace(rows=rows, warnings=[], recommended_flavor=None, changes=[], script_args=[])

    monkeypatch.setattr(submit, "inspector", inspector)
    monkeypatch.setattr(submit, "estimator", estimator)
    return state


def failed_job(fake_hub: FakeHub, *, logs: list[str], timeout: int = 3 * 3600, message: str = "exited with code 1",
               args: list[str] = ARGS, labels: bool = True) -> str:
    """A bundled train_sft.py job as the submit pipeline sends it (uv command, HF_TOKEN secret, hft-* labels)."""
    command = ["uv", "run", "/tmp/hf-trainer/train_sft.py", *args]
    job = fake_hub.add_job("ERROR", logs=logs, message=message, command=command, flavor="a10g-large",
                           timeoutSeconds=timeout, secrets={"HF_TOKEN": "x"},
                           dockerImage="ghcr.io/astral-sh/uv:python3.12-bookworm",
                           labels=record_labels(script="train_sft.py", script_args=args, flavor="a10g-large",
                                                timeout_seconds=timeout, estimated_seconds=7200) if labels else None)
    return job["id"]


def test_the_job_record_reads_back_the_timeout_the_hub_does_not_report(fake_hub, backend):
    job = backend.inspect(failed_job(fake_hub, logs=OOM_LOG))
    assert job.timeout_seconds is None  # huggingface_hub's JobInfo carries none
    record = read_record(job)
    assert record.timeout_seconds == 3 * 3600 and record.timeout_source == "label"
    assert record.script == "train_sft.py" and record.script_args == ARGS and record.args_match
    assert record.estimated_seconds == 7200 and record.flavor == "a10g-large"


def test_an_out_of_memory_job_is_retried_with_a_change_that_fits_keeping_its_timeout_and_resuming(
        fake_hub, backend, model):
    job_id = failed_job(fake_hub, logs=OOM_LOG)

    plan = retry_job(backend, job_id)
    # The estimator put batch 8 at 22 GiB of 24 ("fits"), and the GPU ran out: the failure calibrates it, so the
    # change must fit with room to spare. Halving the batch (same effective batch) does, on the same flavor.
    assert plan.diagnosis.kind == "out_of_memory" and plan.flavor == "a10g-large"
    assert get_arg(plan.script_args, "--per_device_train_batch_size") == "4"
    assert get_arg(plan.script_args, "--gradient_accumulation_steps") == "4"
    assert get_arg(plan.script_args, "--resume") == "auto" and plan.resumes
    assert get_arg(plan.script_args, "--hub_model_id") == "alice/oom"
    # The work left (700 of 1000 steps, ~1.4 h) fits the 3 h it was submitted with: the timeout is kept, not reset.
    assert plan.timeout_seconds == 3 * 3600 and plan.estimated_seconds == pytest.approx(0.7 * 2 * 3600)
    assert plan.preflight is not None and plan.preflight.ok, plan.preflight.render()
    assert "fits a10g-large" in plan.render() and fake_hub.count("POST", r"^/api/jobs/alice$") == 0

    submitted = retry_job(backend, job_id, confirm=True)
    assert submitted.submitted and submitted.job is not None
    spec = fake_hub.spec(submitted.job.id)
    assert spec["timeoutSeconds"] == 3 * 3600 and spec["flavor"] == "a10g-large"
    assert spec["labels"]["retry-of"] == job_id and spec["labels"][TIMEOUT_LABEL] == str(3 * 3600)
    record = read_record(backend.inspect(submitted.job.id))
    assert record.script_args == submitted.script_args and record.args_match
    assert "--resume auto" in " ".join(record.script_args)


def test_when_nothing_fits_the_flavor_the_cheapest_flavor_that_fits_is_chosen(fake_hub, backend, model):
    model.weights = 60.0  # even QLoRA (27 + 2 GiB) is over an A10G's 24 GiB
    plan = retry_job(backend, failed_job(fake_hub, logs=OOM_LOG))
    # a100-large ($2.50/h) holds the job as it was (76 of 80 GiB); rtx-pro-6000 and h200 cost more.
    assert plan.flavor == "a100-large" and plan.script_args[:len(ARGS)] == ARGS
    assert get_arg(plan.script_args, "--resume") == "auto" and plan.preflight.ok
    assert "cheapest flavor that fits" in plan.render()


def test_when_no_flavor_can_hold_the_job_retry_says_so_and_submits_nothing(fake_hub, backend, model):
    model.weights = 400.0
    job_id = failed_job(fake_hub, logs=OOM_LOG)
    plan = retry_job(backend, job_id)
    assert plan.blocked and "no change the training scripts can make" in plan.render()
    with pytest.raises(UserError, match="no retry can work"):
        retry_job(backend, job_id, confirm=True)
    assert fake_hub.count("POST", r"^/api/jobs/alice$") == 0


def test_a_change_that_makes_the_checkpoints_unusable_starts_from_step_zero_with_the_whole_run_timed(
        fake_hub, backend, model):
    model.weights = 40.0  # batch 1 is still 42 GiB; an 8-bit optimizer 32; LoRA 22 fits the A10G
    plan = retry_job(backend, failed_job(fake_hub, logs=OOM_LOG))
    assert "--use_peft" in plan.script_args and plan.flavor == "a10g-large"
    assert get_arg(plan.script_args, "--resume") == "never" and not plan.resumes
    assert plan.estimated_seconds == pytest.approx(2 * 3600)  # from step 0


def test_a_timeout_is_retried_from_the_checkpoint_with_the_time_the_rest_really_takes(fake_hub, backend, model):
    model.hours = 3.0  # the estimator thought 3 h; the job used 5 h for 800 of 1000 steps
    logs = [f"{{'loss': '{2 - i * 0.1:.2f}', 'epoch': '0.{i}'}}" for i in range(8)] + \
        ["hf-trainer checkpoint: step 800 of 1000 (checkpoint-800)"]
    job_id = failed_job(fake_hub, logs=logs, timeout=5 * 3600, message="Job timed out")

    plan = retry_job(backend, job_id)
    assert plan.diagnosis.kind == "timeout" and "(18000s)" in plan.diagnosis.summary
    assert get_arg(plan.script_args, "--resume") == "auto" and plan.resumes
    # 200 steps left at 800 per 5 h: 1.25 h, plus 25%, rounded up to the minute.
    assert plan.timeout_seconds == 5640
    assert plan.preflight.ok, plan.preflight.render()


def test_flavor_and_timeout_given_to_retry_are_used_as_given(fake_hub, backend, model):
    plan = retry_job(backend, failed_job(fake_hub, logs=OOM_LOG), flavor="a100-large", timeout_seconds=4 * 3600)
    # On an A100 the failed arguments fit as they were; the timeout is the person's.
    assert plan.flavor == "a100-large" and plan.timeout_seconds == 4 * 3600
    assert get_arg(plan.script_args, "--per_device_train_batch_size") == "8"


def test_progress_is_read_from_checkpoint_lines_and_the_progress_bar():
    progress = read_progress(["hf-trainer checkpoint: step 300 of 1000 (checkpoint-300)", " 45%| | 450/1000 [01:00"])
    assert (progress.checkpoint_step, progress.last_step, progress.total_steps) == (300, 450, 1000)
    assert progress.saved_fraction == pytest.approx(0.3)


def test_the_journey_submit_with_3h_fail_out_of_memory_retry_from_the_command_line(fake_hub, model, capsys):
    from hf_trainer.cli import main

    # Submitted as a person would, through the uv route: the job's labels record what it was submitted with.
    assert main(["jobs", "uv", "--backend", "hub", "--flavor", "a10g-large", "--timeout", "3h", "-s", "HF_TOKEN",
                 "train_sft.py", *ARGS]) == 0
    capsys.readouterr()
    (first,) = fake_hub.jobs
    assert fake_hub.spec(first)["labels"][TIMEOUT_LABEL] == str(3 * 3600)
    fake_hub.logs[first] = list(OOM_LOG)
    fake_hub.set_stage(first, "ERROR", "exited with code 1")

    assert main(["jobs", "retry", first, "--backend", "hub", "--confirm", "--json"]) == 0
    out = capsys.readouterr().out
    (second,) = [job_id for job_id in fake_hub.jobs if job_id != first]
    spec = fake_hub.spec(second)
    assert spec["timeoutSeconds"] >= 3 * 3600 and spec["flavor"] == "a10g-large"  # kept, never the Hub's 30 minutes
    record = read_record(HubBackend(HfApi(endpoint=fake_hub.url, token=CANARY_TOKEN)).inspect(second))
    assert get_arg(record.script_args, "--resume") == "auto" and get_arg(record.script_args, "--hub_model_id") == \
        "alice/oom"
    assert get_arg(record.script_args, "--per_device_train_batch_size") == "4"  # 14 GiB: fits by the numbers
    assert "fits a10g-large" in out


def test_a_timeout_without_progress_lines_doubles_the_submitted_timeout_even_when_the_estimate_is_shorter(
        fake_hub, backend, model):
    model.hours = 1.0  # the estimate (1.25 h with the buffer) was already beaten by the 2 h the job had
    job_id = failed_job(fake_hub, logs=["{'loss': '2.0', 'epoch': '0.1'}"], timeout=2 * 3600,
                        message="Job timed out")
    plan = retry_job(backend, job_id)
    assert plan.timeout_seconds == 4 * 3600 and get_arg(plan.script_args, "--resume") == "auto"


def test_a_missing_split_is_retried_with_the_split_the_method_trains_on(fake_hub, backend, model):
    model.hours = 1.0  # 1.25 h with the buffer: the 2 h it was submitted with is kept
    args = ["--model_name_or_path", "Qwen/Qwen2.5-0.5B-Instruct", "--dataset_name",
            "HuggingFaceH4/ultrafeedback_binarized", "--push_to_hub", "--hub_model_id", "alice/dpo"]
    command = ["uv", "run", "/tmp/hf-trainer/train_dpo.py", *args]
    job = fake_hub.add_job("ERROR", logs=["error: Split 'train' not found; the dataset has: train_prefs, test_prefs, "
                                          "train_sft, test_sft. Pass --dataset_train_split."],
                           message="exited with code 2", command=command, flavor="a10g-large", timeoutSeconds=7200,
                           secrets={"HF_TOKEN": "x"}, labels=record_labels(script="train_dpo.py", script_args=args,
                                                                          flavor="a10g-large", timeout_seconds=7200))
    plan = retry_job(backend, job["id"])
    assert plan.diagnosis.kind == "dataset_split"
    assert get_arg(plan.script_args, "--dataset_train_split") == "train_prefs" and plan.timeout_seconds == 7200
    assert plan.preflight.ok, plan.preflight.render()



def test_a_retry_that_switches_to_lora_puts_the_change_of_method_to_the_person(fake_hub, backend, model):
    # The same rule as train's plans (plan_decisions.py): a retry may change the method to fit, but as a decision.
    model.weights = 40.0  # only LoRA fits the A10G
    plan = retry_job(backend, failed_job(fake_hub, logs=OOM_LOG))
    assert "--use_peft" in plan.script_args
    assert any(d.kind == "method" for d in plan.decisions), plan.decisions
    assert "DECISION (method)" in plan.render()
