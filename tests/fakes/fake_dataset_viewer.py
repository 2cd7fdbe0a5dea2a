"""A fake Hugging Face dataset viewer (datasets-server) on 127.0.0.1, with the real API's JSON shapes.

Endpoints: /is-valid, /splits, /info, /first-rows, /rows (offset/length, at most 100), /size, and /assets/... (the
signed image URLs the viewer puts in rows). An unknown dataset is 404; a private one is 401 without a token or with
one the server does not know. A gated dataset the token may not read, and a dataset that does not exist, look the
same, as on the real server (it asks the Hub): 401 ExternalUnauthenticatedError without a token, 404
ExternalAuthenticatedError with one. Errors carry `{"error": ...}` and X-Error-Code like the real server. Every request
is recorded with the token it carried, so tests can check the caller's token was sent (and only to this server).

A dataset can declare real row counts (`num_rows`, config -> split -> count) larger than the rows it holds: /size,
/info and /rows then report the real counts, and row i is the held row i modulo their number, so a test sees the
real dataset's size without storing it. `start_catalog` (tests/fakes/hub_catalog.py) serves the layouts of real
datasets.

Use the `fake_viewer` fixture: a started server whose `.url` is the base URL to pass as viewer_url.
"""

import json
import struct
import threading
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator
from urllib.parse import parse_qs, urlparse

import pytest

from conftest import CANARY_TOKEN

NOT_FOUND = ("The dataset does not exist, or is not accessible without authentication (private or gated). Please "
             "check the spelling of the dataset name or retry with authentication.")
NOT_FOUND_WITH_TOKEN = ("The dataset does not exist, or is not accessible with the current credentials (private or "
                        "gated). Please check the spelling of the dataset name or retry with other authentication "
                        "credentials.")


def _png(width: int = 8, height: int = 8) -> bytes:
    """A small grey PNG, written with the standard library."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\x80\x80\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


# Served for /assets/... image URLs.
PNG = _png()


@dataclass
class FakeDataset:
    # config -> split -> rows
    splits: dict[str, dict[str, list[dict]]]
    private: bool = False
    # A dataset without a parquet export: /rows fails with 501 and only /first-rows works.
    rows_unsupported: bool = False
    # Gated: only tokens in `access` may read it; everyone else sees it as missing (as the real viewer does).
    gated: bool = False
    access: set[str] = field(default_factory=set)
    # config -> split -> the real dataset's row count (rows cycle through the ones held).
    num_rows: dict[str, dict[str, int]] = field(default_factory=dict)

    def count(self, config: str, split: str) -> int:
        return self.num_rows.get(config, {}).get(split, len(self.splits[config][split]))

    def row(self, config: str, split: str, index: int) -> dict:
        rows = self.splits[config][split]
        return rows[index % len(rows)]


def _feature_type(value: Any) -> dict:
    if isinstance(value, bool):
        return {"dtype": "bool", "_type": "Value"}
    if isinstance(value, int):
        return {"dtype": "int64", "_type": "Value"}
    if isinstance(value, float):
        return {"dtype": "float64", "_type": "Value"}
    if isinstance(value, list):
        inner = _feature_type(value[0]) if value else {"dtype": "null", "_type": "Value"}
        return {"feature": inner, "_type": "List"}
    if isinstance(value, dict):
        return {key: _feature_type(item) for key, item in value.items()}
    return {"dtype": "string", "_type": "Value"}


def _features(rows: list[dict]) -> list[dict]:
    first = rows[0] if rows else {}
    return [{"feature_idx": index, "name": name, "type": _feature_type(value)}
            for index, (name, value) in enumerate(first.items())]


@dataclass
class FakeDatasetViewer:
    tokens: set[str] = field(default_factory=lambda: {CANARY_TOKEN})
    datasets: dict[str, FakeDataset] = field(default_factory=dict)
    requests: list[dict] = field(default_factory=list)

    def add(self, name: str, rows: list[dict] | None = None, *, splits: dict[str, dict[str, list[dict]]] | None = None,
            private: bool = False, rows_unsupported: bool = False, gated: bool = False,
            num_rows: dict[str, dict[str, int]] | None = None) -> None:
        self.datasets[name] = FakeDataset(splits or {"default": {"train": rows or []}}, private, rows_unsupported,
                                          gated, num_rows=num_rows or {})

    # --- serving ---
    def start(self) -> "FakeDatasetViewer":
        viewer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                parsed = urlparse(self.path)
                query = {key: values[0] for key, values in parse_qs(parsed.query).items()}
                auth = self.headers.get("Authorization", "")
                token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
                viewer.requests.append({"path": parsed.path, "query": query, "token": token})
                if parsed.path.startswith("/assets/"):
                    self.send_response(200)
                    self.send_header("Content-Type", "image/png")
                    self.send_header("Content-Length", str(len(PNG)))
                    self.end_headers()
                    self.wfile.write(PNG)
                    return
                status, body, code = viewer.handle(parsed.path.strip("/"), query, token)
                payload = json.dumps(body).replace('"/assets/', f'"{viewer.url}/assets/').encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                if code:
                    self.send_header("X-Error-Code", code)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- the API ---
    def handle(self, endpoint: str, query: dict[str, str], token: str | None) -> tuple[int, Any, str | None]:
        if endpoint not in ("is-valid", "splits", "info", "first-rows", "rows", "size"):
            return 404, {"error": "Not Found"}, None
        name = query.get("dataset")
        if not name:
            return 422, {"error": "Parameter 'dataset' is required"}, "MissingRequiredParameter"
        dataset = self.datasets.get(name)
        if dataset is None or (dataset.gated and token not in dataset.access):
            if token is None:
                return 401, {"error": NOT_FOUND}, "ExternalUnauthenticatedError"
            return 404, {"error": NOT_FOUND_WITH_TOKEN}, "ExternalAuthenticatedError"
        if dataset.private and token not in self.tokens:
            return 401, {"error": NOT_FOUND if token is None else "The token is invalid."}, \
                "ExternalUnauthenticatedError"
        if endpoint == "is-valid":
            return 200, {"preview": True, "viewer": True, "search": True, "filter": True, "statistics": True}, None
        if endpoint == "splits":
            return 200, {"splits": [{"dataset": name, "config": config, "split": split}
                                    for config, splits in dataset.splits.items() for split in splits],
                         "pending": [], "failed": []}, None
        if endpoint == "size":
            return 200, self._size(name, dataset), None
        config = query.get("config")
        if config not in dataset.splits:
            return 404, {"error": "Not found."}, "ResponseNotFound"
        if endpoint == "info":
            return 200, {"dataset_info": self._info(dataset, config), "partial": False}, None
        split = query.get("split")
        if split not in dataset.splits[config]:
            return 404, {"error": "Not found."}, "ResponseNotFound"
        rows = dataset.splits[config][split]
        total = dataset.count(config, split) if rows else 0
        if endpoint == "first-rows":
            return 200, {"dataset": name, "config": config, "split": split, "features": _features(rows),
                         "rows": [{"row_idx": i, "row": dataset.row(config, split, i), "truncated_cells": []}
                                  for i in range(min(100, total))], "truncated": total > 100}, None
        if dataset.rows_unsupported:
            return 501, {"error": "The parquet conversion is not supported for this dataset."}, \
                "ParquetResponseEmptyError"
        offset, length = int(query.get("offset", 0)), int(query.get("length", 100))
        if length > 100:
            return 422, {"error": "Parameter 'length' must not be greater than 100"}, "InvalidParameter"
        return 200, {"features": _features(rows),
                     "rows": [{"row_idx": index, "row": dataset.row(config, split, index), "truncated_cells": []}
                              for index in range(offset, min(offset + length, total))],
                     "num_rows_total": total, "num_rows_per_page": 100, "partial": False}, None

    @staticmethod
    def _bytes(dataset: FakeDataset, config: str, split: str) -> int:
        """Bytes of a split: its held rows' JSON, scaled to the real row count."""
        rows = dataset.splits[config][split]
        return len(json.dumps(rows)) * dataset.count(config, split) // max(len(rows), 1)

    def _info(self, dataset: FakeDataset, config: str) -> dict:
        return {"description": "", "features": {}, "splits": {
            split: {"name": split, "num_bytes": self._bytes(dataset, config, split),
                    "num_examples": dataset.count(config, split)}
            for split in dataset.splits[config]}}

    def _size(self, name: str, dataset: FakeDataset) -> dict:
        splits = [{"dataset": name, "config": config, "split": split,
                   "num_bytes_parquet_files": self._bytes(dataset, config, split) // 2,
                   "num_bytes_memory": self._bytes(dataset, config, split),
                   "num_rows": dataset.count(config, split) if rows else 0,
                   "num_columns": len(rows[0]) if rows else 0}
                  for config, by_split in dataset.splits.items() for split, rows in by_split.items()]
        return {"size": {
            "dataset": {"dataset": name, "num_bytes_original_files": sum(s["num_bytes_memory"] for s in splits),
                        "num_bytes_parquet_files": sum(s["num_bytes_parquet_files"] for s in splits),
                        "num_bytes_memory": sum(s["num_bytes_memory"] for s in splits),
                        "num_rows": sum(s["num_rows"] for s in splits)},
            "configs": [], "splits": splits}, "pending": [], "failed": [], "partial": False}


@pytest.fixture
def fake_viewer() -> Iterator[FakeDatasetViewer]:
    viewer = FakeDatasetViewer().start()
    yield viewer
    viewer.stop()
