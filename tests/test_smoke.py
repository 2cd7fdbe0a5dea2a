"""train with smoke: a one-step rehearsal of the very job first, the full job only after it COMPLETED (fake Hub)."""

import pytest

from fakes.fake_dataset_viewer import fake_viewer  # noqa: F401  (fixture)
from fakes.fake_hub import TERMINAL
from hf_trainer.errors import UserError
from hf_trainer.jobs.hub import HubBackend
from hf_trainer.smoke import TRAIN_ROWS, smoke_script_args
from hf_trainer.train import TrainRequest, train
from test_plan_decisions import hub_tools  # noqa: F401  (fixture)
from test_train_hub import QWEN_05B

# The last lines of a job whose push at the very end was refused: what a smoke job exists to catch cheaply.
PUSH_REFUSED_LOG = [
    "{'loss': '2.113', 'grad_norm': '1.2', 'learning_rate': '0.0002', 'epoch': '0.01'}",
    "huggingface_hub.errors.HfHubHTTPError: 403 Forbidden: You don't have the rights to create a model under the "
    "namespace \"alice\".",
]


@pytest.fixture
def smoke_hub(hub_tools):
    """The fake Hub, tools, and a Hub backend whose wait does not sleep: each 'sleep' ends the running smoke job with
    `outcome` (its stage and log), as the Hub would while train waits. `events` is the order things happened in."""
    fake, api, inspector, estimator = hub_tools
    outcome = {"stage": "COMPLETED", "logs": ["Done: 1 steps"]}
    events: list[str] = []

    def sleep(seconds: float) -> None:
        events.append(f"sleep {seconds:g}")
        for job in list(fake.jobs.values()):
            if (job.get("labels") or {}).get("hf-trainer") == "smoke" and job["status"]["stage"] not in TERMINAL:
                events.append(f"smoke {outcome['stage']} with {fake.count('POST', r'^/api/jobs/alice$')} job(s) sent")
                fake.set_stage(job["id"], outcome["stage"])
                fake.logs[job["id"]] = list(outcome["logs"])

    backend = HubBackend(api, sleep=sleep)
    return fake, backend, {"inspector": inspector, "estimator": estimator(QWEN_05B)}, outcome, events


def _request(**extra) -> TrainRequest:
    return TrainRequest(method="sft", model_name_or_path="Qwen/Qwen2.5-0.5B", dataset_name="alice/chat",
                        hub_model_id="alice/qwen-chat", max_steps=200, smoke=True, **extra)


def test_the_rehearsal_runs_the_same_job_for_one_step_into_a_throw_away_private_repo():
    full = ["--model_name_or_path", "m", "--dataset_name", "d", "--max_steps", "200", "--push_to_hub",
            "--hub_model_id", "alice/qwen-chat", "--no-hub_private_repo", "--resume", "auto", "--run_name", "r",
            "--eval_baseline", "--json"]
    args, repo, output_dir = smoke_script_args(full, backend_name="hub")
    assert repo == "alice/qwen-chat-smoke" and output_dir is None
    text = " ".join(args)
    for expected in ("--max_steps 1", "--hub_model_id alice/qwen-chat-smoke", "--resume never", "--run_name r-smoke",
                     f"--max_train_samples {TRAIN_ROWS}", "--push_to_hub", "--eval_baseline", "--dataset_name d"):
        assert expected in text, expected
    assert "--no-hub_private_repo" not in args and "200" not in args  # private; one step only


def test_a_smoke_plan_prices_both_jobs_and_sends_nothing(smoke_hub):
    fake, backend, tools, _, _ = smoke_hub
    plan = train(_request(), backend, **tools)
    smoke = plan.smoke
    assert smoke is not None and smoke.flavor and smoke.preflight.ok, smoke.preflight.render()
    assert 0 < smoke.estimated_cost_usd < plan.estimated_cost_usd  # one step costs less than 200
    assert smoke.timeout_seconds >= smoke.estimated_hours * 3600 * 1.25 - 1
    assert "--max_steps 1" in " ".join(smoke.script_args) and smoke.model_repo == "alice/qwen-chat-smoke"
    assert smoke.labels["hf-trainer"] == "smoke"
    text = plan.render()
    assert "smoke job      1 step on" in text and "only when the smoke job COMPLETED" in text
    assert f"both jobs ~${plan.estimated_cost_usd + smoke.estimated_cost_usd:.2f}" in text
    assert fake.count("POST", r"^/api/jobs/alice$") == 0


def test_confirm_sends_the_full_job_only_after_the_smoke_job_completed(smoke_hub):
    fake, backend, tools, _, events = smoke_hub
    plan = train(_request(confirm=True), backend, smoke_poll_seconds=7, **tools)

    smoke_spec, full_spec = fake.bodies("POST", r"^/api/jobs/alice$")
    # The smoke job was sent first, ended while train waited (poll interval as given, no real sleep), and only then
    # was the full job sent.
    assert events == ["sleep 7", "smoke COMPLETED with 1 job(s) sent"]
    assert smoke_spec["labels"]["hf-trainer"] == "smoke" and full_spec["labels"]["hf-trainer"] == "train"
    smoke_command, full_command = " ".join(smoke_spec["command"]), " ".join(full_spec["command"])
    for expected in ("--max_steps 1", "--hub_model_id alice/qwen-chat-smoke", "--resume never", "--push_to_hub"):
        assert expected in smoke_command, expected
    assert smoke_spec["flavor"] == plan.smoke.flavor and smoke_spec["timeoutSeconds"] == plan.smoke.timeout_seconds
    assert "--max_steps 200" in full_command and "--hub_model_id alice/qwen-chat " in full_command + " "
    assert "-smoke" not in full_command and full_spec["flavor"] == plan.flavor
    assert plan.submitted and plan.smoke.passed and plan.smoke.job.stage == "COMPLETED"


def test_after_a_smoke_job_error_the_full_job_is_refused_with_its_diagnosis(smoke_hub):
    fake, backend, tools, outcome, _ = smoke_hub
    outcome.update(stage="ERROR", logs=PUSH_REFUSED_LOG)
    with pytest.raises(UserError) as caught:
        train(_request(confirm=True), backend, smoke_poll_seconds=0, **tools)
    message = str(caught.value)
    assert "smoke job" in message and "ERROR" in message and "full job was NOT sent" in message
    assert "diagnosis: forbidden" in message  # diagnose.py read the smoke job's log
    assert fake.count("POST", r"^/api/jobs/alice$") == 1  # the smoke job only


def test_max_cost_covers_both_jobs(smoke_hub):
    fake, backend, tools, _, _ = smoke_hub
    plan = train(_request(), backend, **tools)
    cap = plan.estimated_cost_usd + plan.smoke.estimated_cost_usd / 2  # the full job fits, both do not
    with pytest.raises(UserError, match="smoke job .* and the full job .* above max_cost_usd"):
        train(_request(max_cost_usd=round(cap, 4), confirm=True), backend, **tools)
    assert fake.count("POST", r"^/api/jobs/alice$") == 0


@pytest.mark.slow
def test_on_this_machine_the_rehearsal_really_trains_saves_and_writes_its_card_before_the_full_job(tiny_model,
                                                                                                 tmp_path):
    # The one real run: the rehearsal's arguments work with the real script (one step, its own folder, a card).
    import json

    from hf_trainer.jobs.local import LocalBackend
    from hf_trainer.tiny import chat_rows, write_jsonl

    backend = LocalBackend(use_uv=False)
    data = write_jsonl(chat_rows(48), tmp_path / "chat.jsonl")
    plan = train(TrainRequest(method="sft", model_name_or_path=str(tiny_model), dataset_name=str(data), max_steps=3,
                              max_length=128, per_device_train_batch_size=8, gradient_accumulation_steps=1,
                              output_dir=str(tmp_path / "model"), smoke=True, confirm=True),
                 backend, smoke_poll_seconds=0.2)
    smoke_job = plan.smoke.job
    assert smoke_job.stage == "COMPLETED" and plan.submitted and plan.job.id != smoke_job.id
    summary = json.loads(list(backend.logs(smoke_job.id, tail=1))[-1])
    rehearsal = tmp_path / "model-smoke"
    assert summary["steps"] == 1 and plan.smoke.output_dir == str(rehearsal)
    assert (rehearsal / "adapter_model.safetensors").is_file() and (rehearsal / "README.md").is_file()
    backend.cancel(plan.job.id)  # the full run is not this test's subject


def test_a_full_job_that_preflight_refuses_is_refused_before_the_rehearsal_is_paid_for(smoke_hub):
    fake, backend, tools, _, events = smoke_hub
    request = _request(confirm=True, extra_args=["--fsdp"])  # sharding on a one-GPU flavor: a preflight error
    with pytest.raises(UserError, match=r"neither the smoke job nor the full job"):
        train(request, backend, **tools)
    assert fake.count("POST", r"^/api/jobs/alice$") == 0 and events == []
