"""scripts/train_sft.py really trains on a tiny model, on CPU, in every data format."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import SCRIPTS, json_summary, run_script, trackio_logs, sigkill_after_checkpoint
from hf_trainer.tiny import chat_rows, write_jsonl

FAST = ["--max_length", "128", "--per_device_train_batch_size", "8", "--gradient_accumulation_steps", "1",
        "--learning_rate", "3e-3", "--json"]


def _text_rows(n: int = 48) -> list[dict]:
    rows = []
    for row in chat_rows(n):
        user, assistant = row["messages"][-2]["content"], row["messages"][-1]["content"]
        rows.append({"text": f"Q: {user} A: {assistant}"})
    return rows


def _prompt_completion_rows(n: int = 48) -> list[dict]:
    return [{"prompt": row["messages"][-2]["content"], "completion": " " + row["messages"][-1]["content"]}
            for row in chat_rows(n)]


@pytest.fixture
def chat_data(tmp_path: Path) -> Path:
    return write_jsonl(chat_rows(64), tmp_path / "chat.jsonl")


def test_full_fine_tuning_on_chat_data_lowers_the_loss_and_saves_everything(tiny_model, chat_data, tmp_path):
    out = tmp_path / "out"
    summary = json_summary(run_script(
        "train_sft.py", "--model_name_or_path", str(tiny_model), "--dataset_name", str(chat_data),
        "--output_dir", str(out), "--max_steps", "12", "--run_name", "full-chat", *FAST))

    assert summary["steps"] == 12
    assert summary["last_loss"] < summary["first_loss"] * 0.8  # a memorisable set: the loss must really fall
    assert summary["eval_loss"] is not None  # an eval split was carved from the train split
    for name in ("model.safetensors", "config.json", "tokenizer.json", "README.md"):
        assert (out / name).is_file(), name
    card = (out / "README.md").read_text(encoding="utf-8")
    assert f"base_model: {tiny_model}" in card and "| steps | 12 |" in card and "SFT" in card
    assert "Training metrics: trackio project `hf-trainer`, run `full-chat`" in card  # the model links its metrics

    logs = trackio_logs("hf-trainer", "full-chat")
    logged_losses = [entry["train/loss"] for entry in logs if "train/loss" in entry]
    assert len(logged_losses) == 12  # one per step, read back from trackio's own store
    assert logged_losses[-1] == pytest.approx(summary["last_loss"], rel=1e-4)


@pytest.mark.parametrize(
    "rows, extra",
    [
        # plain text, LoRA, without packing (padded batches)
        (_text_rows, ["--use_peft", "--no-packing"]),
        # prompt/completion, LoRA with explicit target modules, packed
        (_prompt_completion_rows, ["--use_peft", "--lora_target_modules", "q_proj", "v_proj"]),
    ],
)
def test_lora_trains_an_adapter_on_text_and_prompt_completion_data(tiny_model, tmp_path, rows, extra):
    data = write_jsonl(rows(), tmp_path / "data.jsonl")
    out = tmp_path / "out"
    summary = json_summary(run_script(
        "train_sft.py", "--model_name_or_path", str(tiny_model), "--dataset_name", str(data),
        "--output_dir", str(out), "--max_steps", "4", "--report_to", "none", *extra, *FAST))

    assert summary["steps"] == 4
    assert all(v is not None and v == v for v in (summary["first_loss"], summary["last_loss"]))
    adapter = json.loads((out / "adapter_config.json").read_text(encoding="utf-8"))
    assert (out / "adapter_model.safetensors").is_file() and not (out / "model.safetensors").exists()
    assert adapter["r"] == 16
    if "q_proj" in extra:
        assert sorted(adapter["target_modules"]) == ["q_proj", "v_proj"]


def test_smoke_passes_on_good_data_with_one_line(tiny_model, chat_data, tmp_path):
    result = run_script("train_sft.py", "--model_name_or_path", str(tiny_model), "--dataset_name", str(chat_data),
                        "--output_dir", str(tmp_path / "out"), "--smoke", "--max_length", "128")
    assert result.returncode == 0, result.stderr[-2000:]
    smoke_lines = [line for line in result.stdout.splitlines() if line.startswith("smoke:")]
    assert len(smoke_lines) == 1 and smoke_lines[0].startswith("smoke: OK - loss ")
    assert not (tmp_path / "out" / "checkpoint-1").exists()  # a smoke run saves nothing


def test_smoke_fails_naming_the_columns_found_when_none_is_usable(tiny_model, tmp_path):
    data = write_jsonl([{"question_text": "a", "label": 1}] * 8, tmp_path / "bad.jsonl")
    result = run_script("train_sft.py", "--model_name_or_path", str(tiny_model), "--dataset_name", str(data),
                        "--output_dir", str(tmp_path / "out"), "--smoke")
    assert result.returncode == 1
    line = result.stdout.strip().splitlines()[-1]
    assert line.startswith("smoke: FAIL") and "'label'" in line and "'question_text'" in line
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        # QLoRA needs CUDA; this machine has none
        (["--use_peft", "--load_in_4bit"], "needs a CUDA GPU"),
        # pushing without a repo id would lose the model
        (["--push_to_hub"], "--push_to_hub needs --hub_model_id"),
        # a dataset path that does not exist and is not a Hub id
        (["--dataset_name", "./missing/data.jsonl"], "neither an existing local path nor a Hub id"),
        # an unknown mapping name
        (["--dataset_mapping", "no_such_mapping"], "--dataset_mapping 'no_such_mapping' is unknown"),
    ],
)
def test_bad_arguments_get_one_clear_error_and_no_traceback(tiny_model, chat_data, tmp_path, args, message):
    base = ["--model_name_or_path", str(tiny_model), "--dataset_name", str(chat_data), "--output_dir",
            str(tmp_path / "out")]
    result = run_script("train_sft.py", *base, *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_help_is_instant_and_exits_zero():
    started = time.time()
    result = run_script("train_sft.py", "--help")
    assert result.returncode == 0 and "--model_name_or_path" in result.stdout
    assert time.time() - started < 10  # heavy imports live inside main()


def _steps_logged(output: str) -> list[float]:
    return [json.loads(line.replace("'", '"'))["epoch"] for line in output.splitlines()
            if line.startswith("{'loss'")]


def test_resume_after_sigkill_continues_from_the_checkpoint_without_repeating_steps(tiny_model, chat_data, tmp_path):
    out = tmp_path / "out"
    args = [sys.executable, str(SCRIPTS / "train_sft.py"), "--model_name_or_path", str(tiny_model),
            "--dataset_name", str(chat_data), "--output_dir", str(out), "--max_steps", "16", "--save_steps", "4",
            "--report_to", "none", "--eval_split_size", "0", *FAST[:-1]]
    saved = sigkill_after_checkpoint(args, out, 4)
    assert saved and saved[-1] < 16  # killed mid-run

    summary = json_summary(subprocess.run([*args, "--resume", "--json"], capture_output=True, text=True, timeout=300))
    assert summary["steps"] == 16
    state = json.loads((out / "checkpoint-16" / "trainer_state.json").read_text(encoding="utf-8"))
    steps = [entry["step"] for entry in state["log_history"] if "loss" in entry]
    assert steps == list(range(1, 17))  # each step logged once: resumed, not restarted
