"""The physics of a fine-tuning job: hardware facts, FLOPs, memory, time and money. Standard library only.

This module is inlined into scripts/estimate_cost.py (between marker lines, by `make sync-scripts`), so it must not
import anything outside the standard library, nor anything from hf_trainer. Everything here is a pure function of its
arguments; the sources of every constant are in references/hardware_guide.md.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field, replace

GB = 1e9  # vendors and the Hub quote memory in decimal gigabytes
FALLBACK_DATE = "2026-11-25"


# ---------------------------------------------------------------------------------------------------------------
# Hardware facts
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GpuSpec:
    """One accelerator model, from its vendor's datasheet (dense figures: no structured-sparsity doubling)."""

    model: str
    vram_gb: float
    bf16_tflops: float  # peak dense tensor-core BF16 (FP16 where the card has no BF16), FP32 accumulate
    memory_bandwidth_gbs: float
    bf16: bool  # False: the card has no BF16 units, training runs in FP16 (T4)
    gpu_class: str  # "datacenter" (HBM, NVLink-class parts) or "workstation" (GDDR parts) or "cpu"
    source: str


GPU_SPECS: dict[str, GpuSpec] = {
    spec.model: spec
    for spec in [
        GpuSpec("T4", 16, 65, 320, False, "workstation", "NVIDIA T4 datasheet: 65 TFLOPS FP16 mixed precision, 320 GB/s"),
        GpuSpec("L4", 24, 121, 300, True, "workstation", "NVIDIA L4 datasheet: 242 TFLOPS BF16 with sparsity, 300 GB/s"),
        GpuSpec("L40S", 48, 362, 864, True, "workstation", "NVIDIA L40S datasheet: 733 TFLOPS BF16 with sparsity, 864 GB/s"),
        GpuSpec("A10G", 24, 70, 600, True, "workstation", "AWS EC2 G5 / NVIDIA A10G: ~70 TFLOPS BF16 dense, 600 GB/s"),
        GpuSpec("A100", 80, 312, 2039, True, "datacenter", "NVIDIA A100 80GB SXM datasheet: 312 TFLOPS BF16, 2039 GB/s"),
        GpuSpec("H200", 141, 989, 4800, True, "datacenter", "NVIDIA H200 SXM datasheet: 1979 TFLOPS BF16 with sparsity, 4.8 TB/s"),
        GpuSpec("RTX PRO 6000", 96, 504, 1597, True, "workstation",
                "NVIDIA RTX PRO 6000 Blackwell Server Edition datasheet: 96 GB GDDR7, 1597 GB/s; ~504 TFLOPS BF16 dense"),
    ]
}

# Accelerator names as the Hub spells them -> our keys.
_GPU_ALIASES = {"a100 80gb": "A100", "a100-80gb": "A100", "rtx pro 6000 blackwell": "RTX PRO 6000",
                "rtx-pro-6000": "RTX PRO 6000", "rtx pro 6000": "RTX PRO 6000", "rtxpro6000": "RTX PRO 6000"}


def gpu_spec(model: str) -> GpuSpec | None:
    """The datasheet for an accelerator model name as the Hub writes it ("A10G", "L40S", "A100 80GB"), or None."""
    key = model.strip()
    for name in GPU_SPECS:
        if name.lower() == key.lower():
            return GPU_SPECS[name]
    alias = _GPU_ALIASES.get(key.lower())
    if alias:
        return GPU_SPECS[alias]
    for name in sorted(GPU_SPECS, key=len, reverse=True):
        if name.lower() in key.lower():
            return GPU_SPECS[name]
    return None


@dataclass(frozen=True)
class Flavor:
    """One HF Jobs hardware flavor: what it is and what it costs."""

    name: str
    pretty_name: str
    vcpus: int
    ram_gb: float
    price_per_hour: float
    gpu_model: str | None = None  # None for CPU-only flavors
    gpu_count: int = 0
    vram_gb_per_gpu: float = 0.0  # as reported by the Hub (total / count), else the datasheet

    @property
    def is_gpu(self) -> bool:
        return self.gpu_count > 0

    @property
    def spec(self) -> GpuSpec | None:
        return gpu_spec(self.gpu_model) if self.gpu_model else None


@dataclass(frozen=True)
class Catalog:
    """The flavors on offer and where the list came from ("live", "cache" or "fallback") and when."""

    flavors: tuple[Flavor, ...]
    source: str
    as_of: str
    note: str = ""

    def names(self) -> list[str]:
        return [flavor.name for flavor in self.flavors]

    def get(self, name: str) -> Flavor | None:
        for flavor in self.flavors:
            if flavor.name == name:
                return flavor
        return None


def _gpu(name: str, pretty: str, vcpus: int, ram: float, price: float, model: str, count: int) -> Flavor:
    return Flavor(name, pretty, vcpus, ram, price, model, count, GPU_SPECS[model].vram_gb)


# Official prices from huggingface.co/pricing#jobs (November 2026). vCPU and RAM figures are those the Hub's hardware
# endpoint reported for the same flavors on Spaces; the live endpoint replaces all of this when it is reachable.
FALLBACK_FLAVORS: tuple[Flavor, ...] = (
    Flavor("cpu-basic", "CPU Basic", 2, 16, 0.01),
    Flavor("cpu-upgrade", "CPU Upgrade", 8, 32, 0.03),
    Flavor("cpu-xl", "CPU XL", 16, 124, 1.00),
    Flavor("cpu-performance", "CPU Performance", 32, 256, 1.90),
    _gpu("t4-small", "Nvidia T4 - small", 4, 15, 0.40, "T4", 1),
    _gpu("t4-medium", "Nvidia T4 - medium", 8, 30, 0.60, "T4", 1),
    _gpu("l4x1", "1x Nvidia L4", 8, 30, 0.80, "L4", 1),
    _gpu("l4x4", "4x Nvidia L4", 48, 186, 3.80, "L4", 4),
    _gpu("l40sx1", "1x Nvidia L40S", 8, 62, 1.80, "L40S", 1),
    _gpu("l40sx4", "4x Nvidia L40S", 48, 382, 8.30, "L40S", 4),
    _gpu("l40sx8", "8x Nvidia L40S", 192, 1534, 23.50, "L40S", 8),
    _gpu("a10g-small", "Nvidia A10G - small", 4, 15, 1.00, "A10G", 1),
    _gpu("a10g-large", "Nvidia A10G - large", 12, 46, 1.50, "A10G", 1),
    _gpu("a10g-largex2", "2x Nvidia A10G - large", 24, 92, 3.00, "A10G", 2),
    _gpu("a10g-largex4", "4x Nvidia A10G - large", 48, 184, 5.00, "A10G", 4),
    _gpu("a100-large", "Nvidia A100 - large", 12, 142, 2.50, "A100", 1),
    _gpu("a100x4", "4x Nvidia A100", 48, 568, 10.00, "A100", 4),
    _gpu("a100x8", "8x Nvidia A100", 96, 1136, 20.00, "A100", 8),
    _gpu("h200", "Nvidia H200", 23, 256, 5.00, "H200", 1),
    _gpu("h200x2", "2x Nvidia H200", 46, 512, 10.00, "H200", 2),
    _gpu("h200x4", "4x Nvidia H200", 92, 1024, 20.00, "H200", 4),
    _gpu("h200x8", "8x Nvidia H200", 184, 2048, 40.00, "H200", 8),
    _gpu("rtx-pro-6000", "Nvidia RTX PRO 6000", 24, 192, 2.75, "RTX PRO 6000", 1),
    _gpu("rtx-pro-6000x2", "2x Nvidia RTX PRO 6000", 48, 384, 5.50, "RTX PRO 6000", 2),
    _gpu("rtx-pro-6000x4", "4x Nvidia RTX PRO 6000", 96, 768, 11.00, "RTX PRO 6000", 4),
    _gpu("rtx-pro-6000x8", "8x Nvidia RTX PRO 6000", 192, 1536, 22.00, "RTX PRO 6000", 8),
)


def fallback_catalog() -> Catalog:
    return Catalog(FALLBACK_FLAVORS, "fallback", FALLBACK_DATE,
                   f"built-in fallback table of {FALLBACK_DATE} (the Hub's hardware endpoint was not reachable)")


def _number(text: object) -> float:
    """The leading number of "16 GB", "8 vCPU", "4" (0.0 when there is none)."""
    digits = ""
    for char in str(text).strip():
        if char.isdigit() or (char == "." and "." not in digits):
            digits += char
        elif digits:
            break
    return float(digits) if digits else 0.0


def flavor_from_hub(entry: dict) -> Flavor:
    """One entry of GET /api/jobs/hardware (`name, prettyName, cpu, ram, accelerator, unitCostUSD, unitLabel`)."""
    unit_cost = float(entry.get("unitCostUSD") or 0.0)
    per = {"second": 3600, "minute": 60, "hour": 1}.get(str(entry.get("unitLabel", "minute")).lower(), 60)
    accelerator = entry.get("accelerator") or None
    model, count, vram = None, 0, 0.0
    if accelerator:
        model = str(accelerator.get("model") or "").strip() or None
        count = max(1, int(_number(accelerator.get("quantity") or 1)))
        total = _number(accelerator.get("vram"))
        spec = gpu_spec(model) if model else None
        # The Hub has written vram both per GPU and for the whole machine; a total divides evenly by the count.
        if total and spec and abs(total / count - spec.vram_gb) < abs(total - spec.vram_gb):
            vram = total / count
        else:
            vram = total or (spec.vram_gb if spec else 0.0)
    return Flavor(
        name=str(entry["name"]),
        pretty_name=str(entry.get("prettyName") or entry["name"]),
        vcpus=int(_number(entry.get("cpu"))),
        ram_gb=_number(entry.get("ram")),
        price_per_hour=round(unit_cost * per, 4),
        gpu_model=model,
        gpu_count=count,
        vram_gb_per_gpu=vram,
    )


def suggest(name: str, choices: list[str]) -> list[str]:
    """Close matches for a misspelt name, best first."""
    return difflib.get_close_matches(name.strip().lower(), choices, n=3, cutoff=0.5)


def flavor_table_markdown(catalog: Catalog) -> str:
    """The flavor/price table as Markdown (references/hardware_guide.md embeds exactly this)."""
    lines = [
        "| Flavor | Hardware | GPU memory | Peak BF16 (dense) | Memory bandwidth | vCPU / RAM | $/hour |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in catalog.flavors:
        spec = f.spec
        if f.is_gpu:
            memory = f"{f.gpu_count} x {f.vram_gb_per_gpu:g} GB"
            peak = f"{f.gpu_count} x {spec.bf16_tflops:g} TFLOPS" if spec else "unknown"
            if spec and not spec.bf16:
                peak += " (FP16)"
            bandwidth = f"{spec.memory_bandwidth_gbs:g} GB/s" if spec else "unknown"
        else:
            memory, peak, bandwidth = "-", "-", "-"
        lines.append(f"| `{f.name}` | {f.pretty_name} | {memory} | {peak} | {bandwidth} | "
                     f"{f.vcpus} / {f.ram_gb:g} GB | {f.price_per_hour:.2f} |")
    return "\n".join(lines)
