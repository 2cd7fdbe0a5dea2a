"""A small client for the Hugging Face dataset viewer API (datasets-server), with a configurable base URL.

huggingface_hub hard-codes the viewer's host and refuses other endpoints, and it cannot send a caller's token to a
different base URL, so this speaks the documented HTTP API directly: /is-valid, /splits, /info, /first-rows, /rows
and /size, with `Authorization: Bearer <token>` so private and gated datasets work. The token goes only into that
header; no message built here contains it.

Pure standard library (urllib) so scripts/inspect_dataset.py can inline it verbatim.
"""

import json
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from .splits import eval_split, train_split

DEFAULT_VIEWER_URL = "https://datasets-server.huggingface.co"
# /rows serves at most 100 rows per request.
PAGE = 100
# Rows past the head are read from this many evenly spaced offsets (one request each).
SPREAD_WINDOWS = 5


class ViewerError(Exception):
    """The viewer refused or failed a request; `status` is the HTTP status (None when it could not be reached)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class DatasetViewer:
    """Calls to one dataset viewer server; tests point `base_url` at a local fake."""

    def __init__(self, base_url: str = DEFAULT_VIEWER_URL, token: str | None = None, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = timeout

    def get(self, endpoint: str, **params: Any) -> dict:
        query = urllib.parse.urlencode({key: value for key, value in params.items() if value is not None})
        url = f"{self.base_url}/{endpoint}?{query}"
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        if self._token:
            request.add_header("Authorization", f"Bearer {self._token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            raise ViewerError(_error_text(exc), exc.code) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ViewerError(f"Could not reach the dataset viewer at {self.base_url} ({reason}).") from None
        except json.JSONDecodeError:
            raise ViewerError(f"The dataset viewer at {self.base_url} answered {endpoint} with something that is "
                              "not JSON.") from None

    def is_valid(self, dataset: str) -> dict:
        return self.get("is-valid", dataset=dataset)

    def splits(self, dataset: str) -> list[dict]:
        return self.get("splits", dataset=dataset).get("splits", [])

    def info(self, dataset: str, config: str | None = None) -> dict:
        return self.get("info", dataset=dataset, config=config)

    def size(self, dataset: str) -> dict:
        return self.get("size", dataset=dataset)

    def first_rows(self, dataset: str, config: str, split: str) -> dict:
        return self.get("first-rows", dataset=dataset, config=config, split=split)

    def rows(self, dataset: str, config: str, split: str, offset: int = 0, length: int = PAGE) -> dict:
        return self.get("rows", dataset=dataset, config=config, split=split, offset=offset, length=length)


def _error_text(exc: urllib.error.HTTPError) -> str:
    """The server's own explanation: X-Error-Message, else the JSON `error`, else the status line."""
    header = exc.headers.get("X-Error-Message") if exc.headers else None
    if header:
        return header
    try:
        body = json.loads(exc.read().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"])
    return f"HTTP {exc.code} {exc.reason}"


def explain(exc: ViewerError, dataset: str, base_url: str, has_token: bool) -> str:
    """What a viewer failure means for the person and what to do next."""
    if exc.status in (401, 403):
        login = ("Your token was refused: check it has read access, and for a gated dataset accept its conditions on "
                 "the Hub." if has_token else "Log in with 'hf auth login' (or set HF_TOKEN) and retry.")
        return f"The dataset viewer refused {dataset!r} ({exc.status}: {exc}). It is private or gated. {login}"
    if exc.status == 404:
        return (f"Dataset {dataset!r} was not found by the dataset viewer at {base_url} ({exc}). Check the id "
                "(owner/name); if it is private, log in first. A local path must exist on this machine.")
    if exc.status is None:
        return (f"{exc} Check the network, or point HF_TRAINER_DATASETS_SERVER (--viewer_url) at a reachable "
                "viewer; a local copy of the data can be inspected by path.")
    return (f"The dataset viewer could not serve {dataset!r} ({exc.status}): {exc} Some datasets have no viewer "
            f"(custom loading scripts, very large or unsupported files): download a data file (hf download {dataset} "
            "--repo-type dataset) and inspect it by its local path.")


def choose_split(splits: list[dict], dataset: str, config: str | None, split: str | None,
                 method: str | None = None) -> tuple[str, str]:
    """The (config, split) to read: the requested ones, else "default" (or the first config) and the split `method`
    trains on (runtime/splits.train_split: train_prefs for DPO on ultrafeedback_binarized, else train, else the
    first). Raises ViewerError naming what exists when the request does not."""
    if not splits:
        raise ViewerError(f"The dataset viewer lists no splits for {dataset!r} (it may still be processing).", 404)
    configs = list(dict.fromkeys(item["config"] for item in splits))
    if config is None:
        config = "default" if "default" in configs else configs[0]
    elif config not in configs:
        raise ViewerError(f"{dataset!r} has no config {config!r}; its configs: {', '.join(configs)}.", 404)
    names = [item["split"] for item in splits if item["config"] == config]
    if split is None:
        split = train_split(names, method) or "train"
    elif split not in names:
        raise ViewerError(f"{dataset!r} (config {config!r}) has no split {split!r}; its splits: {', '.join(names)}.",
                          404)
    return config, split


def sample_hub(viewer: DatasetViewer, dataset: str, config: str | None, split: str | None, limit: int,
               spread: int = 0, method: str | None = None) -> dict:
    """Up to `limit` rows from the start of a Hub split plus up to `spread` rows from a few evenly spaced offsets
    through the rest (one /rows request each), with the split's row count and size from /size. Without a split, the
    one `method` trains on (choose_split); the eval split beside it is reported too."""
    splits = viewer.splits(dataset)
    config, split = choose_split(splits, dataset, config, split, method)
    rows: list[dict] = []
    locations: list[str] = []
    truncated_cells = 0
    total = None
    try:
        while len(rows) < limit:
            page = viewer.rows(dataset, config, split, offset=len(rows), length=min(PAGE, limit - len(rows)))
            got = page.get("rows", [])
            total = page.get("num_rows_total", total)
            locations += [f"row {item.get('row_idx', len(rows) + i) + 1}" for i, item in enumerate(got)]
            rows += [item["row"] for item in got]
            truncated_cells += sum(len(item.get("truncated_cells") or []) for item in got)
            if len(got) == 0 or len(rows) >= page.get("num_rows_total", 0):
                break
        head = len(rows)
        if spread and total and total > head:
            # A few windows, evenly spaced after the head: later rows without reading the split.
            windows = min(SPREAD_WINDOWS, spread, total - head)
            size = max(1, spread // windows)
            for index in range(windows):
                offset = head + (total - head) * index // windows
                page = viewer.rows(dataset, config, split, offset=offset, length=min(PAGE, size, total - offset))
                got = page.get("rows", [])
                locations += [f"row {item.get('row_idx', offset + i) + 1}" for i, item in enumerate(got)]
                rows += [item["row"] for item in got]
                truncated_cells += sum(len(item.get("truncated_cells") or []) for item in got)
    except ViewerError as exc:
        # /rows needs the parquet export; /first-rows works for every dataset the viewer can preview.
        if exc.status is None or exc.status < 500:
            raise
        page = viewer.first_rows(dataset, config, split)
        got = page.get("rows", [])[:limit]
        rows = [item["row"] for item in got]
        locations = [f"row {i + 1}" for i in range(len(rows))]
        head = len(rows)
        truncated_cells = sum(len(item.get("truncated_cells") or []) for item in got)
    num_rows, num_bytes = None, None
    try:
        size_info = viewer.size(dataset).get("size", {})
    except ViewerError as exc:
        if exc.status in (401, 403, 404):
            raise
        size_info = {}  # a size still being computed only costs us the row count
    for item in size_info.get("splits", []):
        if item.get("config") == config and item.get("split") == split:
            num_rows, num_bytes = item.get("num_rows"), item.get("num_bytes_parquet_files")
    sampled_from = f"the first {head} rows"
    if len(rows) > head:
        windows = min(SPREAD_WINDOWS, len(rows) - head)
        sampled_from += f" and {len(rows) - head} rows from {windows} evenly spaced offsets"
    return {
        "rows": rows,
        "num_rows": num_rows,
        "num_rows_exact": num_rows is not None,
        "num_bytes": num_bytes,
        "config": config,
        "split": split,
        "configs": list(dict.fromkeys(item["config"] for item in splits)),
        "splits": [item["split"] for item in splits if item["config"] == config],
        "eval_split": eval_split([item["split"] for item in splits if item["config"] == config], split),
        "truncated_cells": truncated_cells,
        "locations": locations,
        "sampled_from": sampled_from,
    }


def hub_reachable(endpoint: str, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the Hub endpoint's host opens within `timeout` seconds (name lookup included).

    huggingface_hub retries an unreachable Hub for about 50 s before giving up on a file it has not cached; this
    probe lets a caller go straight to the local cache (local_files_only) and say in a few seconds what is wrong."""
    parsed = urllib.parse.urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    host = parsed.hostname
    if not host:
        return False
    port = parsed.port or (80 if parsed.scheme == "http" else 443)
    result = [False]

    def connect() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result[0] = True
        except OSError:
            pass

    # A thread, because name lookup (getaddrinfo) ignores socket timeouts and can hang on a broken resolver.
    worker = threading.Thread(target=connect, daemon=True)
    worker.start()
    worker.join(timeout)
    return result[0]
