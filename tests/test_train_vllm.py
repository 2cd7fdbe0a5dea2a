"""train plans GRPO with vLLM where the estimate says it pays: the job gets --use_vllm and installs vllm (`--with`),
and the plan says which generation it uses and why; a person's use_vllm stands either way."""

from __future__ import annotations

import pytest
from huggingface_hub import HfApi

from conftest import CANARY_TOKEN
from fakes.fake_dataset_viewer import fake_viewer  # noqa: F401  (fixture)
from hf_trainer.dataset_inspect import inspect_dataset
from hf_trainer.estimate import run_estimate
from hf_trainer.jobs.hub import HubBackend
from hf_trainer.runtime.estimate_math import VLLM_REQUIREMENT, facts_from_config
from hf_trainer.train import TrainRequest, train

QWEN_05B = {"model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864, "num_attention_heads": 14,
            "num_hidden_layers": 24, "num_key_value_heads": 2, "vocab_size": 151936, "tie_word_embeddings": True,
            "torch_dtype": "bfloat16"}


def gsm8k_like_rows(n: int) -> list[dict]:
    return [{"prompt": f"Question {i}: a shop sells {i % 9 + 2} apples a day for {i % 7 + 3} days. How many apples "
                       "does it sell in all? Think step by step and give the final number.",
             "answer": str((i % 9 + 2) * (i % 7 + 3))} for i in range(n)]


@pytest.fixture
def hub(fake_hub, fake_viewer, tiny_model):
    fake_viewer.add("alice/gsm", gsm8k_like_rows(7473))  # GSM8K's training split has 7,473 problems
    api = HfApi(endpoint=fake_hub.url, token=CANARY_TOKEN)

    def inspector(params):
        from transformers import AutoTokenizer

        return inspect_dataset(params, viewer_url=fake_viewer.url,
                               tokenizer_loader=lambda name, token: AutoTokenizer.from_pretrained(tiny_model))

    def estimator(request):
        return run_estimate(request, api=api, facts=facts_from_config(QWEN_05B))

    return fake_hub, HubBackend(api), {"inspector": inspector, "estimator": estimator}


def _request(**extra) -> TrainRequest:
    return TrainRequest(method="grpo", model_name_or_path="Qwen/Qwen2.5-0.5B-Instruct", dataset_name="alice/gsm",
                        hub_model_id="alice/qwen-gsm-grpo", reward_funcs=["accuracy"], **extra)


def test_a_gsm8k_sized_grpo_plan_uses_vllm_and_installs_it_when_the_estimate_says_it_pays(hub):
    fake, backend, tools = hub
    plan = train(_request(confirm=True), backend, **tools)

    assert plan.generation.startswith("vLLM colocated: vLLM pays")
    assert "--use_vllm" in plan.script_args and plan.dependencies == [VLLM_REQUIREMENT]
    assert plan.flavor != "t4-small"  # no vLLM on a T4; generate there is the slow, cheap-looking plan
    assert "installs" in plan.render() and VLLM_REQUIREMENT in plan.render()
    (spec,) = fake.bodies("POST", r"^/api/jobs/alice$")
    command = " ".join(spec["command"])
    assert f"--with {VLLM_REQUIREMENT}" in command and "--use_vllm" in command


def test_a_person_who_turns_vllm_off_gets_generate_and_the_reason_it_would_pay(hub):
    _, backend, tools = hub
    plan = train(_request(use_vllm=False), backend, **tools)
    assert "--use_vllm" not in plan.script_args and plan.dependencies == []
    assert plan.generation.startswith("vLLM off (turned off)") and "vLLM pays" in plan.generation
