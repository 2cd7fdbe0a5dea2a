"""The training scripts' shared data loading (src/hf_trainer/runtime/train_common.py, inlined into every script)."""

import argparse

import pytest

from hf_trainer.runtime import train_common
from hf_trainer.tiny import chat_rows, write_jsonl


def _args(name: str, **extra) -> argparse.Namespace:
    fields = dict(dataset_name=name, dataset_config=None, dataset_train_split="train", dataset_test_split=None,
                  eval_split_size=0.05, max_train_samples=None, seed=1)
    fields.update(extra)
    return argparse.Namespace(**fields)


def test_a_folder_with_train_and_test_files_gives_two_splits(tmp_path):
    write_jsonl(chat_rows(20), tmp_path / "data" / "train.jsonl")
    write_jsonl(chat_rows(5), tmp_path / "data" / "test.jsonl")
    train, evaluation = train_common.load_splits(_args(str(tmp_path / "data")))
    assert len(train) == 20 and len(evaluation) == 5  # the test file is not trained on


def test_a_save_to_disk_folder_loads_and_its_metadata_files_are_not_rows(tmp_path):
    import datasets

    datasets.Dataset.from_list(chat_rows(20)).save_to_disk(str(tmp_path / "saved"))
    train, evaluation = train_common.load_splits(_args(str(tmp_path / "saved")))
    assert len(train) + len(evaluation) == 20 and "messages" in train.column_names


def test_a_single_file_gets_an_eval_split_carved_and_zero_disables_it(tmp_path):
    data = write_jsonl(chat_rows(40), tmp_path / "chat.jsonl")
    train, evaluation = train_common.load_splits(_args(str(data)))
    assert (len(train), len(evaluation)) == (38, 2)
    train, evaluation = train_common.load_splits(_args(str(data), eval_split_size=0))
    assert (len(train), evaluation) == (40, None)


@pytest.mark.parametrize(
    "setup, message",
    [
        # an empty folder
        (lambda root: (root / "empty").mkdir(), "No data files"),
        # a folder mixing csv and jsonl
        (lambda root: (write_jsonl(chat_rows(2), root / "empty" / "a.jsonl"),
                       (root / "empty" / "b.csv").write_text("x\n1\n", encoding="utf-8")), "mixes file types"),
    ],
)
def test_unusable_local_data_is_refused_clearly(tmp_path, setup, message):
    setup(tmp_path)
    with pytest.raises(train_common.ScriptError, match=message):
        train_common.load_splits(_args(str(tmp_path / "empty")))
