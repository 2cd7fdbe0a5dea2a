"""Real Hub datasets and models end to end (issue 27), against a fake Hub and dataset viewer that serve their real
layouts (tests/fakes/hub_catalog.py): the split and config inspection chooses, the scripts reading exactly that split
from local copies, the data-existence check before money, and the default output repo."""

import argparse
from pathlib import Path

import pytest

from conftest import CANARY_TOKEN
from fakes.hub_catalog import local_copy, start_catalog
from hf_trainer.data_checks import DATA_RULES, check_training_data, job_token
from hf_trainer.dataset_inspect import DatasetInspectInput, inspect_dataset
from hf_trainer.errors import UserError
from hf_trainer.hub_client import get_hf_api
from hf_trainer.output_repo import default_hub_model_id
from hf_trainer.runtime import dataset_files, train_common
from hf_trainer.runtime.dataset_viewer import DatasetViewer
from hf_trainer.script_defaults import build_parser

UF = "HuggingFaceH4/ultrafeedback_binarized"


@pytest.fixture
def catalog(fake_hub, monkeypatch):
    """The fake Hub (jobs, repos, models, datasets) and dataset viewer with real layouts, the tools pointed there."""
    served = start_catalog(fake_hub, CANARY_TOKEN)
    monkeypatch.setenv("HF_TRAINER_DATASETS_SERVER", served.viewer.url)
    yield served
    served.viewer.stop()


def _inspect(name: str, **fields):
    return inspect_dataset(DatasetInspectInput(dataset_name=name, sample_size=20, **fields))


# --- 1. the split and config inspection chooses, and reports -----------------------------------------------------

# (method, the split it trains on, the eval split beside it) on ultrafeedback_binarized's six splits
UF_SPLITS = [
    ("dpo", "train_prefs", "test_prefs"),  # preference pairs, prompt extracted
    ("reward", "train_prefs", "test_prefs"),
    ("kto", "train_prefs", "test_prefs"),
    ("sft", "train_sft", "test_sft"),  # the SFT split of the same dataset
    ("grpo", "train_gen", "test_gen"),
]


@pytest.mark.parametrize("method, train, evaluation", UF_SPLITS)
def test_inspection_reads_the_split_each_method_trains_on_and_names_the_eval_split(catalog, method, train,
                                                                                  evaluation):
    result = _inspect(UF, method=method)
    source = result.source
    assert (source.config, source.split, source.eval_split) == ("default", train, evaluation)
    assert source.num_rows == {"test_prefs": 2000}.get(train, 61135)  # the real size, from /size
    # 'default' is what load_dataset reads without a config: not passed.
    assert source.data_args == ["--dataset_train_split", train, "--dataset_test_split", evaluation]
    assert source.method_splits["sft"] == "train_sft" and source.method_splits["dpo"] == "train_prefs"
    read = {(r["query"].get("split")) for r in catalog.viewer.requests if r["path"] == "/rows"}
    assert read == {train}  # only the chosen split was sampled
    assert f'data read: config "default", split "{train}", eval split "{evaluation}"' in result.render()


def test_dpo_on_ultrafeedback_needs_extract_prompt_on_train_prefs(catalog):
    result = _inspect(UF, method="dpo")
    assert result.methods["dpo"].verdict == "NEEDS MAPPING" and result.methods["dpo"].mapping == "extract_prompt"


def test_a_config_is_chosen_and_reported_and_an_asked_one_is_read(catalog):
    assert _inspect("openai/gsm8k", method="grpo").source.config == "main"  # no default: the first config
    socratic = _inspect("openai/gsm8k", method="grpo", dataset_config="socratic")
    assert (socratic.source.config, socratic.source.split, socratic.source.eval_split) == ("socratic", "train", "test")
    assert socratic.source.num_rows == 7473
    with pytest.raises(UserError, match="has no config 'nope'; its configs: main, socratic"):
        _inspect("openai/gsm8k", dataset_config="nope")


def test_a_multi_config_dataset_without_a_default_says_which_config_it_read(catalog):
    result = _inspect("HuggingFaceM4/the_cauldron", method="sft")
    assert result.source.config == "ai2d" and result.source.configs[:2] == ["ai2d", "aokvqa"]
    assert any("4 configs and no 'default': read 'ai2d'" in note for note in result.source.notes)
    assert result.source.data_args[:2] == ["--dataset_config", "ai2d"]  # a plan passes it: the script needs one


def test_a_gated_dataset_without_access_and_a_missing_one_are_told_apart_by_inspection(catalog):
    # The viewer answers both with the same 404; the Hub tells them apart.
    with pytest.raises(UserError, match="Dataset 'lmsys/lmsys-chat-1m' is gated, and the job's token has not been "
                                        "granted access.*Accept its conditions at http://"):
        _inspect("lmsys/lmsys-chat-1m")
    with pytest.raises(UserError, match="Dataset 'alice/does-not-exist' does not exist on http://.*Check the id"):
        _inspect("alice/does-not-exist")


# --- the scripts read exactly what inspection read, from local copies ------------------------------------------


def _script_args(script: str, dataset: str, extra: list[str]) -> argparse.Namespace:
    args, _ = build_parser(script).parse_known_args(["--model_name_or_path", "m", "--dataset_name", dataset, *extra])
    return args


@pytest.mark.parametrize("method, script, train, evaluation", [
    ("dpo", "train_dpo.py", "train_prefs", "test_prefs"),
    ("sft", "train_sft.py", "train_sft", "test_sft"),
])
def test_a_local_copy_of_ultrafeedback_is_inspected_and_loaded_on_the_same_split(tmp_path, method, script, train,
                                                                                  evaluation):
    copy = local_copy(UF, tmp_path / "uf", rows_per_split=8)  # data/<split>-00000-of-00001.parquet, as hf download
    result = _inspect(str(copy), method=method)
    assert (result.source.split, result.source.eval_split) == (train, evaluation)
    assert sorted(result.source.splits) == sorted(["train_prefs", "train_sft", "test_prefs", "test_sft", "train_gen",
                                                   "test_gen"])
    # The script, given the arguments inspection names, reads those splits and no others.
    args = _script_args(script, str(copy), result.source.data_args)
    train_rows, eval_rows = train_common.load_splits(args)
    assert (len(train_rows), len(eval_rows)) == (8, 8)
    assert "prompt_id" in train_rows.column_names


def test_a_save_to_disk_folder_is_inspected_split_by_split_as_the_script_loads_it(tmp_path):
    import datasets

    from hf_trainer.tiny import chat_rows

    saved = tmp_path / "saved"
    datasets.DatasetDict({"train_sft": datasets.Dataset.from_list(chat_rows(12)),
                          "test_sft": datasets.Dataset.from_list(chat_rows(3))}).save_to_disk(str(saved))
    result = _inspect(str(saved), method="sft")
    # Not merged: 12 rows in the split read, the other split beside it for evaluation.
    assert (result.source.split, result.source.num_rows, result.source.eval_split) == ("train_sft", 12, "test_sft")
    train_rows, eval_rows = train_common.load_splits(_script_args("train_sft.py", str(saved),
                                                                  result.source.data_args))
    assert (len(train_rows), len(eval_rows)) == (12, 3)
    with pytest.raises(UserError, match="No file for split 'train' in .*saved: its splits are train_sft, test_sft"):
        _inspect(str(saved), dataset_train_split="train")
    with pytest.raises(train_common.ScriptError, match="Split 'train' not found; the dataset has: train_sft, "
                                                       "test_sft. Pass --dataset_train_split train_sft"):
        train_common.load_splits(_script_args("train_sft.py", str(saved), []))


# (relative file path, the split it belongs to) - the same rule for inspection and the scripts
SPLIT_FILES = [
    ("train.jsonl", "train"),
    ("val.jsonl", "validation"),  # synonyms become the Hub's split names
    ("data/train_prefs-00000-of-00001.parquet", "train_prefs"),  # an hf download of a Hub export
    ("train/part-0.parquet", "train"),  # a split folder
    ("train_sft/data-00000-of-00001.arrow", "train_sft"),  # a save_to_disk split folder
    ("notes_for_training.jsonl", "train"),  # nothing names a split: train
]


@pytest.mark.parametrize("relative, split", SPLIT_FILES)
def test_a_data_file_belongs_to_the_split_its_name_gives(relative, split):
    from pathlib import PurePosixPath

    from hf_trainer.runtime.splits import split_of

    assert split_of(PurePosixPath(relative)) == split


def test_split_named_files_are_one_split_each_for_inspection_and_the_script(tmp_path):
    from hf_trainer.tiny import write_jsonl, chat_rows

    folder = tmp_path / "data"
    write_jsonl(chat_rows(6), folder / "train_sft.jsonl")
    write_jsonl(chat_rows(2), folder / "test_sft.jsonl")
    write_jsonl([{"prompt": "Q?", "chosen": "A", "rejected": "B"}] * 5, folder / "train_prefs.jsonl")
    assert dataset_files.choose_local(folder, None, "dpo")[0] == "train_prefs"
    chosen = _inspect(str(folder), method="sft")
    assert (chosen.source.split, chosen.source.num_rows, chosen.source.eval_split) == ("train_sft", 6, "test_sft")
    train_rows, eval_rows = train_common.load_splits(_script_args("train_sft.py", str(folder),
                                                                  chosen.source.data_args))
    assert (len(train_rows), len(eval_rows)) == (6, 2)


# --- 2. the data exists, and the job's token can read it --------------------------------------------------------

QWEN = "Qwen/Qwen2.5-0.5B"
# (script arguments beyond model and dataset, model, dataset, rules found); the job carries the canary token
DATA_CASES = [
    # Everything there: nothing to say.
    ([], QWEN, "trl-lib/Capybara", set()),
    # The flagship preference dataset with the script's default split 'train': refused before money.
    ([], QWEN, UF, {"dataset-split-missing"}),
    (["--dataset_train_split", "train_prefs", "--dataset_test_split", "test_prefs"], QWEN, UF, set()),
    (["--dataset_test_split", "validation"], QWEN, "trl-lib/Capybara", {"dataset-split-missing"}),
    # A multi-config dataset without a default needs --dataset_config; an unknown config is refused.
    ([], QWEN, "HuggingFaceM4/the_cauldron", {"dataset-config-missing"}),
    (["--dataset_config", "ai2d"], QWEN, "HuggingFaceM4/the_cauldron", set()),
    (["--dataset_config", "socratc"], QWEN, "openai/gsm8k", {"dataset-config-missing"}),
    # Missing and gated repos.
    ([], QWEN, "alice/does-not-exist", {"dataset-missing"}),
    ([], QWEN, "lmsys/lmsys-chat-1m", {"dataset-gated"}),
    ([], "alice/no-such-model", "trl-lib/Capybara", {"model-missing"}),
    ([], "meta-llama/Llama-3.1-8B", "trl-lib/Capybara", {"model-gated"}),
    ([], "meta-llama/Llama-3.1-8B-Instruct", "trl-lib/Capybara", set()),  # gated, and this token has access
    # A revision that does not exist.
    (["--dataset_revision", "v9", "--dataset_config", "main"], QWEN, "openai/gsm8k", {"dataset-revision-missing"}),
]


@pytest.mark.parametrize("extra, model, dataset, rules", DATA_CASES)
def test_the_data_check_finds_what_would_stop_the_job(catalog, extra, model, dataset, rules):
    values = vars(_script_args("train_dpo.py", dataset, ["--model_name_or_path", model, *extra]))
    findings = check_training_data(values, token=CANARY_TOKEN, method="dpo")
    assert {f.rule for f in findings} == rules, [f.message for f in findings]
    assert all(f.severity == "error" and f.rule in DATA_RULES for f in findings)
    assert CANARY_TOKEN not in " ".join(f.message + f.fix for f in findings)


def test_a_missing_split_names_the_split_the_method_trains_on(catalog):
    values = vars(_script_args("train_dpo.py", UF, []))
    (finding,) = check_training_data(values, token=CANARY_TOKEN, method="dpo")
    assert "has no split 'train'; its splits: train_prefs, train_sft" in finding.message
    assert finding.fix.startswith("Pass --dataset_train_split train_prefs (the split DPO trains on)")


def test_a_job_without_a_token_secret_reads_anonymously_and_is_told_so(catalog):
    assert job_token({}) is None and job_token({"HF_TOKEN": "$HF_TOKEN"}) == CANARY_TOKEN
    values = vars(_script_args("train_sft.py", "trl-lib/Capybara", ["--model_name_or_path",
                                                                   "meta-llama/Llama-3.1-8B-Instruct"]))
    findings = check_training_data(values, token=job_token({}), method="sft")
    assert findings and "carries no HF_TOKEN secret" in findings[0].fix


def test_an_unreachable_hub_is_a_warning_not_a_refusal():
    values = {"model_name_or_path": QWEN, "dataset_name": "trl-lib/Capybara", "dataset_train_split": "train"}
    api = get_hf_api(CANARY_TOKEN)
    api.endpoint = "http://127.0.0.1:9"  # nothing listens there
    findings = check_training_data(values, token=CANARY_TOKEN, api=api,
                                   viewer=DatasetViewer("http://127.0.0.1:9", timeout=2))
    assert [f.severity for f in findings] == ["warning"] and findings[0].rule == "hub-unreachable"


def test_local_data_and_models_are_not_asked_of_the_hub(tmp_path):
    assert check_training_data({"model_name_or_path": str(tmp_path), "dataset_name": str(tmp_path / "x.jsonl")},
                               token=None) == []


# --- 4. the default output repo -----------------------------------------------------------------------------------


def _record(model: str, method: str, dataset: str, split: str) -> bytes:
    import json

    return json.dumps({"format": 1, "base_model": model, "method": method,
                       "dataset": {"name": dataset, "config": "default", "split": split}}).encode("utf-8")


def test_the_default_output_repo_is_in_the_persons_namespace_and_skips_taken_names(catalog):
    from fakes.fake_hub_repos import FakeRepo

    api = get_hf_api(CANARY_TOKEN)
    first = default_hub_model_id(api, "alice", QWEN, "dpo", UF, "default", "train_prefs")
    assert first[0] == "alice/Qwen2.5-0.5B-dpo" and "your namespace (alice)" in first[1]
    # Taken by another run's model: a suffix.
    catalog.repos["alice/Qwen2.5-0.5B-dpo"] = FakeRepo("alice/Qwen2.5-0.5B-dpo", "private", "model", files={
        "last-checkpoint/hf_trainer_run.json": _record(QWEN, "sft", "trl-lib/Capybara", "train")})
    second = default_hub_model_id(api, "alice", QWEN, "dpo", UF, "default", "train_prefs")
    assert second[0] == "alice/Qwen2.5-0.5B-dpo-2" and "alice/Qwen2.5-0.5B-dpo already exists" in second[1]
    # This run's own checkpoint repo: kept, so submitting again continues it.
    catalog.repos["alice/Qwen2.5-0.5B-dpo"].files["last-checkpoint/hf_trainer_run.json"] = _record(
        QWEN, "dpo", UF, "train_prefs")
    same = default_hub_model_id(api, "alice", QWEN, "dpo", UF, "default", "train_prefs")
    assert same[0] == "alice/Qwen2.5-0.5B-dpo" and "resume auto continues" in same[1]


# --- the journeys through train: plan -> confirm -> the fake job's arguments -> the script on a local copy ---------


@pytest.fixture
def planner(catalog, tiny_model):
    """A Hub backend on the catalog Hub; inspection with the tiny tokenizer standing in for the Hub model's, and the
    estimator reading the model's real size from the fake Hub (safetensors count and config.json)."""
    from transformers import AutoTokenizer

    from hf_trainer.estimate import run_estimate
    from hf_trainer.jobs.hub import HubBackend

    backend = HubBackend(get_hf_api(CANARY_TOKEN))
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)

    def inspector(params):
        return inspect_dataset(params, tokenizer_loader=lambda name, token: tokenizer)

    def estimator(request):
        return run_estimate(request, api=backend.api)

    return backend, {"inspector": inspector, "estimator": estimator}


def _job_arguments(hub) -> list[str]:
    (spec,) = hub.bodies("POST", r"^/api/jobs/alice$")
    command = spec["command"]
    return command[command.index("train_dpo.py") + 1:] if "train_dpo.py" in command else command


def _value(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args else None


@pytest.mark.slow  # trains one DPO step on the tiny model
def test_dpo_on_ultrafeedback_plans_train_prefs_and_the_job_reads_it_from_a_local_copy(catalog, planner, tmp_path,
                                                                                       tiny_model):
    from helpers import json_summary, run_script
    from hf_trainer.train import TrainRequest, train

    backend, tools = planner
    plan = train(TrainRequest(method="dpo", model_name_or_path=QWEN, dataset_name=UF, max_steps=2, confirm=True),
                 backend, **tools)
    # The plan: the split DPO trains on, the eval split beside it, the mapping, the default private repo.
    args = plan.script_args
    assert (_value(args, "--dataset_config"), _value(args, "--dataset_train_split"),
            _value(args, "--dataset_test_split"), _value(args, "--dataset_mapping")) == \
        (None, "train_prefs", "test_prefs", "extract_prompt")
    assert plan.model_repo == "alice/Qwen2.5-0.5B-dpo" and "--no-hub_private_repo" not in args
    assert plan.model_repo_note.startswith("private; default in your namespace (alice)")
    assert "results        " + f"{catalog.hub.url}/alice/Qwen2.5-0.5B-dpo (private; default" in plan.render()
    assert "data read      config default, split train_prefs, eval split test_prefs" in plan.render()
    assert plan.preflight.ok and plan.submitted, plan.preflight.render()
    # The real size of the data and the model reached the estimate: 61,135 rows, 494M parameters.
    assert plan.estimated_hours and plan.estimated_cost_usd
    # The fake job's arguments are the plan's.
    (spec,) = catalog.hub.bodies("POST", r"^/api/jobs/alice$")
    command = " ".join(spec["command"])
    for flag in ("--dataset_train_split train_prefs", "--dataset_test_split test_prefs",
                 "--hub_model_id alice/Qwen2.5-0.5B-dpo", "--dataset_mapping extract_prompt"):
        assert flag in command
    # The script, run on a local copy (as hf download leaves it) with the job's data arguments, reads train_prefs
    # and test_prefs: every other split of the copy holds rows DPO refuses at load, so reading one would fail.
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hf_trainer.tiny import chat_rows

    copy = local_copy(UF, tmp_path / "uf", rows_per_split=8)
    for split in ("train_sft", "test_sft", "train_gen", "test_gen"):
        pq.write_table(pa.Table.from_pylist(chat_rows(8)), copy / "data" / f"{split}-00000-of-00001.parquet")
    data_args = [word for flag in ("--dataset_train_split", "--dataset_test_split", "--dataset_mapping")
                 for word in (flag, _value(args, flag))]
    result = run_script("train_dpo.py", "--model_name_or_path", str(tiny_model), "--dataset_name", str(copy),
                        *data_args, "--max_steps", "1", "--per_device_train_batch_size", "2",
                        "--gradient_accumulation_steps", "1", "--max_length", "128", "--report_to", "none",
                        "--output_dir", str(tmp_path / "out"), "--json")
    assert json_summary(result)["steps"] == 1
    # Without the split the plan passes, the same script stops at load with the split to pass.
    with pytest.raises(train_common.ScriptError, match="Split 'train' not found.*Pass --dataset_train_split"):
        train_common.load_splits(_script_args("train_dpo.py", str(copy), []))


def test_sft_on_the_same_dataset_plans_train_sft(catalog, planner):
    from hf_trainer.train import TrainRequest, plan_training

    backend, tools = planner
    plan = plan_training(TrainRequest(method="sft", model_name_or_path=QWEN, dataset_name=UF, max_steps=2),
                         backend, **tools)
    assert (_value(plan.script_args, "--dataset_train_split"), _value(plan.script_args, "--dataset_test_split")) == \
        ("train_sft", "test_sft")
    assert plan.model_repo == "alice/Qwen2.5-0.5B-sft"


def test_a_config_asked_for_travels_to_the_job(catalog, planner):
    from hf_trainer.train import TrainRequest, plan_training

    backend, tools = planner
    plan = plan_training(TrainRequest(method="sft", model_name_or_path=QWEN, dataset_name="openai/gsm8k",
                                      dataset_config="socratic", hub_model_id="alice/gsm8k-sft", max_steps=2),
                         backend, **tools)
    assert _value(plan.script_args, "--dataset_config") == "socratic"
    assert (_value(plan.script_args, "--dataset_train_split"), _value(plan.script_args, "--dataset_test_split")) == \
        ("train", "test")
    assert plan.model_repo_note == "private"


def test_a_missing_dataset_is_refused_before_anything_is_spent(catalog, planner):
    from hf_trainer.train import TrainRequest, train

    backend, tools = planner
    with pytest.raises(UserError, match="Dataset 'alice/does-not-exist' does not exist"):
        train(TrainRequest(method="sft", model_name_or_path=QWEN, dataset_name="alice/does-not-exist",
                           confirm=True, force=True), backend, **tools)
    assert catalog.hub.count("POST", r"^/api/jobs/") == 0


def test_a_gated_model_without_access_is_refused_even_with_force(catalog, planner):
    from hf_trainer.train import TrainRequest, train

    backend, tools = planner
    with pytest.raises(UserError) as refused:
        train(TrainRequest(method="sft", model_name_or_path="meta-llama/Llama-3.1-8B", dataset_name="trl-lib/Capybara",
                           max_steps=2, confirm=True, force=True), backend, **tools)
    text = str(refused.value)
    assert "Force does not override this (model-gated)" in text and "force still overrides" in text
    assert "Accept its conditions at" in text and CANARY_TOKEN not in text
    assert catalog.hub.count("POST", r"^/api/jobs/") == 0


def test_hf_jobs_uv_of_a_bundled_script_on_missing_data_is_refused_even_with_force(catalog):
    from hf_trainer.jobs import submit
    from hf_trainer.jobs.base import UvJobRequest
    from hf_trainer.jobs.hub import HubBackend

    backend = HubBackend(get_hf_api(CANARY_TOKEN))
    request = UvJobRequest(script="train_sft.py", flavor="a10g-large", timeout_seconds=3600,
                           secrets={"HF_TOKEN": "$HF_TOKEN"},
                           script_args=["--model_name_or_path", QWEN, "--dataset_name", "alice/does-not-exist",
                                        "--push_to_hub", "--hub_model_id", "alice/x"])
    with pytest.raises(UserError, match=r"(?s)could only fail.*dataset-missing.*force does not override that"):
        submit.submit(request, backend, force=True)
    assert catalog.hub.count("POST", r"^/api/jobs/") == 0
    # Without force the refusal says that force would not pass it either.
    with pytest.raises(UserError, match="force does not pass dataset-missing"):
        submit.submit(request, backend)


@pytest.mark.parametrize("model, params", [("Qwen/Qwen2.5-0.5B", 494_032_768),
                                           ("meta-llama/Llama-3.1-8B-Instruct", 8_030_261_248)])
def test_the_estimate_reads_the_real_parameter_count_from_the_hub(catalog, model, params):
    from hf_trainer.estimate import make_request, run_estimate

    api = get_hf_api(CANARY_TOKEN)
    result = run_estimate(make_request(model_name_or_path=model, method="sft", num_rows=50_000,
                                       mean_tokens_per_row=500, use_peft=True), api=api)
    assert result.model.num_params == params and "Hub safetensors metadata" in result.model.source


def test_a_multi_config_dataset_plan_passes_the_config_inspection_read(catalog, planner):
    from hf_trainer.train import TrainRequest, plan_training

    backend, tools = planner
    plan = plan_training(TrainRequest(method="sft", model_name_or_path=QWEN, dataset_name="HuggingFaceM4/the_cauldron",
                                      max_steps=2), backend, **tools)
    assert plan.script == "train_vlm.py"  # image rows train with the vision-language script
    assert (_value(plan.script_args, "--dataset_config"), _value(plan.script_args, "--dataset_train_split")) == \
        ("ai2d", "train")
    # Without the config the job would stop with "Config name is missing"; with it, the data check is clean (the
    # tiny text tokenizer standing in for the model makes the rows' verdict INCOMPATIBLE, which is another matter).
    assert not [f for f in plan.preflight.findings if f.rule in DATA_RULES], plan.preflight.render()


# (route, MCP tool and arguments, CLI argv): a bundled training job on data that does not exist, forced
MISSING = ["--model_name_or_path", QWEN, "--dataset_name", "alice/does-not-exist", "--push_to_hub", "--hub_model_id",
           "alice/x"]
FORCED_ROUTES = [
    ("uv", "hf_jobs", {"operation": "uv", "backend": "hub", "args": {
        "script": "train_sft.py", "script_args": MISSING, "flavor": "a10g-large", "timeout": "2h",
        "secrets": {"HF_TOKEN": "$HF_TOKEN"}, "force": True}},
     ["jobs", "uv", "--backend", "hub", "--flavor", "a10g-large", "--timeout", "2h", "-s", "HF_TOKEN", "--force",
      "train_sft.py", *MISSING]),
    ("scheduled uv", "hf_jobs", {"operation": "scheduled uv", "args": {
        "script": "train_sft.py", "script_args": MISSING, "flavor": "a10g-large", "timeout": "2h",
        "secrets": {"HF_TOKEN": "$HF_TOKEN"}, "schedule": "@daily", "force": True}},
     ["jobs", "scheduled", "uv", "--flavor", "a10g-large", "--timeout", "2h", "-s", "HF_TOKEN", "--force", "@daily",
      "train_sft.py", *MISSING]),
]


@pytest.mark.parametrize("name, tool, arguments, argv", FORCED_ROUTES, ids=[r[0] for r in FORCED_ROUTES])
def test_mcp_and_the_cli_refuse_a_forced_bundled_job_on_missing_data(catalog, capsys, name, tool, arguments, argv):
    import asyncio

    from mcp import Client

    from hf_trainer.cli import main
    from hf_trainer.server import mcp

    async def go():
        async with Client(mcp) as client:
            return await client.call_tool(tool, arguments)

    result = asyncio.run(go())
    text = result.content[0].text
    assert result.is_error and "dataset-missing" in text and "force does not override that" in text, text
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2 and "dataset-missing" in err and "force does not override that" in err, (out, err)
    assert CANARY_TOKEN not in text + out + err
    assert catalog.hub.count("POST", r"^/api/(jobs|scheduled-jobs)/") == 0


@pytest.mark.parametrize("model", ["a/b c", "alice/" + "x" * 200, "a/b?x=1", "a/.."])
def test_an_id_that_is_no_repo_id_is_refused_without_asking_the_hub(catalog, model):
    before = len(catalog.hub.requests)
    (finding,) = check_training_data({"model_name_or_path": model}, token=CANARY_TOKEN)
    assert finding.rule == "model-missing" and "is not a valid Hub id" in finding.message
    assert len(catalog.hub.requests) == before  # nothing but owner/name goes into a URL


def test_a_revision_is_for_hub_datasets_only_in_inspection_and_in_the_script(tmp_path):
    from hf_trainer.tiny import chat_rows, write_jsonl

    data = write_jsonl(chat_rows(6), tmp_path / "chat.jsonl")
    with pytest.raises(UserError, match="dataset_revision 'v2' applies to Hub datasets; .*chat.jsonl is a local path"):
        _inspect(str(data), dataset_revision="v2")
    with pytest.raises(train_common.ScriptError, match="--dataset_revision v2 applies to Hub datasets"):
        train_common.load_splits(_script_args("train_sft.py", str(data), ["--dataset_revision", "v2"]))
