"""scripts/evaluate.py evaluates the tiny base model and a LoRA adapter trained on it, and compares them."""

import hashlib
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import SCRIPTS, json_summary, run_script
from hf_trainer.runtime.evaluation import card_section, compare, comparison_table, split_row, upsert_card_section
from hf_trainer.tiny import chat_rows, write_jsonl

TRAIN = ["--max_length", "128", "--per_device_train_batch_size", "8", "--gradient_accumulation_steps", "1",
         "--learning_rate", "3e-3", "--report_to", "none", "--json"]
EVAL = ["--max_new_tokens", "6", "--num_samples", "3", "--per_device_eval_batch_size", "4", "--json"]


def _qa_rows() -> list[dict]:
    # question + numeric answer rows: the task metric applies; "4.0" must match "4" tolerantly
    return [{"question": "What is two plus two?", "answer": "4.0"}, {"question": "Name a fruit.", "answer": "apple"}]


@pytest.fixture(scope="module")
def adapter(tiny_model, tmp_path_factory) -> Path:
    """A LoRA adapter trained 4 steps on the tiny model."""
    folder = tmp_path_factory.mktemp("adapter")
    data = write_jsonl(chat_rows(32), folder / "train.jsonl")
    json_summary(run_script("train_sft.py", "--model_name_or_path", str(tiny_model), "--dataset_name", str(data),
                            "--output_dir", str(folder / "out"), "--max_steps", "4", "--use_peft", *TRAIN))
    return folder / "out"


def test_comparing_the_base_with_its_adapter_gives_finite_metrics_the_difference_and_written_results(
        tiny_model, adapter, tmp_path):
    data = write_jsonl(chat_rows(6, seed=1) + _qa_rows(), tmp_path / "eval.jsonl")
    summary = json_summary(run_script(
        "evaluate.py", "--model_name_or_path", str(adapter), "--baseline_model", str(tiny_model),
        "--dataset_name", str(data), *EVAL))

    assert summary["rows"] == 8
    assert math.isfinite(summary["loss"]) and summary["perplexity"] == pytest.approx(math.exp(summary["loss"]))
    comparison = summary["comparison"]
    for key in ("loss", "perplexity", "exact_match", "accuracy"):
        row = comparison[key]
        assert row["difference"] == pytest.approx(row["fine_tuned"] - row["base"]), key
    assert comparison["loss"]["base"] != comparison["loss"]["fine_tuned"]  # the adapter changed the model
    # results land in the adapter folder: numbers, samples, and a card section with both models
    results = json.loads((adapter / "results" / "evaluation.json").read_text(encoding="utf-8"))
    assert results["comparison"]["loss"]["fine_tuned"] == pytest.approx(summary["loss"])
    samples = (adapter / "results" / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    assert 1 <= len(samples) <= 3 and "generated" in json.loads(samples[0])
    card = (adapter / "README.md").read_text(encoding="utf-8")
    assert "## Evaluation" in card and "| loss (lower is better) |" in card and str(tiny_model) in card
    assert card.count("## Evaluation") == 1 and "## Results" in card  # the training card is kept, section added


def test_a_single_model_evaluation_writes_to_the_output_dir(tiny_model, tmp_path):
    data = write_jsonl(chat_rows(4), tmp_path / "eval.jsonl")
    out = tmp_path / "results-here"
    summary = json_summary(run_script("evaluate.py", "--model_name_or_path", str(tiny_model),
                                      "--dataset_name", str(data), "--output_dir", str(out), *EVAL))
    assert summary["comparison"] is None and math.isfinite(summary["loss"])
    assert "exact_match" not in summary  # no answer column: no task metric
    assert (out / "README.md").read_text(encoding="utf-8").count("## Evaluation") == 1
    assert (out / "results" / "evaluation.json").is_file()


def test_data_without_a_usable_column_is_refused_with_the_formats_named(tiny_model, tmp_path):
    data = write_jsonl([{"foo": 1}, {"foo": 2}], tmp_path / "bad.jsonl")
    result = run_script("evaluate.py", "--model_name_or_path", str(tiny_model), "--dataset_name", str(data), *EVAL)
    assert result.returncode == 2
    assert "no row has a usable format" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "row, expected",
    [
        # chat: the last assistant turn is the completion
        ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
         {"prompt": [{"role": "user", "content": "q"}], "completion": "a", "answer": None}),
        # GSM8K-style: the reference solution is scored, its answer is the task reference
        ({"question": "1+1?", "answer": "2 #### 2"},
         {"prompt": "1+1?", "completion": "2 #### 2", "answer": "2 #### 2"}),
        # prompt/completion strings
        ({"prompt": "Hi", "completion": " there"}, {"prompt": "Hi", "completion": " there", "answer": None}),
        # plain text: everything is scored
        ({"text": "abc"}, {"prompt": None, "completion": "abc", "answer": None}),
        # nothing usable
        ({"foo": "bar"}, None),
    ],
)
def test_rows_split_into_prompt_completion_and_answer(row, expected):
    assert split_row(row) == expected


def test_the_comparison_table_marks_lower_loss_and_higher_accuracy_as_better():
    comparison = compare({"loss": 2.0, "perplexity": 7.39, "accuracy": 0.25},
                         {"loss": 1.5, "perplexity": 4.48, "accuracy": 0.5})
    table = comparison_table(comparison)
    assert "| loss (lower is better) | 2.0000 | 1.5000 | -0.5000 (better) |" in table
    assert "| accuracy | 0.2500 | 0.5000 | +0.2500 (better) |" in table
    section = card_section({"dataset": "d", "base_name": "b", "base": {}, "fine_tuned": {"rows": 3},
                            "comparison": comparison})
    assert upsert_card_section(upsert_card_section("# card\n", section), section).count("## Evaluation") == 1


def test_a_pushed_run_is_rerunnable_from_its_repo_and_evaluate_pushes_results_back(fake_hub, tiny_model, tmp_path):
    """End to end on the fake Hub: the card train_sft pushes carries the evaluation and the job record; rerun reads
    the record back through the Hub's cardData; evaluate.py loads the adapter from the repo and pushes its results."""
    import yaml
    from huggingface_hub import HfApi

    from conftest import CANARY_TOKEN
    from fakes.fake_hub_files import add_download_routes
    from fakes.fake_hub_repos import add_repo_routes
    from hf_trainer.jobs.hub import HubBackend
    from hf_trainer.rerun import rerun

    repos = add_repo_routes(fake_hub)
    add_download_routes(fake_hub, repos)

    @fake_hub.route("GET", r"/api/models/(?P<repo>[^/]+/[^/]+)")
    def model_info(req):  # the Hub parses the card's YAML front matter into cardData
        card = repos[req.groups["repo"]].files["README.md"].decode("utf-8")
        return {"id": req.groups["repo"], "sha": "c" * 40, "cardData": yaml.safe_load(card.split("---", 2)[1])}

    data = write_jsonl(chat_rows(24), tmp_path / "train.jsonl")
    qa = write_jsonl(chat_rows(2) + _qa_rows(), tmp_path / "qa.jsonl")
    args = ["--model_name_or_path", str(tiny_model), "--dataset_name", str(data), "--output_dir", str(tmp_path / "o"),
            "--max_steps", "2", "--use_peft", "--push_to_hub", "--hub_model_id", "alice/tiny-sft", "--eval_baseline",
            "--max_eval_samples", "4", "--max_new_tokens", "4", "--eval_split_size", "0", *TRAIN]
    trained = json_summary(run_script("train_sft.py", *args))
    loss = trained["evaluation"]["loss"]  # --eval_baseline: base before, fine-tuned after, on the same rows
    assert loss["difference"] == pytest.approx(loss["fine_tuned"] - loss["base"]) and loss["difference"] != 0
    files = repos["alice/tiny-sft"].files
    pushed = files["README.md"].decode("utf-8")
    assert "## Evaluation" in pushed and "## Reproduce" in pushed and "results/evaluation.json" in files
    # the machine-readable job record: script, its hash, the exact arguments, versions, duration
    record = yaml.safe_load(pushed.split("---", 2)[1])["hf_trainer_job"]
    script = Path(__file__).resolve().parents[2] / "scripts" / "train_sft.py"
    assert record["script"] == "train_sft.py" and record["arguments"] == args
    assert record["script_sha256"] == hashlib.sha256(script.read_bytes()).hexdigest()
    assert record["libraries"]["trl"] and record["hardware"] == "cpu" and record["runtime_seconds"] >= 0

    plan = rerun("alice/tiny-sft", HubBackend(HfApi(endpoint=fake_hub.url, token=CANARY_TOKEN)))
    assert plan.script == "train_sft.py" and plan.script_args == args and not plan.script_changed

    summary = json_summary(run_script("evaluate.py", "--model_name_or_path", "alice/tiny-sft", "--dataset_name",
                                      str(qa), "--push_to_hub", "--output_dir", str(tmp_path / "eval"), *EVAL))
    assert summary["hub_url"] == f"{fake_hub.url}/alice/tiny-sft"
    card = files["README.md"].decode("utf-8")
    assert card.count("## Evaluation") == 1 and "| accuracy |" in card  # replaced by the single-model table
    assert "hf_trainer_job:" in card and "## Reproduce" in card  # the rest of the card is kept
    assert json.loads(files["results/evaluation.json"])["model"]["rows"] == summary["rows"]
    assert CANARY_TOKEN not in card


@pytest.mark.parametrize(
    "row, expected",
    [
        # implicit preference (DPO): the preferred conversation is scored
        ({"chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "good"}],
          "rejected": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "bad"}]},
         {"prompt": [{"role": "user", "content": "q"}], "completion": "good", "answer": None}),
        # explicit preference: prompt + the chosen answer
        ({"prompt": "q", "chosen": " good", "rejected": " bad"}, {"prompt": "q", "completion": " good", "answer": None}),
        # implicit preference as text
        ({"chosen": "q good", "rejected": "q bad"}, {"prompt": None, "completion": "q good", "answer": None}),
        # KTO: an undesirable completion is skipped, a desirable one scored
        ({"prompt": "q", "completion": " bad", "label": False}, None),
        # ... also when labels are 1/0
        ({"prompt": "q", "completion": " bad", "label": 0}, None),
        ({"prompt": "q", "completion": " good", "label": True},
         {"prompt": "q", "completion": " good", "answer": None}),
    ],
)
def test_preference_rows_score_the_preferred_answer(row, expected):
    assert split_row(row) == expected


# Run a bundled script as HF Jobs does: an isolated interpreter (-I) in which hf_trainer cannot be imported (the
# editable install's path is dropped and the name blocked), so every name the script uses must be in the file.
_ISOLATE = f"""
import json, runpy, sys
sys.path[:] = [p for p in sys.path if p != {str(SCRIPTS.parent / "src")!r}]
sys.modules["hf_trainer"] = None
try:
    import hf_trainer
except ImportError:
    pass
else:
    raise SystemExit("hf_trainer is importable: the test would not show what HF Jobs runs")
"""
# Outputs and references where the two metrics differ: tolerant matching says 1/2 == 0.5, exact match does not.
_OUTPUTS = ["so the answer is \\boxed{1/2}", "The answer is 1,234.", "#### 4", "I think it is apple.", "7"]
_REFERENCES = ["0.5", "1234", "4.0", "Apple", "#### 8"]


def _isolated(code: str, *argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-I", "-c", _ISOLATE + code, *argv], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


@pytest.mark.parametrize("script", ["evaluate.py", "train_sft.py", "train_dpo.py", "train_kto.py", "train_grpo.py"])
def test_a_script_without_the_package_scores_answers_as_the_package_does(script):
    from hf_trainer.runtime.evaluation import score_answers

    expected = score_answers(_OUTPUTS, _REFERENCES)
    assert expected["accuracy"] > expected["exact_match"]  # the cases tell the two metrics apart
    code = (f"ns = runpy.run_path({str(SCRIPTS / script)!r}, run_name='isolated')\n"
            f"print(json.dumps(ns['score_answers']({_OUTPUTS!r}, {_REFERENCES!r})))")
    result = _isolated(code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == expected


def test_eval_baseline_of_an_isolated_training_run_gives_the_packages_metric(tiny_model, tmp_path):
    """One metric on HF Jobs and locally: train_sft.py --eval_baseline runs for real in an isolated interpreter, with
    only the tiny model's (random) generations replaced by fixed answers; its exact match and accuracy equal what
    hf_trainer.runtime.evaluation computes for the same answers."""
    from hf_trainer.runtime.evaluation import score_answers

    rows = [{"prompt": f"Question {i}: what is it?", "completion": " " + reference, "answer": reference}
            for i, reference in enumerate(_REFERENCES)]
    data = write_jsonl(rows * 2, tmp_path / "qa.jsonl")
    out = tmp_path / "out"
    argv = ["--model_name_or_path", str(tiny_model), "--dataset_name", str(data), "--output_dir", str(out),
            "--max_steps", "1", "--eval_baseline", "--max_eval_samples", str(len(rows)), "--num_samples",
            str(len(rows)), "--max_new_tokens", "4", "--eval_split_size", "0", *TRAIN]
    code = (f"script = {str(SCRIPTS / 'train_sft.py')!r}\n"
            "sys.argv = [script, *sys.argv[1:]]\n"
            "ns = runpy.run_path(script, run_name='isolated')\n"
            f"answers = dict(zip([r['prompt'] for r in {rows!r}], {_OUTPUTS!r}))\n"
            "ns['main'].__globals__['_generate'] = lambda model, tokenizer, prompts, *a, **k: [\n"
            "    next(v for q, v in answers.items() if q in p) for p in prompts]\n"
            "ns['run_main'](ns['main'], ns['parse_args'])\n")
    summary = json_summary(_isolated(code, *argv, cwd=tmp_path))
    expected = score_answers(_OUTPUTS, _REFERENCES)
    for key in ("exact_match", "accuracy"):
        assert summary["evaluation"][key] == {"base": expected[key], "fine_tuned": expected[key], "difference": 0.0}
    samples = [json.loads(line) for line in (out / "results" / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    assert score_answers([s["generated"] for s in samples], [s["reference"] for s in samples]) == expected


def _dpo_rows() -> list[dict]:
    return [{"prompt": row["messages"][:-1], "chosen": [row["messages"][-1]],
             "rejected": [{"role": "assistant", "content": "I do not know."}]} for row in chat_rows(16)]


def _kto_rows() -> list[dict]:
    rows = []
    for row in chat_rows(16):
        question, answer = row["messages"][-2]["content"], row["messages"][-1]["content"]
        rows += [{"prompt": question, "completion": " " + answer, "label": 1},
                 {"prompt": question, "completion": " I do not know.", "label": 0}]
    return rows


@pytest.mark.parametrize(
    "script, rows",
    [
        # DPO: the preferred answers are scored before and after
        ("train_dpo.py", _dpo_rows),
        # KTO: the desirable completions are scored (labels 1/0)
        ("train_kto.py", _kto_rows),
    ],
)
def test_eval_baseline_in_preference_scripts_puts_base_vs_fine_tuned_in_the_card(tiny_model, tmp_path, script, rows):
    data = write_jsonl(rows(), tmp_path / "data.jsonl")
    out = tmp_path / "out"
    summary = json_summary(run_script(
        script, "--model_name_or_path", str(tiny_model), "--dataset_name", str(data), "--output_dir", str(out),
        "--max_steps", "2", "--eval_baseline", "--max_eval_samples", "4", "--max_new_tokens", "4",
        # no carved eval split: the first training rows (desirable and undesirable ones alike) are evaluated
        "--eval_split_size", "0", *TRAIN))
    loss = summary["evaluation"]["loss"]
    assert loss["difference"] == pytest.approx(loss["fine_tuned"] - loss["base"])
    assert "## Evaluation" in (out / "README.md").read_text(encoding="utf-8")
    assert (out / "results" / "evaluation.json").is_file()
