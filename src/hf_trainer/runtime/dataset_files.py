"""Read a sample of rows from local dataset files (jsonl, json, csv, parquet, arrow) without reading the whole file.

A many-GB file costs about what a small one does: text formats read only their first lines and estimate the row
count from the bytes per sampled row; parquet reads the footer (exact row count) and the first pages of the first
row group; arrow memory-maps the file and touches only the first record batch (and batch headers to count rows).

Pure standard library plus pyarrow imported inside the functions that need it, so scripts/inspect_dataset.py can
inline this module verbatim. Failures raise `DatasetFileError` with text meant for a person.
"""

import csv
import json
import os
from pathlib import Path
from typing import Any

EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "csv",
              ".parquet": "parquet", ".arrow": "arrow", ".feather": "arrow"}
# Metadata files that `datasets.save_to_disk` writes beside its arrow shards; they are not rows.
_METADATA = {"dataset_info.json", "state.json", "dataset_dict.json"}
# Text formats are read in chunks of this size until enough rows are seen; a row longer than this still works.
_CHUNK = 1 << 20
# A dataset folder holds a few hundred shards at most; walking more than this is a mistake such as '/'.
_MAX_WALK = 20_000


class DatasetFileError(Exception):
    """A local dataset file that cannot be read as asked; the message says which file, where, and what to do."""


def _walk(path: Path) -> list[Path]:
    """Data files under a folder, hidden ones skipped; refused past _MAX_WALK entries (e.g. '/' or a home folder)."""
    found = []
    seen = 0
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        seen += len(dirs) + len(names)
        if seen > _MAX_WALK:
            raise DatasetFileError(f"{path} holds more than {_MAX_WALK} files and folders: it is not a dataset "
                                   "folder. Pass the dataset's own file or folder.")
        found += [Path(root) / n for n in names if not n.startswith(".") and n not in _METADATA
                  and Path(n).suffix.lower() in EXTENSIONS]
    return sorted(p for p in found if p.is_file())


def data_files(path: Path, split: str | None) -> list[Path]:
    """The data files behind a file or folder path, for one split when the folder has several."""
    given = str(path)
    path = Path(os.path.expanduser(str(path)))  # Path.expanduser raises for an unknown ~user
    # Name the path as given, and where it led when '~' was expanded.
    shown = given if str(path) == given else f"{given} ({path})"
    if path.is_file():
        if path.suffix.lower() not in EXTENSIONS:
            raise DatasetFileError(f"{shown} is not a dataset file this tool reads; use one of "
                                   f"{', '.join(sorted(EXTENSIONS))}.")
        return [path]
    if not path.is_dir():
        raise DatasetFileError(f"{shown} does not exist. Pass a dataset file or folder, or a Hub id like owner/name.")
    files = _walk(path)
    if not files:
        raise DatasetFileError(f"{shown} holds no {', '.join(sorted(EXTENSIONS))} files.")
    wanted = split or "train"
    in_split = [p for p in files if wanted in p.relative_to(path).as_posix().lower()]
    if in_split:
        return in_split
    if split:
        raise DatasetFileError(f"No file for split {split!r} in {shown} (files: "
                               f"{', '.join(p.relative_to(path).as_posix() for p in files[:10])}).")
    return files


def file_format(path: Path) -> str:
    return EXTENSIONS[Path(path).suffix.lower()]


def sample_file(path: Path, limit: int) -> dict[str, Any]:
    """Up to `limit` rows from the start of one file, with its row count (exact or estimated)."""
    reader = {"jsonl": _sample_jsonl, "json": _sample_json, "csv": _sample_csv, "parquet": _sample_parquet,
              "arrow": _sample_arrow}[file_format(path)]
    return reader(Path(path), limit)


def sample_files(files: list[Path], limit: int) -> dict[str, Any]:
    """Rows from the first files until `limit` is reached; the row count adds up every file (cheaply)."""
    rows: list[dict] = []
    num_rows, exact, num_bytes = 0, True, 0
    for path in files:
        if len(rows) < limit:
            part = sample_file(path, limit - len(rows))
            rows += part["rows"]
        else:
            part = count_rows(path)
        num_rows += part["num_rows"]
        exact = exact and part["num_rows_exact"]
        num_bytes += path.stat().st_size
    return {"rows": rows, "num_rows": num_rows, "num_rows_exact": exact, "num_bytes": num_bytes,
            "files": [str(p) for p in files]}


def count_rows(path: Path) -> dict[str, Any]:
    """Row count of a file not sampled: exact for parquet/arrow (metadata), estimated from a small sample otherwise."""
    part = sample_file(path, 1 if file_format(path) in ("parquet", "arrow") else 50)
    return {"num_rows": part["num_rows"], "num_rows_exact": part["num_rows_exact"]}


# --- text formats ----------------------------------------------------------------------------------------------


def _estimate(size: int, rows: int, bytes_read: int, reached_end: bool) -> tuple[int, bool]:
    if reached_end or rows == 0:
        return rows, True
    return max(rows, round(size * rows / max(bytes_read, 1))), False


def _sample_jsonl(path: Path, limit: int) -> dict[str, Any]:
    rows: list[dict] = []
    bytes_read = 0
    reached_end = True
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if len(rows) >= limit:
                reached_end = False
                break
            bytes_read += len(raw)
            line = raw.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise DatasetFileError(f"Line {number} of {path} is not valid JSON ({exc}). Fix or remove that line; "
                                       "each line of a JSONL file must be one JSON object.") from None
            if not isinstance(row, dict):
                raise DatasetFileError(f"Line {number} of {path} is a JSON {type(row).__name__}, not an object. "
                                       "Each line of a JSONL file must be one JSON object ({\"column\": value, ...}).")
            rows.append(row)
        else:
            reached_end = True
    num_rows, exact = _estimate(path.stat().st_size, len(rows), bytes_read, reached_end)
    return {"rows": rows, "num_rows": num_rows, "num_rows_exact": exact}


def _sample_json(path: Path, limit: int) -> dict[str, Any]:
    """A JSON array of objects (read incrementally), JSON Lines saved as .json, or one object holding such a list."""
    with path.open("rb") as handle:
        head = handle.read(_CHUNK)
    text = head.decode("utf-8", errors="ignore").lstrip()
    if not text:
        return {"rows": [], "num_rows": 0, "num_rows_exact": True}
    if text[0] == "{":
        first_line, _, rest = text.partition("\n")
        try:
            first = json.loads(first_line)
        except json.JSONDecodeError:
            return _sample_json_object(path, limit)
        # One line holding {"data": [rows]} is the object form; anything else starting with an object is JSON Lines.
        if rest.strip() or not _row_lists(first):
            return _sample_jsonl(path, limit)
        return _sample_json_object(path, limit)
    if text[0] != "[":
        raise DatasetFileError(f"{path} is neither a JSON array nor JSON Lines (it starts with {text[:20]!r}).")
    return _sample_json_array(path, limit)


def _sample_json_array(path: Path, limit: int) -> dict[str, Any]:
    decoder = json.JSONDecoder()
    rows: list[dict] = []
    size = path.stat().st_size
    with path.open("r", encoding="utf-8") as handle:
        buffer = handle.read(_CHUNK)
        position = buffer.index("[") + 1
        lines_before = 0
        total_chars = len(buffer)
        while len(rows) < limit:
            while position < len(buffer) and buffer[position] in " \t\r\n,":
                position += 1
            if position < len(buffer) and buffer[position] == "]":
                return {"rows": rows, "num_rows": len(rows), "num_rows_exact": True}
            try:
                row, end = decoder.raw_decode(buffer, position)
            except json.JSONDecodeError as exc:
                more = handle.read(_CHUNK)
                if not more:
                    line = buffer.count("\n", 0, exc.pos) + 1 + lines_before
                    raise DatasetFileError(f"{path} is not valid JSON near element {len(rows) + 1} "
                                           f"(line {line}: {exc.msg}).") from None
                # Keep only the undecoded tail so the buffer stays small.
                lines_before += buffer.count("\n", 0, position)
                total_chars += len(more)
                buffer = buffer[position:] + more
                position = 0
                continue
            if not isinstance(row, dict):
                raise DatasetFileError(f"Element {len(rows) + 1} of the JSON array in {path} is a "
                                       f"{type(row).__name__}, not an object.")
            rows.append(row)
            position = end
    # Characters stand in for bytes in the estimate; it is labelled as an estimate anyway.
    num_rows, exact = _estimate(size, len(rows), total_chars - (len(buffer) - position), False)
    return {"rows": rows, "num_rows": num_rows, "num_rows_exact": exact}


def _sample_json_object(path: Path, limit: int) -> dict[str, Any]:
    """`{"data": [...]}`: the whole file must be parsed; refuse big ones rather than pretend it is cheap."""
    if path.stat().st_size > 200 * _CHUNK:
        raise DatasetFileError(f"{path} is one large JSON object; convert it to JSON Lines (one row per line) so it "
                               "can be read in parts.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetFileError(f"{path} is not valid JSON (line {exc.lineno}: {exc.msg}).") from None
    lists = _row_lists(data)
    if len(lists) != 1:
        raise DatasetFileError(f"{path} is a JSON object without exactly one list of rows (found: "
                               f"{', '.join(lists) or 'none'}). Save the rows as JSON Lines.")
    rows = data[lists[0]]
    return {"rows": rows[:limit], "num_rows": len(rows), "num_rows_exact": True}


def _row_lists(data: Any) -> list[str]:
    """Keys of a JSON object whose values are lists of row objects."""
    if not isinstance(data, dict):
        return []
    return [key for key, value in data.items() if isinstance(value, list) and value and isinstance(value[0], dict)]


def _sample_csv(path: Path, limit: int) -> dict[str, Any]:
    rows: list[dict] = []
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    consumed = [0]

    def counted(lines: Any) -> Any:
        # The text layer reads ahead in blocks, so the file position overstates what the sample used.
        for line in lines:
            consumed[0] += len(line.encode("utf-8"))
            yield line

    with path.open("r", encoding="utf-8", newline="") as text:
        reader = csv.DictReader(counted(text), delimiter=delimiter)
        reached_end = True
        try:
            for row in reader:
                if len(rows) >= limit:
                    reached_end = False
                    break
                if None in row:
                    raise DatasetFileError(f"Line {reader.line_num} of {path} has more fields than the header.")
                rows.append(dict(row))
        except csv.Error as exc:
            raise DatasetFileError(f"Line {reader.line_num} of {path} is not valid CSV ({exc}).") from None
    num_rows, exact = _estimate(path.stat().st_size, len(rows), consumed[0], reached_end)
    return {"rows": rows, "num_rows": num_rows, "num_rows_exact": exact}


# --- columnar formats ------------------------------------------------------------------------------------------


def _sample_parquet(path: Path, limit: int) -> dict[str, Any]:
    import pyarrow.parquet as pq  # lazy: only parquet needs it, and the core must start without it

    try:
        # A read buffer instead of pre-buffering makes the first batch read only the first pages, not the whole
        # (possibly GB-sized) row group.
        parquet = pq.ParquetFile(path, buffer_size=1 << 20, pre_buffer=False)
    except (OSError, ValueError) as exc:
        raise DatasetFileError(f"{path} is not a readable parquet file ({exc}).") from None
    num_rows = parquet.metadata.num_rows
    rows: list[dict] = []
    if num_rows and limit:
        batch = next(parquet.iter_batches(batch_size=min(limit, num_rows)), None)
        rows = batch.to_pylist() if batch is not None else []
    return {"rows": rows[:limit], "num_rows": num_rows, "num_rows_exact": True}


def _sample_arrow(path: Path, limit: int) -> dict[str, Any]:
    import pyarrow as pa  # lazy: see _sample_parquet

    source = pa.memory_map(str(path), "r")
    try:
        # The IPC file format (Feather v2) has a footer that indexes its batches; datasets' cache files are streams.
        try:
            reader = pa.ipc.open_file(source)
            batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
        except pa.ArrowInvalid:
            source.seek(0)
            batches = iter(pa.ipc.open_stream(source))
        rows: list[dict] = []
        num_rows = 0
        for batch in batches:
            # Memory-mapped batches are zero-copy: counting them touches headers only.
            if len(rows) < limit:
                rows += batch.slice(0, limit - len(rows)).to_pylist()
            num_rows += batch.num_rows
    except pa.ArrowInvalid as exc:
        raise DatasetFileError(f"{path} is not a readable Arrow IPC file or stream ({exc}).") from None
    finally:
        source.close()
    return {"rows": rows, "num_rows": num_rows, "num_rows_exact": True}


def describe_size(num_bytes: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if num_bytes < 1000 or unit == "TB":
            return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1000
    return f"{num_bytes} B"


def is_local(name: str) -> bool:
    """A path on this machine (existing, or written like a path), as opposed to a Hub id like owner/name."""
    if os.path.exists(os.path.expanduser(name)):
        return True
    return name.startswith(("/", "./", "../", "~")) or Path(name).suffix.lower() in EXTENSIONS
