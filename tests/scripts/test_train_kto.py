"""scripts/train_kto.py trains on good/bad-labelled answers (and on pairs, which TRL unpairs), on CPU."""

import importlib.util
import json
import time

import pytest

from helpers import SCRIPTS, json_summary, run_script
from hf_trainer.tiny import chat_rows, write_jsonl

FAST = ["--max_length", "128", "--per_device_train_batch_size", "8", "--gradient_accumulation_steps", "1",
        "--learning_rate", "1e-3", "--json", "--report_to", "none"]
WRONG = "I do not know."


def unpaired_rows(n: int = 32, bad_every: int = 2, label=lambda good: int(good)) -> list[dict]:
    """Unpaired, standard: one desirable answer per question, an undesirable one for every `bad_every`-th."""
    rows = []
    for i, row in enumerate(chat_rows(n)):
        question, answer = row["messages"][-2]["content"], row["messages"][-1]["content"]
        rows.append({"prompt": question, "completion": " " + answer, "label": label(True)})
        if i % bad_every == 0:
            rows.append({"prompt": question, "completion": " " + WRONG, "label": label(False)})
    return rows


def paired_conversational_rows(n: int = 24) -> list[dict]:
    return [{"prompt": row["messages"][:-1], "chosen": [row["messages"][-1]],
             "rejected": [{"role": "assistant", "content": WRONG}]} for row in chat_rows(n)]


def _base(tiny_model, data, out) -> list[str]:
    return ["--model_name_or_path", str(tiny_model), "--dataset_name", str(data), "--output_dir", str(out)]


def test_full_kto_on_unpaired_labels_given_as_1_and_0_trains_and_advises_on_imbalance(tiny_model, tmp_path):
    data = write_jsonl(unpaired_rows(bad_every=4), tmp_path / "kto.jsonl")  # 32 good vs 8 bad
    out = tmp_path / "out"
    result = run_script("train_kto.py", *_base(tiny_model, data, out), "--max_steps", "3", *FAST)
    summary = json_summary(result)

    assert summary["steps"] == 3 and summary["method"] == "kto"
    assert all(v == v for v in (summary["first_loss"], summary["last_loss"]))  # finite, not NaN
    assert "--desirable_weight" in result.stdout  # imbalance advice names the flag and a value
    assert (out / "model.safetensors").is_file()
    assert "| format | prompt+completion+label |" in (out / "README.md").read_text(encoding="utf-8")


def test_lora_kto_on_conversational_pairs_unpairs_them_and_trains_an_adapter(tiny_model, tmp_path):
    data = write_jsonl(paired_conversational_rows(), tmp_path / "pairs.jsonl")
    out = tmp_path / "out"
    summary = json_summary(run_script("train_kto.py", *_base(tiny_model, data, out), "--max_steps", "3",
                                      "--use_peft", *FAST))
    assert summary["steps"] == 3 and (out / "adapter_model.safetensors").is_file()


def test_resume_continues_from_the_local_checkpoint(tiny_model, tmp_path):
    data = write_jsonl(unpaired_rows(48, bad_every=1, label=bool), tmp_path / "kto.jsonl")
    out = tmp_path / "out"
    args = [*_base(tiny_model, data, out), "--save_steps", "2", "--eval_split_size", "0", *FAST]
    json_summary(run_script("train_kto.py", *args, "--max_steps", "2"))
    summary = json_summary(run_script("train_kto.py", *args, "--max_steps", "4", "--resume"))
    assert summary["steps"] == 4
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text(encoding="utf-8"))
    assert [entry["step"] for entry in state["log_history"] if "loss" in entry] == [1, 2, 3, 4]


def test_smoke_passes_with_one_line(tiny_model, tmp_path):
    data = write_jsonl(unpaired_rows(16, bad_every=1), tmp_path / "kto.jsonl")
    result = run_script("train_kto.py", *_base(tiny_model, data, tmp_path / "out"), "--smoke", "--max_length", "128")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("smoke:")]
    assert len(lines) == 1 and lines[0].startswith("smoke: OK - loss ")


@pytest.mark.parametrize(
    "rows, args, message",
    [
        # SFT data has neither labels nor pairs
        (chat_rows(8), [], "KTO cannot train on these rows (found ['messages'])"),
        # one row per batch leaves no other completion for the KL estimate
        (unpaired_rows(8, bad_every=1), ["--per_device_train_batch_size", "1"], "--per_device_train_batch_size 2"),
    ],
)
def test_bad_datasets_and_arguments_get_one_clear_error(tiny_model, tmp_path, rows, args, message):
    data = write_jsonl(rows, tmp_path / "data.jsonl")
    result = run_script("train_kto.py", *_base(tiny_model, data, tmp_path / "out"), *args)
    assert result.returncode == 2, result.stdout[-2000:]
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def kto():
    """The script as a module (main() not run): its label checks are plain functions."""
    spec = importlib.util.spec_from_file_location("train_kto", SCRIPTS / "train_kto.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "labels, expected",
    [
        ([1, 0, 1], [True, False, True]),  # integers
        (["true", "False", "1"], [True, False, True]),  # text, any case
        ([True, False], [True, False]),  # already booleans
    ],
)
def test_labels_are_read_as_booleans(kto, labels, expected):
    from datasets import Dataset

    data = Dataset.from_list([{"prompt": "q", "completion": "a", "label": label} for label in labels])
    assert kto.normalise_labels(data)["label"] == expected


def test_labels_that_are_not_true_or_false_are_refused_with_the_values_seen(kto):
    from datasets import Dataset

    data = Dataset.from_list([{"prompt": "q", "completion": "a", "label": "great"}] * 3)
    with pytest.raises(kto.ScriptError, match=r"must be true/false \(or 1/0\); found \[\"'great'\"\]"):
        kto.normalise_labels(data)


@pytest.mark.parametrize(
    "good, bad, weights, advice",
    [
        (10, 10, [], None),  # balanced: ratio 1
        (12, 10, [], None),  # 1.2 is inside [1, 4/3]
        (30, 10, [], "--desirable_weight 0.38"),  # 3:1 -> weight good rows down to land near 1.15
        (10, 30, [], "--desirable_weight 3.45"),  # 1:3 -> weight good rows up
        (30, 10, ["--desirable_weight", "0.4"], None),  # already weighted into range
    ],
)
def test_imbalanced_labels_get_the_weight_the_kto_paper_recommends(kto, good, bad, weights, advice):
    from datasets import Dataset

    data = Dataset.from_list([{"label": True}] * good + [{"label": False}] * bad)
    args = kto.parse_args(["--model_name_or_path", "m", "--dataset_name", "d", *weights])
    text = kto.weight_advice(data, args)
    assert (text is None) if advice is None else (advice in text)


def test_only_desirable_rows_are_refused(kto):
    from datasets import Dataset

    args = kto.parse_args(["--model_name_or_path", "m", "--dataset_name", "d"])
    with pytest.raises(kto.ScriptError, match="needs both desirable and undesirable rows"):
        kto.weight_advice(Dataset.from_list([{"label": True}] * 4), args)


def test_help_is_instant_and_exits_zero():
    started = time.time()
    result = run_script("train_kto.py", "--help")
    assert result.returncode == 0 and "--desirable_weight" in result.stdout
    assert time.time() - started < 10


def test_a_diverged_run_stops_with_the_step_and_the_fix(tiny_model, tmp_path):
    data = write_jsonl(unpaired_rows(16, bad_every=1), tmp_path / "kto.jsonl")
    result = run_script("train_kto.py", *_base(tiny_model, data, tmp_path / "out"), "--max_steps", "4",
                        "--eval_split_size", "0", *FAST[:6], "--learning_rate", "1e30", "--report_to", "none")
    assert result.returncode == 3  # stopped early (runtime/early_stop.py), not an argument error
    assert "hf-trainer stopped early [nan_loss] at step" in result.stdout
    assert "training diverged: loss is nan at step" in result.stdout and "Lower the learning rate" in result.stdout
    assert "Traceback" not in result.stderr
