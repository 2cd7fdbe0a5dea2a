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

