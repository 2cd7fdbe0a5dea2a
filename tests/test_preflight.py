"""preflight: every rule fires on its broken case; good jobs come out clean."""

import pytest

from hf_trainer.preflight import PreflightInput, preflight

HEADER = '# /// script\n# dependencies = ["trl>=1.16"]\n# ///\n'
GOOD_CUSTOM = HEADER + '''
import os
from datasets import load_dataset
from trl import SFTConfig, SFTTrainer

data = load_dataset("trl-lib/Capybara", split="train").train_test_split(test_size=0.05)
config = SFTConfig(output_dir="out", max_length=1024, eval_strategy="steps", push_to_hub=True,
                   hub_model_id="me/model")
trainer = SFTTrainer(model="Qwen/Qwen2.5-0.5B", args=config, train_dataset=data["train"],
                     eval_dataset=data["test"])
trainer.train()
trainer.push_to_hub()
'''
SFT_ARGS = ["--model_name_or_path", "Qwen/Qwen2.5-0.5B", "--dataset_name", "trl-lib/Capybara", "--push_to_hub",
            "--hub_model_id", "me/model"]
TOKEN_SECRET = {"HF_TOKEN": "$HF_TOKEN"}
FAKE_TOKEN = "hf_" + "a" * 34


def _sft_script() -> str:
    from pathlib import Path

    return (Path(__file__).resolve().parents[1] / "scripts" / "train_sft.py").read_text(encoding="utf-8")


def _job(**overrides) -> PreflightInput:
    fields = dict(script_text=GOOD_CUSTOM, script_name="train.py", secrets=TOKEN_SECRET, timeout_seconds=7200)
    fields.update(overrides)
    return PreflightInput(**fields)


def test_a_good_custom_script_is_clean():
    report = preflight(_job())
    assert report.ok and report.findings == [], report.render()


def test_the_bundled_sft_script_with_complete_arguments_is_clean():
    report = preflight(_job(script_text=_sft_script(), script_name="train_sft.py", script_args=SFT_ARGS,
                            estimated_seconds=3000, memory_fits=True, dataset_verdict="READY"))
    assert report.ok and report.findings == [], report.render()


@pytest.mark.parametrize(
    "overrides, rule, severity, line",
    [
        # no PEP 723 header: the container would not install trl
        (dict(script_text=GOOD_CUSTOM.replace(HEADER, "")), "pep723-header", "error", None),
        # an unclosed header
        (dict(script_text="# /// script\n# dependencies = []\nprint(1)\n"), "pep723-header", "error", 1),
        # training without any push
        (dict(script_text=GOOD_CUSTOM.replace("push_to_hub=True,", "").replace("trainer.push_to_hub()", "")),
         "results-lost", "error", None),
        # the bundled script without --push_to_hub
        (dict(script_text=_sft_script(), script_name="train_sft.py", script_args=SFT_ARGS[:4]), "results-lost",
         "error", None),
        # --push_to_hub with no repo id
        (dict(script_text=_sft_script(), script_name="train_sft.py", script_args=SFT_ARGS[:5]), "results-lost",
         "error", None),
        # a push without the HF_TOKEN secret
        (dict(secrets={}), "push-without-token", "error", None),
        # a literal token in the script
        (dict(script_text=GOOD_CUSTOM + f'\ntoken = "{FAKE_TOKEN}"\n'), "literal-token", "error", 17),
        # a literal token in env
        (dict(env={"HF_TOKEN": FAKE_TOKEN}), "literal-token", "error", None),
        # removed TRL argument names
        (dict(script_text=GOOD_CUSTOM.replace("max_length=1024", "max_seq_length=1024")), "renamed-argument",
         "error", 10),
        (dict(script_text=GOOD_CUSTOM.replace('eval_strategy="steps"', 'evaluation_strategy="steps"')),
         "renamed-argument", "error", 10),
        (dict(script_text=GOOD_CUSTOM.replace('args=config,', 'args=config, tokenizer=None,')),
         "renamed-argument", "error", 12),
        # deprecated, still works: a warning
        (dict(script_text=GOOD_CUSTOM.replace("max_length=1024", "max_length=1024, gradient_checkpointing=True")),
         "renamed-argument", "warning", 10),
        # evaluation asked for without eval data
        (dict(script_text=GOOD_CUSTOM.replace('\n                     eval_dataset=data["test"])', ')')),
         "eval-without-data", "error", 10),
        # GRPO without a reward
        (dict(script_text=HEADER + "from trl import GRPOTrainer\nGRPOTrainer(model='m', args=None, "
                                   "train_dataset=None, push_to_hub=True, hub_model_id='me/m')\n"),
         "grpo-without-reward", "error", 5),
        (dict(script_text=_sft_script(), script_name="train_grpo.py", script_args=SFT_ARGS), "grpo-without-reward",
         "error", None),
        # a local file passed to a Hub job
        (dict(script_text=_sft_script(), script_name="train_sft.py",
              script_args=SFT_ARGS[:3] + ["./data/train.jsonl"] + SFT_ARGS[4:]), "local-path", "error", None),
        # a timeout shorter than the estimate plus the buffer
        (dict(estimated_seconds=6000, timeout_seconds=7200), "timeout-too-short", "error", None),
        # no timeout: HF Jobs' 30 minutes default is too short
        (dict(estimated_seconds=1700, timeout_seconds=None), "timeout-too-short", "error", None),
        # the model does not fit
        (dict(memory_fits=False, memory_detail="needs 61 GB, a10g-large has 24 GB", flavor="a10g-large"),
         "does-not-fit", "error", None),
        # the data does not fit the method
        (dict(dataset_verdict="INCOMPATIBLE", dataset_reasons=["no chosen/rejected columns"]), "dataset-not-ready",
         "error", None),
        (dict(dataset_verdict="NEEDS MAPPING", suggested_mapping="sharegpt"), "dataset-not-ready", "error", None),
        # --fsdp on a one-GPU flavor: the script would refuse at start, after the job was paid for
        (dict(script_text=_sft_script(), script_name="train_sft.py", script_args=SFT_ARGS + ["--fsdp"],
              flavor="a10g-large"), "fsdp-one-gpu", "error", None),
    ],
)
def test_each_rule_fires_on_its_case(overrides, rule, severity, line):
    report = preflight(_job(**overrides))
    hits = [f for f in report.findings if f.rule == rule]
    assert hits, report.render()
    assert hits[0].severity == severity and hits[0].fix
    if line is not None:
        assert hits[0].line == line
    assert report.ok is (severity != "error" and not report.errors)


def test_the_local_backend_may_use_local_paths_and_keep_results_locally():
    report = preflight(_job(script_text=_sft_script(), script_name="train_sft.py", backend="local",
                            script_args=["--model_name_or_path", "./model", "--dataset_name", "./data.jsonl"]))
    assert report.ok and report.findings == [], report.render()


def test_a_mapping_already_given_satisfies_a_dataset_that_needs_one():
    report = preflight(_job(script_text=_sft_script(), script_name="train_sft.py",
                            script_args=SFT_ARGS + ["--dataset_mapping", "sharegpt"],
                            dataset_verdict="NEEDS MAPPING", suggested_mapping="sharegpt"))
    assert report.ok, report.render()


def test_a_standard_library_script_needs_no_header():
    report = preflight(_job(script_text="import json, os\nprint(json.dumps(dict(os.environ)))\n"))
    assert not [f for f in report.findings if f.rule == "pep723-header"], report.render()


def test_a_syntax_error_is_reported_with_its_line():
    report = preflight(_job(script_text=HEADER + "def broken(:\n"))
    assert not report.ok and report.findings[0].rule == "syntax" and report.findings[0].line == 4


def test_the_report_text_names_each_rule_line_and_fix():
    text = preflight(_job(secrets={}, env={"X": FAKE_TOKEN})).render()
    assert "ERROR [push-without-token]" in text and "Fix:" in text and "force: true" in text
    assert FAKE_TOKEN not in text
