"""Resume that cannot mix runs: a checkpoint records what made it; another model, dataset or method is refused before
training with the difference named (runtime/resume.py), locally and from the Hub's last-checkpoint."""

import argparse
import json
import shutil
from pathlib import Path

import pytest

from fakes.fake_hub_files import add_download_routes
from fakes.fake_hub_repos import add_repo_routes
from helpers import json_summary, run_script
from hf_trainer.runtime import resume, train_common
from hf_trainer.tiny import chat_rows, write_jsonl

FAST = ["--max_length", "128", "--per_device_train_batch_size", "8", "--gradient_accumulation_steps", "1",
        "--learning_rate", "3e-3", "--report_to", "none", "--eval_split_size", "0", "--save_steps", "2"]


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    train_common.add_common_arguments(parser)
    return parser.parse_args(["--model_name_or_path", "org/base", "--dataset_name", "org/data", *argv])


def _refused(result) -> str:
    """The one-line refusal of a run that stopped before training (exit 2, no traceback)."""
    assert result.returncode == 2, f"exit {result.returncode}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    assert "Traceback" not in result.stderr and "size mismatch" not in result.stderr
    return result.stderr


def test_resume_is_never_by_default_must_when_bare_and_a_choice_otherwise():
    assert _args().resume == "never"
    assert _args("--resume").resume == "must"  # the old bare flag keeps meaning "continue"
    assert _args("--resume", "auto").resume == "auto"


@pytest.mark.parametrize("change, named", [
    # another base model: the checkpoint's tensors would not fit
    (["--model_name_or_path", "org/other"], "made from model org/base, this run asks for org/other"),
    # another dataset, or the same dataset through another mapping
    (["--dataset_name", "org/more"], "dataset org/data, this run asks for org/more"),
    (["--dataset_mapping", "alpaca"], "dataset mapping none, this run asks for alpaca"),
    # another adapter shape
    (["--use_peft", "--lora_r", "8"], "lora_r 16 -> 8"),
])
def test_each_difference_from_the_checkpoints_run_is_named(change, named):
    saved = resume.run_record(_args("--use_peft") if "--lora_r" in change else _args(), "sft")
    found = resume.differences(saved, resume.run_record(_args(*change), "sft"))
    assert len(found) == 1 and named in found[0]


def test_arguments_that_do_not_shape_the_state_may_change_between_jobs():
    saved = resume.run_record(_args("--learning_rate", "1e-4", "--per_device_train_batch_size", "8"), "sft")
    wanted = resume.run_record(_args("--learning_rate", "5e-5", "--per_device_train_batch_size", "1",
                                     "--logging_steps", "3", "--save_steps", "7"), "sft")
    assert resume.differences(saved, wanted) == []


def test_a_checkpoint_without_a_record_is_refused_under_auto_and_continued_under_must(tmp_path, capsys):
    (tmp_path / "checkpoint-4").mkdir()
    with pytest.raises(train_common.ScriptError, match="has no hf_trainer_run.json.*--resume must"):
        resume.resume_checkpoint(_args("--resume", "auto"), "sft", str(tmp_path))
    assert resume.resume_checkpoint(_args("--resume"), "sft", str(tmp_path)) == str(tmp_path / "checkpoint-4")
    assert "continuing from it because --resume must asks to" in capsys.readouterr().out


def test_nothing_to_continue_starts_fresh_under_auto_and_fails_under_must(tmp_path):
    assert resume.resume_checkpoint(_args("--resume", "auto"), "sft", str(tmp_path / "new")) is None
    with pytest.raises(train_common.ScriptError, match="--resume must: there is no checkpoint in"):
        resume.resume_checkpoint(_args("--resume", "must"), "sft", str(tmp_path / "new"))


def test_a_local_checkpoint_continues_only_the_run_that_made_it(tiny_model, tiny_model_256, tmp_path):
    data = write_jsonl(chat_rows(32), tmp_path / "chat.jsonl")
    other_data = write_jsonl(chat_rows(40), tmp_path / "other.jsonl")
    out = tmp_path / "out"
    base = ["--model_name_or_path", str(tiny_model), "--dataset_name", str(data), "--output_dir", str(out), *FAST]
    json_summary(run_script("train_sft.py", *base, "--max_steps", "2", "--json"))
    record = json.loads((out / "checkpoint-2" / "hf_trainer_run.json").read_text(encoding="utf-8"))
    assert record["base_model"] == str(tiny_model) and record["method"] == "sft"

    # Each of these would mix two runs (the first one with a size-mismatch traceback): refused before training.
    refusals = [
        ("train_sft.py", ["--model_name_or_path", str(tiny_model_256)],
         f"made from model {tiny_model}, this run asks for {tiny_model_256}"),
        ("train_sft.py", ["--dataset_name", str(other_data)], f"dataset {data}, this run asks for {other_data}"),
        ("train_dpo.py", [], "made by SFT, this run is DPO"),
    ]
    for script, change, named in refusals:
        message = _refused(run_script(script, *base, *change, "--max_steps", "4", "--resume", "auto"))
        assert named in message and "--resume never" in message and "--output_dir" in message, message
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2"]  # nothing was trained

    result = run_script("train_sft.py", *base, "--max_steps", "4", "--resume", "auto", "--json")
    assert json_summary(result)["steps"] == 4 and f"Resuming from {out / 'checkpoint-2'}" in result.stdout


def test_a_hub_checkpoint_of_another_run_is_refused_before_its_weights_are_downloaded(
        fake_hub, tiny_model, tiny_model_256, tmp_path):
    repos = add_repo_routes(fake_hub)
    add_download_routes(fake_hub, repos)
    data = write_jsonl(chat_rows(32), tmp_path / "chat.jsonl")
    hub = ["--dataset_name", str(data), "--push_to_hub", "--hub_model_id", "alice/tiny-sft", *FAST]
    json_summary(run_script("train_sft.py", "--model_name_or_path", str(tiny_model), *hub,
                            "--output_dir", str(tmp_path / "job1"), "--max_steps", "2", "--json"))
    pushed = json.loads(repos["alice/tiny-sft"].files["last-checkpoint/hf_trainer_run.json"])
    assert pushed["base_model"] == str(tiny_model)  # the record travels with the checkpoint
    shutil.rmtree(tmp_path / "job1")  # a new job runs in a fresh container: only the Hub remembers

    other_data = write_jsonl(chat_rows(40), tmp_path / "other.jsonl")
    job2 = tmp_path / "job2"
    refusals = [  # the same three differences as locally, read from the Hub's last-checkpoint record
        ("train_sft.py", ["--model_name_or_path", str(tiny_model_256)],
         f"made from model {tiny_model}, this run asks for {tiny_model_256}"),
        ("train_sft.py", ["--model_name_or_path", str(tiny_model), "--dataset_name", str(other_data)],
         f"dataset {data}, this run asks for {other_data}"),
        ("train_dpo.py", ["--model_name_or_path", str(tiny_model)], "made by SFT, this run is DPO"),
    ]
    for script, change, named in refusals:
        message = _refused(run_script(script, *hub, *change, "--output_dir", str(job2), "--max_steps", "4",
                                      "--resume", "auto"))
        assert "alice/tiny-sft/last-checkpoint belongs to another run" in message and named in message, message
        assert "--hub_model_id" in message and "--resume never" in message
        assert not (job2 / "_resumed_from_hub").exists()  # the record alone was read


def test_the_record_is_in_every_checkpoint_folder_the_hub_receives(tmp_path):
    # The Trainer pushes a checkpoint folder right after saving it, before on_save: the record must already be there.
    recorder = resume.run_recorder(_args(), "sft")
    folder = tmp_path / "checkpoint-3"
    folder.mkdir()
    state = argparse.Namespace(is_world_process_zero=True, global_step=3)
    recorder.on_push_begin(argparse.Namespace(output_dir=str(tmp_path)), state, None)
    assert json.loads((folder / resume.RUN_RECORD).read_text(encoding="utf-8"))["base_model"] == "org/base"


def test_identity_keeps_local_paths_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("model").mkdir()
    assert resume.run_record(_args("--model_name_or_path", "model"), "sft")["base_model"] == str(tmp_path / "model")
