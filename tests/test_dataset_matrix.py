"""READY means the script trains; INCOMPATIBLE means the script refuses with the inspection's reason.

A matrix of row shapes (TRL's types in both forms, what real datasets add, foreign shapes, broken rows) x the five
methods: each shape is inspected with the tiny model's tokenizer, then the method's script runs on the same file:
READY -> `--smoke` trains one step; NEEDS MAPPING m -> `--smoke --dataset_mapping m` trains; INCOMPATIBLE -> the script
raises its ScriptError, before any model is loaded, with the inspection's reason. To stay fast the scripts run
in-process (each loaded once with importlib, `main(parse_args([...]))`); a few real subprocess runs check the exit
codes. TRL's own helpers (is_conversational, maybe_extract_prompt) are the reference where they apply.
"""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from conftest import SCRIPTS
from hf_trainer.dataset_inspect import DatasetInspectInput, inspect_dataset
from hf_trainer.runtime import dataset_formats, mappings
from hf_trainer.tiny import write_jsonl

R, N, X = "READY", "NEEDS MAPPING", "INCOMPATIBLE"
METHODS = ("sft", "dpo", "grpo", "reward", "kto")
QUESTIONS = [("What colour is the sky?", "Blue.", "Green."), ("What is two plus two?", "Four.", "Five."),
             ("Name a fruit.", "An apple.", "A chair."), ("What do cats say?", "Meow.", "Woof.")]
ROWS = 8


def _user(i: int) -> dict:
    return {"role": "user", "content": QUESTIONS[i % 4][0]}


def _good(i: int) -> dict:
    return {"role": "assistant", "content": QUESTIONS[i % 4][1]}


def _bad(i: int) -> dict:
    return {"role": "assistant", "content": QUESTIONS[i % 4][2]}


SYSTEM = {"role": "system", "content": "You answer briefly."}
TOOLS = [{"type": "function", "function": {"name": "lookup", "description": "Look a fact up.", "parameters": {
    "type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}}]


def _tool_turns(i: int, content) -> list[dict]:
    call = {"type": "function", "function": {"name": "lookup", "arguments": {"query": QUESTIONS[i % 4][0]}}}
    return [_user(i), {"role": "assistant", "content": content, "tool_calls": [call]},
            {"role": "tool", "name": "lookup", "content": QUESTIONS[i % 4][1]}, _good(i)]


def _late_error(i: int) -> dict:
    # Only the last rows are broken: the head looks fine, the evenly spaced rows catch it.
    return {"messages": [_user(i), {"role": "assistant", "content": "" if i >= ROWS - 2 else _good(i)["content"]}]}


# name -> one row per index. Comments say what each shape stands for.
SHAPES = {
    # TRL language modelling, standard and conversational.
    "text": lambda i: {"text": f"{QUESTIONS[i % 4][0]} {QUESTIONS[i % 4][1]}"},
    "messages": lambda i: {"messages": [_user(i), _good(i)]},
    # A system turn first, as most chat datasets have.
    "messages_system": lambda i: {"messages": [SYSTEM, _user(i), _good(i)]},
    # Extra columns beside the TRL ones are ignored (GRPO passes them to rewards).
    "messages_extra_columns": lambda i: {"messages": [_user(i), _good(i)], "id": f"row-{i}", "source": "web"},
    # Tool calling as TRL's SFT docs show it: an assistant turn with tool_calls, a tool turn, a tools column.
    "tool_calls": lambda i: {"messages": _tool_turns(i, ""), "tools": json.dumps(TOOLS)},
    # The same with content None on the calling turn: the tiny model's template cannot render None, so
    # inspection with that tokenizer must say so and the script must refuse, not crash inside TRL.
    "tool_calls_none_content": lambda i: {"messages": _tool_turns(i, None), "tools": json.dumps(TOOLS)},
    # Prompt-only, both forms.
    "prompt_only": lambda i: {"prompt": QUESTIONS[i % 4][0]},
    "prompt_only_conversational": lambda i: {"prompt": [_user(i)]},
    # Prompt-completion, both forms.
    "prompt_completion": lambda i: {"prompt": QUESTIONS[i % 4][0], "completion": " " + QUESTIONS[i % 4][1]},
    "prompt_completion_conversational": lambda i: {"prompt": [_user(i)], "completion": [_good(i)]},
    # Preference with an explicit prompt, both forms.
    "preference": lambda i: {"prompt": QUESTIONS[i % 4][0], "chosen": " " + QUESTIONS[i % 4][1],
                             "rejected": " " + QUESTIONS[i % 4][2]},
    "preference_conversational": lambda i: {"prompt": [SYSTEM, _user(i)], "chosen": [_good(i)], "rejected": [_bad(i)]},
    # Preference with an implicit prompt (the shared start of chosen and rejected), both forms.
    "implicit_preference": lambda i: {"chosen": f"{QUESTIONS[i % 4][0]} {QUESTIONS[i % 4][1]}",
                                      "rejected": f"{QUESTIONS[i % 4][0]} {QUESTIONS[i % 4][2]}"},
    "implicit_preference_conversational": lambda i: {"chosen": [_user(i), _good(i)], "rejected": [_user(i), _bad(i)]},
    # Unpaired preference, both forms (labels alternate so KTO sees both kinds).
    "unpaired_preference": lambda i: {"prompt": QUESTIONS[i % 4][0], "completion": " " + QUESTIONS[i % 4][1 + i % 2],
                                      "label": i % 2 == 0},
    "unpaired_preference_conversational": lambda i: {"prompt": [_user(i)], "completion": [(_good if i % 2 == 0 else
                                                     _bad)(i)], "label": i % 2 == 0},
    # HuggingFaceH4/ultrafeedback_binarized: a string prompt, chosen/rejected conversations repeating the user turn,
    # the chosen conversation again as messages, ids and scores.
    "ultrafeedback": lambda i: {"prompt": QUESTIONS[i % 4][0], "prompt_id": f"id{i}",
                                "chosen": [_user(i), _good(i)], "rejected": [_user(i), _bad(i)],
                                "messages": [_user(i), _good(i)], "score_chosen": 8.0, "score_rejected": 3.0},
    # Foreign shapes with named mappings.
    "sharegpt": lambda i: {"conversations": [{"from": "human", "value": QUESTIONS[i % 4][0]},
                                             {"from": "gpt", "value": QUESTIONS[i % 4][1]}]},
    "alpaca": lambda i: {"instruction": QUESTIONS[i % 4][0], "input": "", "output": QUESTIONS[i % 4][1]},
    "dolly": lambda i: {"instruction": QUESTIONS[i % 4][0], "context": "", "response": QUESTIONS[i % 4][1],
                        "category": "open_qa"},
    "question_answer": lambda i: {"question": QUESTIONS[i % 4][0], "answer": QUESTIONS[i % 4][1]},
    "prompt_response": lambda i: {"prompt": QUESTIONS[i % 4][0], "response": QUESTIONS[i % 4][1]},
    "preference_columns": lambda i: {"prompt": QUESTIONS[i % 4][0], "chosen_response": QUESTIONS[i % 4][1],
                                     "rejected_response": QUESTIONS[i % 4][2]},
    # Broken or unknown data.
    "late_empty_answers": _late_error,
    "mixed_forms": lambda i: {"prompt": QUESTIONS[i % 4][0], "completion": [_good(i)]},
    "unknown": lambda i: {"id": i, "body": "x"},
}

# What TRL's rules say for the shapes an agent meets most (the rest are checked by the property below).
EXPECTED = {
    "text": (R, X, X, X, X),
    "messages": (R, X, N, X, X),
    "tool_calls": (R, X, N, X, X),
    "tool_calls_none_content": (X, X, X, X, X),
    "prompt_only_conversational": (X, X, R, X, X),
    "prompt_completion_conversational": (R, X, R, X, X),
    "preference_conversational": (N, R, R, R, R),
    "implicit_preference_conversational": (N, R, X, R, R),
    "unpaired_preference": (X, X, R, X, R),
    "ultrafeedback": (R, N, R, N, N),
    "late_empty_answers": (X, X, N, X, X),  # GRPO cuts the broken last answer off
    "mixed_forms": (X, X, X, X, X),
    "unknown": (X, X, X, X, X),
}

REWARD_FILE = '''
def brevity_reward(completions, **kwargs):
    """Shorter completions score higher: reward variance, so a tiny model gets a gradient."""
    return [-len(c if isinstance(c, str) else c[-1]["content"]) / 10 for c in completions]
'''
METHOD_ARGS = {
    "sft": ["--max_length", "64", "--per_device_train_batch_size", "4", "--no-packing"],
    "dpo": ["--max_length", "64", "--per_device_train_batch_size", "4"],
    "reward": ["--max_length", "64", "--per_device_train_batch_size", "4"],
    "kto": ["--max_length", "64", "--per_device_train_batch_size", "4"],
    "grpo": ["--per_device_train_batch_size", "4", "--num_generations", "2", "--max_completion_length", "4"],
}
COMMON = ["--smoke", "--report_to", "none", "--eval_split_size", "0", "--gradient_accumulation_steps", "1",
          "--learning_rate", "1e-3"]


@pytest.fixture(scope="module")
def scripts() -> dict:
    """Each training script loaded once as a module, so its main() runs in this process."""
    loaded = {}
    for method in METHODS:
        spec = importlib.util.spec_from_file_location(f"matrix_train_{method}", SCRIPTS / f"train_{method}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        loaded[method] = module
    yield loaded
    for method in METHODS:
        sys.modules.pop(f"matrix_train_{method}", None)


@pytest.fixture(scope="module")
def shape_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("shapes")
    return {name: write_jsonl([make(i) for i in range(ROWS)], folder / f"{name}.jsonl")
            for name, make in SHAPES.items()}


def _inspect(path: Path, tiny_model: Path):
    return inspect_dataset(DatasetInspectInput(dataset_name=str(path), model_name_or_path=str(tiny_model)))


def _run(module, argv: list[str]) -> tuple[int | None, str | None]:
    """(exit code, None) when main returns; (None, message) when it refuses with ScriptError."""
    try:
        return module.main(module.parse_args(argv)), None
    except module.ScriptError as exc:
        return None, str(exc)


def test_the_matrix_has_enough_shapes() -> None:
    assert len(SHAPES) >= 20


@pytest.mark.parametrize("shape", sorted(EXPECTED))
def test_verdicts_follow_trls_rules(shape, shape_files, tiny_model) -> None:
    report = _inspect(shape_files[shape], tiny_model)
    assert tuple(report.methods[m].verdict for m in METHODS) == EXPECTED[shape], {
        m: report.methods[m].reasons for m in METHODS}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_ready_trains_and_incompatible_is_refused_with_the_inspections_reason(shape, shape_files, tiny_model,
                                                                              scripts, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    reward_file = tmp_path / "rewards.py"
    reward_file.write_text(REWARD_FILE, encoding="utf-8")
    report = _inspect(shape_files[shape], tiny_model)
    for method in METHODS:
        entry = report.methods[method]
        argv = ["--model_name_or_path", str(tiny_model), "--dataset_name", str(shape_files[shape]),
                "--output_dir", str(tmp_path / method), *COMMON, *METHOD_ARGS[method]]
        if method == "grpo":
            argv += ["--reward_funcs_file", str(reward_file)]
        if entry.verdict == N:
            argv += ["--dataset_mapping", entry.mapping]
        code, refusal = _run(scripts[method], argv)
        if entry.verdict == X:
            assert refusal is not None, f"{shape}/{method}: inspection said INCOMPATIBLE but the script trained"
            # The script's reason is the inspection's (the clause before any row numbers).
            assert any(reason.split(" (")[0].removeprefix("but ") in refusal for reason in entry.reasons), (
                f"{shape}/{method}: {refusal} vs {entry.reasons}")
        else:
            assert refusal is None and code == 0, f"{shape}/{method} ({entry.verdict}): {refusal}"


def test_ultrafeedback_rows_get_trls_own_extracted_prompt_from_the_mapping() -> None:
    from trl.data_utils import extract_prompt, is_conversational

    row = SHAPES["ultrafeedback"](1)
    mapped = mappings.map_row("extract_prompt", row)
    reference = extract_prompt({"chosen": row["chosen"], "rejected": row["rejected"]})
    assert {key: mapped[key] for key in ("prompt", "chosen", "rejected")} == reference
    assert is_conversational(mapped) and mapped["prompt_id"] == "id1" and "messages" not in mapped


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_conversational_means_what_trls_is_conversational_says(shape) -> None:
    from trl.data_utils import is_conversational

    row = SHAPES[shape](0)
    kind, conversational = dataset_formats.detect_row(row)
    trl_columns = [key for key in ("prompt", "chosen", "rejected", "completion", "messages") if key in row]
    forms = {isinstance(row[key], list) for key in trl_columns}
    # A row mixing strings and messages has no answer in TRL: is_conversational looks at whichever of its columns a
    # set pops first (it varies with PYTHONHASHSEED), so inspection calls such rows errors instead.
    if kind in dataset_formats.TRL_KINDS and len(forms) == 1:
        assert conversational == is_conversational(row), (shape, kind)


def test_the_script_exit_codes_refusal_two_smoke_failure_one_and_success_zero(shape_files, tiny_model, tmp_path):
    from helpers import run_script

    base = ["--model_name_or_path", str(tiny_model), "--output_dir", str(tmp_path / "o"), "--report_to", "none",
            "--eval_split_size", "0", "--max_length", "64"]
    refused = run_script("train_dpo.py", *base, "--dataset_name", str(shape_files["ultrafeedback"]))
    assert refused.returncode == 2 and "--dataset_mapping extract_prompt" in refused.stderr
    assert "Traceback" not in refused.stderr
    trained = run_script("train_dpo.py", *base, "--dataset_name", str(shape_files["ultrafeedback"]),
                         "--dataset_mapping", "extract_prompt", "--smoke", "--per_device_train_batch_size", "4")
    assert trained.returncode == 0, trained.stdout[-2000:] + trained.stderr[-2000:]
    assert "smoke: OK" in trained.stdout
    smoke_refused = run_script("train_sft.py", *base, "--dataset_name", str(shape_files["prompt_only"]), "--smoke")
    assert smoke_refused.returncode == 1 and "smoke: FAIL - SFT cannot train on these rows" in smoke_refused.stdout
