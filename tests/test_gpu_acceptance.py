"""benchmarks/gpu_acceptance.py: its CPU mode runs every path on a tiny model (so the GPU kit cannot rot), and the
pure parts: steady-state measurement, the estimator request, the card's datasheet row, the report."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CANARY_TOKEN

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_acceptance.py"
_spec = importlib.util.spec_from_file_location("gpu_acceptance", _PATH)
ga = importlib.util.module_from_spec(_spec)
sys.modules["gpu_acceptance"] = ga  # dataclasses resolve annotations through sys.modules
_spec.loader.exec_module(ga)

QWEN_05B_CONFIG = {"model_type": "qwen2", "vocab_size": 151936, "hidden_size": 896, "intermediate_size": 4864,
                   "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
                   "tie_word_embeddings": True, "torch_dtype": "bfloat16"}


def test_cpu_mode_runs_every_path_and_records_ok_or_a_skip_reason(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(_PATH), "--out", str(out), "--cpu", "--workdir", str(tmp_path / "w")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    report = json.loads((out / "gpu_acceptance.json").read_text(encoding="utf-8"))
    by = {p["name"]: p for p in report["paths"]}
    assert list(by) == ga.PATH_NAMES  # every path, in order
    failed = {n: (p["reason"], p["output_tail"][-1500:]) for n, p in by.items() if p["status"] not in ("ok", "skipped")}
    assert not failed, failed
    # The GPU-only kernels are skipped on CPU with the reason recorded; everything else trained one step.
    # The precision comparison runs on a GPU (on CPU the policy is fp32 already; fp16 autocast needs CUDA).
    gpu_only = {"sft_lora_packed_flash", "sft_qlora", "sft_full_fp32", "sft_full_fp16"}
    assert {n for n, p in by.items() if p["status"] == "skipped"} == gpu_only
    assert all(by[n]["reason"] == "needs a CUDA GPU" for n in gpu_only)
    for name in set(by) - gpu_only:
        path = by[name]
        assert path["status"] == "ok", name
        assert path["measured"]["steps_total"] == 1 and path["measured"]["real_tokens"] > 0, name
        assert path["predicted"]["memory_gib"] > 0 and path["ratios"]["peak_memory"] > 0, (name, path["predicted"])
    # The configuration read from the trainer: the anchor trains unpacked LoRA with checkpointing, GRPO whole groups.
    anchor = by["sft_lora_anchor"]["config"]
    assert anchor["peft"] and anchor["packing"] is False and anchor["activation_checkpointing"]
    assert by["sft_lora_anchor"]["measured"]["padding_share"] > 0.05  # padded batches of long-tailed chat data
    assert by["sft_lora_packed_sdpa"]["measured"]["padding_share"] == 0.0
    assert by["grpo"]["config"]["num_generations"] == 4
    # The precision policy's record: full fine-tuning's trained parameters are FP32 (master weights).
    assert by["sft_full"]["config"]["trainable_dtype"] == "float32"
    markdown = (out / "gpu_acceptance.md").read_text(encoding="utf-8")
    assert all(f"| {name} |" in markdown for name in ga.PATH_NAMES)
    assert "loss drop" not in markdown  # the comparison needs the GPU paths
    assert CANARY_TOKEN not in markdown + json.dumps(report) + proc.stdout + proc.stderr


def test_the_steady_window_leaves_out_the_warm_up_steps():
    steps = [{"seconds": 10.0, "real": 100, "computed": 200, "prompt_real": 0, "rows": 4, "micro_batches": 2},
             {"seconds": 1.0, "real": 1000, "computed": 1000, "prompt_real": 0, "rows": 4, "micro_batches": 2},
             {"seconds": 1.0, "real": 1000, "computed": 1250, "prompt_real": 0, "rows": 4, "micro_batches": 2}]
    m = ga.measure(steps, warmup=1)
    assert m["steps_measured"] == 2 and m["first_step_seconds"] == 10.0
    assert m["real_tokens_per_second"] == 1000.0 and m["seconds_per_step"] == 1.0
    assert m["padding_share"] == pytest.approx(1 - 2000 / 2250)
    assert m["real_tokens_per_micro_batch"] == 500.0 and m["rows_per_micro_batch"] == 2.0
    assert m["tokens_per_sequence"] == 250.0  # padded batches: one sequence per row
    # Fewer steps than the warm-up: the last step is still measured.
    assert ga.measure(steps[:1], warmup=3)["steps_measured"] == 1


def test_a_padding_free_batch_counts_its_sequences_by_where_positions_restart():
    import torch

    packed = {"input_ids": torch.ones(1, 10, dtype=torch.long),
              "position_ids": torch.tensor([[0, 1, 2, 3, 0, 1, 2, 0, 1, 2]])}  # three conversations in one row
    real, computed, prompt, rows, sequences = ga._batch_tokens(packed)
    assert (int(real), computed, prompt, rows, int(sequences)) == (10, 10, None, 1, 3)
    padded = {"input_ids": torch.ones(2, 4, dtype=torch.long), "attention_mask": torch.tensor([[1, 1, 1, 1],
                                                                                               [1, 1, 0, 0]])}
    assert [int(v) for v in ga._batch_tokens(padded) if v is not None] == [6, 8, 2, 2]


@pytest.mark.parametrize("method, expected_mean", [
    ("sft", 500.0),     # a packed row (or one conversation) per row of the micro-batch
    ("dpo", 250.0),     # chosen and rejected stacked: a pair trains two sequences
    ("reward", 250.0),
    ("grpo", 40.0),     # the estimator counts GRPO rows as prompts
])
def test_the_estimator_request_is_the_configuration_the_trainer_ran(method, expected_mean):
    path = ga.AcceptancePath("x", "train_x.py", "chat", method)
    config = {"per_device_train_batch_size": 2, "gradient_accumulation_steps": 8, "max_length": 1024,
              "activation_checkpointing": True, "peft": True, "load_in_4bit": False, "optim": "adamw_torch_fused",
              "num_generations": 4, "max_completion_length": 128}
    measured = {"real_tokens_per_micro_batch": 1000.0, "prompt_tokens_per_row": 40.0, "steps_measured": 7}
    request = ga.estimator_request(path, config, measured)
    assert request["mean_tokens_per_row"] == expected_mean
    assert (request["max_steps"], request["per_device_train_batch_size"], request["gradient_accumulation_steps"]) == \
        (ga.PREDICT_STEPS, 2, 8)
    assert request["push_to_hub"] is False and request["use_peft"] is True


def test_the_estimator_core_gives_what_run_estimate_gives(tmp_path):
    from hf_trainer.estimate import make_request, run_estimate
    from hf_trainer.runtime.estimate_math import Catalog, facts_from_folder

    (tmp_path / "config.json").write_text(json.dumps(QWEN_05B_CONFIG), encoding="utf-8")
    spec, _ = ga.card_spec("NVIDIA H100 80GB HBM3")
    flavor = ga.device_flavor(spec, 79.2, 16, 0.0)
    request = {"method": "sft", "max_steps": 7, "per_device_train_batch_size": 1, "gradient_accumulation_steps": 16,
               "max_length": 2048, "mean_tokens_per_row": 2000.0, "activation_checkpointing": True,
               "use_peft": True, "lora_target_modules": "all-linear", "load_in_4bit": False, "push_to_hub": False,
               "max_hours": None}
    ours = ga.predict(request, tmp_path, flavor)
    theirs = run_estimate(make_request(model_name_or_path=str(tmp_path), **request),
                          catalog=Catalog((flavor,), "measured", "today"), facts=facts_from_folder(tmp_path)).rows[0]
    assert ours["memory_gib"] == theirs.memory_gib
    assert ours["seconds_per_step"] == theirs.seconds_per_step  # training per optimiser step: 7 steps of 16 rows
    assert ours["optimizer_steps"] == theirs.optimizer_steps == 7 and ours["micro_batches"] == 7 * 16


@pytest.mark.parametrize("device, model, note", [
    ("NVIDIA H200", "H200", ""),                             # in the estimator's table
    ("NVIDIA H100 80GB HBM3", "H200", "H100 is not in"),     # no H100 flavor: the H200 row, same dense peak, said
    ("NVIDIA A100-SXM4-80GB", "A100", ""),
    ("Tesla V100-SXM2-16GB", None, "not in the estimator's table"),
])
def test_the_card_peak_comes_from_the_estimators_datasheet_table(device, model, note):
    spec, said = ga.card_spec(device)
    assert (spec.model if spec else None) == model
    assert note in said


def test_a_path_whose_kernel_is_missing_is_skipped_with_the_reason():
    flash = next(p for p in ga.PATHS if p.name == "sft_lora_packed_flash")
    assert ga.missing_need(flash, {"cuda": True, "flash_attn": False}) == "flash_attn is not installed (varlen kernel)"
    assert ga.missing_need(flash, {"cuda": True, "flash_attn": True}) is None


def test_the_report_shows_a_failed_path_with_its_reason():
    report = {"environment": {"device": "NVIDIA H100", "versions": {}, "peak_tflops": 989, "peak_source": "x"},
              "date": "2026-12-06", "model": {"shape": "0.5b", "parameters": 494e6, "dtype": "bfloat16"},
              "steps": 10, "warmup": 3, "total_seconds": 1.0, "notes": ["bitsandbytes not importable"],
              "paths": [{"name": "grpo", "status": "failed", "reason": "exit 1", "measured": {}, "predicted": {},
                         "ratios": {}, "config": {}, "mfu": {}}]}
    text = ga.render(report)
    assert "| grpo | failed: exit 1 |" in text and "note: bitsandbytes not importable" in text


def test_the_report_compares_full_fine_tunings_loss_drop_with_fp32():
    def path(name, first, last, **config):
        return {"name": name, "status": "ok", "summary": {"first_loss": first, "last_loss": last},
                "config": {"trainable_dtype": "float32", **config}}

    by = {"sft_full": path("sft_full", 12.0, 10.0, bf16=True), "sft_full_fp32": path("sft_full_fp32", 12.0, 9.9),
          "sft_full_fp16": path("sft_full_fp16", 12.0, 11.5, fp16=True)}
    lines = ga.precision_lines(by)
    assert lines[0].startswith("- sft_full (policy: bf16 autocast, trained parameters float32): loss drop 2.0000 vs "
                               "sft_full_fp32 2.1000 over the same steps: x0.95 (target >= 0.70)")
    assert "sft_full_fp16 (forced fp16 + GradScaler: fp16 autocast" in lines[1] and "x0.24" in lines[1]
    assert ga.precision_lines({"sft_full": by["sft_full"]}) == []  # no fp32 run: nothing to compare
