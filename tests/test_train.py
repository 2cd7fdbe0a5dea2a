"""train: a plan from method/model/dataset, submitted only on confirm, on this machine's backend."""

import json
from pathlib import Path

import pytest

from hf_trainer.errors import UserError
from hf_trainer.jobs.base import Stage
from hf_trainer.jobs.local import LocalBackend
from hf_trainer.tiny import chat_rows, write_jsonl
from hf_trainer.train import TrainRequest, plan_training, train


@pytest.fixture
def backend() -> LocalBackend:
    return LocalBackend(use_uv=False)


@pytest.fixture
def chat(tmp_path: Path) -> Path:
    return write_jsonl(chat_rows(48), tmp_path / "chat.jsonl")


def _request(tiny_model: Path, data: Path, tmp_path: Path, **extra) -> TrainRequest:
    return TrainRequest(method="sft", model_name_or_path=str(tiny_model), dataset_name=str(data), max_steps=3,
                        max_length=128, per_device_train_batch_size=8, gradient_accumulation_steps=1,
                        output_dir=str(tmp_path / "model"), **extra)


def test_a_plan_names_the_job_and_submits_nothing(tiny_model, chat, tmp_path, backend):
    plan = train(_request(tiny_model, chat, tmp_path), backend)

    assert not plan.submitted and plan.job is None and backend.ps(all=True) == []
    assert plan.script == "train_sft.py" and plan.dataset_verdict == "READY" and plan.preflight.ok
    assert plan.script_args[:4] == ["--model_name_or_path", str(tiny_model), "--dataset_name", str(chat)]
    assert "--use_peft" in plan.script_args and plan.output_dir == str(tmp_path / "model")
    assert plan.estimated_hours is not None and plan.timeout_seconds >= 600
    assert "confirm: true" in plan.render()


def test_confirm_submits_and_the_job_trains(tiny_model, chat, tmp_path, backend):
    plan = train(_request(tiny_model, chat, tmp_path, confirm=True), backend)
    assert plan.submitted and plan.job is not None
    assert plan.job.labels["method"] == "sft" and plan.job.labels["hf-trainer"] == "train"

    final = backend.wait(plan.job.id, timeout=300, poll_interval=0.2)
    assert final.stage == Stage.COMPLETED, "\n".join(backend.logs(plan.job.id, tail=40))
    summary = json.loads(list(backend.logs(plan.job.id, tail=1))[-1])
    assert summary["steps"] == 3 and (tmp_path / "model" / "adapter_model.safetensors").is_file()


def test_a_dataset_that_needs_a_mapping_gets_it_in_the_job(tiny_model, tmp_path, backend):
    rows = [{"conversations": [{"from": "human", "value": r["messages"][-2]["content"]},
                               {"from": "gpt", "value": r["messages"][-1]["content"]}]} for r in chat_rows(24)]
    data = write_jsonl(rows, tmp_path / "sharegpt.jsonl")
    plan = train(_request(tiny_model, data, tmp_path), backend)
    assert plan.dataset_verdict == "NEEDS MAPPING" and plan.dataset_mapping == "sharegpt"
    assert plan.script_args[plan.script_args.index("--dataset_mapping") + 1] == "sharegpt"
    assert plan.preflight.ok, plan.preflight.render()


def test_an_incompatible_dataset_makes_preflight_refuse_the_submission(tiny_model, tmp_path, backend):
    data = write_jsonl([{"label": i, "score": 0.5} for i in range(12)], tmp_path / "numbers.jsonl")
    plan = train(_request(tiny_model, data, tmp_path), backend)
    assert not plan.preflight.ok and any(f.rule == "dataset-not-ready" for f in plan.preflight.findings)
    with pytest.raises(UserError, match="preflight found errors"):
        train(_request(tiny_model, data, tmp_path, confirm=True), backend)
    assert backend.ps(all=True) == []  # nothing was started


@pytest.mark.parametrize(
    "fields, message",
    [
        # an output repo that is not owner/name
        (dict(hub_model_id="just-a-name"), "is not a repo id"),
        # a time limit in a form we cannot read exactly
        (dict(time_limit="2hours"), "timeout '2hours' is not a duration"),
    ],
)
def test_bad_plans_are_refused_with_the_value_and_the_fix(tiny_model, chat, tmp_path, backend, fields, message):
    with pytest.raises(UserError, match=message):
        plan_training(_request(tiny_model, chat, tmp_path, **fields), backend)


def test_a_failed_training_job_is_resubmitted_with_the_one_fix(tiny_model, chat, tmp_path, backend):
    from hf_trainer.retry import retry_job

    # A learning rate so high the loss diverges: the job runs, diagnose names NaN loss and lowers the rate.
    request = _request(tiny_model, chat, tmp_path, learning_rate=1e9, use_peft=False, confirm=True)
    first = train(request, backend)
    backend.wait(first.job.id, timeout=300, poll_interval=0.2)

    plan = retry_job(backend, first.job.id)
    assert plan.diagnosis.kind == "nan_loss" and not plan.submitted
    assert plan.script == "train_sft.py"
    assert plan.script_args[plan.script_args.index("--learning_rate") + 1] == "1e+08"

    resubmitted = retry_job(backend, first.job.id, confirm=True)
    assert resubmitted.submitted and resubmitted.job.labels["retry-of"] == first.job.id
    backend.wait(resubmitted.job.id, timeout=300, poll_interval=0.2)


# --- the recommendation is the job that runs; resume that cannot mix runs ---------------------------------------


def _stand_in_estimate(verdict: str, script_args: list[str], changes: list[str]):
    from types import SimpleNamespace

    row = SimpleNamespace(flavor="local", gpu="-", verdict=verdict, changes=changes, script_args=script_args,
                          hours=0.01, cost_usd=0.0, price_per_hour=0.0, memory_gib=20.0, memory_available_gib=24.0)
    return lambda request: SimpleNamespace(rows=[row], warnings=[], recommended_flavor=None)


def test_the_plan_carries_the_flags_the_estimator_says_the_flavor_needs_and_shows_them(tiny_model, chat, tmp_path,
                                                                                      backend):
    changes = ["--optim", "adamw_bnb_8bit", "--per_device_train_batch_size", "1", "--gradient_accumulation_steps",
               "16"]
    plan = plan_training(_request(tiny_model, chat, tmp_path), backend, estimator=_stand_in_estimate(
        "fits with changes", changes, ["optim=adamw_bnb_8bit", "per_device_train_batch_size=1"]))
    args = plan.script_args
    assert args[args.index("--optim") + 1] == "adamw_bnb_8bit"
    # replaced, not repeated: the request asked for 8 rows per batch and 1 accumulation step
    assert args.count("--per_device_train_batch_size") == 1 and args.count("--gradient_accumulation_steps") == 1
    assert args[args.index("--per_device_train_batch_size") + 1] == "1"
    assert args[args.index("--gradient_accumulation_steps") + 1] == "16"
    assert plan.change_args == changes and plan.preflight.ok
    assert "fits with      optim=adamw_bnb_8bit" in plan.render()


def test_changes_no_script_can_make_are_no_fit(tiny_model, chat, tmp_path, backend):
    plan = plan_training(_request(tiny_model, chat, tmp_path), backend,
                         estimator=_stand_in_estimate("fits with changes", [], ["a bigger GPU"]))
    assert not plan.preflight.ok and any(f.rule == "does-not-fit" for f in plan.preflight.findings)


@pytest.mark.parametrize("resume", ["auto", "never", "must"])
def test_the_plan_passes_and_names_its_resume_policy(tiny_model, chat, tmp_path, backend, resume):
    plan = plan_training(_request(tiny_model, chat, tmp_path, resume=resume), backend)
    args = plan.script_args
    assert args[args.index("--resume") + 1] == resume and args.count("--resume") == 1
    assert f"resume         {resume}: " in plan.render()
    assert TrainRequest.model_fields["resume"].default == "auto"  # never the bare --resume (= must)


@pytest.mark.parametrize("fields,script,row,on,says", [
    # 1% of the run: on by default, and the plan says what it costs
    ({}, "train_sft.py", dict(hours=1.0, baseline_eval_s=36.0, script_args=[]), True, "1.0% of the estimated time"),
    # 10%: off, with the figure and how to run it anyway
    ({}, "train_sft.py", dict(hours=0.1, baseline_eval_s=36.0, script_args=[]), False, "eval_baseline=True"),
    # a sharded run cannot generate on one process
    ({}, "train_dpo.py", dict(hours=1.0, baseline_eval_s=1.0, script_args=["--fsdp"]), False, "--fsdp"),
    # no eval rows
    ({"extra_args": ["--eval_split_size", "0"]}, "train_sft.py", dict(hours=1.0, baseline_eval_s=1.0, script_args=[]),
     False, "no eval rows"),
    # the reward script has no baseline evaluation
    ({}, "train_reward.py", dict(hours=1.0, baseline_eval_s=1.0, script_args=[]), False, "train_reward.py"),
    # the person's choice wins either way
    ({"eval_baseline": True}, "train_sft.py", dict(hours=0.1, baseline_eval_s=360.0, script_args=[]), True, "asked"),
    ({"eval_baseline": False}, "train_sft.py", dict(hours=1.0, baseline_eval_s=1.0, script_args=[]), False, "off"),
])
def test_the_baseline_evaluation_runs_by_default_only_when_cheap(fields, script, row, on, says):
    from types import SimpleNamespace

    from hf_trainer.train import baseline_choice

    req = TrainRequest(method="sft", model_name_or_path="m", dataset_name="d", **fields)
    chosen, text = baseline_choice(req, script, SimpleNamespace(**row))
    assert chosen is on and says in text


def test_a_cheap_baseline_is_in_the_job_its_time_and_the_plan(tiny_model, chat, tmp_path, backend):
    plan = train(_request(tiny_model, chat, tmp_path), backend)
    if plan.baseline.startswith("on"):
        assert "--eval_baseline" in plan.script_args
    else:
        assert "--eval_baseline" not in plan.script_args and "over 5%" in plan.baseline
    assert f"baseline eval  {plan.baseline}" in plan.render()
