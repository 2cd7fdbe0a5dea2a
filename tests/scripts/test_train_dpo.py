"""scripts/train_dpo.py really trains on a tiny model, on CPU, in TRL's preference formats; and under a launcher."""

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from helpers import SCRIPTS, json_summary, run_script, trackio_logs, sigkill_after_checkpoint
from hf_trainer.tiny import chat_rows, write_jsonl

FAST = ["--max_length", "128", "--per_device_train_batch_size", "8", "--gradient_accumulation_steps", "1",
        "--learning_rate", "1e-3", "--json"]
WRONG = "I do not know."


def conversational_rows(n: int = 32) -> list[dict]:
    """Explicit prompt, conversational: prompt messages, one chosen and one rejected assistant message."""
    return [{"prompt": row["messages"][:-1], "chosen": [row["messages"][-1]],
             "rejected": [{"role": "assistant", "content": WRONG}]} for row in chat_rows(n)]


def implicit_standard_rows(n: int = 32) -> list[dict]:
    """Implicit prompt, standard: chosen and rejected are whole texts sharing the question as a prefix."""
    rows = []
    for row in chat_rows(n):
        question, answer = row["messages"][-2]["content"], row["messages"][-1]["content"]
        rows.append({"chosen": f"Q: {question} A: {answer}", "rejected": f"Q: {question} A: {WRONG}"})
    return rows


def _base(tiny_model, data, out) -> list[str]:
    return ["--model_name_or_path", str(tiny_model), "--dataset_name", str(data), "--output_dir", str(out)]


def test_full_dpo_on_conversational_pairs_prefers_the_chosen_answers_and_saves_a_card(tiny_model, tmp_path):
    data = write_jsonl(conversational_rows(), tmp_path / "pairs.jsonl")
    out = tmp_path / "out"
    summary = json_summary(run_script("train_dpo.py", *_base(tiny_model, data, out), "--max_steps", "4",
                                      "--run_name", "dpo-full", *FAST))

    assert summary["steps"] == 4 and summary["method"] == "dpo"
    assert summary["first_loss"] == pytest.approx(0.6931, abs=1e-3)  # policy == reference at step 1: log 2
    assert summary["last_loss"] < summary["first_loss"]
    assert summary["extra_results"]["reward_margin"] > 0  # chosen answers score above rejected ones
    assert summary["eval_loss"] is not None
    for name in ("model.safetensors", "config.json", "tokenizer.json", "README.md"):
        assert (out / name).is_file(), name
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "DPO" in card and "| beta | 0.1 |" in card and "| format | prompt+chosen+rejected |" in card

    logs = trackio_logs("hf-trainer", "dpo-full")
    assert len([entry for entry in logs if "train/loss" in entry]) == 4  # trackio got every step


def test_lora_dpo_on_implicit_prompt_text_pairs_trains_an_adapter(tiny_model, tmp_path):
    data = write_jsonl(implicit_standard_rows(), tmp_path / "pairs.jsonl")
    out = tmp_path / "out"
    summary = json_summary(run_script("train_dpo.py", *_base(tiny_model, data, out), "--max_steps", "3",
                                      "--use_peft", "--report_to", "none", *FAST))

    assert summary["steps"] == 3
    assert (out / "adapter_model.safetensors").is_file() and not (out / "model.safetensors").exists()
    assert "| format | chosen+rejected |" in (out / "README.md").read_text(encoding="utf-8")


def test_smoke_passes_with_one_line(tiny_model, tmp_path):
    data = write_jsonl(conversational_rows(16), tmp_path / "pairs.jsonl")
    result = run_script("train_dpo.py", *_base(tiny_model, data, tmp_path / "out"), "--smoke", "--max_length", "128")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("smoke:")]
    assert len(lines) == 1 and lines[0].startswith("smoke: OK - loss 0.6931")


@pytest.mark.parametrize(
    "rows, args, message",
    [
        # SFT data has no chosen/rejected pair: the columns found are named
        (chat_rows(8), [], "DPO cannot train on these rows (found ['messages']): language modelling rows; DPO "
                           "needs a chosen and a rejected answer per prompt"),
        # a chosen column alone is not a pair
        ([{"prompt": "q", "chosen": "a"}] * 8, [], "found ['chosen', 'prompt']"),
    ],
)
def test_data_without_a_preference_pair_gets_one_clear_error(tiny_model, tmp_path, rows, args, message):
    data = write_jsonl(rows, tmp_path / "data.jsonl")
    result = run_script("train_dpo.py", *_base(tiny_model, data, tmp_path / "out"), *args)
    assert result.returncode == 2, result.stdout[-2000:]
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "extra, message",
    [
        # label smoothing beyond 0.5 would flip the preference
        (["--label_smoothing", "0.7"], "--label_smoothing 0.7 must be in [0, 0.5)"),
        # one weight per loss
        (["--loss_type", "sigmoid", "sft", "--loss_weights", "1"], "--loss_weights has 1 values but --loss_type has 2"),
    ],
)
def test_dpo_argument_mistakes_are_named(extra, message):
    spec = importlib.util.spec_from_file_location("train_dpo", SCRIPTS / "train_dpo.py")
    dpo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dpo)  # the script as a module: main() is not run
    args = dpo.parse_args(["--model_name_or_path", "m", "--dataset_name", "d", *extra])
    with pytest.raises(dpo.ScriptError) as error:
        dpo.check_dpo_arguments(args)
    assert message in str(error.value)


def test_help_is_instant_and_exits_zero():
    started = time.time()
    result = run_script("train_dpo.py", "--help")
    assert result.returncode == 0 and "--beta" in result.stdout and "--loss_type" in result.stdout
    assert time.time() - started < 10


def test_resume_after_sigkill_continues_from_the_checkpoint_without_repeating_steps(tiny_model, tmp_path):
    data = write_jsonl(conversational_rows(64), tmp_path / "pairs.jsonl")
    out = tmp_path / "out"
    args = [sys.executable, str(SCRIPTS / "train_dpo.py"), *_base(tiny_model, data, out), "--max_steps", "12",
            "--save_steps", "3", "--report_to", "none", "--eval_split_size", "0", *FAST[:-1]]
    saved = sigkill_after_checkpoint(args, out, 3)
    assert saved and saved[-1] < 12  # killed mid-run

    summary = json_summary(subprocess.run([*args, "--resume", "--json"], capture_output=True, text=True, timeout=300))
    assert summary["steps"] == 12
    state = json.loads((out / "checkpoint-12" / "trainer_state.json").read_text(encoding="utf-8"))
    assert [entry["step"] for entry in state["log_history"] if "loss" in entry] == list(range(1, 13))


def test_two_processes_under_a_distributed_launcher_train_one_model_and_print_one_summary(tiny_model, tmp_path):
    # torch.distributed.run is what `accelerate launch --multi_gpu` starts; on CPU it runs DDP over gloo.
    data = write_jsonl(conversational_rows(32), tmp_path / "pairs.jsonl")
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with socket.socket() as probe:  # a free rendezvous port (port 0 is not understood by the launcher)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    launcher = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
         "--master_port", str(port), str(SCRIPTS / "train_dpo.py"), *_base(tiny_model, data, out), "--max_steps", "2",
         "--report_to", "none", "--eval_split_size", "0", "--max_length", "128", "--per_device_train_batch_size", "4",
         "--gradient_accumulation_steps", "1", "--learning_rate", "1e-3", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        stdout, stderr = launcher.communicate(timeout=300)
    finally:
        if launcher.poll() is None:  # never leave the worker processes behind
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
    assert launcher.returncode == 0, stderr[-3000:]
    summaries = [line for line in stdout.splitlines() if line.startswith('{"method"')]
    assert len(summaries) == 1  # rank 0 only
    summary = json.loads(summaries[0])
    assert summary["steps"] == 2
    state = json.loads((out / "checkpoint-2" / "trainer_state.json").read_text(encoding="utf-8"))
    assert state["train_batch_size"] == 4 and (out / "model.safetensors").is_file()


def test_push_to_the_hub_with_checkpoints_lets_a_new_job_resume_from_the_hub(fake_hub, tiny_model, tmp_path):
    from conftest import CANARY_TOKEN
    from fakes.fake_hub_files import add_download_routes
    from fakes.fake_hub_repos import add_repo_routes

    repos = add_repo_routes(fake_hub)
    add_download_routes(fake_hub, repos)
    data = write_jsonl(conversational_rows(32), tmp_path / "pairs.jsonl")
    common = ["--model_name_or_path", str(tiny_model), "--dataset_name", str(data), "--push_to_hub",
              "--hub_model_id", "alice/tiny-dpo", "--save_steps", "2", "--report_to", "none", "--eval_split_size", "0",
              *FAST]
    first = json_summary(run_script("train_dpo.py", *common, "--output_dir", str(tmp_path / "job1"), "--max_steps", "2"))
    assert first["hub_url"] == f"{fake_hub.url}/alice/tiny-dpo"
    files = repos["alice/tiny-dpo"].files
    assert {"last-checkpoint/trainer_state.json", "model.safetensors", "README.md"} <= set(files)
    assert repos["alice/tiny-dpo"].visibility == "private"
    assert b"- dpo" in files["README.md"]  # the card's tags name the method
    assert not any(CANARY_TOKEN.encode() in content for content in files.values())  # no token in any pushed file

    # A fresh container: only the Hub has the checkpoint.
    result = run_script("train_dpo.py", *common, "--output_dir", str(tmp_path / "job2"), "--max_steps", "3", "--resume")
    assert json_summary(result)["steps"] == 3 and "Resuming from alice/tiny-dpo/last-checkpoint" in result.stdout
    state = json.loads(files["last-checkpoint/trainer_state.json"])
    assert [entry["step"] for entry in state["log_history"] if "loss" in entry] == [1, 2, 3]
