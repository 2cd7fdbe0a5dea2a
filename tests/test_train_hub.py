"""train on the Hub backend: plans on the fake Hub and the fake dataset viewer, the JobSpec confirm sends, the cap."""

import json

import pytest
from huggingface_hub import HfApi

from conftest import CANARY_TOKEN, REPO_ROOT
from fakes.fake_hub import Response
from fakes.fake_dataset_viewer import fake_viewer  # noqa: F401  (fixture)
from hf_trainer.dataset_inspect import inspect_dataset
from hf_trainer.errors import UserError
from hf_trainer.estimate import run_estimate
from hf_trainer.runtime.estimate_math import facts_from_config
from hf_trainer.jobs.hub import HubBackend, shipped_script
from hf_trainer.tiny import chat_rows
from hf_trainer.train import TrainRequest, train

# Qwen2.5-0.5B's config.json: the estimator reads sizes from it (the fake Hub serves no model files).
QWEN_05B = {"architectures": ["Qwen2ForCausalLM"], "hidden_size": 896, "intermediate_size": 4864,
            "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2, "vocab_size": 151936,
            "tie_word_embeddings": True, "torch_dtype": "bfloat16"}


@pytest.fixture
def hub(fake_hub, fake_viewer, tiny_model, monkeypatch):
    """A Hub backend on the fake Hub, a dataset on the fake viewer, and the tools wired to them."""
    fake_viewer.add("alice/chat", chat_rows(400))
    api = HfApi(endpoint=fake_hub.url, token=CANARY_TOKEN)
    backend = HubBackend(api)

    def inspector(params):
        # The Hub model's tokenizer is stood in for by the local tiny one (same chat template).
        from transformers import AutoTokenizer

        return inspect_dataset(params, viewer_url=fake_viewer.url,
                               tokenizer_loader=lambda name, token: AutoTokenizer.from_pretrained(tiny_model))

    def estimator(request):
        return run_estimate(request, api=api, facts=facts_from_config(QWEN_05B))

    return fake_hub, backend, {"inspector": inspector, "estimator": estimator}


def _request(**extra) -> TrainRequest:
    return TrainRequest(method="sft", model_name_or_path="Qwen/Qwen2.5-0.5B", dataset_name="alice/chat",
                        hub_model_id="alice/qwen-chat", **extra)


def test_a_hub_plan_picks_a_priced_flavor_and_submits_nothing(hub):
    fake, backend, tools = hub
    plan = train(_request(), backend, **tools)

    live = {entry["name"] for entry in fake.hardware} if hasattr(fake, "hardware") else None
    assert plan.flavor and (live is None or plan.flavor in live)
    assert plan.price_per_hour > 0 and plan.estimated_cost_usd > 0 and plan.estimated_hours > 0
    assert plan.timeout_seconds >= plan.estimated_hours * 3600 * 1.25 - 1
    assert plan.preflight.ok, plan.preflight.render()
    assert plan.model_url == f"{fake.url}/alice/qwen-chat"
    assert fake.count("POST", r"^/api/jobs/alice$") == 0  # a plan spends nothing


def test_confirm_sends_the_expected_jobspec(hub):
    fake, backend, tools = hub
    plan = train(_request(confirm=True, max_steps=50), backend, **tools)
    assert plan.submitted and plan.job.id

    (spec,) = fake.bodies("POST", r"^/api/jobs/alice$")
    assert spec["flavor"] == plan.flavor and spec["timeoutSeconds"] == plan.timeout_seconds
    assert spec["secrets"] == {"HF_TOKEN": CANARY_TOKEN}  # the caller's token, only as a secret
    assert CANARY_TOKEN not in json.dumps({k: v for k, v in spec.items() if k != "secrets"})
    assert {"method": "sft", "hf-trainer": "train", "model-repo": "alice--qwen-chat"}.items() <= spec["labels"].items()
    assert shipped_script(spec["environment"]) == (REPO_ROOT / "scripts" / "train_sft.py").read_bytes()
    assert spec["environment"]["HF_TRAINER_NAMESPACE"] == "alice"  # the card links back to this job
    command = " ".join(spec["command"])
    for expected in ("--push_to_hub", "--hub_model_id alice/qwen-chat", "--resume auto", "--max_steps 50"):
        assert expected in command


def test_the_spend_cap_refuses_a_plan_above_it(hub):
    fake, backend, tools = hub
    with pytest.raises(UserError, match=r"above max_cost_usd \$0\.01"):
        train(_request(max_cost_usd=0.01, num_train_epochs=50, confirm=True), backend, **tools)
    assert fake.count("POST", r"^/api/jobs/alice$") == 0


def test_a_hub_plan_without_an_output_repo_pushes_to_a_private_repo_in_your_namespace(hub):
    # The fake Hub has no such repo (404): the default name is free. tests/test_hub_journeys.py covers taken names.
    fake, backend, tools = hub
    fake.route("GET", r"/api/models/(?P<repo>[^/]+/[^/]+)")(lambda req: Response(404, {"error": "Repository not found"},
                                                                                 {"X-Error-Code": "RepoNotFound"}))
    plan = train(TrainRequest(method="sft", model_name_or_path="Qwen/Qwen2.5-0.5B", dataset_name="alice/chat"),
                 backend, **tools)
    assert plan.model_repo == "alice/Qwen2.5-0.5B-sft" and "--no-hub_private_repo" not in plan.script_args
    assert plan.model_repo_note.startswith("private; default in your namespace (alice)")


# Qwen3-4B's config.json facts: big enough that a full fine-tune needs changes (or more memory) on smaller GPUs.
QWEN3_4B = {"architectures": ["Qwen3ForCausalLM"], "hidden_size": 2560, "intermediate_size": 9728,
            "num_attention_heads": 32, "num_hidden_layers": 36, "num_key_value_heads": 8, "vocab_size": 151936,
            "tie_word_embeddings": True, "torch_dtype": "bfloat16", "head_dim": 128}


@pytest.mark.parametrize("flavor", ["t4-small", "a10g-large", "a100-large"])
def test_a_4b_full_fine_tune_plan_carries_every_change_its_flavor_needs(hub, flavor):
    # Whatever the estimator decides for the flavor, the plan is the job that runs: its changes are in the script
    # arguments (and the job is linted as fitting), or preflight refuses it for memory.
    fake, backend, tools = hub
    api = backend.api
    seen = []

    def estimator(request):
        result = run_estimate(request, api=api, facts=facts_from_config(QWEN3_4B))
        seen.append(result)
        return result

    plan = train(_request(use_peft=False, flavor=flavor), backend, inspector=tools["inspector"], estimator=estimator)
    row = next(r for r in seen[0].rows if r.flavor == flavor)
    if row.verdict == "fits with changes":
        assert row.script_args, f"{flavor}: changes {row.changes} name no script flags"
        for flag in row.script_args:
            assert flag in plan.script_args
        assert plan.change_args == row.script_args and plan.preflight.ok, plan.preflight.render()
    elif row.verdict == "does not fit":
        assert any(f.rule == "does-not-fit" for f in plan.preflight.findings)
    else:
        assert plan.change_args == [] and plan.preflight.ok


def test_a_namespace_runs_and_bills_the_job_in_that_organisation(hub):
    # An organisation with credits pays for the job: the plan says so and the job is created in its namespace.
    fake, backend, tools = hub
    plan = train(_request(namespace="credits-org", max_steps=20), backend, **tools)
    assert plan.namespace == "credits-org" and "billed to      credits-org" in plan.render()
    assert fake.count("POST", r"^/api/jobs/") == 0
    done = train(_request(namespace="credits-org", max_steps=20, confirm=True), backend, **tools)
    assert done.submitted and fake.count("POST", r"^/api/jobs/credits-org$") == 1
    assert fake.count("POST", r"^/api/jobs/alice$") == 0


def test_a_namespace_on_the_local_backend_is_refused_with_the_reason(tmp_path):
    from hf_trainer.jobs.local import LocalBackend

    with pytest.raises(UserError, match="namespace 'credits-org' only applies to Hugging Face Jobs"):
        train(_request(namespace="credits-org", backend="local"), LocalBackend(use_uv=False))
