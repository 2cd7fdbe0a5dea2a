"""Defaults have one source, the training scripts' own parsers: the estimator reads them, and copies that must exist
(the standalone estimate_cost.py table, the estimator's GPU resolution of "None" defaults) fail here when they drift."""

import argparse
import subprocess
import sys

import pytest
from conftest import SCRIPTS

from hf_trainer.errors import UserError
from hf_trainer.estimate import EstimateRequest
from hf_trainer.runtime.estimate_math import METHOD_DEFAULTS, SCRIPT_FIELDS, resolve_batch_shape, with_method_defaults
from hf_trainer.script_defaults import METHOD_SCRIPTS, load_script_module, method_defaults, script_defaults

METHODS = list(METHOD_SCRIPTS)


def test_defaults_are_read_from_the_scripts_parser() -> None:
    grpo = script_defaults("train_grpo.py")
    assert grpo["max_completion_length"] == 256 and grpo["num_generations"] == 8  # train_grpo.py's own values
    assert script_defaults("train_dpo.py")["max_length"] == 1024  # its set_defaults over the common 2048
    assert script_defaults("train_sft.py")["per_device_train_batch_size"] is None  # picked at run time


def test_reading_defaults_imports_no_training_library() -> None:
    code = ("import sys; from hf_trainer.script_defaults import script_defaults; "
            "[script_defaults(s) for s in ('train_sft.py', 'train_dpo.py', 'train_grpo.py', 'train_reward.py', "
            "'train_kto.py')]; "
            "print(sorted(m for m in ('torch', 'transformers', 'datasets', 'trl', 'peft') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


def test_the_returned_defaults_are_a_copy() -> None:
    script_defaults("train_sft.py")["lora_target_modules"].append("q_proj")
    assert script_defaults("train_sft.py")["lora_target_modules"] == ["all-linear"]


def test_an_unknown_method_is_refused_with_the_known_ones() -> None:
    with pytest.raises(UserError, match="'ppo' has no training script: use one of sft, dpo"):
        method_defaults("ppo")


@pytest.mark.parametrize("method", METHODS)
def test_the_estimate_request_takes_every_script_setting_from_the_methods_script(method: str) -> None:
    defaults = method_defaults(method)
    request = EstimateRequest(method=method)
    for name in SCRIPT_FIELDS:
        if name in defaults:
            assert getattr(request, name) == defaults[name], name
    # Settings the request keeps as literals must equal the script's (a drift fails here).
    assert request.lora_target_modules == defaults["lora_target_modules"][0]
    for flag in ("use_peft", "load_in_4bit"):
        assert getattr(request, flag) == defaults[flag], flag
    assert request.precompute_ref_log_probs == bool(defaults.get("precompute_ref_log_probs", False))
    assert request.fsdp == bool(defaults.get("fsdp", False))
    assert request.use_vllm == bool(defaults.get("use_vllm", False))  # None: vLLM only when installed; it is not


def test_grpo_estimates_use_the_scripts_256_completion_tokens() -> None:
    assert EstimateRequest(method="grpo").max_completion_length == 256
    assert EstimateRequest(method="grpo", max_completion_length=64).max_completion_length == 64  # given wins


@pytest.mark.parametrize("method", METHODS)
def test_the_standalone_estimators_table_equals_the_scripts_defaults(method: str) -> None:
    # scripts/estimate_cost.py runs alone on HF Jobs and keeps a copy; this is the check that keeps it honest.
    defaults = method_defaults(method)
    copy = with_method_defaults({"method": method})
    for name in SCRIPT_FIELDS:
        assert copy[name] == defaults.get(name), (method, name)
    assert set(METHOD_DEFAULTS) == set(METHOD_SCRIPTS)


@pytest.mark.parametrize("device, expected", [
    ({"type": "cuda", "bf16": True}, {"optim": "adamw_torch_fused", "activation_checkpointing": True}),  # GPU
    ({"type": "cpu", "bf16": False}, {"optim": "adamw_torch", "activation_checkpointing": False}),  # CPU
])
def test_the_estimators_optimizer_and_checkpointing_are_what_the_scripts_resolve(device: dict, expected: dict) -> None:
    module = load_script_module("train_sft.py")
    defaults = script_defaults("train_sft.py")
    args = argparse.Namespace(optim=defaults["optim"], activation_checkpointing=defaults["activation_checkpointing"])
    resolved = module.precision_kwargs(args, device)
    assert {k: resolved[k] for k in expected} == expected
    if device["type"] == "cuda":  # the request's literals are the GPU resolution; CPU rows use the CPU one
        field = EstimateRequest.model_fields
        assert field["optim"].default == expected["optim"]
        assert field["activation_checkpointing"].default is expected["activation_checkpointing"]


@pytest.mark.parametrize("batch, accumulation", [(None, 4), (None, 2), (2, 8)])
def test_the_sft_batch_shape_mirrors_the_scripts_resolution(batch: int | None, accumulation: int) -> None:
    # train_sft.py without flash-attn (not among its dependencies) trains with sdpa attention.
    module = load_script_module("train_sft.py")
    args = argparse.Namespace(per_device_train_batch_size=batch, gradient_accumulation_steps=accumulation,
                              packing=script_defaults("train_sft.py")["packing"])
    module.resolve_batch_shape(args, "sdpa")
    assert resolve_batch_shape("sft", batch, accumulation) == (args.per_device_train_batch_size,
                                                                 args.gradient_accumulation_steps)


def test_every_method_script_is_bundled() -> None:
    assert all((SCRIPTS / name).is_file() for name in METHOD_SCRIPTS.values())


def test_the_defaults_quoted_in_the_hardware_guide_and_the_request_schema_are_the_scripts() -> None:
    from conftest import REPO_ROOT as REPO

    guide = (REPO / "references" / "hardware_guide.md").read_text(encoding="utf-8")
    quoted = " ".join(guide.split())  # the guide wraps lines
    length = {m: method_defaults(m)["max_length"] for m in METHODS}
    assert length["sft"] == length["grpo"] == 2048 and length["dpo"] == length["reward"] == length["kto"] == 1024
    assert "`max_length` 2048 for SFT and GRPO, 1024 for DPO, reward and KTO" in quoted
    grpo = method_defaults("grpo")
    assert f"GRPO {grpo['num_generations']} generations of at most {grpo['max_completion_length']} tokens" in quoted
    batch, accumulation = resolve_batch_shape("sft", method_defaults("sft")["per_device_train_batch_size"],
                                              method_defaults("sft")["gradient_accumulation_steps"])
    assert f"packs {batch} row of `max_length` tokens per micro-batch with {accumulation} accumulation" in quoted
    dpo = method_defaults("dpo")
    assert f"batch {dpo['per_device_train_batch_size']} × {dpo['gradient_accumulation_steps']} accumulation" in quoted
    schema = {name: field.description for name, field in EstimateRequest.model_fields.items()}
    assert "(2048 for sft and grpo, 1024 for dpo, reward and kto)" in schema["max_length"]
    assert (f"(dpo/kto {method_defaults('dpo')['beta']}, grpo {grpo['beta']})" in schema["beta"]
            and method_defaults("kto")["beta"] == method_defaults("dpo")["beta"])


def test_a_script_without_build_parser_is_refused_with_what_to_add(tmp_path, monkeypatch) -> None:
    (tmp_path / "train_sft.py").write_text("def parse_args(argv=None):\n    return None\n", encoding="utf-8")
    monkeypatch.setenv("HF_TRAINER_SCRIPTS", str(tmp_path))
    with pytest.raises(UserError, match=r"train_sft.py has no build_parser\(\)"):
        from hf_trainer.script_defaults import build_parser

        build_parser("train_sft.py")


@pytest.mark.parametrize("script", ["train_sft.py", "train_dpo.py", "train_grpo.py", "train_kto.py", "train_vlm.py"])
def test_the_baseline_estimate_uses_the_scripts_evaluation_defaults(script: str) -> None:
    from hf_trainer.runtime.estimate_math import EVAL_DEFAULTS

    defaults = script_defaults(script)
    assert {name: defaults[name] for name in EVAL_DEFAULTS} == EVAL_DEFAULTS
