"""Dataset inspection reads past the head at a size-independent cost, caps the bytes of a row, reads exactly the file
types the training scripts load, fails fast when the Hub is unreachable, and checks a chosen chat template."""

import argparse
import importlib.util
import json
import shutil
import sys
import time
from pathlib import Path

import pytest

from conftest import SCRIPTS
from hf_trainer.dataset_inspect import DatasetInspectInput, inspect_dataset
from hf_trainer.errors import UserError
from hf_trainer.runtime import dataset_files, file_types, train_common
from hf_trainer.tiny import chat_rows, write_jsonl

R, N, X = "READY", "NEEDS MAPPING", "INCOMPATIBLE"


def _inspect(path, **kwargs):
    return inspect_dataset(DatasetInspectInput(dataset_name=str(path), **kwargs))


def _rows_with_late_problem(n: int, bad_from: int) -> list[dict]:
    rows = chat_rows(n)
    for row in rows[bad_from:]:
        row["messages"][-1]["content"] = ""  # an empty answer: SFT would learn nothing, TRL would not say so
    return rows


# --- beyond the head -------------------------------------------------------------------------------------------


def test_a_problem_that_starts_late_in_a_large_file_is_found_and_located(tmp_path) -> None:
    path = write_jsonl(_rows_with_late_problem(20_000, 15_000), tmp_path / "late.jsonl")

    result = _inspect(path, sample_size=100)

    assert result.sample_rows == 100 and "50 rows evenly spaced through the rest" in result.source.sampled_from
    assert result.methods["sft"].verdict == X
    issue = next(i for i in result.issues if "empty content" in i.message)
    assert all(result.source.locations[row].startswith("byte ") for row in issue.rows)  # found past the head
    assert result.source.locations[0] == "line 1"


def test_the_cost_does_not_grow_with_the_file(tmp_path) -> None:
    line = (json.dumps(chat_rows(1)[0]) + "\n").encode()
    block = line * (1_000_000 // len(line))
    path = tmp_path / "big.jsonl"
    with path.open("wb") as handle:
        for _ in range(256):  # 256 MB
            handle.write(block)

    started = time.perf_counter()
    result = _inspect(path, sample_size=200)
    elapsed = time.perf_counter() - started

    assert result.sample_rows == 200 and not result.source.num_rows_exact
    assert abs(result.source.num_rows - 256 * len(block) // len(line)) / result.source.num_rows < 0.01
    assert elapsed < 2.0, elapsed  # measured ~0.1 s; reading it whole takes tens of seconds


def test_later_row_groups_of_a_parquet_file_are_sampled(tmp_path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = _rows_with_late_problem(4000, 3000)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "d.parquet", row_group_size=500)

    result = _inspect(tmp_path / "d.parquet", sample_size=40)
    assert result.source.num_rows == 4000 and result.methods["sft"].verdict == X
    assert max(int(location.split()[1]) for location in result.source.locations) > 3000


def test_arrow_rows_are_taken_at_evenly_spaced_indices(tmp_path) -> None:
    import pyarrow as pa

    table = pa.Table.from_pylist(_rows_with_late_problem(1000, 900))
    with pa.ipc.new_file(str(tmp_path / "d.arrow"), table.schema) as writer:
        writer.write_table(table, max_chunksize=100)

    result = _inspect(tmp_path / "d.arrow", sample_size=20)
    assert result.source.locations[10:] == [f"row {11 + 99 * i}" for i in range(10)]
    assert result.methods["sft"].verdict == X


# --- the cap per row (issue 21 item 7) -----------------------------------------------------------------------------


def test_a_line_over_the_byte_cap_is_counted_not_parsed(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(dataset_files, "ROW_BYTE_CAP", 1 << 20)
    path = tmp_path / "long.jsonl"
    rows = chat_rows(10)
    with path.open("w", encoding="utf-8") as handle:
        for index, row in enumerate(rows):
            if index == 3:
                handle.write('{"messages": "' + "x" * (5 << 20) + '"}\n')  # 5 MB: over the 1 MB cap
            handle.write(json.dumps(row) + "\n")

    result = _inspect(path)
    assert result.sample_rows == 10 and result.source.oversized_rows == 1
    assert result.source.row_byte_cap == 1 << 20 and result.methods["sft"].verdict == R
    assert "1 row(s) longer than 1,048,576 bytes were counted but not read" in result.render()


def test_a_file_without_newlines_costs_the_cap_not_its_size(tmp_path, monkeypatch) -> None:
    import tracemalloc

    monkeypatch.setattr(dataset_files, "ROW_BYTE_CAP", 1 << 20)
    path = tmp_path / "one_line.jsonl"
    path.write_bytes(b'{"text": "' + b"y" * (64 << 20))  # 64 MB, no newline, never closed

    tracemalloc.start()
    with pytest.raises(UserError, match="has no rows to inspect"):
        _inspect(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 16 << 20, peak


def test_a_json_array_element_over_the_cap_is_refused_with_the_cap_named(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(dataset_files, "ROW_BYTE_CAP", 1 << 20)
    path = tmp_path / "array.json"
    path.write_text("[" + json.dumps({"text": "z" * (3 << 20)}) + "]", encoding="utf-8")
    with pytest.raises(UserError, match="longer than 1.0 MB"):
        _inspect(path)


# --- one list of file types ------------------------------------------------------------------------------------


def _write(path: Path, rows: list[dict]) -> Path:
    suffix = path.suffix
    if suffix in (".jsonl", ".ndjson"):
        return write_jsonl(rows, path)
    if suffix == ".json":
        path.write_text(json.dumps({"data": rows}), encoding="utf-8")  # the {"data": [...]} form
    elif suffix in (".csv", ".tsv"):
        import csv

        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter="\t" if suffix == ".tsv" else ",")
            writer.writeheader()
            writer.writerows(rows)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(rows)
        if suffix == ".parquet":
            pq.write_table(table, path)
        else:
            with pa.ipc.new_file(str(path), table.schema) as writer:
                writer.write_table(table)
    return path


@pytest.mark.parametrize("suffix", sorted(file_types.FILE_TYPES))
def test_every_file_type_inspection_reads_the_scripts_load(tmp_path, suffix) -> None:
    rows = [{"prompt": f"Question {i}?", "completion": f"Answer {i}."} for i in range(6)]
    path = _write(tmp_path / f"data{suffix}", rows)

    inspected = _inspect(path)
    assert inspected.kind == "prompt_completion" and inspected.sample_rows == 6

    args = argparse.Namespace(dataset_name=str(path), dataset_config=None, dataset_train_split="train",
                              dataset_test_split=None, eval_split_size=0, max_train_samples=None, seed=0)
    train, _ = train_common.load_splits(args)
    assert train.to_list() == rows


def test_a_file_type_outside_the_list_is_refused_by_both(tmp_path) -> None:
    path = tmp_path / "data.xml"
    path.write_text("<rows/>", encoding="utf-8")
    with pytest.raises(UserError, match="not a dataset file this tool reads"):
        _inspect(path)
    args = argparse.Namespace(dataset_name=str(path), dataset_config=None, dataset_train_split="train",
                              dataset_test_split=None, eval_split_size=0, max_train_samples=None, seed=0)
    with pytest.raises(train_common.ScriptError, match="not a supported data file"):
        train_common.load_splits(args)


# --- offline, and chat templates -------------------------------------------------------------------------------


def test_a_tokenizer_for_an_unreachable_hub_fails_in_seconds_with_a_clear_message(tmp_path, monkeypatch) -> None:
    path = write_jsonl(chat_rows(4), tmp_path / "c.jsonl")
    # A port nothing listens on: connections are refused (an address that drops packets costs the 3 s probe).
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    from transformers import AutoTokenizer  # noqa: F401  (imported first: the clock measures the load, not the import)

    started = time.perf_counter()
    with pytest.raises(UserError, match="cannot be reached from here and 'someone/some-model' is not in the local"):
        _inspect(path, model_name_or_path="someone/some-model")
    assert time.perf_counter() - started < 5


@pytest.fixture
def base_model(tiny_model, tmp_path) -> Path:
    """The tiny model without a chat template, as a base model ships."""
    folder = tmp_path / "base"
    shutil.copytree(tiny_model, folder)
    (folder / "chat_template.jinja").unlink()
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    config.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def test_a_base_model_gets_a_named_template_and_inspection_says_which_is_used(base_model, tmp_path) -> None:
    path = write_jsonl(chat_rows(8), tmp_path / "c.jsonl")

    without = _inspect(path, model_name_or_path=str(base_model))
    assert without.chat_template is False and without.chat_template_used is None
    assert without.methods["sft"].verdict == X and "--chat_template chatml" in without.methods["sft"].reasons[-1]

    with_chatml = _inspect(path, model_name_or_path=str(base_model), chat_template="chatml")
    assert with_chatml.chat_template is False and with_chatml.chat_template_used == "chatml"
    assert with_chatml.methods["sft"].verdict == R and with_chatml.token_stats.rows == 8
    assert "rows rendered with: chatml" in with_chatml.render()

    jinja = tmp_path / "mine.jinja"
    jinja.write_text("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}", encoding="utf-8")
    assert _inspect(path, model_name_or_path=str(base_model), chat_template=str(jinja)).methods["sft"].verdict == R
    with pytest.raises(UserError, match="neither a known name"):
        _inspect(path, model_name_or_path=str(base_model), chat_template="nonesuch")


def test_train_sft_trains_a_base_model_with_chat_template_chatml(base_model, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = write_jsonl(chat_rows(8), tmp_path / "c.jsonl")
    spec = importlib.util.spec_from_file_location("sampling_train_sft", SCRIPTS / "train_sft.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    base = ["--model_name_or_path", str(base_model), "--dataset_name", str(path), "--output_dir", str(tmp_path / "o"),
            "--smoke", "--report_to", "none", "--eval_split_size", "0", "--max_length", "64",
            "--per_device_train_batch_size", "4", "--assistant_only_loss", "--no-packing"]
    try:
        with pytest.raises(module.ScriptError, match="has no chat template.*--chat_template chatml"):
            module.main(module.parse_args(base))
        assert module.main(module.parse_args(base + ["--chat_template", "chatml"])) == 0
    finally:
        sys.modules.pop(spec.name, None)
