"""Read a sample of rows from local dataset files (jsonl, json, csv, parquet, arrow) without reading the whole file.

A sample is the head of the data plus rows at evenly spaced places through the rest, so problems that start late are
seen, and a many-GB file costs about what a small one does: text formats read their first lines, then one line after
each of a few evenly spaced byte offsets, and estimate the row count from the bytes per sampled row; parquet reads the
footer (exact row count) and the first pages of evenly spaced row groups; arrow memory-maps the file and slices rows
at evenly spaced indices. No row is read past ROW_BYTE_CAP bytes (a 1 GB line costs 1 GB of nothing): such rows are
counted, not parsed, and the result says so.

runtime/file_types.py holds the one list of local file types (FILE_TYPES), which the training scripts load too.

Pure standard library plus pyarrow imported inside the functions that need it, so scripts/inspect_dataset.py can
inline this module verbatim. Failures raise `DatasetFileError` with text meant for a person.
"""

import csv
import json
import os
from pathlib import Path
from typing import Any

from .file_types import _CHUNK, EXTENSIONS, _row_lists
from .splits import split_of, train_split

# Longest row read; a longer one (a file without newlines, a giant cell) is counted and skipped, never parsed.
ROW_BYTE_CAP = 8 << 20
# Metadata files that `datasets.save_to_disk` writes beside its arrow shards; they are not rows.
_METADATA = {"dataset_info.json", "state.json", "dataset_dict.json"}
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


def _shown(given: str, path: Path) -> str:
    """The path as given, and where it led when '~' was expanded."""
    return given if str(path) == given else f"{given} ({path})"


def _saved_split_names(path: Path) -> list[str]:
    """The splits a `datasets.save_to_disk` DatasetDict folder lists in its dataset_dict.json."""
    try:
        names = json.loads((path / "dataset_dict.json").read_text(encoding="utf-8")).get("splits")
    except (OSError, ValueError, AttributeError):
        names = None
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise DatasetFileError(f"{path / 'dataset_dict.json'} does not list the saved splits; save the dataset again "
                               "with datasets' save_to_disk.")
    return names


def local_splits(path: Path) -> dict[str, list[Path]]:
    """Split name -> data files of a local file or folder, as the training scripts load it (runtime/train_common.py):
    a `datasets.save_to_disk` folder by the splits it saved, one split each (never merged); another folder by its
    file names (runtime/splits.split_of: train_prefs-00000-of-00001.parquet is train_prefs); a single file is train."""
    given = str(path)
    path = Path(os.path.expanduser(str(path)))  # Path.expanduser raises for an unknown ~user
    shown = _shown(given, path)
    if path.is_file():
        if path.suffix.lower() not in EXTENSIONS:
            raise DatasetFileError(f"{shown} is not a dataset file this tool reads; use one of "
                                   f"{', '.join(sorted(EXTENSIONS))}.")
        return {"train": [path]}
    if not path.is_dir():
        raise DatasetFileError(f"{shown} does not exist. Pass a dataset file or folder, or a Hub id like owner/name.")
    if (path / "dataset_dict.json").is_file():
        # save_to_disk of a DatasetDict: one folder per split, as listed; load_from_disk gives exactly these.
        saved = {name: _walk(path / name) for name in _saved_split_names(path)}
        empty = [name for name, files in saved.items() if not files]
        if empty:
            raise DatasetFileError(f"{shown} lists split {empty[0]!r} in dataset_dict.json, but {path / empty[0]} "
                                   "holds no .arrow files; save the dataset again with save_to_disk.")
        return saved
    files = _walk(path)
    if not files:
        raise DatasetFileError(f"{shown} holds no {', '.join(sorted(EXTENSIONS))} files.")
    if (path / "state.json").is_file():
        return {"train": files}  # save_to_disk of one Dataset: load_from_disk gives it as the train split
    splits: dict[str, list[Path]] = {}
    for file in files:
        splits.setdefault(split_of(file.relative_to(path)), []).append(file)
    return splits


def choose_local(path: Path, split: str | None, method: str | None = None) -> tuple[str, list[Path], list[str]]:
    """(split, its files, every split's name) of a local file or folder: `split` when given, else the one `method`
    trains on (runtime/splits.train_split); DatasetFileError naming the splits there are when `split` is not one."""
    splits = local_splits(path)
    names = list(splits)
    chosen = split or train_split(names, method) or "train"
    if chosen not in splits:
        root = Path(os.path.expanduser(str(path)))
        listed = ", ".join(p.relative_to(root).as_posix() if root.is_dir() else p.name
                           for files in splits.values() for p in files[:3])
        raise DatasetFileError(f"No file for split {chosen!r} in {_shown(str(path), root)}: its splits are "
                               f"{', '.join(names)} (files: {listed}). Pass one of them as the split.")
    return chosen, splits[chosen], names


def data_files(path: Path, split: str | None) -> list[Path]:
    """The data files behind a file or folder path, for one split when the folder has several."""
    return choose_local(path, split)[1]


def file_format(path: Path) -> str:
    return EXTENSIONS[Path(path).suffix.lower()]


def sample_file(path: Path, limit: int, spread: int = 0) -> dict[str, Any]:
    """Up to `limit` rows from the start of one file plus up to `spread` rows evenly spaced through the rest, with the
    file's row count (exact or estimated), where each row came from, and how many rows were over ROW_BYTE_CAP."""
    reader = {"jsonl": _sample_jsonl, "json": _sample_json, "csv": _sample_csv, "parquet": _sample_parquet,
              "arrow": _sample_arrow}[file_format(path)]
    result = reader(Path(path), limit, spread)
    result.setdefault("locations", [f"row {i + 1}" for i in range(len(result["rows"]))])
    result.setdefault("oversized", 0)
    return result


def sample_files(files: list[Path], limit: int, spread: int | None = None) -> dict[str, Any]:
    """The first `limit` rows (from the first files) plus `spread` rows (default: as many) evenly spaced through all
    the files; the row count adds up every file (cheaply). `sampled_from` says where the rows came from."""
    spread = limit if spread is None else spread
    sizes = [max(path.stat().st_size, 1) for path in files]
    rows: list[dict] = []
    locations: list[str] = []
    num_rows, exact, num_bytes, oversized = 0, True, 0, 0
    head_rows = spread_rows = 0
    for index, path in enumerate(files):
        share = round(spread * sizes[index] / sum(sizes)) if spread else 0
        share = max(share, 1) if spread else 0
        head = max(0, limit - head_rows)
        part = sample_file(path, head, share) if head or share else count_rows(path)
        taken = part.get("head_count", len(part["rows"]))
        head_rows += taken
        spread_rows += len(part["rows"]) - taken
        rows += part["rows"]
        where = f"{path.name}: " if len(files) > 1 else ""
        locations += [where + location for location in part["locations"]]
        num_rows += part["num_rows"]
        exact = exact and part["num_rows_exact"]
        oversized += part["oversized"]
        num_bytes += path.stat().st_size
    sampled_from = f"the first {head_rows} rows"
    if spread_rows:
        sampled_from += f" and {spread_rows} rows evenly spaced through the rest"
    return {"rows": rows, "num_rows": num_rows, "num_rows_exact": exact, "num_bytes": num_bytes,
            "files": [str(p) for p in files], "locations": locations, "sampled_from": sampled_from,
            "oversized_rows": oversized, "row_byte_cap": ROW_BYTE_CAP}


def count_rows(path: Path) -> dict[str, Any]:
    """Row count of a file not sampled: exact for parquet/arrow (metadata), estimated from a small sample otherwise."""
    part = sample_file(path, 1 if file_format(path) in ("parquet", "arrow") else 50)
    return {"rows": [], "locations": [], "oversized": part["oversized"], "num_rows": part["num_rows"],
            "num_rows_exact": part["num_rows_exact"]}


# --- text formats ----------------------------------------------------------------------------------------------


def _estimate(size: int, rows: int, bytes_read: int, reached_end: bool) -> tuple[int, bool]:
    if reached_end or rows == 0:
        return rows, True
    return max(rows, round(size * rows / max(bytes_read, 1))), False


def _read_line(handle: Any) -> tuple[bytes | None, int, bool]:
    """The next line, never holding more than ROW_BYTE_CAP bytes: (line, or None at the end; bytes consumed;
    whether it was over the cap, in which case the rest of it was skipped and b"" is returned)."""
    line = handle.readline(ROW_BYTE_CAP + 1)
    if not line:
        return None, 0, False
    consumed = len(line)
    if len(line) > ROW_BYTE_CAP and not line.endswith(b"\n"):
        while True:
            more = handle.readline(_CHUNK)
            consumed += len(more)
            if not more or more.endswith(b"\n"):
                return b"", consumed, True
    return line, consumed, False


def _spread_offsets(start: int, size: int, count: int) -> list[int]:
    """`count` byte offsets evenly spaced from `start` (the end of the head) to the end of the file."""
    if count <= 0 or start >= size:
        return []
    return sorted({start + (size - start) * i // count for i in range(count)})


def _line_at(handle: Any, offset: int) -> tuple[int, bytes | None, bool]:
    """The first whole line starting at or after `offset`: (its start, the line or None, oversized)."""
    if offset > 0:
        handle.seek(offset - 1)
        if handle.read(1) != b"\n":
            _read_line(handle)  # the rest of the line the offset fell into
    start = handle.tell()
    line, _consumed, over = _read_line(handle)
    return start, line, over


def _json_object_line(line: bytes, where: str, path: Path) -> dict:
    try:
        row = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, ValueError) as exc:
        raise DatasetFileError(f"{where} of {path} is not valid JSON ({str(exc)[:200]}). Fix or remove that line; "
                               "each line of a JSONL file must be one JSON object.") from None
    if not isinstance(row, dict):
        raise DatasetFileError(f"{where} of {path} is a JSON {type(row).__name__}, not an object. "
                               "Each line of a JSONL file must be one JSON object ({\"column\": value, ...}).")
    return row


def _sample_jsonl(path: Path, limit: int, spread: int = 0) -> dict[str, Any]:
    rows: list[dict] = []
    locations: list[str] = []
    bytes_read = oversized = number = 0
    size = path.stat().st_size
    with path.open("rb") as handle:
        while len(rows) < limit:
            line, consumed, over = _read_line(handle)
            if line is None:
                break
            number += 1
            bytes_read += consumed
            if over:
                oversized += 1
                continue
            if line.strip():
                rows.append(_json_object_line(line, f"Line {number}", path))
                locations.append(f"line {number}")
        head_end = handle.tell()
        reached_end = head_end >= size
        head_count = len(rows)
        seen: set[int] = set()
        for offset in _spread_offsets(head_end, size, spread):
            start, line, over = _line_at(handle, offset)
            if start in seen or line is None:
                continue
            seen.add(start)
            if over:
                oversized += 1
            elif line.strip():
                rows.append(_json_object_line(line, f"The line at byte {start}", path))
                locations.append(f"byte {start}")
    num_rows, exact = _estimate(size, head_count, bytes_read, reached_end)
    return {"rows": rows, "num_rows": num_rows, "num_rows_exact": exact, "locations": locations,
            "head_count": head_count, "oversized": oversized}


def _sample_json(path: Path, limit: int, spread: int = 0) -> dict[str, Any]:
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
        except (json.JSONDecodeError, RecursionError):
            return _sample_json_object(path, limit, spread)
        # One line holding {"data": [rows]} is the object form; anything else starting with an object is JSON Lines.
        if rest.strip() or not _row_lists(first):
            return _sample_jsonl(path, limit, spread)
        return _sample_json_object(path, limit, spread)
    if text[0] != "[":
        raise DatasetFileError(f"{path} is neither a JSON array nor JSON Lines (it starts with {text[:20]!r}).")
    return _sample_json_array(path, limit, spread)


def _sample_json_array(path: Path, limit: int, spread: int = 0) -> dict[str, Any]:
    decoder = json.JSONDecoder()
    rows: list[dict] = []
    size = path.stat().st_size
    oversized = 0
    with path.open("rb") as handle:
        buffer = handle.read(_CHUNK).decode("utf-8", errors="replace")
        position = buffer.index("[") + 1
        lines_before = 0
        total_chars = len(buffer)
        reached_end = False
        while len(rows) < limit:
            while position < len(buffer) and buffer[position] in " \t\r\n,":
                position += 1
            if position < len(buffer) and buffer[position] == "]":
                reached_end = True
                break
            try:
                row, end = decoder.raw_decode(buffer, position)
            except RecursionError:
                raise DatasetFileError(f"Element {len(rows) + 1} of the JSON array in {path} is nested too deeply "
                                       "to read.") from None
            except json.JSONDecodeError as exc:
                if len(buffer) - position > ROW_BYTE_CAP:
                    raise DatasetFileError(f"Element {len(rows) + 1} of the JSON array in {path} is longer than "
                                           f"{describe_size(ROW_BYTE_CAP)} (or not valid JSON); rows are read up to "
                                           "that size. Save the data as JSON Lines.") from None
                more = handle.read(_CHUNK).decode("utf-8", errors="replace")
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
        head_count = len(rows)
        head_end = min(size, total_chars - (len(buffer) - position))  # characters stand in for bytes here
        locations = [f"element {i + 1}" for i in range(head_count)]
        if not reached_end and rows:
            keys = set(rows[0])
            for offset in _spread_offsets(head_end, size, spread):
                found = _json_element_at(handle, offset, decoder, keys)
                if found is not None:
                    rows.append(found[1])
                    locations.append(f"byte {found[0]}")
    num_rows, exact = _estimate(size, head_count, head_end, reached_end)
    return {"rows": rows, "num_rows": num_rows, "num_rows_exact": exact, "locations": locations,
            "head_count": head_count, "oversized": oversized}


def _json_element_at(handle: Any, offset: int, decoder: json.JSONDecoder, keys: set) -> tuple[int, dict] | None:
    """The first array element (an object sharing a column with the head's rows) that starts after `offset`: a
    '{' right after ',' or '[' is tried as the start of a row, a few times, within ROW_BYTE_CAP bytes."""
    handle.seek(offset)
    window = handle.read(min(_CHUNK, ROW_BYTE_CAP)).decode("utf-8", errors="ignore")
    tries = 0
    index = 0
    while tries < 8:
        index = window.find("{", index)
        if index < 0:
            return None
        before = window[:index].rstrip()
        if before.endswith((",", "[")):
            tries += 1
            while True:
                try:
                    row, _end = decoder.raw_decode(window, index)
                    break
                except (json.JSONDecodeError, RecursionError):
                    if len(window) >= ROW_BYTE_CAP:
                        return None
                    more = handle.read(_CHUNK).decode("utf-8", errors="ignore")
                    if not more:
                        row = None
                        break
                    window += more
            if isinstance(row, dict) and set(row) & keys:
                return offset + len(window[:index].encode("utf-8")), row
        index += 1
    return None


def _sample_json_object(path: Path, limit: int, spread: int = 0) -> dict[str, Any]:
    """`{"data": [...]}`: the whole file must be parsed; refuse big ones rather than pretend it is cheap."""
    if path.stat().st_size > 200 * _CHUNK:
        raise DatasetFileError(f"{path} is one large JSON object; convert it to JSON Lines (one row per line) so it "
                               "can be read in parts.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetFileError(f"{path} is not valid JSON (line {exc.lineno}: {exc.msg}).") from None
    except RecursionError:
        raise DatasetFileError(f"{path} is nested too deeply to read as JSON.") from None
    except UnicodeDecodeError as exc:
        raise DatasetFileError(f"{path} is not UTF-8 text (byte {exc.start}).") from None
    lists = _row_lists(data)
    if len(lists) != 1:
        raise DatasetFileError(f"{path} is a JSON object without exactly one list of rows (found: "
                               f"{', '.join(lists) or 'none'}). Save the rows as JSON Lines.")
    every = data[lists[0]]
    if not all(isinstance(row, dict) for row in every):
        raise DatasetFileError(f"{path}: the list {lists[0]!r} holds items that are not objects.")
    picked = list(range(min(limit, len(every))))
    rest = len(every) - len(picked)
    if spread and rest > 0:
        picked += sorted({len(picked) + rest * i // min(spread, rest) for i in range(min(spread, rest))})
    return {"rows": [every[i] for i in picked], "num_rows": len(every), "num_rows_exact": True,
            "locations": [f"{lists[0]}[{i}]" for i in picked], "head_count": min(limit, len(every))}


def _csv_lines(handle: Any, counter: list[int]) -> Any:
    """Decoded lines for csv.reader, each at most ROW_BYTE_CAP bytes (longer ones are counted in counter[1])."""
    while True:
        line, consumed, over = _read_line(handle)
        if line is None:
            return
        counter[0] += consumed
        if over:
            counter[1] += 1
            continue
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DatasetFileError(f"{handle.name} is not UTF-8 text (a line has byte {line[exc.start]:#x}); "
                                   "save it as UTF-8.") from None


def _sample_csv(path: Path, limit: int, spread: int = 0) -> dict[str, Any]:
    rows: list[dict] = []
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    counter = [0, 0]  # bytes consumed, oversized lines
    size = path.stat().st_size
    csv.field_size_limit(max(csv.field_size_limit(), ROW_BYTE_CAP))  # csv's default stops cells at 128 KB
    with path.open("rb") as handle:
        reader = csv.DictReader(_csv_lines(handle, counter), delimiter=delimiter)
        try:
            for row in reader:
                if None in row:
                    raise DatasetFileError(f"Line {reader.line_num} of {path} has more fields than the header.")
                rows.append(dict(row))
                if len(rows) >= limit:
                    break
        except csv.Error as exc:
            raise DatasetFileError(f"Line {reader.line_num} of {path} is not valid CSV ({exc}).") from None
        head_end = handle.tell()
        reached_end = head_end >= size
        head_count = len(rows)
        locations = [f"row {i + 1}" for i in range(head_count)]
        fields = reader.fieldnames or []
        seen: set[int] = set()
        for offset in _spread_offsets(head_end, size, spread if fields else 0):
            start, line, over = _line_at(handle, offset)
            if start in seen or not line or over:
                counter[1] += int(over and start not in seen)
                seen.add(start)
                continue
            seen.add(start)
            try:
                values = next(csv.reader([line.decode("utf-8", errors="replace")], delimiter=delimiter), None)
            except csv.Error:
                continue  # the offset fell inside a quoted field that spans lines: not a row start
            if values is not None and len(values) == len(fields):
                rows.append(dict(zip(fields, values)))
                locations.append(f"byte {start}")
    num_rows, exact = _estimate(size, head_count, counter[0], reached_end)
    return {"rows": rows, "num_rows": num_rows, "num_rows_exact": exact, "locations": locations,
            "head_count": head_count, "oversized": counter[1]}


# --- columnar formats ------------------------------------------------------------------------------------------


def sample_positions(num_rows: int, limit: int, spread: int) -> tuple[int, list[int]]:
    """(head size, row positions) of a sample of a table with random access: the first `limit` rows, then up to
    `spread` rows evenly spaced through the rest."""
    head = min(limit, num_rows)
    wanted = list(range(head))
    rest = num_rows - head
    if spread and rest > 0:
        wanted += sorted({head + rest * i // min(spread, rest) for i in range(min(spread, rest))})
    return head, wanted


def _sample_parquet(path: Path, limit: int, spread: int = 0) -> dict[str, Any]:
    import pyarrow.parquet as pq  # lazy: only parquet needs it, and the core must start without it

    try:
        # A read buffer instead of pre-buffering makes the first batch read only the first pages, not the whole
        # (possibly GB-sized) row group.
        parquet = pq.ParquetFile(path, buffer_size=1 << 20, pre_buffer=False)
    except (OSError, ValueError) as exc:
        raise DatasetFileError(f"{path} is not a readable parquet file ({exc}).") from None
    meta = parquet.metadata
    num_rows = meta.num_rows
    head, wanted = sample_positions(num_rows, limit, spread)
    rows: list[dict] = []
    locations: list[str] = []
    first = 0
    for group in range(meta.num_row_groups):
        size = meta.row_group(group).num_rows
        inside = [i - first for i in wanted if first <= i < first + size]
        if inside:
            if meta.row_group(group).total_byte_size <= _CHEAP_ROW_GROUP or inside[-1] < len(inside):
                # A small group (or only its first rows): read up to the last row wanted, batch by batch.
                table = _parquet_head(parquet, group, inside[-1] + 1)
                got = table.take(inside).to_pylist()
            else:
                # A big group is read from its start only: its first rows stand in for the ones wanted.
                inside = list(range(len(inside)))
                got = _parquet_head(parquet, group, len(inside)).to_pylist()
            rows += got
            locations += [f"row {first + i + 1}" for i in inside[:len(got)]]
        first += size
    return {"rows": rows, "num_rows": num_rows, "num_rows_exact": True, "locations": locations,
            "head_count": head}


# A row group this big (uncompressed) is not read past its first rows to reach a spread row.
_CHEAP_ROW_GROUP = 64 << 20


def _parquet_head(parquet: Any, group: int, count: int) -> Any:
    """The first `count` rows of one row group, reading its pages only as far as needed."""
    import pyarrow as pa

    batches = []
    got = 0
    for batch in parquet.iter_batches(batch_size=min(count, 1024), row_groups=[group]):
        batches.append(batch)
        got += batch.num_rows
        if got >= count:
            break
    return pa.Table.from_batches(batches).slice(0, count) if batches else pa.table({})


def _sample_arrow(path: Path, limit: int, spread: int = 0) -> dict[str, Any]:
    import pyarrow as pa  # lazy: see _sample_parquet

    source = pa.memory_map(str(path), "r")
    try:
        # The IPC file format (Feather v2) has a footer that indexes its batches; datasets' cache files are streams.
        try:
            reader = pa.ipc.open_file(source)
            batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]
        except pa.ArrowInvalid:
            source.seek(0)
            batches = list(pa.ipc.open_stream(source))
        # Memory-mapped batches are zero-copy: listing them touches headers only.
        num_rows = sum(batch.num_rows for batch in batches)
        head, wanted = sample_positions(num_rows, limit, spread)
        rows: list[dict] = []
        first = 0
        for batch in batches:
            inside = [i - first for i in wanted if first <= i < first + batch.num_rows]
            if inside:
                rows += batch.take(pa.array(inside)).to_pylist()
            first += batch.num_rows
    except pa.ArrowInvalid as exc:
        raise DatasetFileError(f"{path} is not a readable Arrow IPC file or stream ({exc}).") from None
    finally:
        source.close()
    return {"rows": rows, "num_rows": num_rows, "num_rows_exact": True,
            "locations": [f"row {i + 1}" for i in wanted], "head_count": head}


def describe_size(num_bytes: float) -> str:
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
