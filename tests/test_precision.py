"""The precision policy (runtime/precision.py): every device x method combination trains with dtypes torch accepts and
keeps its small updates; --precision forces or refuses; the estimator's memory is the policy's bytes; a CPU run with
--precision bf16 learns as much as fp32."""

import argparse
import itertools
from dataclasses import replace

import pytest
import torch

from hf_trainer.runtime.estimate_math import (
    GIB, Job, device_for, facts_from_config, fallback_catalog, LocalProfile, lora_params, memory_breakdown,
    precision_problem,
)
from hf_trainer.runtime.precision import DEVICE_KINDS, MODES, PrecisionError, policy, training_mode

# The GPUs HF Jobs offers, by what the policy tells apart: the T4 has fp16 tensor cores only (compute capability 7.5).
SIMULATED = {"cpu": "cpu", "T4": "cuda-fp16", "A10G": "cuda-bf16", "L4": "cuda-bf16", "A100": "cuda-bf16",
             "H100": "cuda-bf16", "H200": "cuda-bf16"}
COMBINATIONS = [(gpu, mode) for gpu, mode in itertools.product(SIMULATED, MODES)
                if not (SIMULATED[gpu] == "cpu" and mode == "qlora")]  # QLoRA needs CUDA: refused (tested below)


def _train(device: str, mode: str, precision: str = "auto", steps: int = 3, lr: float = 1e-3) -> dict:
    """A few optimiser steps of a two-layer model in the dtypes the policy picks, on CPU: a LoRA base frozen in the
    load dtype (QLoRA's NF4 base stands in as its compute dtype), trained parameters in the trainable dtype, forward under
    the policy's autocast, backward and step through torch's GradScaler when the policy scales (as accelerate does
    for fp16 on CUDA). Returns what moved."""
    p = policy(device, mode, precision)
    lora = mode in ("lora", "qlora", "fsdp-lora")
    torch.manual_seed(0)
    # Full weights train in the trainable dtype (FSDP: accelerate upcasts the loaded 16-bit shards to it).
    base = torch.nn.Linear(16, 16, bias=False).to(getattr(torch, p.load_dtype if lora else p.trainable_dtype))
    trained = torch.nn.Linear(16, 16, bias=False).to(getattr(torch, p.trainable_dtype))
    base.requires_grad_(not lora)  # LoRA modes: a frozen base, trained adapters
    params = [trained.weight] + ([] if lora else [base.weight])
    before = [t.detach().clone() for t in params]
    optimizer = torch.optim.AdamW(params, lr=lr)
    scaler = torch.amp.GradScaler("cpu", enabled=p.grad_scaler)
    for _ in range(steps):
        x = torch.randn(8, 16)
        with torch.autocast("cpu", dtype=getattr(torch, p.autocast or "float32"), enabled=p.autocast is not None):
            loss = trained(base(x.to(base.weight.dtype) if p.autocast is None else x)).float().pow(2).mean()
        scaler.scale(loss).backward()
        scaler.step(optimizer)  # raises "Attempting to unscale FP16 gradients" for fp16 parameters
        scaler.update()
        optimizer.zero_grad()
    return {"moved": all(not torch.equal(b, a.detach()) for b, a in zip(before, params)),
            "finite": all(torch.isfinite(a).all() for a in params),
            "state_dtypes": {s["exp_avg"].dtype for s in optimizer.state.values()}}


@pytest.mark.parametrize("gpu, mode", COMBINATIONS)
def test_every_device_and_method_trains_under_the_grad_scaler_with_the_policys_dtypes(gpu: str, mode: str) -> None:
    result = _train(SIMULATED[gpu], mode)
    assert result["moved"] and result["finite"], (gpu, mode)
    assert result["state_dtypes"] == {getattr(torch, policy(SIMULATED[gpu], mode).optimizer_dtype)}


@pytest.mark.parametrize("device, mode, precision", [
    (d, m, p) for d, m, p in itertools.product(DEVICE_KINDS, MODES, ("auto", "bf16", "fp16", "fp32"))])
def test_no_combination_puts_fp16_parameters_under_a_grad_scaler_or_trains_full_weights_in_16_bits(
        device: str, mode: str, precision: str) -> None:
    try:
        p = policy(device, mode, precision)
    except PrecisionError:
        return  # refused with a message (tested below)
    assert not (p.grad_scaler and p.trainable_dtype == "float16")  # GradScaler cannot unscale fp16 gradients
    if mode in ("full", "fsdp"):
        assert p.trainable_dtype == p.optimizer_dtype == "float32"  # FP32 master weights: no update rounds away
    if device == "cuda-fp16":
        assert p.autocast != "bfloat16"  # no bf16 units on a T4
    assert p.training_arguments == {"bf16": p.name == "bf16", "fp16": p.name == "fp16"}


def test_the_fp16_parameters_the_old_t4_recipe_used_fail_under_the_same_scaler() -> None:
    # The check above is not vacuous: fp16 weights with fp16 mixed precision (the T4 recipe before issue 26).
    model = torch.nn.Linear(4, 4).half()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cpu")
    with torch.autocast("cpu", dtype=torch.float16):
        loss = model(torch.randn(2, 4)).float().sum()
    scaler.scale(loss).backward()
    with pytest.raises(ValueError, match="unscale FP16 gradients"):
        scaler.step(optimizer)


def test_fp32_master_weights_keep_the_small_updates_that_bf16_weights_round_away() -> None:
    # AdamW at lr 2e-5 on a 0.02-scale matrix for 10 steps: FACTS.md measured 70.7% unchanged entries in bf16.
    def unchanged(master: torch.dtype) -> float:
        torch.manual_seed(0)
        weight = torch.nn.Parameter((torch.randn(64, 64) * 0.02).to(master))
        start = weight.detach().clone()
        optimizer = torch.optim.AdamW([weight], lr=2e-5, weight_decay=0.0)
        for _ in range(10):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = (torch.randn(8, 64) @ weight).float().pow(2).mean()
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        return float((weight.detach() == start).float().mean())

    assert unchanged(torch.bfloat16) > 0.5  # pure bf16 weights and state: most updates lost
    assert unchanged(torch.float32) < 0.01  # the policy: FP32 master weights under bf16 autocast


@pytest.mark.parametrize("device, precision, words", [
    ("cuda-fp16", "bf16", "needs a GPU with bf16 units"),  # forced bf16 on a T4
    ("cpu", "fp16", "does not run on CPU"),  # accelerate would silently train in fp32
])
def test_a_precision_the_device_cannot_run_is_refused_with_the_fix(device: str, precision: str, words: str) -> None:
    with pytest.raises(PrecisionError, match=words):
        policy(device, "full", precision)


def test_auto_is_the_policy_and_bf16_runs_on_cpu() -> None:
    assert policy("cpu", "full").name == "fp32" and policy("cpu", "full", "bf16").autocast == "bfloat16"
    t4 = policy("cuda-fp16", "full")
    assert (t4.load_dtype, t4.autocast, t4.grad_scaler, t4.saved_dtype) == ("float32", "float16", True, "float16")
    a100 = policy("cuda-bf16", "full")
    assert (a100.load_dtype, a100.autocast, a100.grad_scaler, a100.saved_dtype) == ("float32", "bfloat16", False,
                                                                                     "bfloat16")
    assert policy("cuda-bf16", "lora").load_dtype == "bfloat16"  # a frozen base stays 16-bit
    assert training_mode(True, True) == "qlora" and training_mode(False, fsdp=True) == "fsdp"


def _args(*extra: str) -> argparse.Namespace:
    from hf_trainer.runtime.train_common import add_common_arguments

    parser = argparse.ArgumentParser()
    add_common_arguments(parser)
    return parser.parse_args(["--model_name_or_path", "m", "--dataset_name", "d", *extra])


@pytest.mark.parametrize("device, extra, dtype, flags", [
    ({"type": "cuda", "bf16": False, "count": 1, "name": "T4"}, [], torch.float32, (False, True)),  # T4 full
    ({"type": "cuda", "bf16": True, "count": 1, "name": "A100"}, [], torch.float32, (True, False)),  # A100 full
    ({"type": "cuda", "bf16": True, "count": 1, "name": "A100"}, ["--use_peft"], torch.bfloat16, (True, False)),
    ({"type": "cuda", "bf16": False, "count": 1, "name": "T4"}, ["--use_peft"], torch.float16, (False, True)),
    ({"type": "cpu", "bf16": False, "count": 0, "name": "cpu"}, [], torch.float32, (False, False)),
    ({"type": "cpu", "bf16": False, "count": 0, "name": "cpu"}, ["--precision", "bf16"], torch.float32, (True, False)),
])
def test_the_scripts_load_and_train_with_the_policy(device: dict, extra: list, dtype, flags: tuple) -> None:
    from hf_trainer.runtime.train_common import model_init_kwargs, precision_kwargs

    args = _args(*extra)
    assert model_init_kwargs(args, device)["dtype"] == dtype
    kwargs = precision_kwargs(args, device)
    assert (kwargs["bf16"], kwargs["fp16"]) == flags


def test_the_scripts_refuse_a_forced_precision_before_loading_anything() -> None:
    from hf_trainer.runtime.basics import ScriptError
    from hf_trainer.runtime.train_common import check_arguments

    t4 = {"type": "cuda", "bf16": False, "count": 1, "name": "Tesla T4"}
    with pytest.raises(ScriptError, match="--precision bf16 needs a GPU with bf16 units"):
        check_arguments(_args("--precision", "bf16"), t4)
    with pytest.raises(ScriptError, match="--precision fp16 does not run on CPU"):
        check_arguments(_args("--precision", "fp16"), {"type": "cpu", "bf16": False, "count": 0, "name": "cpu"})


# --- the estimator counts exactly the policy's bytes --------------------------------------------------------------
QWEN_05B = facts_from_config({"model_type": "qwen2", "hidden_size": 896, "num_hidden_layers": 24,
                              "num_attention_heads": 14, "num_key_value_heads": 2, "intermediate_size": 4864,
                              "vocab_size": 151936, "tie_word_embeddings": True})


@pytest.mark.parametrize("gpu, mode", [(g, m) for g, m in COMBINATIONS if m not in ("fsdp", "fsdp-lora")]
                         + [("A100", "fsdp"), ("H200", "fsdp-lora")])
def test_the_estimators_memory_is_the_policys_bytes_per_parameter(gpu: str, mode: str) -> None:
    device = SIMULATED[gpu]
    on_gpu, bf16 = device != "cpu", device == "cuda-bf16"
    gpus = 4 if mode.startswith("fsdp") else 1
    job = Job(model=QWEN_05B, use_peft=mode in ("lora", "qlora", "fsdp-lora"), load_in_4bit=mode == "qlora",
              fsdp=mode.startswith("fsdp"), optim="adamw_torch")
    parts = memory_breakdown(job, gpus, on_gpu, bf16)
    p = policy(device, mode)
    n = QWEN_05B.num_params
    per = p.bytes_per_parameter()
    if job.use_peft:
        adapter = sum(p.adapter_bytes_per_parameter().values())
        assert parts["lora_adapters"] == pytest.approx(lora_params(QWEN_05B, 16) * adapter / gpus)
        if mode == "qlora":
            emb = QWEN_05B.embedding_params
            assert parts["weights"] == pytest.approx((n - emb) * per["weights"] + emb * 2.0)
        else:
            assert parts["weights"] == pytest.approx(n * per["weights"] / gpus)
    else:
        for key in ("weights", "gradients", "optimizer", "autocast_copy"):
            assert parts.get(key, 0.0) == pytest.approx(n * per.get(key, 0.0) / gpus), key
    if mode == "full" and on_gpu:  # FP32 master weights + autocast copy: 18 bytes per parameter
        assert sum(per.values()) == 18


def test_an_fp16_only_flavor_is_never_recommended_for_a_precision_it_cannot_run() -> None:
    catalog = fallback_catalog()
    job = Job(model=QWEN_05B, precision="bf16", use_peft=True)
    t4 = device_for(catalog.get("t4-small"), job, LocalProfile())
    assert not t4.bf16 and precision_problem(job, t4.on_gpu, t4.bf16).startswith("--precision bf16 needs a GPU")
    assert precision_problem(replace(job, precision="auto"), True, False) == ""  # the policy runs it (fp16)
    from hf_trainer.runtime.estimate_math import estimate

    result = estimate({"num_params": None, "method": "sft", "num_rows": 100, "mean_tokens_per_row": 128,
                       "use_peft": True, "precision": "bf16", "flavors": ["t4-small", "l4x1"]}, catalog, QWEN_05B)
    rows = {r["flavor"]: r for r in result["rows"]}
    assert rows["t4-small"]["verdict"] == "does not fit" and rows["t4-small"]["note"].startswith("--precision bf16")
    assert result["recommended_flavor"] == "l4x1"


def test_full_fine_tuning_memory_grew_from_8_to_18_bytes_per_parameter_on_gpus() -> None:
    job = Job(model=QWEN_05B, optim="adamw_torch")
    gpu = memory_breakdown(job, 1, True, True)
    state = gpu["weights"] + gpu["gradients"] + gpu["optimizer"] + gpu["autocast_copy"]
    assert state / QWEN_05B.num_params == pytest.approx(18.0)
    assert state / GIB > 8  # a 0.5B full fine-tune: ~8.3 GiB of weights and state (was 3.7 in bf16)


# --- a real run on CPU ---------------------------------------------------------------------------------------------
def test_a_cpu_run_with_precision_bf16_keeps_its_updates_and_saves_bf16(tiny_model, tmp_path) -> None:
    # The check: 10 steps of full SFT at lr 2e-5, same seed; bf16 autocast over FP32 master weights must lower
    # the loss at least 70% as much as fp32 does (bf16 weights managed 0.107 of fp32's 0.332).
    import json

    from helpers import json_summary, run_script
    from hf_trainer.tiny import chat_rows, write_jsonl
    from safetensors import safe_open

    data = write_jsonl(chat_rows(64), tmp_path / "chat.jsonl")
    drops, saved = {}, {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / precision
        result = run_script("train_sft.py", "--model_name_or_path", str(tiny_model), "--dataset_name", str(data),
                            "--output_dir", str(out), "--max_steps", "10", "--learning_rate", "2e-5",
                            "--max_length", "128", "--per_device_train_batch_size", "8",
                            "--gradient_accumulation_steps", "1", "--eval_split_size", "0", "--report_to", "none",
                            "--logging_steps", "1", "--seed", "42", "--precision", precision, "--json")
        summary = json_summary(result)
        assert f"precision {precision} (full): weights loaded in float32" in result.stdout
        drops[precision] = summary["first_loss"] - summary["last_loss"]
        with safe_open(str(out / "model.safetensors"), "pt") as weights:
            saved[precision] = {str(weights.get_tensor(name).dtype) for name in weights.keys()}
        saved[precision].add(json.loads((out / "config.json").read_text(encoding="utf-8"))["dtype"])
    assert drops["fp32"] > 0 and drops["bf16"] >= 0.7 * drops["fp32"], drops
    assert saved == {"fp32": {"torch.float32", "float32"}, "bf16": {"torch.bfloat16", "bfloat16"}}


@pytest.mark.parametrize("flavor, value, refused", [
    ("t4-small", "bf16", True),  # no bf16 units: the script would refuse at start, after the job was paid
    ("cpu-upgrade", "fp16", True),  # no fp16 autocast on CPU
    ("t4-medium", "auto", False),  # the policy: fp16 autocast over FP32 master weights
    ("l4x1", "bf16", False),
])
def test_preflight_refuses_a_precision_the_flavor_cannot_run(flavor: str, value: str, refused: bool) -> None:
    from hf_trainer.preflight import PreflightInput, preflight

    report = preflight(PreflightInput(script_text="print(1)\n", script_name="train_sft.py", flavor=flavor,
                                      script_args=["--model_name_or_path", "m", "--precision", value]))
    found = [f for f in report.findings if f.rule == "precision-unsupported"]
    assert bool(found) is refused
    if refused:
        assert found[0].severity == "error" and found[0].message.startswith(f"{flavor}: --precision {value}")
        assert "--precision" in found[0].fix


def test_a_full_model_trained_on_fp32_master_weights_is_saved_in_the_autocast_dtype_with_tied_weights_once(tmp_path):
    # runtime/sharding.save_final_model, unsharded: the files keep the base model's dtype and size (bf16 here), a tied
    # head is not written twice, and the reloaded model is the trained one rounded to bf16.
    from types import SimpleNamespace

    from safetensors import safe_open
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    from hf_trainer.runtime.sharding import save_final_model

    model = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=2, tie_word_embeddings=True))
    trainer = SimpleNamespace(is_fsdp_enabled=False, model=model, accelerator=SimpleNamespace(unwrap_model=lambda m: m),
                              args=SimpleNamespace(bf16=True, fp16=False, should_save=True),
                              _save=lambda out, state_dict: model.save_pretrained(out, state_dict=state_dict))
    save_final_model(trainer, str(tmp_path))
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as saved:
        assert {str(saved.get_tensor(k).dtype) for k in saved.keys()} == {"torch.bfloat16"}
        assert "lm_head.weight" not in saved.keys()
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert reloaded.dtype == torch.bfloat16 and torch.equal(reloaded.lm_head.weight, reloaded.model.embed_tokens.weight)
    assert torch.equal(reloaded.model.norm.weight, model.model.norm.weight.to(torch.bfloat16))
