# /// script
# requires-python = ">=3.11"
# dependencies = [
#     "huggingface_hub==2.4.0",
# ]
#
# [tool.uv]
# exclude-newer = "2026-12-06T13:00:48Z"
# ///
"""Estimate time, memory and cost of a fine-tuning job on every HF Jobs flavor, and recommend one.

Reads the model's size from the Hub (safetensors metadata + config.json) or a local folder, never from its name;
prices live from the Hub's hardware list (else a dated built-in table); the formulas are explained in
references/hardware_guide.md of hf-trainer. Prints a table over flavors, the recommendation, the timeout to set
(estimate + 25%), warnings and every assumption; --json for machines.

    uv run estimate_cost.py --model_name_or_path Qwen/Qwen2.5-7B --num_rows 20000 --mean_tokens_per_row 600 --use_peft
    uv run estimate_cost.py --num_params 7e9 --total_tokens 12000000 --method dpo --json
    hf jobs uv run --flavor cpu-basic https://huggingface.co/<you>/<repo>/resolve/main/estimate_cost.py --model_name_or_path Qwen/Qwen2.5-0.5B --num_rows 5000 --mean_tokens_per_row 300 --method grpo
"""

from __future__ import annotations  # the runtime types (Catalog, ModelFacts) are defined at the end of the file

import argparse
import json
import os
import sys
from pathlib import Path


def _count(text: str) -> int:
    try:
        return int(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of parameters (e.g. 7e9)") from None


def _positive(kind):
    def parse(text: str):
        value = kind(float(text)) if kind is int else kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be positive")
        return value
    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d = REQUEST_DEFAULTS
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[1:]))
    p.add_argument("--model_name_or_path", default=None, help="Hub model id or local folder.")
    p.add_argument("--num_params", type=_count, default=None, help="Parameter count (e.g. 7e9), when the model "
                   "cannot be read; overrides the count read from the model.")
    p.add_argument("--method", choices=METHODS, default=d["method"])
    p.add_argument("--num_rows", type=_positive(int), default=None, help="Rows (pairs for dpo/reward, prompts for grpo).")
    p.add_argument("--mean_tokens_per_row", type=_positive(float), default=None)
    p.add_argument("--total_tokens", type=_positive(int), default=None, help="Tokens per epoch.")
    p.add_argument("--max_steps", type=_positive(int), default=None)
    p.add_argument("--num_train_epochs", type=_positive(float), default=d["num_train_epochs"])
    p.add_argument("--max_length", type=_positive(int), default=d["max_length"])
    p.add_argument("--per_device_train_batch_size", type=_positive(int), default=d["per_device_train_batch_size"])
    p.add_argument("--gradient_accumulation_steps", type=_positive(int), default=d["gradient_accumulation_steps"])
    p.add_argument("--activation_checkpointing", action=argparse.BooleanOptionalAction,
                   default=d["activation_checkpointing"])
    p.add_argument("--use_peft", action="store_true")
    p.add_argument("--lora_r", type=_positive(int), default=d["lora_r"])
    p.add_argument("--lora_target_modules", choices=["all-linear", "attention"], default=d["lora_target_modules"])
    p.add_argument("--load_in_4bit", action="store_true")
    p.add_argument("--optim", choices=list(OPTIMIZER_BYTES), default=d["optim"])
    p.add_argument("--precompute_ref_log_probs", action="store_true")
    p.add_argument("--beta", type=float, default=None)
    p.add_argument("--num_generations", type=_positive(int), default=d["num_generations"])
    p.add_argument("--max_completion_length", type=_positive(int), default=d["max_completion_length"])
    p.add_argument("--use_vllm", action="store_true")
    p.add_argument("--steps_per_generation", type=_positive(int), default=None, help="grpo: micro-batches per "
                   "generation batch (default: gradient_accumulation_steps).")
    p.add_argument("--packing", action=argparse.BooleanOptionalAction, default=None, help="sft: best-fit packing "
                   "(the script's default: on).")
    p.add_argument("--eval_split_size", type=float, default=None, help="Eval rows carved from the training rows "
                   "(the scripts' default: 0.05; grpo 0).")
    p.add_argument("--eval_rows", type=int, default=None, help="Rows of the dataset's own eval split, instead.")
    p.add_argument("--save_steps", type=_positive(int), default=None, help="Evaluation interval in optimiser steps.")
    p.add_argument("--push_to_hub", action=argparse.BooleanOptionalAction, default=d["push_to_hub"])
    p.add_argument("--flavors", nargs="+", default=None, help="Only these flavors.")
    p.add_argument("--max_hours", type=_positive(float), default=d["max_hours"])
    p.add_argument("--json", action="store_true", help="Print the result as JSON.")
    return p.parse_args(argv)


def _endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def load_catalog() -> Catalog:
    """Live flavors and prices from the Hub, else the built-in fallback table (which says so)."""
    from huggingface_hub import HfApi  # imported here so --help stays instant

    api = HfApi(endpoint=_endpoint())
    try:
        response = api.list_jobs_hardware()
    except _hub_errors() as exc:
        return _fallback(exc)
    flavors = tuple(flavor_from_hub({
        "name": h.name, "prettyName": h.pretty_name, "cpu": h.cpu, "ram": h.ram, "unitCostUSD": h.unit_cost_usd,
        "unitLabel": h.unit_label, "accelerator": None if h.accelerator is None else {
            "model": h.accelerator.model, "quantity": h.accelerator.quantity, "vram": h.accelerator.vram}})
        for h in response)
    return Catalog(flavors, "live", "now", f"live from {api.endpoint}/api/jobs/hardware") if flavors else _fallback(None)


def _hub_errors() -> tuple[type[BaseException], ...]:
    """What a failed Hub call raises: HTTP errors (OSError subclasses), connection errors (httpx2), odd JSON."""
    import httpx2  # huggingface_hub >= 2.4 talks through httpx2

    return (OSError, ValueError, KeyError, TypeError, httpx2.HTTPError)


def _fallback(exc: Exception | None) -> Catalog:
    catalog = fallback_catalog()
    return replace(catalog, note=catalog.note + (f": {type(exc).__name__}" if exc else ""))


def size_model(args: argparse.Namespace) -> ModelFacts:
    """Facts from a local folder or the Hub (safetensors metadata + config.json); never from the name."""
    how = "Pass --num_params (e.g. --num_params 7e9)."
    name = args.model_name_or_path
    if not name:
        if args.num_params:
            return facts_from_count(args.num_params, source="num_params (given)")
        raise EstimateError(f"No model given: pass --model_name_or_path. {how}")
    if Path(name).expanduser().is_dir():
        return facts_from_folder(Path(name).expanduser(), args.num_params)
    from huggingface_hub import HfApi  # imported here so --help stays instant

    api = HfApi(endpoint=_endpoint())
    facts, count, dtype = None, 0, None
    try:
        info = api.model_info(name, expand=["safetensors"])
        if info.safetensors:
            count = int(info.safetensors.total)
            dtype = max(info.safetensors.parameters, key=info.safetensors.parameters.get)
        config = json.loads(Path(api.hf_hub_download(name, "config.json")).read_text(encoding="utf-8"))
        facts = facts_from_config(config, source=f"{name}/config.json")
    except EstimateError:
        raise
    except _hub_errors() as exc:
        if not count and not args.num_params:
            raise EstimateError(f"Could not read the size of {name!r} from {api.endpoint} ({type(exc).__name__}: "
                                f"{str(exc).splitlines()[0][:200]}). {how}") from None
    if args.num_params:
        return facts_from_count(args.num_params, facts, source="num_params (given)")
    if facts and count:
        return with_count(facts, count, dtype, f"{name} (Hub safetensors metadata + config.json)")
    if facts:
        return facts
    return facts_from_count(count, source=f"{name} (Hub safetensors metadata)")


def main(args: argparse.Namespace) -> int:
    try:
        facts = size_model(args)
        params = {k: v for k, v in vars(args).items() if k in REQUEST_DEFAULTS}
        result = estimate(params, load_catalog(), facts)
    except EstimateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result) if args.json else render_estimate(result))
    return 0


# ===== generated runtime: do not edit; source: src/hf_trainer/runtime/ (regenerate: make sync-scripts) =====
# runtime modules: estimate_math

# ----- runtime/precision.py -----
"""The one precision policy of the training scripts and the estimator: per device and training mode, what the weights
are loaded in, what the trained parameters and the optimizer state are kept in, what autocast computes in, and what
is saved. `policy(device, mode, precision)` answers; train_common turns the answer into from_pretrained and
TrainingArguments settings, estimate_math into bytes per parameter. Nothing else decides a dtype.

Why these choices (measured on CPU, issue 26, references/training_methods.md "Precision"):
- Full fine-tuning keeps FP32 master weights and computes under bf16 autocast (fp16 on cards without bf16), as TRL's
  own scripts do (ModelConfig.dtype defaults to float32). With bf16 weights and bf16 AdamW state an update smaller
  than half a bf16 step of the weight rounds away: at lr 2e-5, 70.7% of a 0.02-scale matrix never moved in 10 steps,
  and 10 steps of SFT lowered the loss by 0.107 instead of 0.332. The price: 18 bytes per parameter instead of 8.
- fp16 autocast runs under a GradScaler, which refuses fp16 gradients ("Attempting to unscale FP16 gradients"): the
  parameters it scales are never fp16. Full fine-tuning keeps them fp32; LoRA trains fp32 adapters over a frozen
  16-bit base (frozen weights have no gradients to unscale); QLoRA's adapters are bf16 (TRL casts them so).
- LoRA and QLoRA keep the frozen base in 16 bits (4 bits for QLoRA): it receives no updates, so nothing rounds away.
- FSDP loads 16-bit weights (each process holds a full copy in host RAM while loading) and accelerate upcasts the
  trainable shards to FP32 master weights; layers are gathered and computed in 16 bits.
- CPU trains in fp32 by default (no fast 16-bit matmuls on most CPUs); `--precision bf16` runs the GPU policy on CPU
  (CPU autocast supports bf16). fp16 on CPU is refused: accelerate runs no autocast for fp16 there (it would silently
  train in fp32).

Standard library only: this module is inlined into the training scripts and into scripts/estimate_cost.py.
"""

from dataclasses import dataclass

PRECISION_CHOICES = ("auto", "bf16", "fp16", "fp32")
# The devices the policy tells apart: a CPU, a CUDA GPU with bf16 units (compute capability 8.0 and later: A10G,
# L4, L40S, A100, H100, H200, RTX PRO 6000), one without (T4, V100: fp16 tensor cores only).
DEVICE_KINDS = ("cpu", "cuda-bf16", "cuda-fp16")
MODES = ("full", "lora", "qlora", "fsdp", "fsdp-lora")
BYTES = {"float32": 4.0, "bfloat16": 2.0, "float16": 2.0, "nf4": 0.5159}  # nf4: 4 bits + double-quantized scales
_AUTOCAST = {"bf16": "bfloat16", "fp16": "float16", "fp32": None}


class PrecisionError(ValueError):
    """A --precision the device cannot run: `fact` says why, `fix` what to pass instead; str() is both."""

    def __init__(self, fact: str, fix: str = "") -> None:
        super().__init__(f"{fact} {fix}".strip())
        self.fact, self.fix = fact, fix


@dataclass(frozen=True)
class Precision:
    """What one (device, mode, --precision) trains with. dtypes are torch names without the prefix ("bfloat16")."""

    device: str  # one of DEVICE_KINDS
    mode: str  # one of MODES
    name: str  # "bf16", "fp16" or "fp32": the resolved --precision
    load_dtype: str  # from_pretrained(dtype=...): the frozen base, or the trainable weights before any upcast
    trainable_dtype: str  # the trained parameters (master weights) and their gradients
    optimizer_dtype: str  # AdamW's two moments (torch keeps them in the parameter's dtype)
    autocast: str | None  # the dtype matmuls run in under autocast, or None (no autocast)
    saved_dtype: str  # what the final model (or adapter) is written in
    grad_scaler: bool  # fp16 autocast on CUDA: the loss is scaled and gradients unscaled before each step
    quantized_base: bool = False  # QLoRA: the frozen base in NF4, computing in `autocast`
    reason: str = ""

    @property
    def training_arguments(self) -> dict:
        """TrainingArguments' flags: bf16/fp16 switch on accelerate's autocast (and, for fp16, its GradScaler)."""
        return {"bf16": self.name == "bf16", "fp16": self.name == "fp16"}

    def bytes_per_parameter(self) -> dict[str, float]:
        """Bytes per parameter of the model, by part, for AdamW (8-bit optimizers: see the estimator).

        Full fine-tuning: the weights as loaded (the master copy), their gradients, AdamW's moments, and the 16-bit
        copy autocast makes of every weight in forward and keeps for backward (`autocast_copy`; none without
        autocast). Under FSDP the first three are divided by the GPU count and the 16-bit copies are the gathered
        layers (the estimator's fsdp_gathered_params). LoRA/QLoRA: the frozen base only; the adapters' parts are
        `adapter_bytes_per_parameter`."""
        if self.mode in ("lora", "qlora", "fsdp-lora"):
            return {"weights": BYTES["nf4"] if self.quantized_base else BYTES[self.load_dtype]}
        master = BYTES[self.trainable_dtype]
        parts = {"weights": master, "gradients": master, "optimizer": 2 * BYTES[self.optimizer_dtype]}
        if self.autocast and self.mode == "full" and self.trainable_dtype != self.autocast:
            parts["autocast_copy"] = BYTES[self.autocast]
        return parts

    def adapter_bytes_per_parameter(self) -> dict[str, float]:
        """Bytes per trainable adapter parameter (LoRA modes): weight, gradient, AdamW's two moments."""
        b = BYTES[self.trainable_dtype]
        return {"weights": b, "gradients": b, "optimizer": 2 * BYTES[self.optimizer_dtype]}

    @property
    def activation_bytes(self) -> float:
        """Bytes per element of the residual stream (the activations checkpointing keeps per layer): fp32 when the
        weights are fp32 (embeddings and residual additions stay fp32 under autocast), else 16-bit."""
        return 4.0 if self.load_dtype == "float32" and not self.quantized_base else 2.0

    def summary(self) -> str:
        """One line for the run's log: what this run trains with."""
        compute = f"{self.autocast} autocast" if self.autocast else "no autocast"
        scaler = " with GradScaler" if self.grad_scaler else ""
        base = "nf4" if self.quantized_base else self.load_dtype
        return (f"precision {self.name} ({self.mode}): weights loaded in {base}, trained parameters "
                f"{self.trainable_dtype}, AdamW state {self.optimizer_dtype}, {compute}{scaler}, saved "
                f"{self.saved_dtype}")


def training_mode(use_peft: bool, load_in_4bit: bool = False, fsdp: bool = False) -> str:
    """The mode of a run from its flags (QLoRA is never sharded: the scripts refuse --fsdp --load_in_4bit)."""
    if fsdp:
        return "fsdp-lora" if use_peft else "fsdp"
    if use_peft:
        return "qlora" if load_in_4bit else "lora"
    return "full"


def device_kind(device: dict) -> str:
    """train_common.detect_device()'s answer as one of DEVICE_KINDS."""
    if device.get("type") != "cuda":
        return "cpu"
    return "cuda-bf16" if device.get("bf16") else "cuda-fp16"


def resolve(device: str, precision: str = "auto") -> str:
    """--precision as it will run on `device`: auto picks; a forced choice the device cannot run is refused."""
    if device not in DEVICE_KINDS:
        raise PrecisionError(f"unknown device kind {device!r}: one of {', '.join(DEVICE_KINDS)}")
    if precision not in PRECISION_CHOICES:
        raise PrecisionError(f"--precision {precision!r} is not one of {', '.join(PRECISION_CHOICES)}.")
    if precision == "auto":
        return {"cpu": "fp32", "cuda-bf16": "bf16", "cuda-fp16": "fp16"}[device]
    if precision == "bf16" and device == "cuda-fp16":
        raise PrecisionError("--precision bf16 needs a GPU with bf16 units (compute capability 8.0 or later: A10G, L4, "
                             "L40S, A100, H100, H200); this one has fp16 only (e.g. T4).",
                             "Use --precision auto (fp16 autocast with FP32 master weights) or a bf16 flavor such as "
                             "l4x1 or a10g-small.")
    if precision == "fp16" and device == "cpu":
        raise PrecisionError("--precision fp16 does not run on CPU: accelerate applies no fp16 autocast there, so "
                             "the run would silently train in fp32.",
                             "Use --precision bf16 (CPU autocast supports it) or fp32 on CPU, and fp16 on a CUDA GPU.")
    return precision


def policy(device: str, mode: str, precision: str = "auto") -> Precision:
    """The precision for a device kind (DEVICE_KINDS), a training mode (MODES) and a --precision choice."""
    if mode not in MODES:
        raise PrecisionError(f"unknown training mode {mode!r}: one of {', '.join(MODES)}")
    if mode == "qlora" and device == "cpu":
        raise PrecisionError("QLoRA (--load_in_4bit) needs a CUDA GPU: bitsandbytes' 4-bit weights do not train on "
                             "CPU.", "Drop --load_in_4bit to train LoRA here.")
    name = resolve(device, precision)
    autocast = _AUTOCAST[name]
    half = autocast or "float32"  # the 16-bit dtype of this run, or float32 without autocast
    scaler = name == "fp16" and device != "cpu"
    if mode == "full":
        return Precision(device, mode, name, "float32", "float32", "float32", autocast, half, scaler,
                         reason="FP32 master weights and AdamW state: small updates are kept; matmuls in "
                                f"{half} under autocast; saved in {half}")
    if mode == "fsdp":
        return Precision(device, mode, name, half, "float32", "float32", autocast, half, scaler,
                         reason="loaded in 16 bits; accelerate upcasts the trainable shards to FP32 master weights; "
                                f"layers gathered and computed in {half}; saved in {half}")
    if mode == "qlora":
        # TRL casts the adapters of a quantized model to bf16 (the QLoRA paper's choice), whatever the autocast; bf16
        # gradients are not fp16, so the GradScaler of an fp16 card unscales them.
        adapters = "float32" if name == "fp32" else "bfloat16"
        return Precision(device, mode, name, half, adapters, adapters, autocast, adapters, scaler,
                         quantized_base=True,
                         reason=f"NF4 base computing in {half}; adapters {adapters} (TRL's QLoRA cast)")
    # lora, fsdp-lora: PEFT keeps the adapters in fp32 over a frozen 16-bit base.
    return Precision(device, mode, name, half, "float32", "float32", autocast, "float32", scaler,
                     reason=f"frozen base in {half} (no updates to lose); adapters and their AdamW state in fp32")


# ----- runtime/vocabulary.py -----
"""Words all of hf-trainer shares, defined once: the training methods, the resume choices, the job-timeout rule.

The package imports them from here (`hf_trainer.runtime.vocabulary`); the runtime modules scripts carry import them
with a relative import, so scripts/estimate_cost.py and scripts/inspect_dataset.py carry the same definitions.
"""

import math
from typing import Literal, get_args

# The training methods, each a bundled script scripts/train_<method>.py.
Method = Literal["sft", "dpo", "grpo", "reward", "kto"]
METHODS: tuple[str, ...] = get_args(Method)

# --resume of the training scripts (runtime/resume.py): continue a matching checkpoint, start fresh, or insist.
Resume = Literal["auto", "never", "must"]
RESUME_CHOICES: tuple[str, ...] = get_args(Resume)

# A job's timeout is its estimate plus 25%, rounded up to the minute, never under 10 minutes: estimates err, and a
# job killed at 99% has spent all its money for nothing.
TIMEOUT_BUFFER = 1.25
MIN_TIMEOUT_SECONDS = 600


def timeout_seconds(estimated_seconds: float) -> int:
    """The timeout for a job estimated to run `estimated_seconds`: estimate + 25%, rounded up to the minute, at
    least 10 minutes."""
    return max(MIN_TIMEOUT_SECONDS, math.ceil(estimated_seconds * TIMEOUT_BUFFER / 60) * 60)

# ----- runtime/estimate_math.py -----
"""The physics of a fine-tuning job: hardware facts, FLOPs, memory, time and money. Standard library only.

This module is inlined into scripts/estimate_cost.py (between marker lines, by `make sync-scripts`), so it must not
import anything outside the standard library, nor anything from hf_trainer. Everything here is a pure function of its
arguments; the sources of every constant are in references/hardware_guide.md.
"""

import difflib
import json
import math
import statistics
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path


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
    # Between the GPUs of one machine, per direction (half the datasheet's bidirectional figure): what FSDP's
    # all-gathers and reduce-scatters run over. "pcie" cards talk through the PCIe switch, "nvlink" ones directly.
    interconnect: str = "pcie"
    interconnect_gbs: float = 32.0


GPU_SPECS: dict[str, GpuSpec] = {
    spec.model: spec
    for spec in [
        GpuSpec("T4", 16, 65, 320, False, "workstation",
                "NVIDIA T4 datasheet: 65 TFLOPS FP16 mixed precision, 320 GB/s, PCIe Gen3 x16 32 GB/s",
                "pcie", 16),
        GpuSpec("L4", 24, 121, 300, True, "workstation",
                "NVIDIA L4 datasheet: 242 TFLOPS BF16 with sparsity, 300 GB/s, PCIe Gen4 x16 64 GB/s", "pcie", 32),
        GpuSpec("L40S", 48, 362, 864, True, "workstation",
                "NVIDIA L40S datasheet: 733 TFLOPS BF16 with sparsity, 864 GB/s, PCIe Gen4 x16 64 GB/s "
                "bidirectional (no NVLink)", "pcie", 32),
        GpuSpec("A10G", 24, 70, 600, True, "workstation",
                "AWS EC2 G5 / NVIDIA A10G: ~70 TFLOPS BF16 dense, 600 GB/s; NVIDIA A10 datasheet: PCIe Gen4 64 GB/s "
                "(G5 instances have no NVLink)", "pcie", 32),
        GpuSpec("A100", 80, 312, 2039, True, "datacenter",
                "NVIDIA A100 80GB SXM datasheet: 312 TFLOPS BF16, 2039 GB/s, NVLink 600 GB/s", "nvlink", 300),
        GpuSpec("H200", 141, 989, 4800, True, "datacenter",
                "NVIDIA H200 SXM datasheet: 1979 TFLOPS BF16 with sparsity, 4.8 TB/s, NVLink 900 GB/s",
                "nvlink", 450),
        GpuSpec("RTX PRO 6000", 96, 504, 1597, True, "workstation",
                "NVIDIA RTX PRO 6000 Blackwell Server Edition datasheet: 96 GB GDDR7, 1597 GB/s; ~504 TFLOPS BF16 "
                "dense; PCIe Gen5 x16 128 GB/s bidirectional (no NVLink)", "pcie", 64),
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


# Official prices from huggingface.co/pricing#jobs (November 2026, ../shared/FACTS.md). vCPU and RAM are approximate
# (the figures published for the same hardware on Spaces; cpu-performance's are a guess): only CPU-flavor estimates use
# them. The live endpoint replaces all of this when it is reachable.
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


_LINK_NAMES = {"pcie": "PCIe", "nvlink": "NVLink"}


def flavor_table_markdown(catalog: Catalog) -> str:
    """The flavor/price table as Markdown (references/hardware_guide.md embeds exactly this)."""
    lines = [
        "| Flavor | Hardware | GPU memory | Peak BF16 (dense) | Memory bandwidth | GPU link (per direction) | "
        "vCPU / RAM | $/hour |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in catalog.flavors:
        spec = f.spec
        if f.is_gpu:
            memory = f"{f.gpu_count} x {f.vram_gb_per_gpu:g} GB"
            peak = f"{f.gpu_count} x {spec.bf16_tflops:g} TFLOPS" if spec else "unknown"
            if spec and not spec.bf16:
                peak += " (FP16)"
            bandwidth = f"{spec.memory_bandwidth_gbs:g} GB/s" if spec else "unknown"
            link = "-" if f.gpu_count < 2 else (f"{_LINK_NAMES[spec.interconnect]} {spec.interconnect_gbs:g} GB/s"
                                                if spec else "unknown")
        else:
            memory, peak, bandwidth, link = "-", "-", "-", "-"
        lines.append(f"| `{f.name}` | {f.pretty_name} | {memory} | {peak} | {bandwidth} | {link} | "
                     f"{f.vcpus} / {f.ram_gb:g} GB | {f.price_per_hour:.2f} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# Model facts
# ---------------------------------------------------------------------------------------------------------------
class EstimateError(ValueError):
    """Input the estimator cannot work with; the message says what to pass instead."""


DTYPE_BYTES = {"float32": 4.0, "bfloat16": 2.0, "float16": 2.0, "fp32": 4.0, "bf16": 2.0, "fp16": 2.0}
# Model families whose MLP has no gate projection (two matrices of hidden x intermediate, not three).
_UNGATED = {"gpt2", "gpt_neox", "gptj", "opt", "bloom", "falcon", "phi", "gpt_bigcode", "starcoder2", "bert",
            "roberta", "codegen", "mpt"}


@dataclass(frozen=True)
class ModelFacts:
    """What the estimator needs to know about a model. Architecture fields are 0 when unknown."""

    num_params: int
    num_layers: int = 0
    hidden_size: int = 0
    num_attention_heads: int = 0
    num_key_value_heads: int = 0
    head_dim: int = 0
    intermediate_size: int = 0
    vocab_size: int = 0
    dtype: str = "bfloat16"
    num_active_params: int = 0  # mixture of experts: parameters used per token; else equal to num_params
    gated_mlp: bool = True
    embedding_params: int = 0  # input embeddings plus an untied output head: kept in 16 bit under 4-bit QLoRA
    source: str = ""
    assumed: tuple[str, ...] = ()  # architecture fields guessed from the parameter count, said in the output

    @property
    def active_params(self) -> int:
        return self.num_active_params or self.num_params


def _cfg(config: dict, *names: str, default: object = None) -> object:
    for name in names:
        if config.get(name) is not None:
            return config[name]
    return default


def facts_from_config(config: dict, source: str = "config.json") -> ModelFacts:
    """Parameter count and architecture from a transformers config.json, by arithmetic (no weights needed).

    Decoder-only transformers: embeddings, per layer attention (q, k, v, o with grouped KV heads, optional biases),
    MLP (gated: 3 matrices, else 2; mixture of experts: times the experts, plus a router), two norms; final norm;
    output head unless tied. Raises EstimateError when the config lacks the sizes.
    """
    if isinstance(config.get("text_config"), dict):  # multimodal wrappers keep the language model here
        inner = dict(config["text_config"])
        inner.setdefault("model_type", config.get("model_type"))
        inner.setdefault("tie_word_embeddings", config.get("tie_word_embeddings"))
        config = inner
    hidden = _cfg(config, "hidden_size", "n_embd", "d_model", "dim")
    layers = _cfg(config, "num_hidden_layers", "n_layer", "num_layers", "n_layers")
    heads = _cfg(config, "num_attention_heads", "n_head", "num_heads", "n_heads")
    vocab = _cfg(config, "vocab_size", "padded_vocab_size")
    if not all(isinstance(v, int) and v > 0 for v in (hidden, layers, heads, vocab)):
        raise EstimateError(f"{source} lacks hidden_size, num_hidden_layers, num_attention_heads or vocab_size")
    model_type = str(config.get("model_type") or "")
    kv_heads = int(_cfg(config, "num_key_value_heads", "num_kv_heads", "n_head_kv", default=heads))
    head_dim = int(_cfg(config, "head_dim", default=hidden // heads) or hidden // heads)
    gated = model_type not in _UNGATED
    inter = int(_cfg(config, "intermediate_size", "n_inner", "ffn_dim", "ffn_hidden_size", default=0) or 0)
    if not inter:
        inter = 4 * hidden
    experts = int(_cfg(config, "num_local_experts", "num_experts", "n_routed_experts", default=1) or 1)
    experts_per_token = int(_cfg(config, "num_experts_per_tok", "moe_topk", default=experts) or experts)
    moe_inter = int(_cfg(config, "moe_intermediate_size", default=inter) or inter)
    shared = int(_cfg(config, "n_shared_experts", "num_shared_experts", default=0) or 0)
    bias = bool(config.get("attention_bias") or model_type in {"qwen2", "qwen2_moe", "gpt2", "gpt_neox", "opt"})

    q_out, kv_out = heads * head_dim, kv_heads * head_dim
    attention = hidden * q_out + 2 * hidden * kv_out + q_out * hidden + ((q_out + 2 * kv_out) if bias else 0)
    mats = 3 if gated else 2
    if experts > 1:
        mlp_total = experts * mats * hidden * moe_inter + shared * mats * hidden * moe_inter + hidden * experts
        mlp_active = (experts_per_token + shared) * mats * hidden * moe_inter + hidden * experts
        if shared == 0 and "moe_intermediate_size" not in config:
            mlp_active = experts_per_token * mats * hidden * inter + hidden * experts
    else:
        mlp_total = mlp_active = mats * hidden * inter
    norms = 2 * hidden
    tied = config.get("tie_word_embeddings")
    tied = bool(tied) if tied is not None else model_type in {"gpt2", "gemma", "gemma2", "gemma3_text"}
    embeddings = vocab * hidden * (1 if tied else 2)
    total = embeddings + layers * (attention + mlp_total + norms) + hidden
    active = embeddings + layers * (attention + mlp_active + norms) + hidden
    dtype = str(_cfg(config, "torch_dtype", "dtype", default="bfloat16"))
    return ModelFacts(
        num_params=int(total), num_layers=int(layers), hidden_size=int(hidden), num_attention_heads=int(heads),
        num_key_value_heads=kv_heads, head_dim=head_dim,
        intermediate_size=moe_inter * experts_per_token if experts > 1 else inter, vocab_size=int(vocab),
        dtype=dtype if dtype in DTYPE_BYTES else "bfloat16", num_active_params=int(active), gated_mlp=gated,
        embedding_params=int(embeddings), source=source,
    )


def facts_from_count(num_params: int, base: ModelFacts | None = None, source: str = "num_params") -> ModelFacts:
    """Facts for a parameter count alone (or a count overriding a config's arithmetic).

    Without a config, the architecture is guessed from the count with the shape of Llama-family models
    (N ~ 12 L h^2 with h / L ~ 128, vocabulary 128k); every guessed field is listed in `assumed`.
    """
    if num_params <= 0:
        raise EstimateError(f"num_params must be positive, got {num_params}")
    if base and base.num_layers:
        return replace(base, num_params=int(num_params), num_active_params=int(num_params), source=source)
    hidden = max(64, int(round((num_params * 128 / 12) ** (1 / 3) / 64)) * 64)
    layers = max(2, int(round(num_params / (12 * hidden * hidden))))
    heads = max(1, hidden // 128)
    vocab = 128_000 if num_params > 50e6 else 32_000
    return ModelFacts(
        num_params=int(num_params), num_layers=layers, hidden_size=hidden, num_attention_heads=heads,
        num_key_value_heads=heads, head_dim=hidden // heads, intermediate_size=int(hidden * 8 / 3), vocab_size=vocab,
        embedding_params=min(int(num_params) // 4, vocab * hidden), source=source,
        assumed=(f"architecture guessed from {num_params:,} parameters (Llama-like: hidden {hidden}, {layers} layers, "
                 f"vocabulary {vocab}); pass a model with a config.json for exact activation memory",),
    )


_SAFETENSORS_DTYPES = {"F32": "float32", "BF16": "bfloat16", "F16": "float16"}


def safetensors_param_count(folder: Path) -> tuple[int, str | None]:
    """Exact parameter count from the headers of every *.safetensors file in `folder`, and the dominant dtype."""
    total, by_dtype = 0, {}
    for path in sorted(Path(folder).glob("*.safetensors")):
        with path.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > 100_000_000:
                raise EstimateError(f"{path} does not look like a safetensors file (header of {length} bytes)")
            header = json.loads(handle.read(length))
        for name, tensor in header.items():
            if name == "__metadata__":
                continue
            count = 1
            for dim in tensor["shape"]:
                count *= int(dim)
            total += count
            by_dtype[tensor["dtype"]] = by_dtype.get(tensor["dtype"], 0) + count
    dtype = _SAFETENSORS_DTYPES.get(max(by_dtype, key=by_dtype.get)) if by_dtype else None
    return total, dtype


def with_count(facts: ModelFacts, count: int, dtype: str | None, source: str) -> ModelFacts:
    """Config facts with an exact parameter count from the weights (MoE active counts stay the config's)."""
    dense = facts.num_active_params == facts.num_params
    return replace(facts, num_params=count, num_active_params=count if dense else facts.num_active_params,
                   dtype=_SAFETENSORS_DTYPES.get(dtype or "", dtype or facts.dtype), source=source)


def facts_from_folder(folder: Path, num_params: int | None = None) -> ModelFacts:
    """Facts for a model saved in a local folder: config.json arithmetic, exact count from safetensors headers."""
    folder = Path(folder)
    config_path = folder / "config.json"
    facts = None
    if config_path.is_file():
        facts = facts_from_config(json.loads(config_path.read_text(encoding="utf-8")), str(config_path))
    count, dtype = safetensors_param_count(folder)
    if num_params:
        return facts_from_count(num_params, facts, source="num_params (given)")
    if facts and count:
        return with_count(facts, count, dtype, f"{folder} (safetensors headers + config.json)")
    if facts:
        return facts
    if count:
        return facts_from_count(count, source=f"{folder} (safetensors headers)")
    raise EstimateError(f"{folder} has neither config.json nor *.safetensors files, so its size is unknown")


def lora_params(facts: ModelFacts, r: int, target: str = "all-linear") -> int:
    """Trainable LoRA parameters: r x (in + out) for each adapted matrix in every layer."""
    h, inter = facts.hidden_size, facts.intermediate_size
    q_out, kv_out = facts.num_attention_heads * facts.head_dim, facts.num_key_value_heads * facts.head_dim
    attention = (h + q_out) + 2 * (h + kv_out) + (q_out + h)
    mlp = (3 if facts.gated_mlp else 2) * (h + inter)
    per_layer = attention + (mlp if target == "all-linear" else 0)
    return int(r * per_layer * facts.num_layers)


# ---------------------------------------------------------------------------------------------------------------
# The job, its work in tokens and FLOPs
# ---------------------------------------------------------------------------------------------------------------
OPTIMIZER_BYTES = {  # optimizer state bytes per trainable parameter, beyond the parameter's own dtype
    "adamw_torch": None,  # two moments in the parameter's dtype (torch keeps states like the parameter)
    "adamw_torch_fused": None,
    "adamw_bnb_8bit": 2.0,  # two moments at one byte each (bitsandbytes blockwise 8-bit)
    "adamw_8bit": 2.0,
    "paged_adamw_8bit": 2.0,
    "adafactor": 0.1,  # factored second moment: rows + columns, a few percent of a byte per parameter
    "sgd": 0.0,
}


@dataclass(frozen=True)
class Job:
    """One training run as the estimator sees it (TRL vocabulary; sizes already resolved)."""

    model: ModelFacts
    method: str = "sft"
    train_tokens: float = 0.0  # sequence tokens the trainer processes over the whole run (all epochs)
    num_sequences: float = 0.0  # training sequences over the whole run (prompts for GRPO, pairs for DPO)
    mean_seq_len: float = 512.0  # tokens per training sequence (per side for DPO; prompt + completion for GRPO)
    max_length: int = 2048
    per_device_train_batch_size: int = 4
    gradient_accumulation_steps: int = 4
    activation_checkpointing: bool | None = True  # None: the scripts' default, on for GPUs and off on CPU
    use_peft: bool = False
    lora_r: int = 16
    lora_target_modules: str = "all-linear"
    load_in_4bit: bool = False
    optim: str = "adamw_torch_fused"
    dtype: str = "bfloat16"  # training weights on GPUs; CPU runs in float32
    precision: str = "auto"  # the scripts' --precision: runtime/precision.py decides the dtypes of each part
    fsdp: bool = False  # --fsdp: FSDP2 shards weights, gradients and optimizer state over the GPUs of one machine
    # preference methods
    precompute_ref_log_probs: bool = False
    beta: float = 0.1
    # GRPO
    num_generations: int = 8
    max_completion_length: int = 256
    mean_prompt_len: float = 256.0
    use_vllm: bool = False
    steps_per_generation: int = 0  # 0: gradient_accumulation_steps (TRL's default)
    vllm_gpu_memory_utilization: float = 0.3  # colocated vLLM's share of GPU memory (train_grpo.py's default)
    # what the trainer iterates (schedule() counts its steps and micro-batches from these)
    train_rows: float = 0.0  # per epoch, after the eval split: rows, pairs (dpo/reward), unpaired rows (kto), prompts (grpo)
    num_train_epochs: float = 1.0
    max_steps: int = 0  # > 0: stop after this many optimiser steps
    packing: bool = False  # sft: best-fit packed rows of max_length tokens, padding-free
    eval_rows: float = 0.0  # rows scored at every evaluation (the eval split)
    save_steps: int = 100  # the scripts evaluate every save_steps optimiser steps (eval_steps = save_steps)
    attention_span: float = 0.0  # tokens attended over per sequence (a packed row, a padded batch); 0: mean_seq_len
    # around the training
    push_to_hub: bool = True


def _attention_flops_per_token(m: ModelFacts, seq: float) -> float:
    """PaLM's attention term (Chowdhery et al. 2022, appendix B): 12 * layers * heads * head_dim * seq for fwd+bwd."""
    return 12.0 * m.num_layers * m.num_attention_heads * m.head_dim * seq


def has_reference_copy(job: Job) -> bool:
    """Preference methods need a frozen reference: a second copy of the weights unless LoRA (adapters switched off
    give the reference for free) or log-probs were precomputed; GRPO only with beta > 0 (TRL's default is 0)."""
    if job.method in ("dpo", "kto"):
        return not job.use_peft and not job.precompute_ref_log_probs
    if job.method == "grpo":
        return job.beta > 0 and not job.use_peft
    return False


def training_flops(job: Job) -> dict[str, float]:
    """Floating-point operations of the optimisation itself, by part.

    Per trained token: forward 2N, backward 4N (Kaplan et al. 2020) for full training; with LoRA the frozen base
    needs no weight gradients, so its backward is 2N (activation gradients only) plus 6 per adapter parameter;
    activation checkpointing recomputes the forward (+2N); attention adds PaLM's 12*L*H*Q*T term (2/3 of it
    forward-only parts recomputed). Preference methods also run the reference forward (2N) on every sequence.
    """
    m = job.model
    n = m.active_params
    t = job.train_tokens
    attn = _attention_flops_per_token(m, job.attention_span or min(job.mean_seq_len, job.max_length))
    if job.use_peft:
        weights = 4.0 * n + 6.0 * lora_params(m, job.lora_r, job.lora_target_modules)
    else:
        weights = 6.0 * n
    recompute = (2.0 * n + attn / 3.0) if job.activation_checkpointing else 0.0
    parts = {"forward_backward": t * (weights + attn), "recompute": t * recompute}
    if job.method in ("dpo", "kto") and not job.precompute_ref_log_probs:
        parts["reference_forward"] = t * (2.0 * n + attn / 3.0)
    if job.method == "grpo":
        if job.beta > 0:
            parts["reference_forward"] = t * (2.0 * n + attn / 3.0)
        completions = job.num_sequences * job.num_generations
        parts["rollout_prefill"] = completions * job.mean_prompt_len * 2.0 * n
    return parts


def grpo_generated_tokens(job: Job) -> float:
    return job.num_sequences * job.num_generations * job.max_completion_length


# ---------------------------------------------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------------------------------------------
GIB = 2**30
USABLE_FRACTION = 0.92  # of a GPU's memory: CUDA context, NCCL buffers and allocator reserve take the rest
RUNTIME_OVERHEAD_GIB = 1.0  # CUDA/PyTorch context and kernels' workspaces
# Python + torch + transformers + TRL imported, on CPU: the tiny model's training peaked at 0.52 GiB RSS here.
CPU_RUNTIME_OVERHEAD_GIB = 0.5
FRAGMENTATION = 0.08  # caching-allocator fragmentation, on top of what tensors need


def param_bytes(job: Job, on_gpu: bool) -> float:
    if not on_gpu:
        return 4.0  # CPU training runs in float32
    return DTYPE_BYTES.get(job.dtype, 2.0)


def job_precision(job: Job, on_gpu: bool, bf16: bool = True) -> Precision:
    """The training scripts' precision policy (runtime/precision.py) for `job` on a CPU, a bf16 GPU or an fp16-only
    GPU (T4): the dtypes the memory below is counted in. Raises PrecisionError for a --precision the device cannot
    run (precision_problem says it per flavor)."""
    device = "cpu" if not on_gpu else "cuda-bf16" if bf16 else "cuda-fp16"
    mode = training_mode(job.use_peft, job.load_in_4bit and on_gpu, job.fsdp)
    return policy(device, mode, job.precision)


def precision_problem(job: Job, on_gpu: bool, bf16: bool = True) -> str:
    """Why the scripts would refuse this job's --precision on this device ("" when they run it): a forced bf16 on an
    fp16-only GPU, fp16 on a CPU. Such a flavor is never recommended."""
    try:
        job_precision(job, on_gpu, bf16)
    except PrecisionError as exc:
        return exc.fact
    return ""


def activation_bytes_per_token_layer(m: ModelFacts, on_gpu: bool, scale: float | None = None) -> float:
    """Korthikanti et al. 2022 (Reducing Activation Recomputation), per token and layer in 16-bit, no dropout, with
    fused (flash/SDPA) attention so the s^2 terms vanish: attention and norms ~15h, MLP 2h + 4*I (gated: 2h + 8*I).
    `scale` 2.0 without autocast (float32), 1.0 under 16-bit autocast; default: by device."""
    h, inter = m.hidden_size, m.intermediate_size
    mlp = 2 * h + (8 if m.gated_mlp else 4) * inter
    if scale is None:
        scale = 1.0 if on_gpu else 2.0  # float32 on CPU
    return (15 * h + mlp) * scale


FSDP_MASTER_BYTES = BYTES["float32"]  # FP32 master copy of each trainable parameter under FSDP (accelerate's upcast)


def memory_assumption() -> str:
    """The memory line of the assumptions, with the bytes per parameter read from the precision policy."""
    full = policy("cuda-bf16", "full").bytes_per_parameter()
    cpu = policy("cpu", "full").bytes_per_parameter()
    lora, qlora = policy("cuda-bf16", "lora"), policy("cuda-bf16", "qlora")
    fsdp = policy("cuda-bf16", "fsdp").bytes_per_parameter()
    return (f"memory (the scripts' precision policy, runtime/precision.py): full fine-tuning on GPUs "
            f"{sum(full.values()):g} bytes/parameter (FP32 weights {full['weights']:g} + gradients "
            f"{full['gradients']:g} + AdamW {full['optimizer']:g} + the 16-bit autocast copy "
            f"{full['autocast_copy']:g}; 8-bit AdamW: {sum(full.values()) - full['optimizer'] + 2:g}), on CPU in fp32 "
            f"{sum(cpu.values()):g}; FSDP {sum(fsdp.values()):g}/GPUs plus two gathered 16-bit layers; LoRA: the "
            f"frozen base in 16 bits ({lora.bytes_per_parameter()['weights']:g}) + "
            f"{sum(lora.adapter_bytes_per_parameter().values()):g} bytes per FP32 adapter parameter; QLoRA: NF4 base "
            f"(~{qlora.bytes_per_parameter()['weights']:.2f}) + {sum(qlora.adapter_bytes_per_parameter().values()):g} "
            "per bf16 adapter parameter; a DPO/KTO reference model in the load dtype; activations per Korthikanti et "
            "al. 2022 for a batch of max_length sequences (the checkpointed residual stream in FP32 when the weights "
            "are), logits 10 bytes per vocabulary entry, 1 GiB + 8% overhead, 92% of GPU memory usable")


def layer_params(m: ModelFacts) -> float:
    """Parameters of one decoder layer (attention, MLP or experts, norms): what FSDP gathers at a time."""
    return max(0.0, (m.num_params - m.embedding_params - m.hidden_size) / max(m.num_layers, 1))


def fsdp_buffers(job: Job, wb: float) -> dict[str, float]:
    """Per-GPU memory FSDP2 needs beyond the shards: unsharded parameters and gradient buffers.

    - gathered: the decoder layer being computed and the next one, prefetched (2 x one layer, unsharded), plus the
      root unit (embeddings, final norm and an untied head), which FSDP2 keeps unsharded from its forward to its
      backward (it does not reshard the root after forward);
    - communication: the unsharded gradients of one layer (of the root unit when larger) before their
      reduce-scatter; with LoRA only the adapters have gradients (float32)."""
    m = job.model
    layer = layer_params(m)
    if job.use_peft:
        grads = lora_params(m, job.lora_r, job.lora_target_modules) / max(m.num_layers, 1) * 4.0
    else:
        grads = max(layer, float(m.embedding_params)) * wb
    return {"fsdp_gathered_params": (m.embedding_params + 2.0 * layer) * wb, "fsdp_communication": grads}


def memory_breakdown(job: Job, gpus: int, on_gpu: bool = True, bf16: bool = True) -> dict[str, float]:
    """Bytes per device, by part, for `job` on a machine with `gpus` devices (1 for a CPU machine); `bf16`: whether
    the GPU has bf16 units (False on a T4). Every dtype is the precision policy's (runtime/precision.py)."""
    m = job.model
    n = m.num_params
    prec = job_precision(job, on_gpu, bf16)
    per = prec.bytes_per_parameter()
    # What the GPU computes in: gathered FSDP layers, the KV cache of GRPO's rollouts, the reference model's copy.
    compute = BYTES[prec.autocast or "float32"]
    shard = gpus if (job.fsdp and gpus > 1) else 1
    parts: dict[str, float] = {}
    opt = OPTIMIZER_BYTES.get(job.optim)  # None: AdamW in the trained parameters' dtype (the policy's)
    if job.use_peft:
        if prec.quantized_base:
            # NF4 with double quantization; embeddings and the head stay in the 16-bit load dtype.
            parts["weights"] = (n - m.embedding_params) * per["weights"] + m.embedding_params * BYTES[prec.load_dtype]
        else:
            parts["weights"] = n * per["weights"]
        trainable = lora_params(m, job.lora_r, job.lora_target_modules)
        adapter = prec.adapter_bytes_per_parameter()
        # Adapters: weight + gradient + two AdamW moments (or the 8-bit ones), in the policy's adapter dtype.
        parts["lora_adapters"] = trainable * (adapter["weights"] + adapter["gradients"]
                                              + (adapter["optimizer"] if opt is None else opt))
    else:
        # Full fine-tuning keeps FP32 master weights (and, under FSDP, accelerate upcasts the trainable shards to
        # FP32); gradients and AdamW moments follow them. Under 16-bit autocast, forward makes a 16-bit copy of every
        # weight and keeps it for backward (autocast_copy); FSDP's 16-bit copies are its gathered layers instead.
        parts["weights"] = n * per["weights"]
        parts["gradients"] = n * per["gradients"]
        parts["optimizer"] = n * (per["optimizer"] if opt is None else opt)
        if "autocast_copy" in per:
            parts["autocast_copy"] = n * per["autocast_copy"]
    for key in ("weights", "gradients", "optimizer", "lora_adapters"):
        if key in parts:
            parts[key] /= shard
    if has_reference_copy(job):
        # TRL loads the reference with the policy's model_init_kwargs: the load dtype (FP32 for full fine-tuning).
        parts["reference_model"] = n * BYTES[prec.load_dtype] / shard
    if shard > 1:
        parts.update(fsdp_buffers(job, BYTES[prec.load_dtype]))

    seq = job.max_length  # a batch is padded to its longest sequence: plan for the worst batch
    sequences = job.per_device_train_batch_size
    if job.method in ("dpo", "reward"):
        sequences *= 2  # chosen and rejected go through together
    if job.method == "grpo":
        seq = min(job.max_length, int(job.mean_prompt_len + job.max_completion_length))
    tokens = sequences * seq
    per_layer = activation_bytes_per_token_layer(m, on_gpu, 1.0 if prec.autocast else 2.0)
    if job.activation_checkpointing:
        # Only each layer's input is kept (the residual stream: FP32 when the weights are FP32, as under autocast
        # the embeddings and residual additions stay FP32); one layer's activations are rebuilt at a time.
        parts["activations"] = tokens * (prec.activation_bytes * m.hidden_size * m.num_layers + per_layer)
    else:
        parts["activations"] = tokens * per_layer * m.num_layers
    # Logits in 16-bit, their float32 upcast for the loss and its gradient: ~10 bytes per vocabulary entry.
    if job.method != "reward":
        parts["logits"] = tokens * m.vocab_size * 10.0
    if job.method == "grpo":
        kv_per_token = 2 * m.num_layers * m.num_key_value_heads * m.head_dim * compute
        gen_sequences = job.per_device_train_batch_size * job.gradient_accumulation_steps
        parts["kv_cache"] = gen_sequences * (job.mean_prompt_len + job.max_completion_length) * kv_per_token
    subtotal = sum(parts.values())
    parts["overhead"] = subtotal * FRAGMENTATION + (RUNTIME_OVERHEAD_GIB if on_gpu else CPU_RUNTIME_OVERHEAD_GIB) * GIB
    return parts


# ---------------------------------------------------------------------------------------------------------------
# Speed
# ---------------------------------------------------------------------------------------------------------------
# Model FLOPs utilisation (MFU) of full fine-tuning with PyTorch + transformers at batch sizes that fill the GPU.
# Sources (references/hardware_guide.md): PaLM 46% MFU; Megatron-LM 52% of A100 peak; MosaicML LLM Foundry
# benchmarks 35-55% MFU on A100/H100 for 1B-70B; FlashAttention-2 paper 50-73% of A100 peak for GPT training.
# Single-GPU fine-tuning with the HF Trainer sits at the lower end; GDDR and power-capped cards lower still.
MFU_FULL = {"A100": 0.45, "H200": 0.40, "L40S": 0.38, "RTX PRO 6000": 0.38, "A10G": 0.38, "L4": 0.30, "T4": 0.28}
MFU_FULL_DEFAULT = 0.30
# LoRA does 4/6 of the FLOPs but Hu et al. (2021) measured only a 25% speed-up over full fine-tuning on GPT-3: the
# adapters' small kernels and the unchanged attention/logit work keep the GPU less busy. 0.83 = 1.25 * 4/6.
LORA_MFU_FACTOR = 0.83
QLORA_MFU_FACTOR = 0.70  # 4-bit dequantisation on every matmul (Dettmers et al. 2023 report QLoRA slower than LoRA)
DECODE_BANDWIDTH_UTIL = {True: 0.60, False: 0.30}  # use_vllm -> fraction of memory bandwidth reached while decoding
DECODE_STEP_FLOOR_S = {True: 0.004, False: 0.025}  # per decode step: kernel launches and Python in HF generate
MULTI_GPU_EFFICIENCY = {"datacenter": 0.92, "workstation": 0.85, "cpu": 1.0}  # per doubling of GPUs (DDP)
# Fraction of the interconnect's per-direction bandwidth that NCCL's ring collectives reach (nccl-tests "bus
# bandwidth"): ~230 of 300 GB/s on NVLink A100 machines, ~20 of 32 GB/s on PCIe Gen4 machines without NVLink.
COLLECTIVE_EFFICIENCY = {"nvlink": 0.75, "pcie": 0.60}
# FSDP2 prefetches the next layer's all-gather while the current layer computes: this share of the communication
# hides behind compute when compute takes longer; the rest (and any excess over compute) adds to the step time.
FSDP_OVERLAP = 0.70
STARTUP_S = 150.0  # pull the uv image and install the script's dependencies on the job machine
DOWNLOAD_BYTES_PER_S = 150e6  # Hub -> job machine model download
UPLOAD_BYTES_PER_S = 80e6  # job machine -> Hub push at the end
SMALL_MODEL_PARAMS = 1e9  # below this, kernels are too small to fill a GPU


def small_model_factor(num_params: float) -> float:
    """Small models reach a smaller fraction of peak (launch-bound kernels): (N / 1B)^0.25, at least 0.25."""
    if num_params >= SMALL_MODEL_PARAMS:
        return 1.0
    return max(0.25, (num_params / SMALL_MODEL_PARAMS) ** 0.25)


@dataclass(frozen=True)
class LocalProfile:
    """How this machine (or a CPU flavor's cores) trains: measured by benchmarks/bench_estimate.py."""

    # Fitted on the development machine (2 vCPU AMD EPYC, 2026-11-25, 16:30 UTC, idle: load average 0.4) by
    # benchmarks/bench_estimate.py on the tiny (139k) and larger (26M) models. An earlier fit under heavy load
    # (load 9) gave 40 GFLOPS, 0.33, 0.65 s and 7 s: time estimates here assume an idle machine. Run the benchmark
    # with --save for yours.
    gflops_per_vcpu: float = 96.5  # float32 matmul per vCPU, torch
    utilisation: float = 0.55  # fraction of that matmul rate a training step reaches (26M-parameter model)
    step_overhead_s: float = 0.03  # per micro-step: optimizer step, logging, collation, Python (tiny model)
    startup_s: float = 4.4  # imports, dataset preparation, model load and save around train()
    source: str = "built-in (fitted on the idle development machine, 2026-11-25)"
    # The largest model the fit ran on (benchmarks/bench_estimate.py's "larger" Llama: hidden 512, 8 layers).
    max_params_measured: int = 25_760_256


# CPU rows are trusted up to this multiple of the largest model the CPU profile was measured on. One doubling of the
# parameters grows the hidden size by ~26% (N ~ 12 L h^2 with L and h growing together): matmuls of that shape stay
# in the regime the fit saw, where the fitted utilisation held within 0.96-1.15 of measured time. Far beyond it
# (billions of parameters) the working set leaves the caches and memory bandwidth, not the matmul rate, sets the pace,
# which the profile never measured: such rows are shown but never recommended.
CPU_CALIBRATION_MARGIN = 2.0


@dataclass(frozen=True)
class Device:
    """A flavor reduced to what the time and memory models need."""

    name: str
    devices: int
    memory_gib: float  # usable, per device
    peak_tflops: float  # per device
    bandwidth_gbs: float  # per device
    mfu: float
    gpu_class: str
    on_gpu: bool
    step_overhead_s: float = 0.0
    startup_s: float = STARTUP_S
    local: bool = False
    interconnect: str = "pcie"
    interconnect_gbs: float = 0.0  # per direction, between the GPUs of the machine
    bf16: bool = True  # the GPU has bf16 units (False on a T4): the precision policy differs


def device_for(flavor: Flavor, job: Job, profile: LocalProfile, local: bool = False) -> Device:
    spec = flavor.spec
    if flavor.is_gpu and spec:
        mfu = MFU_FULL.get(spec.model, MFU_FULL_DEFAULT)
        if job.use_peft:
            mfu *= QLORA_MFU_FACTOR if job.load_in_4bit else LORA_MFU_FACTOR
        mfu *= small_model_factor(job.model.active_params)
        vram = flavor.vram_gb_per_gpu or spec.vram_gb
        # Vendors' "GB" of GPU memory are binary gigabytes (an "80GB" A100 holds 80 GiB).
        return Device(flavor.name, flavor.gpu_count, vram * USABLE_FRACTION, spec.bf16_tflops,
                      spec.memory_bandwidth_gbs, mfu, spec.gpu_class, True, interconnect=spec.interconnect,
                      interconnect_gbs=spec.interconnect_gbs, bf16=spec.bf16)
    # CPU flavors and this machine: one "device" with the machine's RAM, measured matmul rate per vCPU.
    ram_gib = flavor.ram_gb * (1.0 if local else 1e9 / GIB) * 0.85
    peak = max(flavor.vcpus, 1) * profile.gflops_per_vcpu / 1000.0
    return Device(flavor.name, 1, ram_gib, peak, 20.0 * max(flavor.vcpus, 1) / 2, profile.utilisation, "cpu",
                  False, profile.step_overhead_s, profile.startup_s if local else STARTUP_S, local)


# ---------------------------------------------------------------------------------------------------------------
# Steps and micro-batches, as TRL 1.16 and transformers 5 count them
# ---------------------------------------------------------------------------------------------------------------
PACK_MAP_BATCH = 1000  # datasets' map() batch: TRL's pack_dataset bins each 1000-row batch on its own
LENGTH_CV = 0.5  # assumed spread of sequence lengths (std / mean): how much an unpacked batch pads
VLLM_STARTUP_S = 90.0  # colocated vLLM engine: load the weights, profile memory, capture CUDA graphs
VLLM_SYNC_OVERHEAD_S = 0.5  # per generation round: the trained weights handed to vLLM (plus a copy at bandwidth)
# The vLLM a GRPO job installs (`hf jobs uv run --with ...`): TRL 1.16 accepts 0.22-0.31; 0.31 wants transformers
# < 5.18 and the scripts pin 5.25, 0.30.0 resolves with their headers (uv pip compile, 2026-12-06).
VLLM_REQUIREMENT = "vllm==0.30.0"
VLLM_EXTRA_COST_LIMIT = 0.5  # vLLM is planned when cheaper, or twice as fast for at most this much more money


@dataclass(frozen=True)
class Schedule:
    """What the trainer iterates on `processes` processes (one per GPU): its steps and micro-batches."""

    samples_per_epoch: int  # dataloader samples: packed rows, rows, pairs (dpo/reward), unpaired rows (kto), completions (grpo)
    micro_batches_per_epoch: int  # per process
    optimizer_steps: int  # trainer.state.global_step at the end
    micro_batches: int  # per process, over the run
    sequences_per_micro_batch: int  # per process (a dpo/reward pair is two sequences)
    tokens_per_sequence: float  # computed per sequence, padding included (a packed row: its fill)
    generation_rounds: int = 0  # grpo: generation batches over the run (one per steps_per_generation micro-batches)
    completions_per_round: int = 0  # grpo: per process (per_device_train_batch_size x steps_per_generation)
    prompts_per_round: int = 0  # grpo: all processes (generation_batch_size / num_generations)
    evaluations: int = 0
    eval_micro_batches: int = 0  # per evaluation and process
    eval_sequences: int = 0  # per evaluation, all processes (grpo: completions)


def packed_rows(rows: float, tokens_per_row: float, max_length: int) -> int:
    """Rows after TRL's best-fit-decreasing packing ("bfd", SFTConfig's default): each map() batch of 1000 rows is
    binned on its own into rows of max_length tokens, longer rows truncated. Best fit leaves little room, so a batch
    of k rows becomes about ceil(k x tokens / max_length) packed rows (a few more when lengths do not tile)."""
    rows = int(round(rows))
    t = min(float(tokens_per_row), float(max_length))
    full, rest = divmod(rows, PACK_MAP_BATCH)

    def bins(k: int) -> int:
        return math.ceil(k * t / max_length - 1e-9) if k else 0

    return full * bins(PACK_MAP_BATCH) + bins(rest)


def padded_length(mean: float, max_length: float, sequences: int) -> float:
    """Tokens per sequence of an unpacked batch: each batch pads to its longest, the expected maximum of `sequences`
    lengths (mean x (1 + LENGTH_CV x z), z the expected largest of that many normal draws, Blom's formula), at most
    max_length."""
    mean = min(float(mean), float(max_length))
    if sequences <= 1:
        return mean
    z = statistics.NormalDist().inv_cdf((sequences - 0.375) / (sequences + 0.25))
    return min(float(max_length), mean * (1.0 + LENGTH_CV * z))


def eval_carve(rows: int, size: float) -> int:
    """Rows the scripts hold out for evaluation when the dataset has no test split (train_common.load_splits)."""
    if size <= 0 or rows < 4:
        return 0
    return max(1, int(round(size * rows))) if size < 1 else int(size)


def schedule(job: Job, processes: int) -> Schedule:
    """Optimiser steps and micro-batches as the trainer counts them (transformers' Trainer with TRL 1.16):

    - the dataloader's samples: packed rows for packed SFT (best-fit packing of the tokens into max_length rows),
      rows otherwise (pairs for dpo/reward, unpaired rows for kto), for grpo the completions of whole generation
      batches (TRL's RepeatSampler drops the prompts that do not fill one);
    - micro-batches per process and epoch: ceil(ceil(samples / per_device_train_batch_size) / processes) (accelerate
      shards the batches, even_batches); grpo: steps_per_generation per generation batch of per_device_train_batch_size
      x processes x steps_per_generation completions (num_generations per prompt);
    - optimiser steps per epoch: ceil(micro-batches / gradient_accumulation_steps); in all
      ceil(num_train_epochs x that), or max_steps;
    - evaluations every save_steps optimiser steps over the eval rows (per_device_eval_batch_size = the train batch)."""
    p = max(1, int(processes))
    b, ga = job.per_device_train_batch_size, job.gradient_accumulation_steps
    rows = int(round(job.train_rows))
    seq = min(job.mean_seq_len, float(job.max_length))
    rounds_per_epoch = completions = prompts_per_round = 0
    if job.method == "grpo":
        s = job.steps_per_generation or ga
        generation_batch = b * p * s
        if generation_batch % job.num_generations:
            raise EstimateError(
                f"The generation batch (per_device_train_batch_size {b} x {p} process(es) x steps_per_generation {s} "
                f"= {generation_batch} completions) is not a multiple of num_generations {job.num_generations}: TRL "
                "refuses it. Change per_device_train_batch_size, gradient_accumulation_steps or num_generations.")
        prompts_per_round = generation_batch // job.num_generations
        rounds_per_epoch = rows // prompts_per_round
        if rounds_per_epoch == 0 and not job.max_steps:
            raise EstimateError(f"{rows} prompts do not fill one generation batch of {prompts_per_round} prompts "
                                f"({generation_batch} completions / num_generations {job.num_generations}): the "
                                "trainer would have nothing to train on. Use more prompts or a smaller batch.")
        samples = rounds_per_epoch * generation_batch
        per_epoch = rounds_per_epoch * s
        completions = b * s
        sequences = b
        tokens = padded_length(job.mean_prompt_len, job.max_length, b) + job.max_completion_length
    else:
        pairs = 2 if job.method in ("dpo", "reward") else 1
        if job.method == "sft" and job.packing:
            samples = packed_rows(rows, seq, job.max_length)
            tokens = rows * seq / samples if samples else seq  # the mean fill of a packed row; padding-free
        else:
            samples = rows
            tokens = padded_length(seq, job.max_length, b * pairs)
        sequences = b * pairs
        per_epoch = math.ceil(math.ceil(samples / b) / p)
    steps_per_epoch = max(1, math.ceil(per_epoch / ga))
    steps = int(job.max_steps) if job.max_steps else math.ceil(job.num_train_epochs * steps_per_epoch - 1e-9)
    full, rest = divmod(steps, steps_per_epoch)
    micro = full * per_epoch + min(rest * ga, per_epoch)
    if job.max_steps and per_epoch == 0:  # too little data for one batch: each step still runs its accumulation
        micro = steps * ga
    rounds = math.ceil(micro / (job.steps_per_generation or ga)) if job.method == "grpo" else 0
    evaluations = steps // max(1, job.save_steps) if job.eval_rows else 0
    eval_samples = int(round(job.eval_rows))
    if job.method == "sft" and job.packing:
        eval_samples = packed_rows(eval_samples, seq, job.max_length)
    elif job.method == "grpo":
        eval_samples *= job.num_generations
    return Schedule(samples_per_epoch=samples, micro_batches_per_epoch=per_epoch, optimizer_steps=steps,
                    micro_batches=micro, sequences_per_micro_batch=sequences, tokens_per_sequence=tokens,
                    generation_rounds=rounds, completions_per_round=completions, prompts_per_round=prompts_per_round,
                    evaluations=evaluations, eval_micro_batches=math.ceil(math.ceil(eval_samples / b) / p),
                    eval_sequences=eval_samples)


def job_for_devices(job: Job, devices: int) -> Job:
    """The job with the tokens its schedule computes on `devices` processes: every micro-batch of every process,
    padding included, and the span attention works over (a packed row, or a padded batch)."""
    sched = schedule(job, devices)
    p = max(devices, 1)
    sequences = float(sched.micro_batches * p * sched.sequences_per_micro_batch)
    if job.method == "grpo":
        prompts = float(sched.generation_rounds * sched.prompts_per_round)
        return replace(job, num_sequences=prompts, train_tokens=sequences * sched.tokens_per_sequence,
                       attention_span=sched.tokens_per_sequence)
    per_row = 2.0 if job.method in ("dpo", "reward") else 1.0
    return replace(job, num_sequences=sequences / per_row, train_tokens=sequences * sched.tokens_per_sequence,
                   attention_span=sched.tokens_per_sequence)


def fsdp_bytes_per_micro_step(job: Job, gpus: int, backward: bool = True) -> float:
    """Bytes each GPU sends per micro-batch under FSDP2 (ring collectives move (N-1)/N of the full tensor per GPU):
    the parameters all-gathered in forward and again in backward (reshard after forward), the reference model's
    parameters once (its forward), and the trainable gradients reduce-scattered. FSDP communicates on every
    micro-batch, gradient accumulation included; an evaluation micro-batch gathers the weights once (forward only)."""
    m = job.model
    wb = param_bytes(job, True)
    weights = m.num_params * wb
    grads = lora_params(m, job.lora_r, job.lora_target_modules) * 4.0 if job.use_peft else weights
    reference = weights if has_reference_copy(job) else 0.0
    total = (2.0 * weights + grads + reference) if backward else (weights + reference)
    return total * (gpus - 1) / gpus


def decode_step_seconds(job: Job, dev: Device, in_flight: int, use_vllm: bool) -> float:
    """One decoding step for `in_flight` sequences: every weight is read once (bandwidth-bound), unless the batch is
    large enough to be compute-bound; HF generate pays a per-step floor of kernel launches and Python."""
    m = job.model
    bw_time = m.active_params * param_bytes(job, dev.on_gpu) / (dev.bandwidth_gbs * 1e9 * DECODE_BANDWIDTH_UTIL[use_vllm])
    compute_time = 2.0 * m.active_params * in_flight / (dev.peak_tflops * 1e12 * dev.mfu)
    floor = DECODE_STEP_FLOOR_S[use_vllm] if dev.on_gpu else 0.0
    return max(bw_time, compute_time, floor)


def vllm_problem(job: Job, dev: Device) -> str:
    """Why colocated vLLM cannot generate for `job` on `dev`, or "" when it can. vLLM takes
    vllm_gpu_memory_utilization of each GPU's memory for its own BF16 weights and KV cache; training keeps the rest."""
    if not dev.on_gpu:
        return "vLLM needs a CUDA GPU"
    if dev.name.startswith("t4"):
        return "the T4 has no BF16: vLLM is not planned there"
    share = job.vllm_gpu_memory_utilization
    total_gib = dev.memory_gib / USABLE_FRACTION
    weights_gib = job.model.num_params * 2.0 / GIB
    if weights_gib > 0.8 * share * total_gib:
        return (f"vLLM's share ({share:g} of {total_gib:.0f} GiB) cannot hold the {weights_gib:.1f} GiB of BF16 "
                "weights and a KV cache")
    training = sum(v for k, v in memory_breakdown(job, dev.devices, True).items() if k != "kv_cache") / GIB
    if training > dev.memory_gib - share * total_gib:
        return (f"training needs {training:.1f} GiB beside vLLM's {share * total_gib:.1f} GiB: it does not fit "
                f"{dev.memory_gib:.1f} GiB")
    return ""


def time_breakdown(job: Job, dev: Device) -> dict[str, float]:
    """Seconds by phase on `dev`: start-up, model download, training compute, evaluation, FSDP communication, GRPO
    rollouts (and vLLM's start and weight hand-over), upload. Compute, communication and rollouts are charged per
    micro-batch and generation round that the trainer runs (schedule)."""
    m = job.model
    job = job_for_devices(job, dev.devices)
    sched = schedule(job, dev.devices)
    flops = sum(training_flops(job).values())
    scaling = MULTI_GPU_EFFICIENCY[dev.gpu_class] ** math.log2(dev.devices) if dev.devices > 1 else 1.0
    rate = dev.peak_tflops * 1e12 * dev.mfu * dev.devices * scaling
    parts = {"startup": dev.startup_s}
    weight_bytes = m.num_params * 2.0
    if not dev.local:
        parts["model_download"] = weight_bytes / DOWNLOAD_BYTES_PER_S
    parts["training"] = flops / rate
    if dev.step_overhead_s:
        parts["training"] += sched.micro_batches * dev.step_overhead_s
    if sched.evaluations:
        # Scoring is a forward pass (2N per token, plus the reference model's for dpo/kto) over the eval rows.
        forwards = 2.0 if job.method in ("dpo", "kto") and not job.precompute_ref_log_probs else 1.0
        attn = _attention_flops_per_token(m, sched.tokens_per_sequence) / 3.0
        per_eval = (sched.eval_micro_batches * dev.devices * sched.sequences_per_micro_batch
                    * sched.tokens_per_sequence * forwards * (2.0 * m.active_params + attn))
        seconds = sched.evaluations * (per_eval / rate + sched.eval_micro_batches * dev.step_overhead_s)
        if job.method == "grpo":  # evaluation generates num_generations completions per eval prompt
            seconds += (sched.evaluations * sched.eval_micro_batches * job.max_completion_length
                        * decode_step_seconds(job, dev, job.per_device_train_batch_size, job.use_vllm))
        parts["evaluation"] = seconds
    if job.fsdp and dev.devices > 1 and dev.on_gpu:
        sent = (sched.micro_batches * fsdp_bytes_per_micro_step(job, dev.devices)
                + sched.evaluations * sched.eval_micro_batches * fsdp_bytes_per_micro_step(job, dev.devices, False))
        communication = sent / (dev.interconnect_gbs * 1e9 * COLLECTIVE_EFFICIENCY.get(dev.interconnect, 0.6))
        compute = parts["training"] + parts.get("evaluation", 0.0)
        parts["fsdp_communication"] = max(communication * (1.0 - FSDP_OVERLAP), communication - compute)
    if job.method == "grpo":
        # Each generation round, every process decodes its per_device_train_batch_size x steps_per_generation
        # completions together, max_completion_length steps (every completion assumed to run to the limit).
        per_round = job.max_completion_length * decode_step_seconds(job, dev, sched.completions_per_round,
                                                                    job.use_vllm)
        parts["rollout_generation"] = sched.generation_rounds * per_round
        if job.use_vllm and dev.on_gpu:
            parts["vllm_startup"] = VLLM_STARTUP_S
            sync = weight_bytes / (dev.bandwidth_gbs * 1e9 * 0.3) + VLLM_SYNC_OVERHEAD_S
            parts["vllm_weight_sync"] = sched.generation_rounds * sync
    if job.push_to_hub and not dev.local:
        upload = lora_params(m, job.lora_r, job.lora_target_modules) * 4.0 if job.use_peft else weight_bytes
        parts["upload"] = upload / UPLOAD_BYTES_PER_S
    return parts


STEP_PARTS = ("training", "fsdp_communication", "rollout_generation", "vllm_weight_sync")  # what a step's time holds


# ---------------------------------------------------------------------------------------------------------------
# Fit, verdict and the table over flavors
# ---------------------------------------------------------------------------------------------------------------
# A change is a flag of the training scripts (runtime/train_common.py add_common_arguments): the estimator offers
# nothing the scripts cannot do, and the flags it names are exactly what `train` appends to the job's arguments.
FSDP_METHODS = ("sft", "dpo", "reward", "kto")  # GRPO shards too, but generates through the gathered layers: never proposed


@dataclass(frozen=True)
class Change:
    """One change to a job: what a person reads, and the script arguments that make it."""

    kind: str  # ckpt, fsdp, optim, batch, qlora (one value per kind: a later batch replaces an earlier one)
    label: str
    script_args: tuple[str, ...]


def _chain(job: Job, dev: Device, fsdp: bool) -> list[tuple[list[Change], Job]]:
    """Changes tried in order, cheapest in speed first; each step is (the changes so far, the changed job).

    Two chains for a multi-GPU flavor: sharding (--fsdp) or data parallel with an 8-bit optimizer and, for LoRA,
    a 4-bit base. They never mix: bitsandbytes' 8-bit optimizers and 4-bit weights are not FSDP2 (DTensor) aware
    (bitsandbytes issues #89 and #1633), and the scripts do not combine them."""
    steps: list[tuple[list[Change], Job]] = []
    made: dict[str, Change] = {}
    current = job

    def step(change: Change, changed: Job) -> Job:
        made[change.kind] = change
        steps.append((list(made.values()), changed))
        return changed

    if not current.activation_checkpointing:
        current = step(Change("ckpt", "activation_checkpointing=True", ("--activation_checkpointing",)),
                       replace(current, activation_checkpointing=True))
    if fsdp:
        current = step(Change("fsdp", f"fsdp=True (FSDP2 shards weights, gradients and optimizer state over the "
                              f"{dev.devices} GPUs)", ("--fsdp",)), replace(current, fsdp=True))
    elif (current.optim in ("adamw_torch", "adamw_torch_fused") and not current.use_peft and not current.fsdp
          and dev.on_gpu):
        current = step(Change("optim", "optim=adamw_bnb_8bit", ("--optim", "adamw_bnb_8bit")),
                       replace(current, optim="adamw_bnb_8bit"))
    effective = current.per_device_train_batch_size * current.gradient_accumulation_steps
    batch = current.per_device_train_batch_size
    while batch > 1:
        batch //= 2
        accumulation = max(1, effective // batch)
        current = step(Change("batch", f"per_device_train_batch_size={batch} with gradient_accumulation_steps="
                              f"{accumulation} (same effective batch)",
                              ("--per_device_train_batch_size", str(batch), "--gradient_accumulation_steps",
                               str(accumulation))),
                       replace(current, per_device_train_batch_size=batch, gradient_accumulation_steps=accumulation))
    if current.use_peft and not current.load_in_4bit and not current.fsdp and dev.on_gpu:
        current = step(Change("qlora", "load_in_4bit=True (QLoRA)", ("--load_in_4bit",)),
                       replace(current, load_in_4bit=True))
    return steps


def _changes(job: Job, dev: Device) -> list[list[tuple[list[Change], Job]]]:
    """The chains of changes worth trying on `dev`: sharding first on a multi-GPU flavor, data parallel always (the
    faster of the two that fits wins). CPU machines get checkpointing and smaller batches only (no bitsandbytes)."""
    chains = [_chain(job, dev, False)]
    if dev.on_gpu and dev.devices > 1 and not job.fsdp and not job.load_in_4bit and job.method in FSDP_METHODS:
        chains.insert(0, _chain(job, dev, True))
    return chains


def _chain_args(changes: list[Change]) -> list[str]:
    return [arg for change in changes for arg in change.script_args]


@dataclass
class FlavorEstimate:
    flavor: str
    gpu: str
    verdict: str  # "fits", "fits with changes", "does not fit"
    changes: list[str]
    memory_gib: float  # per device, with the changes applied
    memory_available_gib: float
    memory_parts_gib: dict[str, float]
    hours: float
    cost_usd: float
    price_per_hour: float
    time_parts_s: dict[str, float]
    within_time_limit: bool = True
    note: str = ""
    script_args: list[str] = field(default_factory=list)  # the flags that make `changes`, for the training script
    parallelism: str = ""  # "single device", "DDP over N GPUs" or "FSDP over N GPUs"
    baseline_eval_s: float = 0.0  # what --eval_baseline adds (base model before, fine-tuned model after)
    optimizer_steps: int = 0  # the trainer's global_step at the end (schedule)
    micro_batches: int = 0  # per GPU (process), over the run
    seconds_per_step: float = 0.0  # training, communication and rollouts per optimiser step
    generation: dict = field(default_factory=dict)  # grpo: rollouts with transformers' generate and with vLLM


# The training scripts' evaluation defaults (--max_eval_samples, --num_samples, --max_new_tokens; a copy for this file
# when it runs alone, checked against the scripts' parsers by tests/test_script_defaults.py).
EVAL_DEFAULTS: dict[str, int] = {"max_eval_samples": 200, "num_samples": 5, "max_new_tokens": 128}
EVAL_BATCH = 8  # evaluation.py's generation batch


def baseline_eval_seconds(job: Job, dev: Device, eval_rows: int = EVAL_DEFAULTS["max_eval_samples"],
                          generations: int = EVAL_DEFAULTS["num_samples"],
                          max_new_tokens: int = EVAL_DEFAULTS["max_new_tokens"]) -> float:
    """What --eval_baseline adds to a run: twice (base model before training, fine-tuned model after) a forward pass
    over `eval_rows` held-out rows plus `generations` greedy generations of `max_new_tokens` tokens. Scoring is a
    forward pass (2N FLOPs per token, at the card's MFU); decoding reads every weight once per generated position,
    so it is bandwidth-bound as GRPO's rollouts are. Runs on the main process only."""
    m = job.model
    forward = eval_rows * job.mean_seq_len * 2.0 * m.active_params / (dev.peak_tflops * 1e12 * dev.mfu)
    batch = max(1, min(EVAL_BATCH, generations))
    bytes_per_step = m.active_params * param_bytes(job, dev.on_gpu)
    bw_time = bytes_per_step / (dev.bandwidth_gbs * 1e9 * DECODE_BANDWIDTH_UTIL[False])
    compute_time = 2.0 * m.active_params * batch / (dev.peak_tflops * 1e12 * dev.mfu)
    floor = DECODE_STEP_FLOOR_S[False] if dev.on_gpu else 0.0
    decode = math.ceil(generations / batch) * max_new_tokens * max(bw_time, compute_time, floor)
    return 2.0 * (forward + decode)


def _fits(job: Job, dev: Device) -> tuple[bool, dict[str, float]]:
    parts = memory_breakdown(job, dev.devices, dev.on_gpu, dev.bf16)
    return sum(parts.values()) / GIB <= dev.memory_gib, parts


def uncalibrated_note(flavor: Flavor, facts: ModelFacts, profile: LocalProfile) -> str:
    """Why a CPU row's time cannot be trusted for this model, or "" when the profile covers its size."""
    if flavor.is_gpu or facts.num_params <= CPU_CALIBRATION_MARGIN * profile.max_params_measured:
        return ""
    measured = profile.max_params_measured / 1e6
    return (f"not calibrated for this size: CPU profile measured up to {measured:.0f}M parameters, trusted to "
            f"{measured * CPU_CALIBRATION_MARGIN:.0f}M")


def estimate_flavor(job: Job, flavor: Flavor, profile: LocalProfile, local: bool = False) -> FlavorEstimate:
    dev = device_for(flavor, job, profile, local)
    gpu = f"{flavor.gpu_count}x {flavor.gpu_model}" if flavor.is_gpu else f"CPU ({flavor.vcpus} vCPU)"
    if flavor.is_gpu and not flavor.spec:
        return FlavorEstimate(flavor.name, gpu, "does not fit", [], 0.0, 0.0, {}, 0.0, 0.0, flavor.price_per_hour,
                              {}, False, f"no datasheet for GPU model {flavor.gpu_model!r}: not estimated")
    problem = precision_problem(job, dev.on_gpu, dev.bf16)
    if problem:  # a --precision the scripts refuse on this device (runtime/precision.py): never recommended
        return FlavorEstimate(flavor.name, gpu, "does not fit", [], 0.0, round(dev.memory_gib, 2), {}, 0.0, 0.0,
                              flavor.price_per_hour, {}, False, problem)
    if job.activation_checkpointing is None:  # the scripts' default: on for GPUs, off on CPU
        job = replace(job, activation_checkpointing=dev.on_gpu)
    note = uncalibrated_note(flavor, job.model, profile)
    if job.fsdp and (dev.devices < 2 or not dev.on_gpu):
        note = "--fsdp needs several GPUs: the scripts refuse it on a one-device machine"
    if not dev.on_gpu:
        job = replace(job, load_in_4bit=False, fsdp=False)
    chosen, changes, verdict = job, [], "fits"
    fits, parts = _fits(job, dev)
    if not fits:
        verdict = "does not fit"
        options = []
        for chain in _changes(job, dev):
            for made, changed in chain:
                ok, changed_parts = _fits(changed, dev)
                if ok:
                    hours = sum(time_breakdown(changed, device_for(flavor, changed, profile, local)).values())
                    quantized = any(c.kind == "qlora" for c in made)
                    options.append((quantized, hours, len(made), made, changed, changed_parts))
                    break
        if options:
            # QLoRA changes what is trained (a 4-bit base): the last resort. Otherwise the fastest option wins.
            _, _, _, changes, chosen, parts = min(options, key=lambda o: o[:3])
            verdict = "fits with changes"
    # Changes such as QLoRA alter the speed too: time the job as it will run.
    chosen_dev = device_for(flavor, chosen, profile, local)
    times = time_breakdown(chosen, chosen_dev)
    seconds = sum(times.values())
    sched = schedule(chosen, chosen_dev.devices)
    generation = grpo_generation(chosen, chosen_dev, flavor.price_per_hour) if chosen.method == "grpo" else {}
    billed_minutes = math.ceil(seconds / 60.0)
    sharded = chosen.fsdp and dev.devices > 1 and dev.on_gpu
    parallelism = (f"FSDP over {dev.devices} GPUs" if sharded else f"DDP over {dev.devices} GPUs"
                   if dev.devices > 1 else "single device")
    return FlavorEstimate(
        flavor=flavor.name, gpu=gpu, verdict=verdict, changes=[c.label for c in changes],
        memory_gib=round(sum(parts.values()) / GIB, 2), memory_available_gib=round(dev.memory_gib, 2),
        memory_parts_gib={k: round(v / GIB, 3) for k, v in parts.items()},
        hours=seconds / 3600.0, cost_usd=billed_minutes / 60.0 * flavor.price_per_hour,
        price_per_hour=flavor.price_per_hour, time_parts_s={k: round(v, 1) for k, v in times.items()},
        note=note or (generation.get("vllm_problem", "") if chosen.use_vllm else ""),
        script_args=_chain_args(changes),
        parallelism=parallelism,
        baseline_eval_s=round(baseline_eval_seconds(chosen, chosen_dev), 1),
        optimizer_steps=sched.optimizer_steps, micro_batches=sched.micro_batches,
        seconds_per_step=round(sum(times.get(k, 0.0) for k in STEP_PARTS) / max(sched.optimizer_steps, 1), 4),
        generation=generation,
    )


def grpo_generation(job: Job, dev: Device, price_per_hour: float) -> dict:
    """GRPO's rollouts priced both ways on `dev`: transformers' generate and vLLM colocated (the script's
    --use_vllm), the hours and cost of the whole job with each, and why vLLM cannot run where it cannot."""
    out: dict = {"priced_with": "vllm" if job.use_vllm else "generate"}
    for use_vllm in (False, True):
        key = "vllm" if use_vllm else "generate"
        changed = replace(job, use_vllm=use_vllm)
        problem = vllm_problem(changed, dev) if use_vllm else ""
        if problem:
            out["vllm_problem"] = problem
            continue
        times = time_breakdown(changed, dev)
        seconds = sum(times.values())
        out[f"{key}_hours"] = round(seconds / 3600.0, 3)
        out[f"{key}_cost_usd"] = round(math.ceil(seconds / 60.0) / 60.0 * price_per_hour, 2)
        out[f"{key}_rollout_s"] = round(times.get("rollout_generation", 0.0) + times.get("vllm_startup", 0.0)
                                        + times.get("vllm_weight_sync", 0.0), 1)
    return out


def timeout_for(seconds: float) -> str:
    """A job timeout with a 25% buffer, rounded up, never below 10 minutes, in the form HF Jobs reads ("90m", "5h")."""
    minutes = timeout_seconds(seconds) // 60
    if minutes <= 180:
        return f"{minutes}m"
    return f"{math.ceil(minutes / 60)}h"


def recommend(rows: list[FlavorEstimate], max_hours: float | None) -> FlavorEstimate | None:
    """The cheapest row that fits (with or without changes) within the time limit; ties go to the faster."""
    for row in rows:
        row.within_time_limit = max_hours is None or row.hours <= max_hours
    candidates = [r for r in rows if r.verdict != "does not fit" and r.within_time_limit and r.price_per_hour > 0
                  and not r.note]  # a note says the row is not estimated or not calibrated
    if not candidates:
        return None
    return min(candidates, key=lambda r: (round(r.cost_usd, 2), r.verdict != "fits", r.hours))


def check_flavor_name(name: str, catalog: Catalog) -> Flavor:
    """The flavor called `name`, or an EstimateError that quotes it, suggests close names and lists the valid ones."""
    flavor = catalog.get(str(name).strip())
    if flavor:
        return flavor
    hint = suggest(str(name), catalog.names())
    did_you_mean = f" Did you mean {' or '.join(repr(h) for h in hint)}?" if hint else ""
    raise EstimateError(f"Unknown hardware flavor {name!r}.{did_you_mean} Available flavors ({catalog.source}, "
                        f"{catalog.as_of}): {', '.join(catalog.names())}. See `hf-trainer hardware`.")


# ---------------------------------------------------------------------------------------------------------------
# From a request (TRL's names, as a plain dict) to the result (a plain dict; estimate.py wraps both in pydantic)
# ---------------------------------------------------------------------------------------------------------------
DEFAULT_MAX_HOURS = 24.0
# None: the default of the method's training script (METHOD_DEFAULTS below), resolved in build_job.
REQUEST_DEFAULTS: dict[str, object] = {
    "model_name_or_path": None, "num_params": None, "method": "sft", "num_rows": None, "mean_tokens_per_row": None,
    "total_tokens": None, "max_steps": None, "num_train_epochs": None, "max_length": None,
    "per_device_train_batch_size": None, "gradient_accumulation_steps": None, "activation_checkpointing": True,
    "use_peft": False, "lora_r": None, "lora_target_modules": "all-linear", "load_in_4bit": False,
    "optim": "adamw_torch_fused", "fsdp": False, "precompute_ref_log_probs": False, "beta": None, "precision": "auto",
    "num_generations": None, "max_completion_length": None, "use_vllm": False, "push_to_hub": True, "flavors": None,
    "max_hours": DEFAULT_MAX_HOURS, "local": False, "packing": None, "eval_split_size": None, "save_steps": None,
    "steps_per_generation": None, "vllm_gpu_memory_utilization": None, "eval_rows": None,
    "num_rows_exact": True,
    # read by estimate.run_estimate (dataset_inspect fills num_rows and mean_tokens_per_row), not by the math
    "dataset_name": None, "dataset_config": None, "dataset_train_split": None,
}
# The training scripts' own defaults, for this file when it runs alone (scripts/estimate_cost.py on HF Jobs). The
# library reads them from the scripts' parsers (hf_trainer.script_defaults); tests/test_script_defaults.py fails when
# this copy drifts from them. per_device_train_batch_size None: train_sft.py picks the batch shape at run time
# (resolve_batch_shape below mirrors it).
_COMMON_DEFAULTS: dict[str, object] = {"num_train_epochs": 1.0, "max_length": 2048, "per_device_train_batch_size": 4,
                                       "gradient_accumulation_steps": 4, "lora_r": 16, "eval_split_size": 0.05,
                                       "save_steps": 100}
METHOD_DEFAULTS: dict[str, dict[str, object]] = {
    "sft": {**_COMMON_DEFAULTS, "per_device_train_batch_size": None, "packing": True},
    "dpo": {**_COMMON_DEFAULTS, "max_length": 1024, "beta": 0.1},
    "grpo": {**_COMMON_DEFAULTS, "beta": 0.0, "num_generations": 8, "max_completion_length": 256,
             "eval_split_size": 0.0, "vllm_gpu_memory_utilization": 0.3},
    "reward": {**_COMMON_DEFAULTS, "max_length": 1024},
    "kto": {**_COMMON_DEFAULTS, "max_length": 1024, "beta": 0.1},
}
# Request fields the scripts default; the others (flavors, max_hours, push_to_hub, ...) are the estimator's own.
SCRIPT_FIELDS = ("num_train_epochs", "max_length", "per_device_train_batch_size", "gradient_accumulation_steps",
                 "lora_r", "beta", "num_generations", "max_completion_length", "packing", "eval_split_size",
                 "save_steps", "steps_per_generation", "vllm_gpu_memory_utilization")


def resolve_batch_shape(method: str, batch: int | None, accumulation: int, packing: bool = True) -> tuple[int, int]:
    """The batch shape the script trains with. train_sft.py leaves --per_device_train_batch_size unset by default and
    packs without a varlen attention kernel (flash-attn is not among its dependencies): 1 packed row per micro-batch
    and 4x the accumulation, the same tokens per optimiser step (its resolve_batch_shape); without packing, 4 rows."""
    if batch is not None:
        return int(batch), int(accumulation)
    if method == "sft" and packing:
        return 1, int(accumulation) * 4
    return 4, int(accumulation)


def with_method_defaults(p: dict) -> dict:
    """The request with every unset (None) script field taken from the method's script defaults."""
    p = {**REQUEST_DEFAULTS, **{k: v for k, v in p.items() if v is not None}}
    defaults = METHOD_DEFAULTS.get(str(p["method"]), _COMMON_DEFAULTS)
    for key in SCRIPT_FIELDS:
        if p.get(key) is None:
            p[key] = defaults.get(key)
    return p


ASSUMPTIONS = [
    "FLOPs: 6N per token for full training, 4N for LoRA (no weight gradients for the frozen base), +2N with "
    "activation checkpointing, + PaLM's attention term; preference methods add the reference forward (2N)",
    "utilisation (MFU): A100 0.45, H200 0.40, L40S/A10G/RTX PRO 6000 0.38, L4 0.30, T4 0.28 for full training; "
    "x0.83 for LoRA, x0.70 for QLoRA, x(N/1B)^0.25 below 1B parameters (see references/hardware_guide.md)",
    "multi-GPU: data parallel (DDP, the whole model on every GPU), 92% scaling per doubling on A100/H200, 85% on PCIe "
    "cards; with --fsdp, weights, gradients and optimizer state divided over the GPUs plus two gathered layers and "
    "the root unit, and per micro-batch 2 all-gathers of the weights + 1 reduce-scatter of the gradients over NVLink "
    "(A100, H200) or PCIe (others) at 75%/60% of the link, 70% hidden behind compute",
    "CPU rows: trusted up to 2x the largest model the CPU profile was measured on, never recommended above it",
    memory_assumption(),
    "start-up 150 s (image and dependencies), model download 150 MB/s, Hub upload 80 MB/s",
    "cost: billed per minute, rounded up; timeout = estimate x 1.25, at least 10 minutes",
]


def build_job(facts: ModelFacts, p: dict) -> tuple[Job, list[str], list[str]]:
    """The Job (work in tokens, on one GPU) for a request, with the assumptions made on the way and the warnings for
    figures it assumed instead of measuring (each says how to give the real one)."""
    notes: list[str] = []
    warnings: list[str] = []
    method = str(p.get("method") or "sft")
    if method not in METHODS:
        raise EstimateError(f"method {method!r} is not one of {', '.join(METHODS)}")
    p = with_method_defaults(p)
    pairs = method in ("dpo", "reward")
    for key in ("num_rows", "total_tokens", "max_steps", "mean_tokens_per_row"):
        if p.get(key) is not None and float(p[key]) <= 0:
            raise EstimateError(f"{key}={p[key]!r} must be positive")
    if float(p["num_train_epochs"]) <= 0:
        raise EstimateError(f"num_train_epochs={p['num_train_epochs']!r} must be positive")
    if p["load_in_4bit"] and not p["use_peft"]:
        raise EstimateError("load_in_4bit=True needs use_peft=True: a 4-bit base can only be trained through a LoRA "
                            "adapter (QLoRA). Add use_peft=True or drop load_in_4bit.")
    if p["fsdp"] and method not in FSDP_METHODS:
        raise EstimateError(f"fsdp=True is not available for {method}: the training script refuses it. Drop fsdp "
                            "(data parallel over the GPUs) or use LoRA/QLoRA on one GPU.")
    if p["fsdp"] and p["load_in_4bit"]:
        raise EstimateError("fsdp=True with load_in_4bit=True is not something the scripts run (bitsandbytes' 4-bit "
                            "weights are not sharded by FSDP2). Use QLoRA on one GPU, or LoRA (use_peft) with fsdp.")
    max_length = int(p["max_length"])
    # mean_tokens_per_row is one sequence, as inspect_dataset measures it: for dpo/reward the prompt with the longer
    # response (a pair trains two such sequences), for grpo the prompt; total_tokens counts every sequence.
    per_row = 2 if pairs else 1
    mean = p["mean_tokens_per_row"]
    rows = p["num_rows"]
    if p["total_tokens"] and rows:
        mean = float(p["total_tokens"]) / float(rows) / per_row
    if rows is None and p["total_tokens"] and not p["max_steps"]:
        if mean is None:
            mean = float(min(max_length, 512))
            warnings.append(f"Assumed {mean:.0f} tokens per row to turn total_tokens into rows (the step count "
                            "depends on it): give num_rows too, or dataset_name to measure both.")
        rows = max(1, round(float(p["total_tokens"]) / float(mean) / per_row))
    if rows is None and not p["max_steps"]:
        raise EstimateError("The estimate needs the amount of data: num_rows and mean_tokens_per_row (from "
                            "inspect_dataset's token statistics), or total_tokens, or max_steps, or dataset_name.")
    if mean is None:
        mean = float(max_length)
        warnings.append(f"Assumed {max_length} tokens per row (max_length): the dataset's length was not measured. "
                        "Give mean_tokens_per_row (dataset_inspect's token_stats.mean) or dataset_name to measure it.")
    if rows and not p.get("num_rows_exact", True):
        warnings.append(f"The row count ({int(rows):,}) is an estimate from the file size: give num_rows for an exact "
                        "step count.")
    mean = float(mean)
    completion = int(p["max_completion_length"] or 0)  # grpo only
    if method == "grpo":
        prompt = min(mean, float(max_length))
        seq = prompt + completion
        warnings.append(f"Assumed every GRPO completion runs to max_completion_length ({completion} tokens), an upper "
                        "bound: lower --max_completion_length towards the completions' real length for a closer "
                        "estimate.")
    else:
        prompt, seq = 0.0, min(mean, float(max_length))  # truncated at max_length
    # The scripts carve an eval split from the training rows (--eval_split_size) when the dataset has none.
    eval_rows = p.get("eval_rows")
    train_rows = int(rows or 0)
    if eval_rows is None:
        eval_rows = eval_carve(train_rows, float(p["eval_split_size"] or 0.0))
        train_rows -= int(eval_rows)
    beta = float(p["beta"] or 0.0)
    packing = bool(p["packing"]) if method == "sft" else False
    batch, accumulation = resolve_batch_shape(method, p["per_device_train_batch_size"],
                                              int(p["gradient_accumulation_steps"]), packing)
    generations = int(p["num_generations"] or 1)  # grpo only
    job = Job(
        model=facts, method=method, mean_seq_len=seq, max_length=max_length,
        per_device_train_batch_size=batch, gradient_accumulation_steps=accumulation,
        activation_checkpointing=None if p["activation_checkpointing"] is None else bool(p["activation_checkpointing"]),
        use_peft=bool(p["use_peft"]), fsdp=bool(p["fsdp"]),
        lora_r=int(p["lora_r"]), lora_target_modules=str(p["lora_target_modules"]),
        load_in_4bit=bool(p["load_in_4bit"]), optim=str(p["optim"]), precision=str(p["precision"] or "auto"),
        precompute_ref_log_probs=bool(p["precompute_ref_log_probs"]), beta=float(beta),
        num_generations=generations, max_completion_length=completion, mean_prompt_len=prompt,
        use_vllm=bool(p["use_vllm"]), push_to_hub=bool(p["push_to_hub"]),
        steps_per_generation=int(p["steps_per_generation"] or 0),
        vllm_gpu_memory_utilization=float(p["vllm_gpu_memory_utilization"] or 0.3),
        train_rows=float(train_rows), num_train_epochs=float(p["num_train_epochs"]),
        max_steps=int(p["max_steps"] or 0), packing=packing, eval_rows=float(eval_rows),
        save_steps=int(p["save_steps"] or 100),
    )
    schedule(job, 1)  # refuses a schedule the trainer would refuse (GRPO's generation batch)
    return job_for_devices(job, 1), notes, warnings


def _warnings(p: dict, facts: ModelFacts, catalog: Catalog, rows: list[FlavorEstimate],
              best: FlavorEstimate | None) -> list[str]:
    warnings = []
    if catalog.source == "fallback":
        warnings.append(f"Prices are the built-in fallback table of {catalog.as_of}: the Hub's hardware list could not "
                        "be fetched; check huggingface.co/pricing.")
    if facts.assumed:
        warnings.append("The model's architecture was guessed from its parameter count: activation memory is rough.")
    fitting = [r for r in rows if r.verdict != "does not fit"]
    if not fitting:
        hint = (" Try use_peft=True (LoRA) or load_in_4bit=True (QLoRA)." if not p["use_peft"] else
                " Try load_in_4bit=True, a shorter max_length or a smaller model.")
        warnings.append("The job fits no flavor as asked, even with the changes we try." + hint)
    elif best is None:
        fastest = min(fitting, key=lambda r: r.hours)
        warnings.append(f"No flavor finishes within {p['max_hours']:g} h; the fastest that fits is "
                        f"{fastest.flavor} at {fastest.hours:.1f} h. Raise max_hours, train on fewer tokens or use "
                        "LoRA.")
    if best and best.gpu.endswith("T4"):
        warnings.append("The T4 has no BF16: the scripts compute in FP16 there under a GradScaler (FP32 master "
                        "weights for full fine-tuning); slower, and models pretrained in BF16 can overflow in FP16.")
    if best and best.time_parts_s.get("training", 0) < 0.2 * best.hours * 3600:
        warnings.append("Training is under a fifth of the time: start-up, download and upload dominate this job.")
    return warnings


def _plan_summary(row: FlavorEstimate | None) -> dict | None:
    if row is None:
        return None
    return {"flavor": row.flavor, "hours": round(row.hours, 3), "cost_usd": round(row.cost_usd, 2),
            "timeout": timeout_for(row.hours * 3600), "optimizer_steps": row.optimizer_steps,
            "seconds_per_step": row.seconds_per_step, "script_args": list(row.script_args),
            "rollout_s": row.generation.get("vllm_rollout_s" if row.generation.get("priced_with") == "vllm"
                                            else "generate_rollout_s")}


def vllm_choice(job: Job, flavors: list[Flavor], profile: LocalProfile, rows: list[FlavorEstimate],
                best: FlavorEstimate | None, max_hours: float | None) -> dict:
    """GRPO planned both ways over the same flavors: with transformers' generate and with vLLM colocated (the
    script's --use_vllm, the job's `--with vllm`). vLLM pays when its cheapest plan costs less, or finishes in at most
    half the time for at most VLLM_EXTRA_COST_LIMIT (50%) more money."""
    other = replace(job, use_vllm=not job.use_vllm)
    other_rows = [estimate_flavor(other, f, profile) for f in flavors if f.is_gpu]
    other_best = recommend(other_rows, max_hours)
    with_vllm, without = (best, other_best) if job.use_vllm else (other_best, best)
    pays = with_vllm is not None and (without is None or with_vllm.cost_usd < without.cost_usd or (
        with_vllm.cost_usd <= (1 + VLLM_EXTRA_COST_LIMIT) * without.cost_usd and with_vllm.hours <= 0.5 * without.hours))
    if with_vllm is None:
        problems = sorted({r.generation.get("vllm_problem", "") for r in (rows + other_rows)} - {""})
        why = ("vLLM fits no flavor here" + (f" ({'; '.join(problems[:2])})" if problems else "") +
               ": rollouts use transformers' generate.")
    elif without is None:
        why = (f"vLLM pays: {with_vllm.flavor} with vLLM takes {with_vllm.hours:.2f} h (${with_vllm.cost_usd:.2f}); "
               f"with transformers' generate no flavor finishes within the time limit.")
    else:
        gen = without.generation.get("generate_rollout_s") or 0.0
        share = gen / max(without.hours * 3600.0, 1e-9)
        verdict = "vLLM pays" if pays else "vLLM does not pay"
        why = (f"{verdict}: {with_vllm.flavor} with vLLM {with_vllm.hours:.2f} h, ${with_vllm.cost_usd:.2f} against "
               f"{without.flavor} with transformers' generate {without.hours:.2f} h, ${without.cost_usd:.2f}. "
               f"Rollouts are {share:.0%} of the time with generate (bandwidth-bound decoding at "
               f"{DECODE_BANDWIDTH_UTIL[False]:.0%} of memory bandwidth, {DECODE_STEP_FLOOR_S[False] * 1000:.0f} ms per "
               f"token step at least); vLLM decodes at {DECODE_BANDWIDTH_UTIL[True]:.0%} with "
               f"{DECODE_STEP_FLOOR_S[True] * 1000:.0f} ms steps but adds {VLLM_STARTUP_S:.0f} s of start-up and a "
               f"weight hand-over per generation round, and takes {job.vllm_gpu_memory_utilization:g} of GPU memory.")
    return {"use_vllm": bool(pays), "why": why, "with_vllm": _plan_summary(with_vllm),
            "without_vllm": _plan_summary(without), "script_args": ["--use_vllm"] if pays else [],
            "dependencies": [VLLM_REQUIREMENT] if pays else []}


def estimate(p: dict, catalog: Catalog, facts: ModelFacts, profile: LocalProfile | None = None,
             local: Flavor | None = None) -> dict:
    """The whole estimate as a plain dict (the fields of estimate.EstimateResult). Pure: no network, no files."""
    p = with_method_defaults(p)
    profile = profile or LocalProfile()
    job, notes, assumed = build_job(facts, p)
    names = p["flavors"]
    flavors = [check_flavor_name(name, catalog) for name in names] if names else list(catalog.flavors)
    rows = [estimate_flavor(job, f, profile) for f in flavors]
    if p["local"] and local is not None:
        rows.append(estimate_flavor(job, local, profile, local=True))
    best = recommend(rows, p["max_hours"])
    vllm = vllm_choice(job, flavors, profile, rows, best, p["max_hours"]) if job.method == "grpo" else None
    base = job_for_devices(job, 1)
    if base.activation_checkpointing is None:
        base = replace(base, activation_checkpointing=True)  # the headline FLOPs: as on a GPU
    assumptions = list(ASSUMPTIONS) + notes + list(facts.assumed)
    if p["local"]:
        assumptions.append(f"local profile: {profile.gflops_per_vcpu:g} GFLOPS per vCPU at {profile.utilisation:g} "
                           f"utilisation, {profile.step_overhead_s:g} s per micro-step ({profile.source})")
    if p["max_hours"]:
        assumptions.append(f"time limit for the recommendation: {p['max_hours']:g} h")
    return {
        "model": {"num_params": facts.num_params, "num_active_params": facts.active_params,
                  "num_layers": facts.num_layers, "hidden_size": facts.hidden_size, "vocab_size": facts.vocab_size,
                  "dtype": facts.dtype, "source": facts.source,
                  "lora_params": lora_params(facts, job.lora_r, job.lora_target_modules) if job.use_peft else None},
        "method": job.method,
        "train_tokens": base.train_tokens,
        "training_flops": sum(training_flops(base).values()),
        "rows": [r.__dict__.copy() for r in rows],
        "recommended_flavor": best.flavor if best else None,
        "recommended_hours": round(best.hours, 3) if best else None,
        "recommended_cost_usd": round(best.cost_usd, 2) if best else None,
        "timeout": timeout_for(best.hours * 3600) if best else None,
        "changes": list(best.changes) if best else [],
        "script_args": list(best.script_args) if best else [],
        "catalog_source": f"{catalog.source} ({catalog.note or catalog.as_of})",
        "warnings": assumed + _warnings(p, facts, catalog, rows, best) + (
            [vllm["why"]] if vllm and vllm["use_vllm"] != bool(p["use_vllm"]) else []),
        "assumptions": assumptions,
        "optimizer_steps": best.optimizer_steps if best else None,
        "seconds_per_step": best.seconds_per_step if best else None,
        "vllm": vllm,
    }


def render_estimate(r: dict) -> str:
    """The estimate for people: a table over flavors, the recommendation, warnings and assumptions."""
    m = r["model"]
    lines = [f"Model: {m['num_params'] / 1e9:.3g}B parameters ({m['source']}); method {r['method']}"
             f"{' + LoRA' if m['lora_params'] else ''}; {r['train_tokens']:,.0f} training tokens, "
             f"{r['training_flops']:.3g} FLOPs.", "",
             "| Flavor | GPU | Fits | Memory/GPU (GiB) | Steps | s/step | Hours | Cost ($) |",
             "|---|---|---|---|---|---|---|---|"]
    for row in sorted(r["rows"], key=lambda x: (x["verdict"] == "does not fit", x["cost_usd"])):
        fits = row["verdict"]
        if row["changes"] and fits != "does not fit":
            fits += ": " + "; ".join(row["changes"])
        if row["note"]:
            fits += f" ({row['note']})"
        ok = fits != "does not fit" and not row["note"]
        hours = (f"{row['hours']:.2f}" + ("" if row["within_time_limit"] else " (over limit)")) if ok else "-"
        cost = f"{row['cost_usd']:.2f}" if ok else "-"
        if row.get("parallelism", "").startswith("FSDP") and "fsdp=True" not in fits:
            fits += " (FSDP)"
        steps = f"{row.get('optimizer_steps', 0):,}" if ok else "-"
        per_step = f"{row.get('seconds_per_step', 0.0):.2f}" if ok else "-"
        lines.append(f"| {row['flavor']} | {row['gpu']} | {fits} | {row['memory_gib']:.1f} / "
                     f"{row['memory_available_gib']:.1f} | {steps} | {per_step} | {hours} | {cost} |")
    lines.append("")
    if r["recommended_flavor"]:
        lines.append(f"Recommended: {r['recommended_flavor']}, about {r['recommended_hours']:.2f} h, "
                     f"${r['recommended_cost_usd']:.2f}; timeout {r['timeout']} (estimate + 25%).")
        if r["changes"]:
            lines.append(f"  with: {'; '.join(r['changes'])}")
            lines.append(f"  script arguments: {' '.join(r.get('script_args') or [])}")
    else:
        lines.append("Recommended: none - no flavor fits within the time limit (see warnings).")
    if r.get("vllm"):
        v = r["vllm"]
        how = (f"vLLM (--use_vllm; the job installs {', '.join(v['dependencies'])})" if v["use_vllm"]
               else "transformers' generate")
        lines.append(f"GRPO generation: {how}. {v['why']}")
    lines.append(f"Prices: {r['catalog_source']}.")
    if r["warnings"]:
        lines += ["", "Warnings:"] + [f"- {w}" for w in r["warnings"]]
    lines += ["", "Assumptions:"] + [f"- {a}" for a in r["assumptions"]]
    return "\n".join(lines)
# ===== end of generated runtime =====


if __name__ == "__main__":
    sys.exit(main(parse_args()))
