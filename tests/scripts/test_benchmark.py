"""scripts/benchmark.py runs EleutherAI's lm-evaluation-harness on a LoRA adapter and its base, offline: local tasks in
the harness's own YAML format over a local JSONL file, the tiny model on CPU, results pushed to the fake Hub."""

import json
import math

import pytest

from helpers import json_summary, run_script
from hf_trainer import pep723, pins
from hf_trainer.runtime.benchmark_report import (CARD_END, CARD_START, IMPROVED, REGRESSED, WITHIN_NOISE,
                                                  card_section, compare_scores, replace_card_section, task_scores,
                                                  verdict)
from hf_trainer.script_defaults import load_script_module
from helpers import SCRIPTS

FACTS = [("What colour is the sky?", ["blue", "green", "red"], 0), ("What is two plus two?", ["three", "four", "five"], 1),
         ("What do cats say?", ["woof", "moo", "meow"], 2), ("Which planet do we live on?", ["Earth", "Mars", "Venus"], 0),
         ("What is frozen water called?", ["steam", "ice", "sand"], 1), ("Name a fruit.", ["apple", "stone", "chair"], 0)]

# A knowledge-style task (multiple choice, scored by log-likelihood) and a generation task (exact match), written in the
# harness's own task format over a local JSONL file: what a person's own task looks like too.
MC_TASK = """task: local_facts_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
output_type: multiple_choice
test_split: test
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_target: label
doc_to_choice: "{{{{choices}}}}"
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: brier_score
metadata:
  version: 1.0
"""
GEN_TASK = """task: local_facts_gen
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
output_type: generate_until
test_split: test
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_target: answer
generation_kwargs:
  until: ["\\n"]
  do_sample: false
  max_gen_toks: 4
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
metadata:
  version: 2.0
"""


@pytest.fixture(scope="module")
def adapter(tiny_model, tmp_path_factory):
    """A LoRA adapter on the tiny model whose weights really change its answers (lora_B is not left at zero)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = tmp_path_factory.mktemp("bench-adapter")
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    torch.manual_seed(1)
    for name, parameter in model.named_parameters():
        if "lora_B" in name:
            parameter.data.normal_(0.0, 0.5)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(folder)
    return folder


def _old_card(title: str) -> str:
    stale = card_section({"model": {"scores": {"old_task": {"metrics": {"acc": {"value": 0.1, "stderr": 0.01,
                                                                                 "higher_is_better": True}}}}}})
    return f"---\nlibrary_name: peft\n---\n\n# {title}\n\nTrained by hf-trainer.\n\n{stale}\n## Reproduce\n\nkept\n"


def test_an_adapter_and_its_base_are_scored_compared_written_and_pushed_with_the_card_section_replaced(
        fake_hub, tiny_model, adapter, tmp_path):
    from huggingface_hub import CommitOperationAdd, HfApi

    from conftest import CANARY_TOKEN
    from fakes.fake_hub_files import add_download_routes
    from fakes.fake_hub_repos import add_repo_routes

    repos = add_repo_routes(fake_hub)
    add_download_routes(fake_hub, repos)
    api = HfApi(endpoint=fake_hub.url, token=CANARY_TOKEN)
    api.create_repo("alice/tiny-bench")
    api.create_commit("alice/tiny-bench", operations=[CommitOperationAdd("README.md", _old_card("alice").encode())],
                      commit_message="the model")
    (adapter / "README.md").write_text(_old_card("local"), encoding="utf-8")

    rows = [{"question": q, "choices": c, "label": label, "answer": c[label]} for q, c, label in FACTS]
    data = tmp_path / "facts.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    (tmp_path / "mc.yaml").write_text(MC_TASK.format(data=data), encoding="utf-8")
    tasks = tmp_path / "my_tasks"
    tasks.mkdir()
    (tasks / "gen.yaml").write_text(GEN_TASK.format(data=data), encoding="utf-8")

    summary = json_summary(run_script(
        "benchmark.py", "--model_name_or_path", str(adapter), "--baseline_model", str(tiny_model),
        "--tasks", f"{tmp_path / 'mc.yaml'},local_facts_gen", "--include_path", str(tasks), "--batch_size", "4",
        "--push_to_hub", "--hub_model_id", "alice/tiny-bench", "--json"))

    assert summary["engine"] == "transformers" and summary["hub_url"] == f"{fake_hub.url}/alice/tiny-bench"
    rows_by_task = {(row["task"], row["metric"]): row for row in summary["comparison"]}
    assert set(rows_by_task) == {("local_facts_mc", "acc"), ("local_facts_mc", "brier_score"),
                                 ("local_facts_gen", "exact_match")}
    for row in rows_by_task.values():
        assert row["difference"] == pytest.approx(row["fine_tuned"] - row["base"])
        assert row["verdict"] == verdict(row["difference"], row["stderr"], row["higher_is_better"])
    assert math.isfinite(rows_by_task["local_facts_mc", "acc"]["stderr"])  # a mean: the harness's closed form
    # the Brier score (lower is better) is continuous: the adapter really changed the model the harness scored
    brier = rows_by_task["local_facts_mc", "brier_score"]
    assert not brier["higher_is_better"] and brier["difference"] != 0
    assert summary["regressions"] == [f"{r['task']} {r['metric']}" for r in summary["comparison"]
                                      if r["verdict"] == REGRESSED]
    assert summary["scores"]["local_facts_mc"]["samples"] == len(FACTS)
    results = json.loads((adapter / "results" / "benchmark.json").read_text(encoding="utf-8"))
    assert results["base"]["chat_template"] and results["fine_tuned"]["chat_template"]  # the tiny model has one
    assert results["harness_version"].startswith("lm_eval 0.4")
    assert results["fine_tuned"]["scores"]["local_facts_gen"]["version"] == 2.0

    # the card section is replaced, not appended, locally and on the Hub; the rest of the card stays
    for card in ((adapter / "README.md").read_text(encoding="utf-8"),
                 repos["alice/tiny-bench"].files["README.md"].decode("utf-8")):
        assert card.count(CARD_START) == 1 and card.count(CARD_END) == 1 and "old_task" not in card
        assert "| local_facts_mc | acc |" in card and "| local_facts_gen | exact_match |" in card
        assert "| local_facts_mc | brier_score (lower is better) |" in card
        assert f"`{tiny_model}` (base)" in card and "Trained by hf-trainer." in card and "## Reproduce" in card
        assert CANARY_TOKEN not in card
    pushed = json.loads(repos["alice/tiny-bench"].files["results/benchmark.json"])
    assert pushed["comparison"] == summary["comparison"]


def _harness_output() -> dict:
    # what lm_eval.simple_evaluate returns for a group (mmlu with two subjects) and a task with two filters
    return {
        "results": {
            "mmlu": {"alias": "mmlu", "acc,none": 0.60, "acc_stderr,none": 0.004, "sample_len": 200},
            "mmlu_anatomy": {"acc,none": 0.5, "acc_stderr,none": 0.04},
            "mmlu_law": {"acc,none": 0.7, "acc_stderr,none": 0.04},
            "gsm8k": {"alias": "gsm8k", "exact_match,strict-match": 0.30, "exact_match_stderr,strict-match": 0.0126,
                      "exact_match,flexible-extract": 0.35, "exact_match_stderr,flexible-extract": "N/A"},
        },
        "group_subtasks": {"mmlu": ["mmlu_anatomy", "mmlu_law"], "gsm8k": []},
        "higher_is_better": {"mmlu": {"acc": True}, "gsm8k": {"exact_match": True}},
        "n-samples": {"gsm8k": {"original": 1319, "effective": 1319}},
        "n-shot": {"gsm8k": 5, "mmlu": 0},
        "versions": {"gsm8k": 3.0, "mmlu": 2},
    }


def test_scores_keep_the_tasks_asked_for_name_filters_and_read_a_missing_stderr_as_none():
    scores = task_scores(_harness_output())
    assert list(scores) == ["mmlu", "gsm8k"]  # the group, not its subjects
    assert scores["mmlu"]["samples"] == 200 and scores["gsm8k"]["samples"] == 1319
    assert scores["gsm8k"]["metrics"]["exact_match (strict-match)"] == {"value": 0.30, "stderr": 0.0126,
                                                                        "higher_is_better": True}
    assert scores["gsm8k"]["metrics"]["exact_match (flexible-extract)"]["stderr"] is None
    assert scores["gsm8k"]["num_fewshot"] == 5 and scores["mmlu"]["metrics"]["acc"]["value"] == 0.60


@pytest.mark.parametrize(
    "difference, stderr, higher_is_better, expected",
    [
        (-0.05, 0.02, True, REGRESSED),  # lost more than the standard error
        (-0.01, 0.02, True, WITHIN_NOISE),  # lost less than it: the run cannot tell
        (0.05, 0.02, True, IMPROVED),
        (0.05, 0.02, False, REGRESSED),  # a metric where lower is better went up
        (0.0, None, True, WITHIN_NOISE),
    ],
)
def test_a_difference_is_a_regression_only_beyond_its_standard_error(difference, stderr, higher_is_better, expected):
    assert verdict(difference, stderr, higher_is_better) == expected


def test_the_comparison_combines_both_standard_errors_and_the_section_replaces_itself():
    base = task_scores(_harness_output())
    tuned_output = _harness_output()
    tuned_output["results"]["gsm8k"]["exact_match,strict-match"] = 0.25  # -0.05 with SE sqrt(2) * 0.0126 = 0.0178
    tuned_output["results"]["mmlu"]["acc,none"] = 0.603  # +0.003 with SE 0.0057
    rows = {(r["task"], r["metric"]): r for r in compare_scores(base, task_scores(tuned_output))}
    assert rows["gsm8k", "exact_match (strict-match)"]["stderr"] == pytest.approx(math.sqrt(2) * 0.0126)
    assert rows["gsm8k", "exact_match (strict-match)"]["verdict"] == REGRESSED
    assert rows["mmlu", "acc"]["verdict"] == WITHIN_NOISE
    assert rows["gsm8k", "exact_match (flexible-extract)"]["stderr"] is None  # one side without a standard error
    benchmark = {"base_name": "Qwen/base", "base": {"chat_template": True}, "fine_tuned": {"chat_template": True},
                 "comparison": list(rows.values()), "engine": "vllm", "harness_version": "lm_eval 0.4.13"}
    section = card_section(benchmark)
    assert "| gsm8k | exact_match (strict-match) | 0.3000 | 0.2500 | -0.0500 | 0.0178 | **regressed** |" in section
    assert "Regressed beyond the standard error: gsm8k exact_match (strict-match)." in section
    card = replace_card_section(replace_card_section("# model\n\nintro\n", section), section)
    assert card.count("## Standard benchmarks") == 1 and card.startswith("# model\n\nintro\n")


def test_the_header_pins_the_harness_from_the_benchmark_extra_with_its_extras():
    deps = pep723.dependencies((SCRIPTS / "benchmark.py").read_text(encoding="utf-8"))
    version = pins.tested_versions("benchmark")["lm-eval"]
    assert f"lm_eval[hf,ifeval]=={version}" in deps and f"torch=={pins.tested_versions()['torch']}" in deps
    assert pins.pinned_dependencies("x.py", ["lm_eval[hf]>=0.4"], {"lm-eval": "0.4.13"}) == ["lm_eval[hf]==0.4.13"]


def test_a_missing_task_file_or_folder_is_refused_before_the_harness_loads(tmp_path):
    script = load_script_module("benchmark.py")
    with pytest.raises(script.ScriptError, match="does not exist"):
        script.task_manager([str(tmp_path / "nope.yaml")], [])
    with pytest.raises(script.ScriptError, match="is not a folder"):
        script.task_manager(["gsm8k"], [str(tmp_path / "missing")])


def test_a_model_that_is_neither_a_folder_nor_a_repo_id_is_named_as_such(tmp_path):
    script = load_script_module("benchmark.py")
    with pytest.raises(script.ScriptError, match="neither a local folder nor a Hub repo id"):
        script.model_spec(str(tmp_path / "no-such-model"), None, None)
