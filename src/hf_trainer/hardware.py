"""The HF Jobs hardware catalog: live from the Hub, cached on disk, else a dated built-in table.

`load_catalog()` asks GET /api/jobs/hardware (HfApi.list_jobs_hardware) for flavors and prices, keeps the answer for
`ttl_seconds` under hf_trainer.paths.home(), and falls back to estimate_math.FALLBACK_FLAVORS (which says it is a
fallback and gives its date) when the Hub cannot be reached. GPU datasheet figures (peak TFLOPS, bandwidth) are ours:
the Hub does not publish them. `check_flavor()` validates a flavor name with "did you mean" suggestions.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import httpx2
from huggingface_hub import HfApi
from pydantic import BaseModel, Field

from hf_trainer import paths
from hf_trainer.errors import UserError
from hf_trainer.hub_client import get_hf_api
from hf_trainer.runtime.estimate_math import (
    FALLBACK_DATE,
    FALLBACK_FLAVORS,
    GPU_SPECS,
    Catalog,
    EstimateError,
    Flavor,
    GpuSpec,
    check_flavor_name,
    fallback_catalog,
    flavor_from_hub,
    flavor_table_markdown,
    gpu_spec,
)

__all__ = [
    "Catalog", "Flavor", "GpuSpec", "GPU_SPECS", "FALLBACK_DATE", "FALLBACK_FLAVORS", "DEFAULT_TTL_SECONDS",
    "load_catalog", "fallback_catalog", "check_flavor", "flavor_table_markdown", "gpu_spec", "cache_path",
    "catalog_from_hub_entries", "catalog_result", "CatalogResult", "render_catalog",
    "guide_table_block", "sync_guide",
]

DEFAULT_TTL_SECONDS = 24 * 3600  # prices change rarely; a day keeps start-up free of network round trips
CACHE_FILE = "jobs_hardware.json"

# What a failed fetch raises: connection problems (httpx2), HTTP errors (HfHubHTTPError is an OSError), odd JSON.
_FETCH_ERRORS = (httpx2.HTTPError, OSError, ValueError, KeyError, TypeError)


def cache_path() -> Path:
    return paths.home() / CACHE_FILE


def catalog_from_hub_entries(entries: list[dict], source: str, as_of: str) -> Catalog:
    """A Catalog from the raw JSON entries of GET /api/jobs/hardware."""
    flavors = tuple(flavor_from_hub(entry) for entry in entries)
    return Catalog(flavors, source, as_of, f"from {source} data of {as_of}")


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _read_cache(endpoint: str, now: float, ttl_seconds: float, stale_ok: bool) -> Catalog | None:
    path = cache_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        fetched_at = float(data["fetched_at"])
        if data.get("endpoint") != endpoint:
            return None
        if not stale_ok and now - fetched_at > ttl_seconds:
            return None
        flavors = tuple(Flavor(**item) for item in data["flavors"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no cache, or one written by another version: fetch again
    if not flavors:
        return None
    source = "cache" if now - fetched_at <= ttl_seconds else "stale cache"
    note = f"Hub hardware list fetched {_iso(fetched_at)} from {endpoint}"
    if source == "stale cache":
        note += " (older than the cache TTL; the Hub was not reachable to refresh it)"
    return Catalog(flavors, source, _iso(fetched_at), note)


def _write_cache(endpoint: str, now: float, flavors: tuple[Flavor, ...]) -> None:
    path = cache_path()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"endpoint": endpoint, "fetched_at": now,
                               "flavors": [asdict(f) for f in flavors]}, indent=1), encoding="utf-8")
    tmp.replace(path)  # atomic, so a concurrent reader never sees half a file


def _info_to_entry(info: Any) -> dict:
    """huggingface_hub's JobHardwareInfo back to the endpoint's JSON shape (one parser: flavor_from_hub)."""
    accelerator = getattr(info, "accelerator", None)
    return {
        "name": info.name, "prettyName": info.pretty_name, "cpu": info.cpu, "ram": info.ram,
        "accelerator": None if accelerator is None else {
            "type": accelerator.type, "model": accelerator.model, "quantity": accelerator.quantity,
            "vram": accelerator.vram, "manufacturer": accelerator.manufacturer},
        "unitCostUSD": info.unit_cost_usd, "unitLabel": info.unit_label,
    }


def load_catalog(api: HfApi | None = None, *, ttl_seconds: float = DEFAULT_TTL_SECONDS,
                 now: Callable[[], float] = time.time, refresh: bool = False) -> Catalog:
    """The flavors on offer: a fresh cache, else live from the Hub (then cached), else a stale cache, else fallback.

    Never raises for network trouble: the returned Catalog's `source` ("cache", "live", "stale cache", "fallback")
    and `note` say where the figures came from, and callers show that to the person.
    """
    api = api or get_hf_api()
    endpoint = str(api.endpoint).rstrip("/")
    t = now()
    if not refresh:
        cached = _read_cache(endpoint, t, ttl_seconds, stale_ok=False)
        if cached:
            return cached
    try:
        entries = [_info_to_entry(info) for info in api.list_jobs_hardware()]
        flavors = tuple(flavor_from_hub(entry) for entry in entries)
    except _FETCH_ERRORS as exc:
        stale = _read_cache(endpoint, t, ttl_seconds, stale_ok=True)
        if stale:
            return stale
        catalog = fallback_catalog()
        return Catalog(catalog.flavors, catalog.source, catalog.as_of,
                       f"{catalog.note}: {type(exc).__name__}")
    if not flavors:
        return fallback_catalog()
    try:
        _write_cache(endpoint, t, flavors)
    except OSError:
        pass  # a read-only home only costs a refetch next time
    return Catalog(flavors, "live", _iso(t), f"live from {endpoint}/api/jobs/hardware at {_iso(t)}")


def check_flavor(name: str, catalog: Catalog) -> Flavor:
    """The flavor called `name`, or a UserError that quotes it, suggests close names and lists the valid ones."""
    try:
        return check_flavor_name(name, catalog)
    except EstimateError as exc:
        raise UserError(str(exc)) from None


class FlavorRow(BaseModel):
    """One flavor with its datasheet figures (None where the GPU model is not in our table or it is a CPU flavor)."""

    name: str
    pretty_name: str
    vcpus: int
    ram_gb: float
    price_per_hour: float
    gpu_model: str | None
    gpu_count: int
    vram_gb_per_gpu: float
    bf16_tflops_per_gpu: float | None
    memory_bandwidth_gbs: float | None
    interconnect: str | None = Field(None, description="How the GPUs of one machine talk: pcie or nvlink.")
    interconnect_gbs: float | None = Field(None, description="GPU-to-GPU bandwidth per direction (GB/s), the "
                                           "link FSDP's collectives use.")


class CatalogResult(BaseModel):
    """`hf-trainer hardware` / tool output: the flavors and where the list came from."""

    source: str = Field(description="live, cache, stale cache or fallback")
    as_of: str
    note: str
    flavors: list[FlavorRow]

    def render(self) -> str:
        return f"{flavor_table_markdown(self._catalog)}\n\nSource: {self.source} ({self.note or self.as_of})."

    @property
    def _catalog(self) -> Catalog:
        flavors = tuple(Flavor(r.name, r.pretty_name, r.vcpus, r.ram_gb, r.price_per_hour, r.gpu_model, r.gpu_count,
                               r.vram_gb_per_gpu) for r in self.flavors)
        return Catalog(flavors, self.source, self.as_of, self.note)


def catalog_result(catalog: Catalog) -> CatalogResult:
    rows = []
    for f in catalog.flavors:
        spec = f.spec
        rows.append(FlavorRow(**asdict(f), bf16_tflops_per_gpu=spec.bf16_tflops if spec else None,
                              memory_bandwidth_gbs=spec.memory_bandwidth_gbs if spec else None,
                              interconnect=spec.interconnect if spec else None,
                              interconnect_gbs=spec.interconnect_gbs if spec else None))
    return CatalogResult(source=catalog.source, as_of=catalog.as_of, note=catalog.note, flavors=rows)


def render_catalog(catalog: Catalog) -> str:
    return catalog_result(catalog).render()


# --- references/hardware_guide.md embeds the fallback table between these markers; a test keeps them equal ---
GUIDE_BEGIN = "<!-- BEGIN flavor table: generated by `python -m hf_trainer.hardware --sync-guide`; do not edit -->"
GUIDE_END = "<!-- END flavor table -->"


def guide_path() -> Path:
    return paths._REPO_ROOT / "references" / "hardware_guide.md"


def guide_table_block(text: str) -> str:
    """The table between the markers of a guide's text (UserError when the markers are missing)."""
    try:
        start = text.index(GUIDE_BEGIN) + len(GUIDE_BEGIN)
        end = text.index(GUIDE_END, start)
    except ValueError:
        raise UserError(f"The hardware guide lacks the markers {GUIDE_BEGIN!r} ... {GUIDE_END!r}.") from None
    return text[start:end].strip("\n")


def sync_guide(path: Path | None = None, catalog: Catalog | None = None) -> bool:
    """Rewrite the guide's table from the catalog (default: the fallback table); True when the file changed."""
    path = path or guide_path()
    text = path.read_text(encoding="utf-8")
    old = guide_table_block(text)
    new = flavor_table_markdown(catalog or fallback_catalog())
    if old == new:
        return False
    start = text.index(GUIDE_BEGIN) + len(GUIDE_BEGIN)
    end = text.index(GUIDE_END, start)
    path.write_text(text[:start] + "\n" + new + "\n" + text[end:], encoding="utf-8")
    return True


if __name__ == "__main__":
    import sys

    if "--sync-guide" in sys.argv:
        print("updated" if sync_guide() else "up to date", guide_path())
    else:
        print(render_catalog(load_catalog()))
