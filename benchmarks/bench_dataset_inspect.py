"""Benchmark (not a test): inspecting a >= 1 GB local JSONL and a >= 1 GB parquet file should take under a second.

    .venv/bin/python benchmarks/bench_dataset_inspect.py [--size_gb 1.0] [--keep DIR]

Generates chat rows with incompressible random text (so the parquet file really is that big on disk) in a temporary
folder, times `inspect_dataset` on each file (sample of 100 rows, then again with 1000 rows) with the file's pages
evicted from the OS cache first, prints the times and deletes the files. The parquet file is written in row groups of about 128 MB, so reading "the first row group"
whole would already cost far more than the target: the inspection must read only its first pages.
"""

import argparse
import base64
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from hf_trainer.dataset_inspect import DatasetInspectInput, inspect_dataset

TARGET_S = 1.0


def _rows(count: int, seed: int) -> list[dict]:
    """Chat rows of about 1.4 KB each with random base64 text (random, so compression cannot shrink the files)."""
    blob = base64.b64encode(os.urandom(count * 1000)).decode("ascii")
    rows = []
    for i in range(count):
        text = blob[i * 1333:(i + 1) * 1333]
        rows.append({"messages": [{"role": "user", "content": f"Question {seed}-{i}: {text[:300]}"},
                                  {"role": "assistant", "content": text[300:]}]})
    return rows


def write_jsonl(path: Path, size: int) -> int:
    rows = 0
    with path.open("w", encoding="utf-8") as handle:
        seed = 0
        while handle.tell() < size:
            chunk = _rows(20_000, seed)
            handle.write("".join(json.dumps(row) + "\n" for row in chunk))
            rows += len(chunk)
            seed += 1
    return rows


def write_parquet(path: Path, size: int) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows, seed, writer = 0, 0, None
    try:
        while not path.exists() or path.stat().st_size < size:
            table = pa.Table.from_pylist(_rows(90_000, seed))  # ~128 MB: one row group per write
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table, row_group_size=len(table))
            rows += len(table)
            seed += 1
    finally:
        if writer is not None:
            writer.close()
    return rows


def _evict(path: Path) -> None:
    """Drop this file's pages from the OS cache (only this file's), so the timing includes reading the disk."""
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
        os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def _time(path: Path, sample_size: int) -> tuple[float, int | None, str]:
    _evict(path)
    started = time.perf_counter()
    result = inspect_dataset(DatasetInspectInput(dataset_name=str(path), sample_size=sample_size))
    return time.perf_counter() - started, result.source.num_rows, result.methods["sft"].verdict


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size_gb", type=float, default=1.0)
    parser.add_argument("--keep", default=None, help="Write the files here and keep them (default: a temp dir).")
    args = parser.parse_args()
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-inspect-"))
    folder.mkdir(parents=True, exist_ok=True)
    size = int(args.size_gb * 1024**3)
    worst = 0.0
    try:
        for name, writer in (("data.jsonl", write_jsonl), ("data.parquet", write_parquet)):
            path = folder / name
            if not path.exists():
                started = time.perf_counter()
                written = writer(path, size)
                print(f"wrote {name}: {path.stat().st_size / 1024**3:.2f} GiB, {written:,} rows, "
                      f"{time.perf_counter() - started:.0f} s", flush=True)
            for sample_size in (100, 1000):
                seconds, num_rows, verdict = _time(path, sample_size)
                worst = max(worst, seconds) if sample_size == 100 else worst
                print(f"inspect {name} ({path.stat().st_size / 1024**3:.2f} GiB), sample {sample_size}: "
                      f"{seconds:.3f} s  (rows {num_rows:,}, SFT {verdict})", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"worst time at the default sample of 100 rows: {worst:.3f} s (target < {TARGET_S} s): "
          f"{'OK' if worst < TARGET_S else 'SLOW'}")
    return 0 if worst < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
