"""The estimator counts the optimiser steps the trainer runs: each training script trains one epoch of a small dataset
on a tiny model on CPU, and its global_step is compared with the estimate for the same arguments and the same data
(measured by dataset_inspect, as `estimate` and `train` measure it). One run per method."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import json_summary, run_script

from hf_trainer.estimate import request_from_script_args, run_estimate
from hf_trainer.runtime.estimate_math import fallback_catalog
from hf_trainer.tiny import chat_rows, write_jsonl

WRONG = "I do not know."
COMMON = ["--learning_rate", "1e-4", "--json", "--report_to", "none", "--save_steps", "1000"]


def preference_rows(n: int) -> list[dict]:
    return [{"prompt": row["messages"][-2]["content"], "chosen": " " + row["messages"][-1]["content"],
             "rejected": " " + WRONG} for row in chat_rows(n)]


def unpaired_rows(n: int) -> list[dict]:
    rows = []
    for i, row in enumerate(chat_rows(n)):
        good = i % 3 != 0
        rows.append({"prompt": row["messages"][-2]["content"],
                     "completion": " " + (row["messages"][-1]["content"] if good else WRONG), "label": good})
    return rows


def prompt_rows(n: int) -> list[dict]:
    return [{"prompt": f"Q: what is {i % 7} plus {i % 5}? A:", "answer": str(i % 7 + i % 5)} for i in range(n)]


# (script, rows, script arguments, tolerance in steps). Each chosen so one epoch is a handful of steps, an eval split
# is carved where the script carves one, and the last accumulation is partial somewhere.
CASES = {
    # 57 rows of ~30 tokens packed best-fit into 64-token rows, 1 packed row per micro-batch, 2 accumulation: best-fit
    # decides the packed-row count, so one step either way.
    "sft": ("train_sft.py", chat_rows(60), ["--max_length", "64", "--gradient_accumulation_steps", "2"], 1),
    # 19 training pairs (1 carved for eval), 2 pairs per micro-batch, 3 accumulation: ceil(ceil(19 / 2) / 3) = 4.
    "dpo": ("train_dpo.py", preference_rows(20), ["--max_length", "128", "--per_device_train_batch_size", "2",
                                                  "--gradient_accumulation_steps", "3"], 0),
    "reward": ("train_reward.py", preference_rows(22), ["--max_length", "128", "--per_device_train_batch_size", "4",
                                                        "--gradient_accumulation_steps", "2"], 0),
    "kto": ("train_kto.py", unpaired_rows(30), ["--max_length", "128", "--per_device_train_batch_size", "4",
                                                "--gradient_accumulation_steps", "2"], 0),
    # 4 completions per micro-batch x 2 steps per generation = 8 completions = 2 prompts x 4 generations per round:
    # 11 prompts make 5 whole rounds (the odd prompt is dropped, as TRL's RepeatSampler does), 10 micro-batches,
    # 5 optimiser steps. TRL counts completions, not prompts.
    "grpo": ("train_grpo.py", prompt_rows(11), ["--per_device_train_batch_size", "4", "--gradient_accumulation_steps",
                                                "2", "--num_generations", "4", "--max_completion_length", "4",
                                                "--reward_funcs", "length_penalty"], 0),
}


@pytest.mark.parametrize("method", list(CASES))
def test_the_estimators_step_count_is_the_trainers_global_step(method: str, tiny_model: Path, tmp_path: Path) -> None:
    script, rows, extra, tolerance = CASES[method]
    data = write_jsonl(rows, tmp_path / "data.jsonl")
    args = ["--model_name_or_path", str(tiny_model), "--dataset_name", str(data), "--num_train_epochs", "1", *extra]
    summary = json_summary(run_script(script, *args, "--output_dir", str(tmp_path / "out"), *COMMON))

    request = request_from_script_args(script, args, flavors=["cpu-upgrade"], max_hours=None, push_to_hub=False)
    result = run_estimate(request, catalog=fallback_catalog())
    estimated = result.rows[0].optimizer_steps
    assert abs(estimated - summary["steps"]) <= tolerance, (method, estimated, summary["steps"], result.assumptions)
    assert summary["steps"] >= 3  # a count worth comparing
