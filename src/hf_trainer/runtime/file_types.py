"""The one list of local dataset file types: dataset inspection samples exactly these (runtime/dataset_files.py) and
the training scripts load exactly these (runtime/train_common.py), with the `datasets` builder and options each needs.

Pure standard library; small on purpose, because every training script carries it.
"""

import json
from pathlib import Path
from typing import Any

# Text is read in chunks of this size.
_CHUNK = 1 << 20
# suffix -> (reader here, `datasets` builder, builder options). A JSON file holding {"data": [rows]} also needs the
# builder's `field` option: see json_rows_field.
FILE_TYPES = {
    ".jsonl": ("jsonl", "json", {}), ".ndjson": ("jsonl", "json", {}), ".json": ("json", "json", {}),
    ".csv": ("csv", "csv", {}), ".tsv": ("csv", "csv", {"delimiter": "\t"}),
    ".parquet": ("parquet", "parquet", {}), ".arrow": ("arrow", "arrow", {}), ".feather": ("arrow", "arrow", {}),
}
EXTENSIONS = {suffix: reader for suffix, (reader, _builder, _options) in FILE_TYPES.items()}


def builder_for(files: list[Path]) -> tuple[str, dict]:
    """The `datasets` builder and options that load these files (one type per dataset); ValueError otherwise."""
    specs = set()
    for path in files:
        suffix = Path(path).suffix.lower()
        if suffix not in FILE_TYPES:
            raise ValueError(f"{path} is not a supported data file: use {', '.join(FILE_TYPES)}.")
        _reader, builder, options = FILE_TYPES[suffix]
        if builder == "json" and suffix == ".json":
            field = json_rows_field(Path(path))
            options = {"field": field} if field else {}
        specs.add((builder, tuple(sorted(options.items()))))
    if len(specs) != 1:
        raise ValueError(f"the files mix types or layouts ({', '.join(sorted(str(spec) for spec in specs))}); keep "
                         "one type per dataset.")
    builder, options = specs.pop()
    return builder, dict(options)


def json_rows_field(path: Path) -> str | None:
    """The key of a .json file that is one object holding the list of rows ({"data": [...]}), else None."""
    with path.open("rb") as handle:
        head = handle.read(_CHUNK).decode("utf-8", errors="ignore").lstrip()
    if not head.startswith("{"):
        return None
    first_line, _, rest = head.partition("\n")
    try:
        first = json.loads(first_line)
    except json.JSONDecodeError:
        first = None
    if first is not None and (rest.strip() or not _row_lists(first)):
        return None  # JSON Lines saved as .json
    try:
        lists = _row_lists(json.loads(path.read_text(encoding="utf-8"))) if first is None else _row_lists(first)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return None
    return lists[0] if len(lists) == 1 else None


def _row_lists(data: Any) -> list[str]:
    """Keys of a JSON object whose values are lists of row objects."""
    if not isinstance(data, dict):
        return []
    return [key for key, value in data.items() if isinstance(value, list) and value and isinstance(value[0], dict)]
