"""Which split of a dataset to read: one rule for dataset inspection, the plan and the training scripts.

- A method's training split. Datasets that serve several uses name one split per use
  (HuggingFaceH4/ultrafeedback_binarized: train_prefs/test_prefs for preference methods, train_sft/test_sft for SFT,
  train_gen/test_gen for generation): a method reads its own `train_<use>`, else `train`, else the first split whose
  name starts with train, else the first split.
- The eval split beside it: the training split's name with train replaced by test, validation, ... (train_prefs ->
  test_prefs), else test, else validation.
- A local folder's splits, named from its files the way the Hub's exports name them:
  `train_prefs-00000-of-00001.parquet` and `data/train_prefs.jsonl` are split train_prefs, `val.jsonl` is
  validation, `train/part-0.parquet` is train; a file whose name says nothing is train.

Standard library only: the training scripts carry it (runtime/basics.py, runtime/train_common.py) and so does
scripts/inspect_dataset.py (runtime/dataset_files.py, runtime/dataset_viewer.py).
"""

import re
from pathlib import PurePath

# The use a method's split is named after, best first (split names as HuggingFaceH4's datasets write them).
METHOD_SPLIT_USES = {"sft": ("sft",), "dpo": ("prefs",), "reward": ("prefs",), "kto": ("prefs",),
                     "grpo": ("gen", "prompts")}
# Split words in file names, and the split each means (the Hub reads file names the same way).
SPLIT_WORDS = {"train": "train", "training": "train", "test": "test", "testing": "test", "validation": "validation",
               "valid": "validation", "val": "validation", "dev": "validation", "eval": "validation"}
# Words an eval split's name may start with in place of "train", best first.
EVAL_WORDS = ("test", "validation", "valid", "val", "dev", "eval")
# A split word followed by a use: train_prefs, test_sft.
_NAMED_SPLIT = re.compile(r"^(train|training|test|testing|validation|valid|val|dev|eval)(_[A-Za-z][A-Za-z0-9]*)+$",
                          re.IGNORECASE)
# Shard suffixes of exported files: -00000-of-00003, -0000, _3.
_SHARD = re.compile(r"(-\d{5}-of-\d{5}|[-_]\d+)$")


def train_split(names: list[str], method: str | None = None) -> str | None:
    """The split `method` trains on among `names` (None when there are none)."""
    lowered = {name.lower(): name for name in names}
    for use in METHOD_SPLIT_USES.get(method or "", ()):
        if f"train_{use}" in lowered:
            return lowered[f"train_{use}"]
    if "train" in names:
        return "train"
    trains = [name for name in names if name.lower().startswith("train")]
    if trains:
        return trains[0]
    return names[0] if names else None


def eval_split(names: list[str], train: str) -> str | None:
    """The eval split beside `train` among `names`: train_prefs -> test_prefs, then test, then validation."""
    lowered = {name.lower(): name for name in names}
    if train.lower().startswith("train"):
        rest = train.lower()[len("train"):]
        for word in EVAL_WORDS:
            if rest and word + rest in lowered:
                return lowered[word + rest]
    return next((name for name in ("test", "validation") if name in names and name != train), None)


def split_name(text: str) -> str | None:
    """The split a file or folder name stands for ('train_prefs-00000-of-00001' -> 'train_prefs', 'val' ->
    'validation'), or None when the name is not a split's."""
    stem = _SHARD.sub("", text)
    if stem.lower() in SPLIT_WORDS:
        return SPLIT_WORDS[stem.lower()]
    if _NAMED_SPLIT.match(stem):
        return stem
    return None


def split_of(relative: PurePath) -> str:
    """The split of a data file inside a dataset folder, from its path relative to the folder: the file's own name,
    then its folders (nearest first), then any split word in them; train when nothing names one."""
    parts = [PurePath(relative.name).stem.split(".")[0], *reversed(relative.parts[:-1])]
    for part in parts:
        found = split_name(part)
        if found:
            return found
    words = [w for w in re.split(r"[^a-z]+", "/".join(relative.parts[-2:]).lower()) if w]
    return next((SPLIT_WORDS[w] for w in words if w in SPLIT_WORDS), "train")
