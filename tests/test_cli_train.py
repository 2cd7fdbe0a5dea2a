"""`hf-trainer preflight` and `hf-trainer train` from the command line."""

import json
from pathlib import Path

from hf_trainer.cli import main
from hf_trainer.tiny import chat_rows, write_jsonl

SFT = str(Path(__file__).resolve().parents[1] / "scripts" / "train_sft.py")


def test_preflight_exits_1_and_prints_the_findings_of_a_job_that_would_lose_its_model(capsys):
    code = main(["preflight", "--json", SFT, "--model_name_or_path", "Qwen/Qwen2.5-0.5B", "--dataset_name", "a/b"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and not report["ok"]
    assert [f["rule"] for f in report["findings"]] == ["results-lost"]


def test_preflight_exits_0_on_a_complete_job(capsys):
    code = main(["preflight", "-s", "HF_TOKEN", "--timeout", "2h", SFT, "--model_name_or_path", "Qwen/Qwen2.5-0.5B",
                 "--dataset_name", "a/b", "--push_to_hub", "--hub_model_id", "me/m"])
    assert code == 0 and "clean" in capsys.readouterr().out


def test_train_without_confirm_prints_a_plan_and_starts_nothing(tiny_model, tmp_path, capsys):
    data = write_jsonl(chat_rows(24), tmp_path / "chat.jsonl")
    code = main(["train", "--json", "--backend", "local", "--local-python", "--method", "sft",
                 "--model_name_or_path", str(tiny_model), "--dataset_name", str(data), "--max_steps", "2",
                 "--output_dir", str(tmp_path / "out")])
    plan = json.loads(capsys.readouterr().out)
    assert code == 0 and plan["submitted"] is False and plan["backend"] == "local"
    assert main(["jobs", "ps", "--all", "--backend", "local", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_train_refuses_bad_values_naming_them(capsys):
    code = main(["train", "--method", "sft", "--model_name_or_path", "m", "--dataset_name", "d",
                 "--max_steps", "0", "--backend", "local"])
    assert code == 2 and "max_steps 0 must be at least 1" in capsys.readouterr().err
