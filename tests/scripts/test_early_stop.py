"""Runs that stop early instead of paying for nothing (runtime/early_stop.py), each with a reason the script prints,
the card and the --json summary record, and diagnose names."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

from helpers import run_script
from hf_trainer.diagnose import diagnose
from hf_trainer.jobs.base import Stage
from hf_trainer.runtime.early_stop import STOPPED_EXIT_CODE, early_stop
from hf_trainer.tiny import chat_rows, write_jsonl


def _summary(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == STOPPED_EXIT_CODE, f"exit {result.returncode}\n{result.stdout[-3000:]}\n" \
                                                   f"{result.stderr[-3000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def _diagnosis(result: subprocess.CompletedProcess, args: list[str], script: str):
    lines = (result.stdout + result.stderr).splitlines()
    return diagnose(Stage.ERROR, f"exited with code {result.returncode}", lines, args, script=script)


def test_a_nan_run_stops_at_once_keeps_its_last_good_checkpoint_and_diagnose_names_it(tiny_model, tmp_path):
    data = write_jsonl(chat_rows(32), tmp_path / "chat.jsonl")
    out = tmp_path / "out"
    args = ["--model_name_or_path", str(tiny_model), "--dataset_name", str(data), "--output_dir", str(out),
            "--max_length", "64", "--per_device_train_batch_size", "8", "--gradient_accumulation_steps", "1",
            "--learning_rate", "1e9", "--max_steps", "8", "--save_steps", "1", "--logging_steps", "1",
            "--report_to", "none", "--json"]
    result = run_script("train_sft.py", *args)
    summary = _summary(result)

    stopped = summary["stopped_early"]
    assert stopped["reason"] == "nan_loss" and summary["steps"] == stopped["step"] < 8
    assert "hf-trainer stopped early [nan_loss]" in result.stdout
    # The step that diverged was neither saved nor kept as the result; the one before it is the last good checkpoint.
    assert not (out / f"checkpoint-{stopped['step']}").exists()
    assert (out / f"checkpoint-{stopped['step'] - 1}").is_dir() and not (out / "model.safetensors").exists()
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "## Stopped early" in card and "(nan_loss)" in card

    found = _diagnosis(result, args, "train_sft.py")
    assert found.kind == "nan_loss" and "stopped early [nan_loss]" in found.evidence
    assert found.change is not None and "--learning_rate" in found.change.script_args


ZERO_REWARD = '''
def constant_reward(completions, **kwargs):
    """Every completion scores the same: no learning signal."""
    return [0.0 for _ in completions]
'''


def test_a_grpo_run_whose_rewards_never_differ_stops_and_diagnose_names_it(tiny_model, tmp_path):
    data = write_jsonl([{"prompt": f"Q: {i} plus {i}? A:"} for i in range(16)], tmp_path / "prompts.jsonl")
    rewards = tmp_path / "rewards.py"
    rewards.write_text(ZERO_REWARD, encoding="utf-8")
    out = tmp_path / "out"
    args = ["--model_name_or_path", str(tiny_model), "--dataset_name", str(data), "--output_dir", str(out),
            "--reward_funcs_file", str(rewards), "--per_device_train_batch_size", "4",
            "--gradient_accumulation_steps", "1", "--num_generations", "4", "--max_completion_length", "4",
            "--max_steps", "8", "--logging_steps", "1", "--zero_reward_steps", "2", "--report_to", "none", "--json"]
    result = run_script("train_grpo.py", *args)
    summary = _summary(result)

    assert summary["stopped_early"]["reason"] == "zero_reward_variance" and summary["steps"] == 2
    # The weights are intact (only nothing was learned): saved, with a card that says why the run ended.
    assert (out / "model.safetensors").is_file()
    assert "(zero_reward_variance)" in (out / "README.md").read_text(encoding="utf-8")
    found = _diagnosis(result, args, "train_grpo.py")
    assert found.kind == "zero_reward_variance" and found.change is None  # no argument makes rewards discriminate


def _callback(method: str = "sft", **knobs):
    return early_stop(SimpleNamespace(stall_minutes=0, zero_reward_steps=0, **knobs), method)


def test_a_loss_that_stays_far_above_its_best_stops_as_diverging():
    callback = _callback()
    control = SimpleNamespace(should_training_stop=False, should_save=True, should_evaluate=False)
    train_args = SimpleNamespace(learning_rate=1e-3)
    for step, loss in enumerate([2.0, 1.5, 1.2, 1.0, 1.0, 1.1, 4.0, 5.0], start=1):
        callback.on_log(train_args, SimpleNamespace(global_step=step), control, logs={"loss": loss})
    assert not control.should_training_stop  # two high logs are noise
    callback.on_log(train_args, SimpleNamespace(global_step=9), control, logs={"loss": 6.0})
    assert control.should_training_stop and not control.should_save
    assert callback.stopped["reason"] == "diverging" and callback.stopped["step"] == 9


def test_a_run_with_no_progress_for_the_set_time_ends_with_the_stalled_reason(tmp_path):
    # The watchdog ends the process (the main thread is stuck), so it runs in a child process.
    code = textwrap.dedent("""
        import time
        from types import SimpleNamespace
        from hf_trainer.runtime.early_stop import early_stop
        callback = early_stop(SimpleNamespace(stall_minutes=0.005, zero_reward_steps=0), "sft")
        callback.on_train_begin(None, SimpleNamespace(is_world_process_zero=True, global_step=7), None)
        time.sleep(30)
        print("not stopped")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == STOPPED_EXIT_CODE, result.stdout + result.stderr
    assert "hf-trainer stopped early [stalled] at step 7" in result.stdout and "not stopped" not in result.stdout
    assert diagnose(Stage.ERROR, "exited with code 3", result.stdout.splitlines(), []).kind == "stalled"
