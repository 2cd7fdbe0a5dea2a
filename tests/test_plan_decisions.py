"""Changes of method, model, precision or data are the person's decisions: the rule, and a QLoRA plan on the fake Hub."""

from types import SimpleNamespace

import pytest
from huggingface_hub import HfApi

from conftest import CANARY_TOKEN
from fakes.fake_dataset_viewer import fake_viewer  # noqa: F401  (fixture)
from hf_trainer.dataset_inspect import inspect_dataset
from hf_trainer.estimate import run_estimate
from hf_trainer.jobs.hub import HubBackend
from hf_trainer.plan_decisions import classify_flag, decisions_between, plan_decisions
from hf_trainer.runtime.estimate_math import facts_from_config
from hf_trainer.tiny import chat_rows
from hf_trainer.train import TrainRequest, train

# Qwen2.5-14B's config.json: a LoRA of it needs a 4-bit base (QLoRA) to fit a 24 GB A10G.
QWEN_14B = {"architectures": ["Qwen2ForCausalLM"], "hidden_size": 5120, "intermediate_size": 13824,
            "num_attention_heads": 40, "num_hidden_layers": 48, "num_key_value_heads": 8, "vocab_size": 152064,
            "tie_word_embeddings": False, "torch_dtype": "bfloat16"}


@pytest.mark.parametrize("flag, value, kind", [
    ("--load_in_4bit", None, "precision"),            # QLoRA: a 4-bit base
    ("--use_peft", None, "method"),                   # full fine-tuning -> LoRA
    ("--optim", "adamw_bnb_8bit", "precision"),       # 8-bit optimizer state
    ("--model_name_or_path", "other/model", "model"),
    ("--max_length", "512", "data"),                  # truncation cuts rows
    ("--dataset_train_split", "train_sft", "data"),
    ("--learning_rate", "1e-5", "training"),
    ("--some_new_flag", "1", "training"),             # unknown: a decision, never silence
    ("--activation_checkpointing", None, None),       # same math, less memory
    ("--fsdp", None, None),                           # sharding: same math
    ("--per_device_train_batch_size", "1", None),     # (with the same effective batch)
])
def test_a_change_is_a_decision_when_it_changes_what_is_learned(flag, value, kind):
    found = classify_flag(flag, value)
    assert (found[0] if found else None) == kind


def _row(flavor, verdict, cost, changes=(), script_args=(), hours=1.0, within=True):
    return SimpleNamespace(flavor=flavor, verdict=verdict, cost_usd=cost, changes=list(changes), hours=hours,
                           script_args=list(script_args), price_per_hour=cost / hours, within_time_limit=within)


QLORA_ON_A10G = (["activation_checkpointing=True",
                  "per_device_train_batch_size=1 with gradient_accumulation_steps=16 (same effective batch)",
                  "load_in_4bit=True (QLoRA)"],
                 ["--activation_checkpointing", "--per_device_train_batch_size", "1", "--gradient_accumulation_steps",
                  "16", "--load_in_4bit"])


def test_qlora_added_to_fit_is_one_decision_with_the_cheapest_flavor_that_keeps_the_method():
    rows = [_row("t4-small", "does not fit", 0.4),
            _row("a10g-large", "fits with changes", 1.5, *QLORA_ON_A10G),
            _row("l40sx1", "fits with changes", 1.8, ["activation_checkpointing=True"], ["--activation_checkpointing"]),
            _row("a100-large", "fits", 2.5),
            _row("h200", "fits", 5.0)]
    (decision,) = plan_decisions(*QLORA_ON_A10G, rows, "a10g-large", 1.5)
    assert (decision.change, decision.kind, decision.script_args) == ("load_in_4bit=True (QLoRA)", "precision",
                                                                      ["--load_in_4bit"])
    # l40sx1 needs only activation checkpointing (neutral): it keeps the method, and is the cheapest that does.
    assert (decision.alternative_flavor, decision.alternative_cost_usd) == ("l40sx1", 1.8)
    assert "flavor='l40sx1'" in decision.alternative and "+$0.30" in decision.alternative
    assert decision.render().startswith("DECISION (precision): load_in_4bit=True (QLoRA) to fit a10g-large")


def test_memory_only_changes_are_not_decisions():
    changes, args = QLORA_ON_A10G[0][:2], QLORA_ON_A10G[1][:5]
    assert plan_decisions(changes, args, [_row("a10g-large", "fits with changes", 1.5, changes, args)],
                          "a10g-large") == []


def test_a_retry_that_switches_to_lora_with_the_same_effective_batch_has_one_decision():
    before = ["--model_name_or_path", "m", "--per_device_train_batch_size", "4", "--gradient_accumulation_steps", "4"]
    after = ["--model_name_or_path", "m", "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "8",
             "--use_peft", "--activation_checkpointing"]
    (decision,) = decisions_between(before, after)
    assert (decision.kind, decision.script_args) == ("method", ["--use_peft"])
    # Another effective batch is a decision too.
    (batch,) = decisions_between(before, after[:4] + ["--gradient_accumulation_steps", "2"])
    assert batch.kind == "training" and "4 x 4 -> 2 x 2" in batch.change


@pytest.fixture
def hub_tools(fake_hub, fake_viewer, tiny_model):
    """A Hub backend on the fake Hub, a chat dataset on the fake viewer, and an inspector and estimator wired to
    them (the Hub model's tokenizer is stood in for by the local tiny one); `estimator(config)` sizes the model from
    a config.json."""
    fake_viewer.add("alice/chat", chat_rows(400))
    api = HfApi(endpoint=fake_hub.url, token=CANARY_TOKEN)

    def inspector(params):
        from transformers import AutoTokenizer

        return inspect_dataset(params, viewer_url=fake_viewer.url,
                               tokenizer_loader=lambda name, token: AutoTokenizer.from_pretrained(tiny_model))

    def estimator(config):
        return lambda request: run_estimate(request, api=api, facts=facts_from_config(config))

    return fake_hub, api, inspector, estimator


def test_a_plan_that_adds_qlora_to_fit_shows_it_as_a_decision(hub_tools):
    fake, api, inspector, estimator = hub_tools
    plan = train(TrainRequest(method="sft", model_name_or_path="Qwen/Qwen2.5-14B", dataset_name="alice/chat",
                              hub_model_id="alice/qwen14-chat", flavor="a10g-large"),
                 HubBackend(api), inspector=inspector, estimator=estimator(QWEN_14B))
    assert "--load_in_4bit" in plan.script_args  # the job that runs is the one estimated
    qlora = [d for d in plan.decisions if d.script_args == ["--load_in_4bit"]]
    assert qlora and qlora[0].kind == "precision" and "QLoRA" in qlora[0].change
    text = plan.render()
    assert "DECISION (precision): load_in_4bit=True (QLoRA)" in text
    assert "put each DECISION above to the person" in text
    assert fake.count("POST", r"^/api/jobs/alice$") == 0
