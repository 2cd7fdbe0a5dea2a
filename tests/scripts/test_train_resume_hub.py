"""A new job to the same Hub repo resumes from the checkpoint the previous job pushed (results are never lost)."""

import json

from fakes.fake_hub_files import add_download_routes
from fakes.fake_hub_repos import add_repo_routes
from helpers import json_summary, run_script
from hf_trainer.tiny import chat_rows, write_jsonl


def test_a_second_job_resumes_from_the_checkpoint_the_first_pushed(fake_hub, tiny_model, tmp_path):
    repos = add_repo_routes(fake_hub)
    add_download_routes(fake_hub, repos)
    data = write_jsonl(chat_rows(64), tmp_path / "chat.jsonl")
    common = ["--model_name_or_path", str(tiny_model), "--dataset_name", str(data), "--push_to_hub",
              "--hub_model_id", "alice/tiny-sft", "--save_steps", "2", "--report_to", "none", "--eval_split_size", "0",
              "--max_length", "128", "--per_device_train_batch_size", "8", "--gradient_accumulation_steps", "1",
              "--learning_rate", "3e-3", "--json"]

    first = json_summary(run_script("train_sft.py", *common, "--output_dir", str(tmp_path / "job1"),
                                    "--max_steps", "4"))
    assert first["steps"] == 4 and first["hub_url"] == f"{fake_hub.url}/alice/tiny-sft"
    files = repos["alice/tiny-sft"].files
    assert "last-checkpoint/trainer_state.json" in files and "model.safetensors" in files and "README.md" in files
    assert repos["alice/tiny-sft"].visibility == "private"  # private by default

    # The next job runs in a fresh container: its output folder is empty; only the Hub remembers.
    result = run_script("train_sft.py", *common, "--output_dir", str(tmp_path / "job2"), "--max_steps", "6",
                        "--resume")
    second = json_summary(result)
    assert "Resuming from alice/tiny-sft/last-checkpoint" in result.stdout
    assert second["steps"] == 6
    state = json.loads(files["last-checkpoint/trainer_state.json"])
    steps = [entry["step"] for entry in state["log_history"] if "loss" in entry]
    assert steps == [1, 2, 3, 4, 5, 6]  # steps 1-4 from the first job, 5-6 from the second: none repeated
