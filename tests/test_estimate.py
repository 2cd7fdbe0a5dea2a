"""estimate_cost on hand-made catalogs and model facts: known fits, FLOPs, time, money, the recommendation, errors."""

import json
import math
from statistics import NormalDist
import subprocess
import sys
from dataclasses import replace

import pytest
from conftest import CANARY_TOKEN, SCRIPTS

from hf_trainer.errors import UserError
from hf_trainer.estimate import GUIDE_FLAVORS, EstimateRequest, estimate_cost, make_request, run_estimate
from hf_trainer.runtime.estimate_math import (
    Catalog,
    Flavor,
    Job,
    LocalProfile,
    facts_from_config,
    facts_from_count,
    fallback_catalog,
    VLLM_REQUIREMENT,
    EstimateError,
    memory_breakdown,
    schedule,
    timeout_for,
    training_flops,
)

LLAMA2_7B = facts_from_config({"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32,
                               "num_attention_heads": 32, "num_key_value_heads": 32, "intermediate_size": 11008,
                               "vocab_size": 32000, "tie_word_embeddings": False})
QWEN25_05B = facts_from_config({"model_type": "qwen2", "hidden_size": 896, "num_hidden_layers": 24,
                                "num_attention_heads": 14, "num_key_value_heads": 2, "intermediate_size": 4864,
                                "vocab_size": 151936, "tie_word_embeddings": True})


@pytest.fixture(autouse=True)
def no_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real Hub is never asked: a closed local port stands in for it (the catalog falls back, sizing fails)."""
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")


def gpu(name: str, price: float, model: str, count: int = 1, vram: float = 24) -> Flavor:
    return Flavor(name, name, 8 * count, 32 * count, price, model, count, vram)


CATALOG = Catalog((
    gpu("t4-small", 0.40, "T4", vram=16),
    gpu("a10g-large", 1.50, "A10G"),
    gpu("a10g-largex4", 5.00, "A10G", 4),
    gpu("a100-large", 2.50, "A100", vram=80),
), "test", "2026-01-01")


def row(result, flavor: str):
    return next(r for r in result.rows if r.flavor == flavor)


def est(facts=LLAMA2_7B, catalog=CATALOG, **kwargs):
    kwargs.setdefault("num_rows", 10_000)
    kwargs.setdefault("mean_tokens_per_row", 512)
    return estimate_cost(make_request(**kwargs), catalog, facts)


# --- known cases -------------------------------------------------------------------------------------------------
def test_full_fine_tuning_of_a_7b_model_does_not_fit_an_a10g() -> None:
    r = row(est(), "a10g-large")
    assert r.verdict == "does not fit"
    assert r.memory_gib > 110  # FP32 weights, gradients, AdamW and the BF16 autocast copy: 18 bytes per parameter


def test_lora_on_a_7b_model_fits_an_a10g() -> None:
    r = row(est(use_peft=True), "a10g-large")
    assert r.verdict == "fits"
    assert 13 < r.memory_gib < r.memory_available_gib


def test_lora_on_a_05b_model_fits_a_t4() -> None:
    r = row(est(QWEN25_05B, use_peft=True, max_length=1024), "t4-small")
    assert r.verdict == "fits"


def test_a_batch_too_big_for_the_t4_fits_with_a_named_smaller_batch_and_same_effective_batch() -> None:
    # 8 x 2048 tokens of a 152k vocabulary: the logits alone need ~23 GiB.
    r = row(est(QWEN25_05B, use_peft=True, per_device_train_batch_size=8, gradient_accumulation_steps=2), "t4-small")
    assert r.verdict == "fits with changes"
    batch_change = next(c for c in r.changes if c.startswith("per_device_train_batch_size="))
    size = int(batch_change.split("=")[1].split()[0])
    assert size < 8 and f"gradient_accumulation_steps={16 // size}" in batch_change
    assert sum(c.startswith("per_device_train_batch_size=") for c in r.changes) == 1  # named once, final value


def test_full_7b_no_longer_fits_an_a100_80gb_with_fp32_master_weights() -> None:
    # The precision policy keeps FP32 master weights (18 bytes per parameter): 7B needs ~117 GiB before activations;
    # in BF16 weights (8 bytes) it fitted, but lost most of its updates (issue 26).
    r = row(est(), "a100-large")
    assert r.verdict == "does not fit" and r.memory_parts_gib["weights"] == pytest.approx(
        LLAMA2_7B.num_params * 4 / 2**30, rel=1e-3)


def test_qlora_4bit_base_needs_far_less_memory_than_lora() -> None:
    lora = row(est(use_peft=True), "a100-large")
    qlora = row(est(use_peft=True, load_in_4bit=True), "a100-large")
    assert qlora.memory_parts_gib["weights"] < lora.memory_parts_gib["weights"] / 3


def test_8bit_adamw_shrinks_the_optimizer_state_fourfold() -> None:
    adam = row(est(), "a100-large").memory_parts_gib["optimizer"]
    adam8 = row(est(optim="adamw_bnb_8bit"), "a100-large").memory_parts_gib["optimizer"]
    assert adam8 == pytest.approx(adam / 4, rel=0.01)  # 8 bytes (two FP32 moments) -> 2 bytes


def test_activation_checkpointing_trades_memory_for_a_third_more_compute() -> None:
    on = est(activation_checkpointing=True, per_device_train_batch_size=4)
    off = est(activation_checkpointing=False, per_device_train_batch_size=4)
    job = Job(model=LLAMA2_7B, train_tokens=1e6, num_sequences=1e3, max_length=2048)
    with_ckpt = memory_breakdown(job, 1)["activations"]
    without = memory_breakdown(replace(job, activation_checkpointing=False), 1)["activations"]
    assert with_ckpt < without / 5
    # Without checkpointing a 7B LoRA job of 8 rows outgrows the A100; the estimator turns it back on, by name.
    lora_off = est(use_peft=True, activation_checkpointing=False, per_device_train_batch_size=8)
    assert row(lora_off, "a100-large").changes[0] == "activation_checkpointing=True"
    assert on.training_flops / off.training_flops == pytest.approx(8 / 6, rel=0.05)


# --- FLOPs per method ----------------------------------------------------------------------------------------------
def test_full_training_costs_about_6nt_and_lora_about_4nt() -> None:
    full = est(activation_checkpointing=False, max_length=128, mean_tokens_per_row=128)
    lora = est(activation_checkpointing=False, max_length=128, mean_tokens_per_row=128, use_peft=True)
    n, t = LLAMA2_7B.num_params, 10_000 * 128
    assert full.training_flops == pytest.approx(6 * n * t, rel=0.05)  # attention is small at 128 tokens
    assert lora.training_flops == pytest.approx(4 * n * t, rel=0.05)


def test_dpo_runs_policy_and_reference_over_chosen_and_rejected() -> None:
    # A DPO row trains two sequences (chosen and rejected, 512 tokens each): the same tokens as SFT rows of 1024.
    # One pair per micro-batch pads only chosen against rejected; the eval split is given so no rows are carved.
    sft = est(method="sft", mean_tokens_per_row=1024, activation_checkpointing=False, packing=False,
              per_device_train_batch_size=1, eval_rows=0)
    dpo = est(method="dpo", mean_tokens_per_row=512, activation_checkpointing=False, per_device_train_batch_size=1,
              eval_rows=0)
    z2 = NormalDist().inv_cdf((2 - 0.375) / 2.25)  # the expected longer of two sequences, in standard deviations
    assert dpo.train_tokens == pytest.approx(sft.train_tokens * (1 + 0.5 * z2), rel=1e-3)  # padded pairs
    assert dpo.training_flops / dpo.train_tokens / (sft.training_flops / sft.train_tokens) == pytest.approx(
        8 / 6, rel=0.05)  # per token: + the reference forward 2N
    lora_dpo = row(est(method="dpo", use_peft=True), "a100-large")
    assert "reference_model" not in lora_dpo.memory_parts_gib  # adapters off = the reference, no copy
    assert "reference_model" in row(est(method="dpo"), "a100-large").memory_parts_gib


def test_precomputed_reference_log_probs_remove_the_reference_forward() -> None:
    job = Job(model=LLAMA2_7B, method="dpo", train_tokens=1e6, num_sequences=1e3, precompute_ref_log_probs=True)
    assert "reference_forward" not in training_flops(job)


def test_grpo_time_is_dominated_by_decode_bound_rollouts_that_scale_with_bandwidth() -> None:
    result = est(QWEN25_05B, method="grpo", num_rows=1000, mean_tokens_per_row=128, max_completion_length=512)
    a10g, a100 = row(result, "a10g-large"), row(result, "a100-large")
    assert a10g.time_parts_s["rollout_generation"] > a10g.time_parts_s["training"]
    vllm = row(est(QWEN25_05B, method="grpo", num_rows=1000, mean_tokens_per_row=128, max_completion_length=512,
                   use_vllm=True), "a100-large")
    assert vllm.time_parts_s["rollout_generation"] < a100.time_parts_s["rollout_generation"] / 3
    assert "kv_cache" in a100.memory_parts_gib


def test_grpo_tokens_count_every_generation_of_every_prompt() -> None:
    # 4 completions per micro-batch x 4 accumulation = 16 completions per generation round = 4 prompts of 4 each;
    # 100 prompts make 25 rounds, 25 optimiser steps (TRL counts completions, not prompts).
    result = est(QWEN25_05B, method="grpo", num_rows=100, mean_tokens_per_row=100, num_generations=4,
                 max_completion_length=200, flavors=["a100-large"])
    padded_prompt = 100 * (1 + 0.5 * NormalDist().inv_cdf((4 - 0.375) / 4.25))  # the longest of 4 prompts
    assert result.train_tokens == pytest.approx(100 * 4 * (padded_prompt + 200), rel=1e-3)
    assert result.optimizer_steps == 25 and row(result, "a100-large").micro_batches == 100


# --- tokens, time, money -------------------------------------------------------------------------------------------
def test_tokens_are_rows_times_mean_tokens_truncated_at_max_length_times_epochs() -> None:
    # 5% of the rows are carved for evaluation (the scripts' --eval_split_size), as the scripts do.
    assert est(num_rows=1000, mean_tokens_per_row=3000, max_length=2048, num_train_epochs=3).train_tokens == (
        950 * 2048 * 3)
    assert est(total_tokens=5_000_000, num_rows=None, mean_tokens_per_row=None, eval_rows=0
               ).train_tokens == pytest.approx(5e6, rel=1e-3)


def test_max_steps_fixes_the_tokens_per_gpu_and_more_gpus_see_more_data() -> None:
    result = est(num_rows=None, max_steps=100, per_device_train_batch_size=2, gradient_accumulation_steps=4,
                 mean_tokens_per_row=256, use_peft=True)
    assert result.train_tokens == 100 * 2 * 4 * 256
    one, four = row(result, "a100-large"), row(result, "a10g-largex4")
    assert one.verdict == "fits"
    assert four.time_parts_s["training"] > 0


def test_more_tokens_take_proportionally_more_training_time() -> None:
    small = row(est(num_rows=10_000), "a100-large").time_parts_s["training"]
    big = row(est(num_rows=40_000), "a100-large").time_parts_s["training"]
    assert big == pytest.approx(4 * small, rel=0.01)


def test_cost_is_billed_minutes_times_the_hourly_price() -> None:
    r = row(est(use_peft=True), "a10g-large")
    import math

    assert r.cost_usd == pytest.approx(math.ceil(r.hours * 60) / 60 * 1.50)


def test_recommendation_is_the_cheapest_flavor_that_fits_within_the_time_limit() -> None:
    result = est(use_peft=True)
    fitting = [r for r in result.rows if r.verdict != "does not fit" and r.within_time_limit]
    assert result.recommended_flavor == min(fitting, key=lambda r: r.cost_usd).flavor
    tight = est(use_peft=True, max_hours=row(result, "a100-large").hours * 1.01)
    assert tight.recommended_flavor == "a100-large"  # the slower ones now break the limit


def test_no_recommendation_when_nothing_fits_and_the_warning_suggests_lora() -> None:
    result = est(catalog=Catalog((gpu("t4-small", 0.40, "T4", vram=16),), "test", "2026-01-01"))
    assert result.recommended_flavor is None and result.timeout is None
    assert any("use_peft=True" in w for w in result.warnings)
    assert "Recommended: none" in result.render()


@pytest.mark.parametrize("seconds, timeout", [
    (60, "10m"),  # a one-minute job still gets 10 minutes, never "0h"
    (3600, "75m"),  # one hour + 25%
    (4 * 3600, "5h"),  # rounded up to whole hours above three hours
])
def test_timeout_adds_a_quarter_and_is_never_zero(seconds: float, timeout: str) -> None:
    assert timeout_for(seconds) == timeout


def test_result_renders_a_table_recommendation_warnings_and_assumptions() -> None:
    text = est(use_peft=True).render()
    assert "| Flavor | GPU | Fits |" in text and "Recommended: " in text
    assert "Assumptions:" in text and "6N per token" in text


def test_local_profile_row_uses_the_measured_cpu_rate() -> None:
    slow = estimate_cost(make_request(num_params=1_000_000, num_rows=100, mean_tokens_per_row=64, local=True),
                         CATALOG, facts_from_count(1_000_000), LocalProfile(gflops_per_vcpu=10))
    fast = estimate_cost(make_request(num_params=1_000_000, num_rows=100, mean_tokens_per_row=64, local=True),
                         CATALOG, facts_from_count(1_000_000), LocalProfile(gflops_per_vcpu=40))
    assert row(slow, "local").time_parts_s["training"] > row(fast, "local").time_parts_s["training"]
    assert row(slow, "local").cost_usd == 0


def test_flavors_list_restricts_the_table_and_unknown_names_are_refused() -> None:
    assert [r.flavor for r in est(flavors=["a100-large"]).rows] == ["a100-large"]
    with pytest.raises(UserError, match="Did you mean 'a100-large'"):
        est(flavors=["a100-larg"])


# --- bad input -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    ({"num_train_epochs": -1}, "num_train_epochs -1 must be more than 0"),  # negative epochs
    ({"total_tokens": 0, "num_rows": None}, "total_tokens 0 must be at least 1"),  # zero tokens
    ({"mean_tokens_per_row": 0}, "mean_tokens_per_row 0 must be more than 0"),  # zero tokens per row
    ({"method": "ppo"}, "method 'ppo' must be 'sft', 'dpo'"),  # a method we do not estimate
    ({"per_device_train_batch_size": 0}, "per_device_train_batch_size 0 must be at least 1"),  # an empty batch
])
def test_bad_input_gets_a_clear_error_quoting_the_value(kwargs: dict, message: str) -> None:
    # The one wording of errors.to_user_error, the same as the MCP tool's and the CLI's.
    with pytest.raises(UserError, match="^estimate: ") as err:
        est(**kwargs)
    assert message in str(err.value)


def test_missing_data_size_says_what_to_pass() -> None:
    with pytest.raises(UserError, match="num_rows and mean_tokens_per_row"):
        estimate_cost(EstimateRequest(), CATALOG, LLAMA2_7B)


def test_4bit_without_lora_is_refused() -> None:
    with pytest.raises(UserError, match="load_in_4bit=True needs use_peft=True"):
        est(load_in_4bit=True)


def test_fallback_prices_are_flagged_in_the_warnings() -> None:
    result = est(catalog=fallback_catalog())
    assert any("fallback" in w for w in result.warnings)
    assert result.catalog_source.startswith("fallback")


def test_run_estimate_sizes_the_model_and_loads_the_catalog_itself(tiny_model) -> None:
    from huggingface_hub import HfApi

    result = run_estimate(make_request(model_name_or_path=str(tiny_model), num_rows=64, mean_tokens_per_row=40,
                                       max_length=128), api=HfApi(endpoint="http://127.0.0.1:9"))
    assert result.model.num_layers == 2
    assert result.catalog_source.startswith("fallback")
    assert result.recommended_flavor is not None


# --- the adapters: MCP tool, CLI, script ---------------------------------------------------------------------------
def test_cli_estimate_prints_json_with_a_recommendation(capsys: pytest.CaptureFixture) -> None:
    from hf_trainer.cli import main

    code = main(["estimate", "--num_params", "7e9", "--num_rows", "1000", "--mean_tokens_per_row", "500",
                 "--use_peft", "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model"]["num_params"] == 7_000_000_000 and data["recommended_flavor"]


def test_cli_estimate_refuses_negative_epochs_with_exit_2(capsys: pytest.CaptureFixture) -> None:
    from hf_trainer.cli import main

    code = main(["estimate", "--num_params", "7e9", "--num_rows", "10", "--num_train_epochs", "-1"])
    assert code == 2
    assert "num_train_epochs -1.0 must be more than 0" in capsys.readouterr().err


def test_cli_hardware_lists_the_flavors(capsys: pytest.CaptureFixture) -> None:
    from hf_trainer.cli import main

    assert main(["hardware"]) == 0
    assert "`a100-large`" in capsys.readouterr().out


def test_mcp_tool_estimate_cost_returns_structured_content_and_tool_errors() -> None:
    import anyio
    from mcp import Client

    from hf_trainer.server import mcp

    async def call() -> tuple:
        async with Client(mcp) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            ok = await client.call_tool("estimate_cost", {
                "num_params": 500_000_000, "num_rows": 1000, "mean_tokens_per_row": 300, "use_peft": True})
            bad = await client.call_tool("estimate_cost", {
                "num_params": 500_000_000, "num_rows": 1000, "flavors": ["t4-smal"]})
            return tools, ok, bad

    tools, ok, bad = anyio.run(call)
    assert tools["estimate_cost"].annotations.read_only_hint is True
    assert ok.structured_content["recommended_flavor"]
    assert bad.is_error and "Did you mean 't4-small'" in bad.content[0].text


def test_script_estimates_offline_and_prints_json(tmp_path) -> None:
    out = subprocess.run([sys.executable, str(SCRIPTS / "estimate_cost.py"), "--num_params", "7e9", "--num_rows",
                          "1000", "--mean_tokens_per_row", "500", "--use_peft", "--json"],
                         capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "HF_ENDPOINT": "http://127.0.0.1:9"})
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["recommended_flavor"] and data["catalog_source"].startswith("fallback")
    assert CANARY_TOKEN not in out.stdout + out.stderr


def test_script_help_exits_0() -> None:
    out = subprocess.run([sys.executable, str(SCRIPTS / "estimate_cost.py"), "--help"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and "uv run" in out.stdout


def test_the_request_model_and_the_stdlib_math_share_their_defaults() -> None:
    from hf_trainer.runtime.estimate_math import REQUEST_DEFAULTS

    assert {name: field.default for name, field in EstimateRequest.model_fields.items()} == REQUEST_DEFAULTS


def test_script_sizes_a_hub_model_from_a_fake_hub_and_uses_its_live_prices() -> None:
    import os

    from fakes.fake_hub_models import FakeHubModels, FakeModel, hardware_entry

    config = {"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
              "num_key_value_heads": 32, "intermediate_size": 11008, "vocab_size": 32000}
    models = {"meta-llama/Llama-2-7b-hf": FakeModel(
        files={"config.json": json.dumps(config).encode()},
        safetensors={"parameters": {"F16": 6_738_415_616}, "total": 6_738_415_616})}
    live = [hardware_entry("a10g-large", 1.50, "A10G", 1, "24 GB"), hardware_entry("a100-large", 2.50, "A100", 1,
                                                                                      "80 GB"),
            hardware_entry("h200", 5.00, "H200", 1, "141 GB")]
    with FakeHubModels(models=models, hardware=live) as hub:
        out = subprocess.run([sys.executable, str(SCRIPTS / "estimate_cost.py"), "--model_name_or_path",
                              "meta-llama/Llama-2-7b-hf", "--num_rows", "1000", "--mean_tokens_per_row", "500",
                              "--json"], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "HF_ENDPOINT": hub.url})
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["model"]["num_params"] == 6_738_415_616
    assert data["catalog_source"].startswith("live")
    verdicts = {r["flavor"]: r["verdict"] for r in data["rows"]}
    # Full fine-tuning keeps FP32 master weights (18 bytes per parameter): a 7B needs more than an A100's 80 GB.
    assert verdicts == {"a10g-large": "does not fit", "a100-large": "does not fit", "h200": "fits"}


def test_script_refuses_an_unknown_model_with_exit_2_and_the_num_params_hint() -> None:
    import os

    out = subprocess.run([sys.executable, str(SCRIPTS / "estimate_cost.py"), "--model_name_or_path", "org/nothing",
                          "--num_rows", "10"], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9"})
    assert out.returncode == 2
    assert "--num_params" in out.stderr and "Traceback" not in out.stderr


def test_script_header_pins_floors_and_its_inline_copy_is_current() -> None:
    from hf_trainer import pep723, script_blocks

    text = (SCRIPTS / "estimate_cost.py").read_text(encoding="utf-8")
    # huggingface_hub only (a floor or a pin, whichever the pinning policy writes): no training library.
    assert [d.split("=")[0].split(">")[0] for d in pep723.dependencies(text)] == ["huggingface_hub"]
    assert script_blocks.render(text) == text, "run `make sync-scripts`"


def test_estimator_modules_import_no_training_library() -> None:
    code = ("import sys, hf_trainer.estimate, hf_trainer.hardware, hf_trainer.model_size, hf_trainer.runtime.estimate_math;"
            "print(sorted(m for m in ('torch', 'transformers', 'datasets', 'trl', 'peft') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


def test_estimate_math_imports_only_the_standard_library() -> None:
    # It runs alone inside scripts/estimate_cost.py: the standard library, and sibling runtime modules (relative
    # imports, inlined with it) that themselves import only the standard library.
    import ast
    from pathlib import Path

    from hf_trainer.runtime import estimate_math

    todo, seen, modules = [Path(estimate_math.__file__)], set(), set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level:
                todo.append(path.parent / f"{node.module}.py")
            elif isinstance(node, ast.ImportFrom):
                modules.add(node.module.split(".")[0])
    assert modules <= set(sys.stdlib_module_names), modules - set(sys.stdlib_module_names)


def test_cli_hardware_json_lists_flavors_with_datasheet_figures(capsys: pytest.CaptureFixture) -> None:
    from hf_trainer.cli import main

    assert main(["hardware", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["source"] == "fallback"
    assert next(f for f in data["flavors"] if f["name"] == "l40sx1")["memory_bandwidth_gbs"] == 864


def test_dataset_name_fills_rows_and_mean_tokens_from_dataset_inspect(tiny_model, tmp_path) -> None:
    from hf_trainer.tiny import chat_rows, write_jsonl

    data = write_jsonl(chat_rows(40), tmp_path / "chat.jsonl")
    result = run_estimate(make_request(model_name_or_path=str(tiny_model), dataset_name=str(data), max_length=128,
                                       flavors=["t4-small"]))
    assert any(a.startswith("data: 40 rows") and "dataset_inspect" in a for a in result.assumptions)
    assert 10 < result.train_tokens / 40 < 128  # a short chat row of the tiny tokenizer


def test_dataset_name_without_a_model_cannot_measure_tokens() -> None:
    with pytest.raises(UserError, match="needs the model's tokenizer"):
        run_estimate(make_request(num_params=1_000_000, dataset_name="org/data"))


def test_a_gpu_without_a_datasheet_is_listed_as_not_estimated_and_never_recommended() -> None:
    catalog = Catalog(CATALOG.flavors + (gpu("b200", 0.01, "B200", vram=180),), "test", "2026-01-01")
    result = est(catalog=catalog, use_peft=True)
    b200 = row(result, "b200")
    assert "no datasheet for GPU model 'B200'" in b200.note
    assert result.recommended_flavor != "b200"
    assert "not estimated" in result.render()


def test_lora_on_a_70b_model_shards_over_several_gpus_and_qlora_changes_are_timed_as_qlora() -> None:
    llama70 = facts_from_config({"model_type": "llama", "hidden_size": 8192, "num_hidden_layers": 80,
                                 "num_attention_heads": 64, "num_key_value_heads": 8, "intermediate_size": 28672,
                                 "vocab_size": 128256})
    catalog = Catalog((gpu("h200", 5.0, "H200", vram=141), gpu("h200x4", 20.0, "H200", 4, vram=141)), "test", "x")
    result = est(llama70, catalog=catalog, use_peft=True, per_device_train_batch_size=1,
                 gradient_accumulation_steps=16)
    single, four = row(result, "h200"), row(result, "h200x4")
    assert any("FSDP" in c for c in four.changes) and not any("QLoRA" in c for c in four.changes)
    assert "load_in_4bit=True (QLoRA)" in single.changes  # 131 GiB of BF16 weights outgrow one H200
    as_qlora = row(est(llama70, catalog=catalog, use_peft=True, load_in_4bit=True, per_device_train_batch_size=1,
                       gradient_accumulation_steps=16), "h200")
    assert single.time_parts_s["training"] == as_qlora.time_parts_s["training"]


# --- the plan is the job that runs: changes are script flags; FSDP; CPU calibration ---------------------------------
# config.json facts of public checkpoints (Qwen/Qwen3-4B, Qwen/Qwen3-14B).
QWEN3_4B = facts_from_config({"model_type": "qwen3", "hidden_size": 2560, "num_hidden_layers": 36,
                              "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
                              "intermediate_size": 9728, "vocab_size": 151936, "tie_word_embeddings": True})
QWEN3_14B = facts_from_config({"model_type": "qwen3", "hidden_size": 5120, "num_hidden_layers": 40,
                               "num_attention_heads": 40, "num_key_value_heads": 8, "head_dim": 128,
                               "intermediate_size": 17408, "vocab_size": 151936, "tie_word_embeddings": False})


def plan_and_rerun(facts, **kwargs):
    """The estimate on the fallback catalog, then the same job with the recommendation's script_args applied."""
    from hf_trainer.estimate import apply_script_args

    request = make_request(**kwargs)
    first = estimate_cost(request, fallback_catalog(), facts)
    assert first.recommended_flavor, first.warnings
    again = estimate_cost(apply_script_args(request, first.script_args), fallback_catalog(), facts)
    return first, row(first, first.recommended_flavor), row(again, first.recommended_flavor)


def test_4b_full_sft_is_planned_on_a_gpu_with_the_8bit_optimizer_flag_and_then_fits_as_submitted() -> None:
    # The batch the user ran (4 x 4): AdamW's BF16 moments do not fit the L40S, 8-bit ones do.
    first, chosen, rerun = plan_and_rerun(QWEN3_4B, num_rows=2000, mean_tokens_per_row=500,
                                          per_device_train_batch_size=4, gradient_accumulation_steps=4)
    assert chosen.gpu != "" and not chosen.gpu.startswith("CPU")
    assert first.script_args == ["--optim", "adamw_bnb_8bit"] == chosen.script_args
    assert first.changes == ["optim=adamw_bnb_8bit"]
    assert rerun.verdict == "fits" and rerun.changes == [] and rerun.script_args == []


def test_4b_lora_on_48_rows_is_never_sent_to_an_uncalibrated_cpu_flavor() -> None:
    first, chosen, rerun = plan_and_rerun(QWEN3_4B, num_rows=48, mean_tokens_per_row=300, use_peft=True)
    assert first.recommended_flavor not in ("cpu-basic", "cpu-upgrade", "cpu-xl", "cpu-performance")
    cpu = row(first, "cpu-upgrade")
    assert cpu.note.startswith("not calibrated for this size") and "26M parameters" in cpu.note
    assert "not calibrated" in first.render()
    assert rerun.verdict == "fits"


def test_14b_lora_gets_a_plan_that_fits_as_submitted() -> None:
    first, chosen, rerun = plan_and_rerun(QWEN3_14B, num_rows=5000, mean_tokens_per_row=600, use_peft=True)
    assert chosen.verdict in ("fits", "fits with changes")
    assert rerun.verdict == "fits" and rerun.changes == []


def test_a_7b_full_fine_tune_on_4x48gb_is_planned_sharded_and_fits_as_submitted() -> None:
    from hf_trainer.estimate import apply_script_args

    # Qwen2.5-7B (a 152k vocabulary): too big for 4 x 24 GB even sharded; on 4 x 48 GB only sharding fits.
    qwen7 = facts_from_config({"model_type": "qwen2", "hidden_size": 3584, "num_hidden_layers": 28,
                               "num_attention_heads": 28, "num_key_value_heads": 4, "intermediate_size": 18944,
                               "vocab_size": 152064, "tie_word_embeddings": False})
    request = make_request(num_rows=10_000, mean_tokens_per_row=1000, flavors=["a10g-largex4", "l40sx4"])
    first = estimate_cost(request, fallback_catalog(), qwen7)
    assert first.recommended_flavor == "l40sx4" and row(first, "a10g-largex4").verdict == "does not fit"
    assert "--fsdp" in first.script_args and row(first, first.recommended_flavor).parallelism.startswith("FSDP")
    again = row(estimate_cost(apply_script_args(request, first.script_args), fallback_catalog(), qwen7),
                first.recommended_flavor)
    assert again.verdict == "fits" and again.changes == []


def test_a_cpu_flavor_is_recommended_when_the_profile_covers_the_model() -> None:
    tiny = facts_from_count(1_000_000)  # well under the 26M-parameter model the profile was measured on
    result = est(tiny, catalog=fallback_catalog(), num_rows=100, mean_tokens_per_row=64, max_length=128)
    assert result.recommended_flavor.startswith("cpu-") and row(result, result.recommended_flavor).note == ""
    covered = estimate_cost(make_request(num_rows=48, mean_tokens_per_row=300, use_peft=True), fallback_catalog(),
                            QWEN3_4B, LocalProfile(max_params_measured=4_100_000_000))
    assert row(covered, "cpu-upgrade").note == ""  # a profile measured on 4B models would cover it


def test_full_7b_sharded_over_four_a10gs_needs_the_memory_written_out_by_hand_and_does_not_fit() -> None:
    # Llama-2-7B, sft defaults: 1 packed row of 2048 tokens, activation checkpointing on; --fsdp over 4 x 24 GB.
    r = row(est(fsdp=True, flavors=["a10g-largex4"]), "a10g-largex4")
    n, gpus, h, layers, inter, vocab = 6_738_415_616, 4, 4096, 32, 11008, 32000
    # accelerate upcasts trainable weights to FP32 masters before sharding: FP32 weights, gradients, 2 AdamW moments.
    shards = (n * 4 + n * 4 + n * 8) / gpus
    embeddings = vocab * h * 2  # input embeddings + untied head: FSDP2's root unit, unsharded through the step
    layer = 4 * h * h + 3 * h * inter + 2 * h  # one decoder layer: q, k, v, o; gate, up, down; two norms
    assert layer == (n - embeddings - h) / layers == 202_383_360
    gathered = (embeddings + 2 * layer) * 2  # root unit + the layer computed + the one prefetched, in BF16
    comm = max(layer, embeddings) * 2  # unsharded BF16 gradients before their reduce-scatter
    tokens = 1 * 2048
    activations = tokens * (2 * h * layers + (15 * h + 2 * h + 8 * inter))  # checkpointed inputs + one layer rebuilt
    logits = tokens * vocab * 10
    total = (shards + gathered + comm + activations + logits) * 1.08 + 2**30  # +8% fragmentation, +1 GiB context
    assert r.memory_gib == pytest.approx(total / 2**30, abs=0.01)
    assert r.memory_gib == pytest.approx(31.50, abs=0.01) and r.memory_available_gib == pytest.approx(24 * 0.92)
    assert r.verdict == "does not fit" and r.parallelism == "FSDP over 4 GPUs"  # 25.1 GiB of shards alone
    # Data parallel rows keep the whole model on every GPU, in FP32 master weights: 4 A10Gs hold what one does.
    ddp = row(est(flavors=["a10g-largex4"], optim="adamw_torch"), "a10g-largex4")
    assert ddp.memory_parts_gib["weights"] == pytest.approx(n * 4 / 2**30, rel=1e-3)
    assert ddp.verdict == "does not fit" and ddp.script_args == []  # neither 8-bit AdamW nor sharding saves it


def test_fsdp_time_adds_the_all_gathers_and_reduce_scatter_over_the_flavors_interconnect() -> None:
    result = est(fsdp=True, flavors=["a10g-largex4"])
    r = row(result, "a10g-largex4")
    n = 6_738_415_616
    # 9,500 training rows of 512 tokens pack into 2,375 rows of 2048; one per micro-batch, on 4 GPUs: 594 each.
    micro_steps = math.ceil(2375 / 4)
    assert r.micro_batches == micro_steps and r.optimizer_steps == math.ceil(micro_steps / 16)
    per_step = (2 * n * 2 + n * 2) * 3 / 4  # 2 all-gathers of BF16 weights + 1 reduce-scatter, (N-1)/N each
    evals = r.optimizer_steps // 100 * math.ceil(125 / 4) * (n * 2 + n * 2) * 3 / 4  # eval: weights + reference
    communication = (micro_steps * per_step + 0 * evals) / (32e9 * 0.60)  # PCIe Gen4 x16 per direction at 60%
    exposed = max(communication * 0.30, communication - r.time_parts_s["training"])
    assert r.time_parts_s["fsdp_communication"] == pytest.approx(exposed, rel=1e-3)
    nvlink = Catalog((gpu("a100x4", 10.0, "A100", 4, vram=80),), "test", "x")
    fast = row(est(fsdp=True, catalog=nvlink), "a100x4")
    assert fast.time_parts_s["fsdp_communication"] < r.time_parts_s["fsdp_communication"] / 5  # NVLink: 300 GB/s


def test_fsdp_is_never_offered_for_grpo_and_asking_for_it_is_refused() -> None:
    grpo = est(QWEN25_05B, method="grpo", num_rows=100, mean_tokens_per_row=100)
    assert not any("--fsdp" in r.script_args for r in grpo.rows)
    with pytest.raises(UserError, match="fsdp=True is not available for grpo"):
        est(QWEN25_05B, method="grpo", fsdp=True, num_rows=100, mean_tokens_per_row=100)


def test_every_flag_the_estimator_suggests_is_an_option_of_the_training_scripts() -> None:
    from hf_trainer.script_defaults import build_parser

    llama70 = facts_from_config({"model_type": "llama", "hidden_size": 8192, "num_hidden_layers": 80,
                                 "num_attention_heads": 64, "num_key_value_heads": 8, "intermediate_size": 28672,
                                 "vocab_size": 128256})
    results = [est(), est(use_peft=True, activation_checkpointing=False, per_device_train_batch_size=8),
               est(QWEN25_05B, use_peft=True, per_device_train_batch_size=8, gradient_accumulation_steps=2),
               est(llama70, use_peft=True, catalog=fallback_catalog()),
               est(QWEN3_4B, per_device_train_batch_size=4, catalog=fallback_catalog())]
    flags = {arg for result in results for r in result.rows for arg in r.script_args if arg.startswith("--")}
    assert flags == {"--fsdp", "--optim", "--activation_checkpointing", "--per_device_train_batch_size",
                     "--gradient_accumulation_steps", "--load_in_4bit"}
    for script in ("train_sft.py", "train_dpo.py", "train_reward.py", "train_kto.py", "train_grpo.py"):
        options = {o for action in build_parser(script)._actions for o in action.option_strings}
        missing = flags - options - {"--fsdp"}
        assert not missing, (script, missing)
    sft_options = {o for action in build_parser("train_sft.py")._actions for o in action.option_strings}
    if "--fsdp" not in sft_options:
        pytest.skip("--fsdp is being added to the scripts (FSDP2, helper H); every other flag exists")


def test_the_multi_gpu_guide_quotes_the_estimators_current_numbers_and_its_prose_agrees() -> None:
    from hf_trainer.estimate import GUIDE_BEGIN, GUIDE_END, multi_gpu_guide_path, multi_gpu_table_markdown

    text = multi_gpu_guide_path().read_text(encoding="utf-8")
    quoted = text[text.index(GUIDE_BEGIN) + len(GUIDE_BEGIN):text.index(GUIDE_END)].strip("\n")
    table = multi_gpu_table_markdown()
    assert quoted == table, "stale: run `python -m hf_trainer.estimate --sync-guide`"
    # The statements above the table, checked against it.
    model, cells = "", {}
    header: list[str] = []
    for line in table.splitlines():
        parts = [p.strip().replace("`", "") for p in line.strip("|").split("|")]
        if line.startswith("| Model |"):
            header = parts
        elif line.startswith("| ") and not line.startswith("|---"):
            model = parts[0].split(" (")[0] or model
            cells.update({(model, parts[1], column): value for column, value in zip(header[2:], parts[2:])})
    fits = {key for key, value in cells.items() if value not in ("-",) and not value.startswith("no (")}
    assert ("Qwen2.5-7B", "full", "a10g-largex4") not in fits and ("Qwen2.5-7B", "full", "l40sx4") in fits
    assert {f for (m, t, f) in fits if m == "Qwen2.5-14B" and t == "full" and f in GUIDE_FLAVORS} == {
        "a100x4", "rtx-pro-6000x4", "h200x4", "l40sx8", "a100x8", "h200x8"}
    assert cells[("Qwen2.5-14B", "full", "One GPU")] == "-"  # 18 bytes per parameter (FP32 master weights)
    assert {f for (m, t, f) in fits if m == "Qwen2.5-32B" and t == "full" and f in GUIDE_FLAVORS} == {"h200x8"}
    assert not {f for (m, t, f) in fits if m == "Llama-3.1-70B" and t == "full"}  # no flavor, not even h200x8
    # Sharding over 2 GPUs needs less memory than DDP: FP32 master weights either way (16/2 vs 18 bytes per parameter).
    ddp, fsdp = cells[("Qwen2.5-7B", "full", "DDP (whole model per GPU)")], cells[("Qwen2.5-7B", "full", "h200x2")]
    assert int(fsdp.split("/")[0]) < int(ddp.split()[1].split("/")[0])
    assert cells[("Qwen2.5-32B", "QLoRA r=16", "One GPU")].startswith("l40sx1")

    def cost(cell: str) -> float:
        return float(cell.split("$")[1].split()[0].replace(",", ""))

    qlora = cells[("Llama-3.1-70B", "QLoRA r=16", "One GPU")]
    lora = cells[("Llama-3.1-70B", "LoRA r=16", "FSDP (sharded)")]
    assert qlora.startswith("h200 ") and lora.startswith("h200x2") and cost(qlora) <= cost(lora) * 1.25
    for model_name in ("Qwen2.5-7B", "Qwen2.5-14B"):  # DDP repeats the single GPU's memory
        one, ddp = cells[(model_name, "full", "One GPU")], cells[(model_name, "full", "DDP (whole model per GPU)")]
        assert one.split()[1:2] == ddp.split()[1:2]  # or both "-" (14B full fits no single GPU)


def test_a_request_is_read_from_a_training_scripts_own_arguments() -> None:
    from hf_trainer.estimate import request_from_script_args

    request = request_from_script_args("train_grpo.py", [
        "--model_name_or_path", "Qwen/Qwen2.5-0.5B", "--dataset_name", "org/math", "--use_peft",
        "--per_device_train_batch_size", "2", "--max_steps", "50", "--no-activation_checkpointing",
        "--lora_target_modules", "q_proj", "v_proj"], num_rows=300, mean_tokens_per_row=80, flavors=["l4x1"])
    assert (request.method, request.model_name_or_path, request.dataset_name) == ("grpo", "Qwen/Qwen2.5-0.5B", "org/math")
    assert request.max_completion_length == 256 and request.num_generations == 8  # the script's defaults
    assert (request.per_device_train_batch_size, request.max_steps, request.use_peft) == (2, 50, True)
    assert request.activation_checkpointing is False and request.lora_target_modules == "attention"
    assert request.num_rows == 300 and request.flavors == ["l4x1"]
    capped = request_from_script_args("train_sft.py", ["--model_name_or_path", "m", "--dataset_name", "d",
                                                       "--max_train_samples", "48"], num_rows=5000)
    assert capped.num_rows == 48 and capped.max_steps is None and "activation_checkpointing" not in (
        capped.model_fields_set)  # left to the scripts' per-device default
    with pytest.raises(UserError, match="train_sft.py --max_length x: argument --max_length"):
        request_from_script_args("train_sft.py", ["--max_length", "x"])
    with pytest.raises(UserError, match="not a bundled training script"):
        request_from_script_args("evaluate.py", [])


def test_the_multi_gpu_prose_quotes_the_fp32_master_figures() -> None:
    from hf_trainer.estimate import GUIDE_MODELS, multi_gpu_guide_path

    text = " ".join(multi_gpu_guide_path().read_text(encoding="utf-8").split())
    qwen7 = facts_from_config(GUIDE_MODELS["Qwen2.5-7B"])
    shards = 16 * qwen7.num_params / 4 / 2**30
    assert f"(16 bytes x {qwen7.num_params / 1e9:.1f}B / 4 = {shards:.0f} GiB)" in text and shards > 24 * 0.92
    r = row(est(qwen7, catalog=fallback_catalog(), num_rows=10_000, mean_tokens_per_row=1000, fsdp=True,
                flavors=["h200x2"]), "h200x2")
    d = row(est(qwen7, catalog=fallback_catalog(), num_rows=10_000, mean_tokens_per_row=1000, flavors=["h200x2"]),
            "h200x2")
    assert f"(7B full: {r.memory_gib:.0f} vs {d.memory_gib:.0f} GiB per GPU)" in text


def test_fsdp_asked_for_on_a_one_gpu_flavor_is_marked_and_never_recommended() -> None:
    result = est(use_peft=True, fsdp=True)  # the test catalog: three one-GPU flavors and a10g-largex4
    single = row(result, "a10g-large")
    assert single.note.startswith("--fsdp needs several GPUs")
    assert result.recommended_flavor == "a10g-largex4"


def test_sharding_over_pcie_is_communication_bound_as_the_guide_says() -> None:
    from hf_trainer.estimate import GUIDE_MODELS, multi_gpu_guide_path

    text = " ".join(multi_gpu_guide_path().read_text(encoding="utf-8").split())
    assert "a 7B full run on `l40sx4` communicates longer than it computes, and what the overlap cannot hide adds " \
           "about 40% to its training time" in text
    qwen7 = facts_from_config(GUIDE_MODELS["Qwen2.5-7B"])
    pcie = row(est(qwen7, catalog=fallback_catalog(), num_rows=10_000, mean_tokens_per_row=1000, fsdp=True,
                   flavors=["l40sx4"]), "l40sx4").time_parts_s
    assert 0.3 < pcie["fsdp_communication"] / pcie["training"] < 0.5
    nvlink = row(est(qwen7, catalog=fallback_catalog(), num_rows=10_000, mean_tokens_per_row=1000, fsdp=True,
                     flavors=["a100x4"]), "a100x4").time_parts_s
    assert nvlink["fsdp_communication"] < 0.5 * nvlink["training"]


# --- steps and micro-batches as the trainer counts them (issue 29) -----------------------------------------------
def test_packed_sft_costs_the_same_whatever_the_rows_lengths() -> None:
    # The same 2.4M tokens as 24,000 short rows or 2,400 long ones pack into the same 2048-token rows, so the
    # trainer runs the same micro-batches: same steps, same FSDP traffic, same time (it was 5.5x on l40sx4).
    facts = facts_from_count(1_500_000_000)
    for options in ({"flavors": ["a100-large"]}, {"flavors": ["l40sx4"], "fsdp": True}):
        short, long = (row(est(facts, catalog=fallback_catalog(), num_rows=rows, mean_tokens_per_row=mean, **options),
                           options["flavors"][0]) for rows, mean in ((24_000, 100), (2_400, 1_000)))
        assert abs(short.optimizer_steps - long.optimizer_steps) <= 1
        assert short.hours == pytest.approx(long.hours, rel=0.01), options


def test_grpo_counts_completions_per_generation_batch_and_refuses_what_trl_refuses() -> None:
    # 4 completions per micro-batch x 2 processes x 4 steps per generation = 32 completions = 4 prompts x 8.
    job = Job(model=QWEN25_05B, method="grpo", per_device_train_batch_size=4, gradient_accumulation_steps=4,
              num_generations=8, train_rows=103, mean_prompt_len=100, max_completion_length=64)
    sched = schedule(job, 2)
    assert (sched.prompts_per_round, sched.generation_rounds, sched.micro_batches, sched.optimizer_steps) == (
        4, 25, 100, 25)  # 103 // 4 = 25 whole rounds: 3 prompts are left out, as TRL's RepeatSampler does
    with pytest.raises(EstimateError, match="not a multiple of num_generations 8"):
        schedule(replace(job, per_device_train_batch_size=3), 1)


def test_unpacked_batches_are_sharded_over_processes_and_the_last_accumulation_is_partial() -> None:
    # 19 pairs, 2 per micro-batch: 10 batches, 5 per process on 2 GPUs, accumulation 2 -> 3 steps (the last has one).
    job = Job(model=QWEN25_05B, method="dpo", per_device_train_batch_size=2, gradient_accumulation_steps=2,
              train_rows=19, mean_seq_len=300, max_length=1024)
    sched = schedule(job, 2)
    assert (sched.micro_batches_per_epoch, sched.optimizer_steps, sched.sequences_per_micro_batch) == (5, 3, 4)
    assert schedule(replace(job, num_train_epochs=2.5), 2).optimizer_steps == 8  # ceil(2.5 x 3)


def test_grpo_is_priced_with_and_without_vllm_and_the_result_says_which_pays() -> None:
    # A GSM8K-sized run (7,473 prompts): with generate the cheapest flavor is a T4 for many hours; with vLLM the
    # rollouts are several times faster on a card vLLM runs on.
    result = est(QWEN25_05B, catalog=fallback_catalog(), method="grpo", num_rows=7473, mean_tokens_per_row=110,
                 use_peft=True)
    assert result.recommended_flavor == "t4-small" and result.recommended_hours > 6
    assert result.vllm is not None and result.vllm.use_vllm and result.vllm.script_args == ["--use_vllm"]
    assert result.vllm.dependencies == [VLLM_REQUIREMENT]
    assert result.vllm.with_vllm.hours < 0.5 * result.vllm.without_vllm.hours
    assert result.vllm.why.startswith("vLLM pays") and result.vllm.why in result.warnings
    t4 = row(result, "t4-small")
    assert "no BF16" in t4.generation["vllm_problem"] and "vllm_hours" not in t4.generation
    assert row(result, "a100-large").generation["vllm_hours"] < row(result, "a100-large").generation["generate_hours"]
    asked = est(QWEN25_05B, catalog=fallback_catalog(), method="grpo", num_rows=7473, mean_tokens_per_row=110,
                use_peft=True, use_vllm=True)
    assert asked.recommended_flavor != "t4-small" and row(asked, "t4-small").note  # vLLM is never planned on a T4
    assert "vllm_startup" in row(asked, "a100-large").time_parts_s


@pytest.mark.parametrize("fields, says", [
    # no dataset: the tokens per row are max_length's, said as a warning with the way to measure them
    ({"mean_tokens_per_row": None}, "Assumed 2048 tokens per row (max_length)"),
    # total tokens without rows: the rows come from an assumed row length
    ({"num_rows": None, "mean_tokens_per_row": None, "total_tokens": 5_000_000}, "Assumed 512 tokens per row"),
    # a row count estimated from the file size
    ({"num_rows_exact": False}, "is an estimate from the file size"),
])
def test_figures_the_estimate_assumed_are_warnings_that_say_how_to_give_the_real_one(fields: dict, says: str) -> None:
    result = est(**fields)
    assert any(says in w for w in result.warnings), result.warnings
    assert not any(says in a for a in result.assumptions)
