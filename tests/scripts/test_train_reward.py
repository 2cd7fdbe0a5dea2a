"""scripts/train_reward.py trains a one-label scorer on preference pairs, on CPU, with a tiny model."""

import json
import time

import pytest

from helpers import json_summary, run_script
from hf_trainer.tiny import chat_rows, write_jsonl

FAST = ["--max_length", "128", "--per_device_train_batch_size", "8", "--gradient_accumulation_steps", "1",
        "--learning_rate", "1e-3", "--json", "--report_to", "none"]
WRONG = "I do not know."


def standard_rows(n: int = 32) -> list[dict]:
    """Explicit prompt, standard: strings."""
    return [{"prompt": row["messages"][-2]["content"], "chosen": " " + row["messages"][-1]["content"],
             "rejected": " " + WRONG} for row in chat_rows(n)]


def implicit_conversational_rows(n: int = 32) -> list[dict]:
    """Implicit prompt, conversational: whole conversations that differ in the last turn."""
    return [{"chosen": row["messages"], "rejected": row["messages"][:-1] + [{"role": "assistant", "content": WRONG}]}
            for row in chat_rows(n)]


def _base(tiny_model, data, out) -> list[str]:
    return ["--model_name_or_path", str(tiny_model), "--dataset_name", str(data), "--output_dir", str(out)]


def test_full_reward_model_learns_to_rank_chosen_above_rejected(tiny_model, tmp_path):
    data = write_jsonl(standard_rows(), tmp_path / "pairs.jsonl")
    out = tmp_path / "out"
    summary = json_summary(run_script("train_reward.py", *_base(tiny_model, data, out), "--max_steps", "4", *FAST))

    assert summary["steps"] == 4 and summary["method"] == "reward"
    assert summary["last_loss"] < summary["first_loss"]
    assert summary["extra_results"]["eval_accuracy"] >= 0.5
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["architectures"][0].endswith("ForSequenceClassification")
    assert len(config["id2label"]) == 1  # one output: the score
    assert "| format | prompt+chosen+rejected |" in (out / "README.md").read_text(encoding="utf-8")


def test_lora_reward_model_on_implicit_conversations_trains_the_score_head_in_full(tiny_model, tmp_path):
    data = write_jsonl(implicit_conversational_rows(), tmp_path / "pairs.jsonl")
    out = tmp_path / "out"
    summary = json_summary(run_script("train_reward.py", *_base(tiny_model, data, out), "--max_steps", "3",
                                      "--use_peft", *FAST))

    assert summary["steps"] == 3
    adapter = json.loads((out / "adapter_config.json").read_text(encoding="utf-8"))
    assert adapter["task_type"] == "SEQ_CLS" and "score" in (adapter["modules_to_save"] or [])


def test_resume_continues_from_the_local_checkpoint(tiny_model, tmp_path):
    data = write_jsonl(standard_rows(48), tmp_path / "pairs.jsonl")
    out = tmp_path / "out"
    args = [*_base(tiny_model, data, out), "--save_steps", "2", "--eval_split_size", "0", *FAST]
    json_summary(run_script("train_reward.py", *args, "--max_steps", "2"))
    summary = json_summary(run_script("train_reward.py", *args, "--max_steps", "4", "--resume"))

    assert summary["steps"] == 4
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text(encoding="utf-8"))
    assert [entry["step"] for entry in state["log_history"] if "loss" in entry] == [1, 2, 3, 4]  # not restarted


def test_smoke_passes_with_one_line(tiny_model, tmp_path):
    data = write_jsonl(standard_rows(16), tmp_path / "pairs.jsonl")
    result = run_script("train_reward.py", *_base(tiny_model, data, tmp_path / "out"), "--smoke", "--max_length", "128")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("smoke:")]
    assert len(lines) == 1 and lines[0].startswith("smoke: OK - loss ")


@pytest.mark.parametrize(
    "rows, message",
    [
        # SFT data: no pair to rank
        (chat_rows(8), "REWARD cannot train on these rows (found ['messages'])"),
        # a rejected column alone is not a pair
        ([{"prompt": "q", "rejected": "a"}] * 8, "found ['prompt', 'rejected']"),
    ],
)
def test_data_without_chosen_and_rejected_is_refused_naming_the_columns(tiny_model, tmp_path, rows, message):
    data = write_jsonl(rows, tmp_path / "data.jsonl")
    result = run_script("train_reward.py", *_base(tiny_model, data, tmp_path / "out"))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_help_is_instant_and_exits_zero():
    started = time.time()
    result = run_script("train_reward.py", "--help")
    assert result.returncode == 0 and "--center_rewards_coefficient" in result.stdout
    assert time.time() - started < 10
