"""scripts/benchmark.py planned like training: its price per flavor, its estimate in the submit pipeline when sent
alone, and the benchmark job `train` adds after training (carried by the training job, sent when it succeeds)."""

import json

import pytest
from huggingface_hub import HfApi

from conftest import CANARY_TOKEN, REPO_ROOT
from fakes.fake_dataset_viewer import fake_viewer  # noqa: F401  (fixture)
from hf_trainer.benchmark_plan import default_tasks, parse_tasks
from hf_trainer.errors import UserError
from hf_trainer.jobs import submit
from hf_trainer.jobs.base import UvJobRequest
from hf_trainer.jobs.hub import HubBackend, shipped_script
from hf_trainer.runtime.benchmark_cost import TASK_COSTS, benchmark_estimate
from hf_trainer.runtime.estimate_math import facts_from_count, fallback_catalog
from hf_trainer.runtime.follow_up import FOLLOW_UP_ENV, submit_follow_up

CATALOG = fallback_catalog()
HALF_B = facts_from_count(500_000_000)


def test_every_task_of_the_default_suite_is_priced_from_the_task_table():
    assert default_tasks() == ["ifeval", "gsm8k", "mmlu"]  # the script's own --tasks default
    assert set(default_tasks()) <= set(TASK_COSTS)


def test_the_default_suite_costs_minutes_with_vllm_and_more_with_transformers():
    a10g = CATALOG.get("a10g-large")
    vllm = benchmark_estimate(HALF_B, a10g, default_tasks(), use_vllm=True)
    plain = benchmark_estimate(HALF_B, a10g, default_tasks(), use_vllm=False)
    assert vllm.engine == "vllm" and plain.engine == "transformers"
    assert 5 * 60 < vllm.seconds < 30 * 60 < plain.seconds  # base and fine-tuned, start-up included
    assert vllm.cost_usd == pytest.approx(vllm.seconds / 3600 * 1.5)
    one = benchmark_estimate(HALF_B, a10g, default_tasks(), use_vllm=True, models=1)
    assert vllm.parts_s["tasks"] == pytest.approx(2 * one.parts_s["tasks"])  # the base answers the same questions


@pytest.mark.parametrize(
    "flavor, tasks, kwargs, check",
    [
        # the T4 has no BF16: vLLM is not planned there (as for GRPO's rollouts)
        ("t4-small", ["gsm8k"], {"use_vllm": True}, lambda e: e.engine == "transformers"),
        # a task outside the table is priced like gsm8k, and the estimate says so
        ("a10g-large", ["my_task"], {}, lambda e: e.assumed and "my_task" in e.assumed[0]),
        # --limit 50: a fraction of mmlu's 14,042 questions
        ("a10g-large", ["mmlu"], {"limit": 50}, lambda e: e.task_seconds["mmlu"] < 1),
        # a 7B model in float32 does not fit a 32 GB CPU flavor
        ("cpu-upgrade", ["gsm8k"], {"facts": facts_from_count(7_000_000_000)}, lambda e: not e.fits),
    ],
)
def test_benchmark_prices_follow_the_flavor_the_tasks_and_the_limit(flavor, tasks, kwargs, check):
    facts = kwargs.pop("facts", HALF_B)
    assert check(benchmark_estimate(facts, CATALOG.get(flavor), tasks, **kwargs))


def test_task_names_for_train_are_the_default_suite_or_harness_names():
    assert parse_tasks("default") == default_tasks() and parse_tasks(" gsm8k, arc_easy ") == ["gsm8k", "arc_easy"]
    with pytest.raises(UserError, match="not a task name"):
        parse_tasks("gsm8k,/tmp/my.yaml")


def test_benchmark_py_sent_alone_gets_the_timeout_check_from_its_own_estimate(tiny_model):
    from hf_trainer.jobs.backends import get_backend

    args = ["--model_name_or_path", str(tiny_model), "--baseline_model", str(tiny_model), "--tasks", "gsm8k"]
    backend = get_backend("local")
    with pytest.raises(UserError, match="timeout-too-short"):
        submit.check(UvJobRequest(script="benchmark.py", script_args=args, timeout_seconds=60), backend)
    _, report = submit.check(UvJobRequest(script="benchmark.py", script_args=args, timeout_seconds=3600), backend)
    assert report.ok and not report.findings


# --- after training ------------------------------------------------------------------------------------------------

QWEN_05B = {"architectures": ["Qwen2ForCausalLM"], "hidden_size": 896, "intermediate_size": 4864,
            "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2, "vocab_size": 151936,
            "tie_word_embeddings": True, "torch_dtype": "bfloat16"}


@pytest.fixture
def hub(fake_hub, fake_viewer, tiny_model):
    from hf_trainer.dataset_inspect import inspect_dataset
    from hf_trainer.estimate import run_estimate
    from hf_trainer.runtime.estimate_math import facts_from_config
    from hf_trainer.tiny import chat_rows

    fake_viewer.add("alice/chat", chat_rows(400))
    api = HfApi(endpoint=fake_hub.url, token=CANARY_TOKEN)

    def inspector(params):
        from transformers import AutoTokenizer

        return inspect_dataset(params, viewer_url=fake_viewer.url,
                               tokenizer_loader=lambda name, token: AutoTokenizer.from_pretrained(tiny_model))

    def estimator(request):
        return run_estimate(request, api=api, facts=facts_from_config(QWEN_05B))

    return fake_hub, HubBackend(api), {"inspector": inspector, "estimator": estimator}


def test_train_plans_prices_and_hands_the_benchmark_job_to_the_training_job_which_sends_it(hub, monkeypatch):
    from hf_trainer.train import TrainRequest, train

    fake, backend, tools = hub
    request = dict(method="sft", model_name_or_path="Qwen/Qwen2.5-0.5B", dataset_name="alice/chat",
                   hub_model_id="alice/qwen-chat", flavor="a10g-large", max_steps=50)
    without = train(TrainRequest(**request), backend, **tools)
    plan = train(TrainRequest(**request, benchmark_tasks="default"), backend, **tools)

    bench = plan.benchmark
    assert bench.tasks == default_tasks() and bench.engine == "vllm" and bench.flavor == "a10g-large"
    assert bench.dependencies == ["vllm==0.30.0"]
    assert plan.estimated_cost_usd == pytest.approx(without.estimated_cost_usd + bench.estimated_cost_usd)
    assert plan.timeout_seconds == without.timeout_seconds  # the benchmark is a job of its own
    assert f"benchmark      {bench.text}" in plan.render() and "$" in bench.text
    assert plan.preflight.ok, plan.preflight.render()
    assert not [w for w in plan.warnings if w.startswith("benchmark job")]  # its own preflight found nothing
    assert fake.count("POST", r"^/api/jobs/alice$") == 0

    confirmed = train(TrainRequest(**request, benchmark_tasks="default", confirm=True), backend, **tools)
    assert confirmed.submitted
    (training,) = fake.bodies("POST", r"^/api/jobs/alice$")  # one job now: the training run
    carried = training["environment"][FOLLOW_UP_ENV]
    assert CANARY_TOKEN not in carried
    follow = json.loads(carried)
    assert shipped_script(follow["env"]) == (REPO_ROOT / "scripts" / "benchmark.py").read_bytes()
    command = " ".join(follow["command"])
    for expected in ("--with vllm==0.30.0", "--model_name_or_path alice/qwen-chat",
                     "--baseline_model Qwen/Qwen2.5-0.5B", "--tasks ifeval,gsm8k,mmlu", "--push_to_hub"):
        assert expected in command
    assert follow["flavor"] == "a10g-large" and follow["timeout"] == bench.timeout_seconds

    # In the training job, once the model is pushed: the job it carries is sent with the job's own token.
    monkeypatch.setenv(FOLLOW_UP_ENV, carried)
    monkeypatch.setenv("JOB_ID", "train-job-1")
    job_id = submit_follow_up()
    sent = fake.bodies("POST", r"^/api/jobs/alice$")[-1]
    assert job_id and len(fake.bodies("POST", r"^/api/jobs/alice$")) == 2
    assert sent["secrets"] == {"HF_TOKEN": CANARY_TOKEN} and sent["flavor"] == "a10g-large"
    assert sent["labels"]["hf-trainer"] == "benchmark" and sent["labels"]["hft-after-job"] == "train-job-1"
    assert shipped_script(sent["environment"]) == (REPO_ROOT / "scripts" / "benchmark.py").read_bytes()


def test_a_local_plan_with_benchmark_tasks_is_refused_with_the_command_to_run_instead():
    from hf_trainer.benchmark_plan import plan_after_training

    with pytest.raises(UserError, match="uv run scripts/benchmark.py"):
        plan_after_training("m", None, "default", type("B", (), {"name": "local"})(), flavor=None)


def test_nothing_is_sent_without_a_planned_follow_up_or_a_token(monkeypatch, capsys):
    monkeypatch.delenv(FOLLOW_UP_ENV, raising=False)
    assert submit_follow_up() is None
    monkeypatch.setenv(FOLLOW_UP_ENV, json.dumps({"image": "x", "command": ["true"]}))
    monkeypatch.delenv("HF_TOKEN")
    assert submit_follow_up() is None and "no HF_TOKEN" in capsys.readouterr().out


def test_the_cost_table_in_the_evaluation_reference_is_the_estimators():
    from hf_trainer.benchmark_plan import default_suite_table_markdown

    text = (REPO_ROOT / "references" / "evaluation.md").read_text(encoding="utf-8")
    assert default_suite_table_markdown() in text, "regenerate the table: benchmark_plan.default_suite_table_markdown()"


def test_a_training_run_that_pushed_its_model_sends_the_job_it_carries(fake_hub, tiny_model, tmp_path):
    """The real hook: train_sft.py on the tiny model, pushed to the fake Hub, sends HF_TRAINER_FOLLOW_UP's job with
    its own token as the job's secret, after the push, and names it in its summary."""
    from fakes.fake_hub_repos import add_repo_routes
    from helpers import json_summary, run_script
    from hf_trainer.tiny import chat_rows, write_jsonl

    repos = add_repo_routes(fake_hub)
    follow = {"image": "ghcr.io/astral-sh/uv:python3.12-bookworm", "command": ["true"], "flavor": "cpu-basic",
              "timeout": 600, "namespace": "alice", "labels": {"hf-trainer": "benchmark"},
              "description": "the benchmark job (gsm8k)"}
    data = write_jsonl(chat_rows(16), tmp_path / "train.jsonl")
    summary = json_summary(run_script(
        "train_sft.py", "--model_name_or_path", str(tiny_model), "--dataset_name", str(data), "--output_dir",
        str(tmp_path / "out"), "--max_steps", "1", "--max_length", "64", "--per_device_train_batch_size", "4",
        "--report_to", "none", "--push_to_hub", "--hub_model_id", "alice/tiny-bench", "--json",
        env={FOLLOW_UP_ENV: json.dumps(follow), "JOB_ID": "train-job-7", "HF_TRAINER_BACKEND": "local"}))

    (sent,) = fake_hub.bodies("POST", r"^/api/jobs/alice$")
    assert summary["follow_up_job"] and "README.md" in repos["alice/tiny-bench"].files  # the model was pushed too
    assert sent["secrets"] == {"HF_TOKEN": CANARY_TOKEN} and sent["command"] == ["true"]
    assert {"hf-trainer": "benchmark", "hft-after-job": "train-job-7"}.items() <= sent["labels"].items()
