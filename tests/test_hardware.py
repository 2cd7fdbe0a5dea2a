"""The hardware catalog: live from a fake Hub, cached with a TTL, a dated fallback, flavor checks, the Markdown table."""

import json
from pathlib import Path

import pytest
from fakes.fake_hub_models import FakeHubModels, hardware_entry
from huggingface_hub import HfApi

from hf_trainer import hardware
from hf_trainer.errors import UserError
from hf_trainer.runtime.estimate_math import FALLBACK_DATE, flavor_from_hub, gpu_spec

REPO = Path(__file__).resolve().parents[1]
LIVE = [
    hardware_entry("cpu-basic", 0.01, cpu="2 vCPU", ram="16 GB"),
    hardware_entry("a10g-large", 1.50, "A10G", 1, "24 GB", "12 vCPU", "46 GB"),
    hardware_entry("l40sx4", 8.30, "L40S", 4, "192 GB", "48 vCPU", "382 GB"),
    hardware_entry("h200", 5.00, "H200", 1, "141 GB", "23 vCPU", "256 GB"),
]


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_catalog_comes_live_from_the_hub_hardware_endpoint_with_prices_per_hour() -> None:
    with FakeHubModels(hardware=LIVE) as hub:
        catalog = hardware.load_catalog(HfApi(endpoint=hub.url), now=Clock())
    assert catalog.source == "live"
    assert catalog.names() == ["cpu-basic", "a10g-large", "l40sx4", "h200"]
    a10g = catalog.get("a10g-large")
    assert a10g.price_per_hour == pytest.approx(1.50)
    assert (a10g.gpu_model, a10g.gpu_count, a10g.vram_gb_per_gpu, a10g.vcpus) == ("A10G", 1, 24, 12)
    # The Hub writes the whole machine's memory for multi-GPU flavors: 192 GB over 4 GPUs is 48 GB each.
    assert catalog.get("l40sx4").vram_gb_per_gpu == 48
    assert hub.requests == ["GET /api/jobs/hardware"]


def test_catalog_is_served_from_the_disk_cache_until_the_ttl_expires() -> None:
    clock = Clock()
    with FakeHubModels(hardware=LIVE) as hub:
        api = HfApi(endpoint=hub.url)
        hardware.load_catalog(api, ttl_seconds=3600, now=clock)
        clock.t += 3599
        cached = hardware.load_catalog(api, ttl_seconds=3600, now=clock)
        assert cached.source == "cache" and len(hub.requests) == 1
        clock.t += 2
        refreshed = hardware.load_catalog(api, ttl_seconds=3600, now=clock)
        assert refreshed.source == "live" and len(hub.requests) == 2
    assert hardware.cache_path().is_file()


def test_a_stale_cache_beats_the_fallback_when_the_hub_is_down() -> None:
    clock = Clock()
    with FakeHubModels(hardware=LIVE) as hub:
        api = HfApi(endpoint=hub.url)
        hardware.load_catalog(api, ttl_seconds=60, now=clock)
        hub.hardware_status = 503
        clock.t += 3600
        catalog = hardware.load_catalog(api, ttl_seconds=60, now=clock)
    assert catalog.source == "stale cache"
    assert "older than the cache TTL" in catalog.note
    assert catalog.names() == ["cpu-basic", "a10g-large", "l40sx4", "h200"]


def test_unreachable_hub_gives_the_dated_fallback_table_that_says_so() -> None:
    # Port 9 on localhost: nothing listens, the connection is refused at once.
    catalog = hardware.load_catalog(HfApi(endpoint="http://127.0.0.1:9"), now=Clock())
    assert catalog.source == "fallback"
    assert catalog.as_of == FALLBACK_DATE
    assert "fallback" in catalog.note and FALLBACK_DATE in catalog.note
    assert catalog.get("a100-large").price_per_hour == 2.50
    assert catalog.get("h200x8").price_per_hour == 40.0
    assert catalog.get("h100") is None  # there is no H100 flavor on HF Jobs


def test_a_cache_written_for_another_endpoint_is_not_used() -> None:
    with FakeHubModels(hardware=LIVE) as hub:
        hardware.load_catalog(HfApi(endpoint=hub.url), now=Clock())
    catalog = hardware.load_catalog(HfApi(endpoint="http://127.0.0.1:9"), now=Clock())
    assert catalog.source == "fallback"


def test_a_corrupt_cache_file_is_ignored_and_refetched() -> None:
    hardware.cache_path().write_text("{not json", encoding="utf-8")
    with FakeHubModels(hardware=LIVE) as hub:
        catalog = hardware.load_catalog(HfApi(endpoint=hub.url), now=Clock())
    assert catalog.source == "live"
    assert json.loads(hardware.cache_path().read_text(encoding="utf-8"))["flavors"][0]["name"] == "cpu-basic"


@pytest.mark.parametrize("name, suggestion", [
    ("a10g-larg", "a10g-large"),  # a letter missing
    ("A100-large", "a100-large"),  # wrong case
    ("h200-x2", "h200x2"),  # an extra dash
])
def test_unknown_flavor_is_refused_with_a_did_you_mean(name: str, suggestion: str) -> None:
    with pytest.raises(UserError) as err:
        hardware.check_flavor(name, hardware.fallback_catalog())
    assert f"Unknown hardware flavor {name!r}" in str(err.value)
    assert f"Did you mean {suggestion!r}" in str(err.value)
    assert "t4-small" in str(err.value)  # the valid names are listed


def test_known_flavor_is_returned() -> None:
    assert hardware.check_flavor("t4-small", hardware.fallback_catalog()).gpu_model == "T4"


def test_a_nonsense_flavor_lists_the_flavors_without_a_guess() -> None:
    with pytest.raises(UserError, match="Available flavors") as err:
        hardware.check_flavor("quantum-computer", hardware.fallback_catalog())
    assert "Did you mean" not in str(err.value)


@pytest.mark.parametrize("hub_name, model, tflops", [
    ("A10G", "A10G", 70),  # the Hub's spelling
    ("A100 80GB", "A100", 312),  # a longer name with the memory size
    ("RTX PRO 6000 Blackwell", "RTX PRO 6000", 504),
    ("l40s", "L40S", 362),  # lower case
])
def test_gpu_datasheets_are_found_by_the_names_the_hub_uses(hub_name: str, model: str, tflops: float) -> None:
    spec = gpu_spec(hub_name)
    assert spec.model == model and spec.bf16_tflops == tflops


def test_unknown_gpu_model_has_no_datasheet() -> None:
    assert gpu_spec("TPU v5e") is None


def test_every_fallback_gpu_flavor_has_a_datasheet_and_per_gpu_memory_from_it() -> None:
    for flavor in hardware.fallback_catalog().flavors:
        if flavor.is_gpu:
            assert flavor.spec is not None, flavor.name
            assert flavor.vram_gb_per_gpu == flavor.spec.vram_gb


def test_hub_entry_priced_per_minute_becomes_price_per_hour() -> None:
    flavor = flavor_from_hub(hardware_entry("t4-small", 0.40, "T4", 1, "16 GB", "4 vCPU", "15 GB"))
    assert flavor.price_per_hour == pytest.approx(0.40)
    assert (flavor.vcpus, flavor.ram_gb) == (4, 15)


def test_markdown_table_has_one_row_per_flavor_with_datasheet_figures() -> None:
    table = hardware.flavor_table_markdown(hardware.fallback_catalog())
    lines = table.splitlines()
    assert len(lines) == 2 + len(hardware.fallback_catalog().flavors)
    assert "| `a10g-large` | Nvidia A10G - large | 1 x 24 GB | 1 x 70 TFLOPS | 600 GB/s | - | 12 / 46 GB | 1.50 |" in (
        lines)
    # The link FSDP's collectives use, for machines with several GPUs: PCIe on A10G, NVLink on A100.
    a10g_x4 = next(line for line in lines if "`a10g-largex4`" in line)
    assert "| 600 GB/s | PCIe 32 GB/s | 48 / 184 GB | 5.00 |" in a10g_x4
    assert "| NVLink 300 GB/s |" in next(line for line in lines if "`a100x8`" in line)
    assert "(FP16)" in next(line for line in lines if "`t4-small`" in line)


def test_hardware_guide_table_equals_the_generated_one() -> None:
    guide = (REPO / "references" / "hardware_guide.md").read_text(encoding="utf-8")
    assert hardware.guide_table_block(guide) == hardware.flavor_table_markdown(hardware.fallback_catalog()), (
        "references/hardware_guide.md's flavor table is stale: run `python -m hf_trainer.hardware --sync-guide`")


def test_catalog_result_renders_the_table_and_its_source() -> None:
    result = hardware.catalog_result(hardware.fallback_catalog())
    text = result.render()
    assert "`h200x8`" in text and "Source: fallback" in text
    assert result.flavors[0].name == "cpu-basic"
    assert next(f for f in result.flavors if f.name == "h200").bf16_tflops_per_gpu == 989
