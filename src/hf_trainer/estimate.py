"""estimate_cost: time, memory and money of a training job on every HF Jobs flavor, and which one to pick.

`estimate_cost(request, catalog, facts)` is pure (tests pass hand-made catalogs and model facts); `run_estimate()`
fetches what it needs first (model size from the Hub or a folder, the live flavor list). The physics lives in
estimate_math.py (standard library only, inlined into scripts/estimate_cost.py); references/hardware_guide.md
explains every formula and constant.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, replace
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from hf_trainer import paths
from hf_trainer.errors import UserError
from hf_trainer.estimate_math import (
    GIB,
    Catalog,
    Flavor,
    FlavorEstimate,
    Job,
    LocalProfile,
    ModelFacts,
    estimate_flavor,
    lora_params,
    recommend,
    timeout_for,
    training_flops,
)

Method = Literal["sft", "dpo", "grpo", "reward", "kto"]
Optim = Literal["adamw_torch", "adamw_torch_fused", "adamw_bnb_8bit", "paged_adamw_8bit", "adafactor", "sgd"]
DEFAULT_MAX_HOURS = 24.0
PROFILE_FILE = "local_profile.json"


class EstimateRequest(BaseModel):
    """What to estimate: the model, the data in tokens, the method and its settings (TRL's names and defaults of our
    training scripts)."""

    model_name_or_path: str | None = Field(None, description="Hub model id (e.g. 'Qwen/Qwen2.5-0.5B') or local folder; "
                                           "its size is read from safetensors metadata / config.json, never the name.")
    num_params: int | None = Field(None, ge=1, description="Parameter count, when the model cannot be read "
                                   "(overrides the count read from the model).")
    method: Method = Field("sft", description="sft, dpo, grpo, reward or kto.")
    num_rows: int | None = Field(None, ge=1, description="Training rows (pairs for dpo/reward, prompts for grpo).")
    mean_tokens_per_row: float | None = Field(None, gt=0, description="Mean tokens per row from inspect_dataset "
                                              "(dpo/reward: chosen + rejected, each with its prompt; grpo: the prompt).")
    total_tokens: int | None = Field(None, ge=1, description="Tokens per epoch, instead of rows x mean tokens.")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimiser steps (overrides epochs).")
    num_train_epochs: float = Field(1.0, gt=0, le=1000, description="Passes over the data.")
    max_length: int = Field(2048, ge=16, le=1_048_576, description="Tokens per sequence (truncation).")
    per_device_train_batch_size: int = Field(4, ge=1, le=4096)
    gradient_accumulation_steps: int = Field(4, ge=1, le=4096)
    activation_checkpointing: bool = Field(True, description="Recompute activations in backward (our GPU default).")
    use_peft: bool = Field(False, description="Train a LoRA adapter instead of all weights.")
    lora_r: int = Field(16, ge=1, le=4096)
    lora_target_modules: Literal["all-linear", "attention"] = Field("all-linear")
    load_in_4bit: bool = Field(False, description="QLoRA: 4-bit base model (with use_peft).")
    optim: Optim = Field("adamw_torch_fused")
    precompute_ref_log_probs: bool = Field(False, description="dpo/kto: reference log-probs computed beforehand.")
    beta: float | None = Field(None, ge=0, description="KL coefficient (TRL default: dpo/kto 0.1, grpo 0.0).")
    num_generations: int = Field(8, ge=1, le=1024, description="grpo: completions per prompt.")
    max_completion_length: int = Field(512, ge=1, le=1_048_576, description="grpo: tokens per completion.")
    use_vllm: bool = Field(False, description="grpo: generate with vLLM (much faster rollouts).")
    push_to_hub: bool = Field(True, description="Count the upload of the result to the Hub.")
    flavors: list[str] | None = Field(None, description="Only these flavors (default: every flavor on offer).")
    max_hours: float | None = Field(DEFAULT_MAX_HOURS, gt=0, description="Time limit for the recommendation.")
    local: bool = Field(False, description="Also estimate a run on this machine (the calibrated local profile).")


class FlavorRow(BaseModel):
    flavor: str
    gpu: str
    verdict: Literal["fits", "fits with changes", "does not fit"]
    changes: list[str] = Field(description="What to change for the job to fit (flags of the training scripts).")
    memory_gib: float = Field(description="Peak memory per device, with the changes applied.")
    memory_available_gib: float
    hours: float
    cost_usd: float
    price_per_hour: float
    within_time_limit: bool
    note: str = ""
    memory_parts_gib: dict[str, float]
    time_parts_s: dict[str, float]


class ModelSummary(BaseModel):
    num_params: int
    num_active_params: int
    num_layers: int
    hidden_size: int
    vocab_size: int
    dtype: str
    lora_params: int | None
    source: str


class EstimateResult(BaseModel):
    """Time, memory and cost per flavor, the recommendation and every assumption behind it."""

    model: ModelSummary
    method: str
    train_tokens: float = Field(description="Tokens the trainer processes over the whole run (1 GPU).")
    training_flops: float
    rows: list[FlavorRow]
    recommended_flavor: str | None
    recommended_hours: float | None
    recommended_cost_usd: float | None
    timeout: str | None = Field(description="Job timeout for the recommended flavor: estimate + 25%.")
    changes: list[str] = Field(description="Changes the recommended flavor needs.")
    catalog_source: str
    warnings: list[str]
    assumptions: list[str]

    def render(self) -> str:
        m = self.model
        lines = [f"Model: {m.num_params / 1e9:.3g}B parameters ({m.source}); method {self.method}"
                 f"{' + LoRA' if m.lora_params else ''}; {self.train_tokens:,.0f} training tokens, "
                 f"{self.training_flops:.3g} FLOPs.", "",
                 "| Flavor | GPU | Fits | Memory/GPU (GiB) | Hours | Cost ($) |", "|---|---|---|---|---|---|"]
        for r in sorted(self.rows, key=lambda r: (r.verdict == "does not fit", r.cost_usd)):
            fits = r.verdict + (f": {'; '.join(r.changes)}" if r.changes and r.verdict != "does not fit" else "")
            slow = "" if r.within_time_limit else " (over limit)"
            hours = f"{r.hours:.2f}{slow}" if r.verdict != "does not fit" else "-"
            cost = f"{r.cost_usd:.2f}" if r.verdict != "does not fit" else "-"
            lines.append(f"| {r.flavor} | {r.gpu} | {fits} | {r.memory_gib:.1f} / {r.memory_available_gib:.1f} | "
                         f"{hours} | {cost} |")
        lines.append("")
        if self.recommended_flavor:
            lines.append(f"Recommended: {self.recommended_flavor}, about {self.recommended_hours:.2f} h, "
                         f"${self.recommended_cost_usd:.2f}; timeout {self.timeout} (estimate + 25%).")
            if self.changes:
                lines.append(f"  with: {'; '.join(self.changes)}")
        else:
            lines.append("Recommended: none - no flavor fits within the time limit (see warnings).")
        lines.append(f"Prices: {self.catalog_source}.")
        if self.warnings:
            lines += ["", "Warnings:"] + [f"- {w}" for w in self.warnings]
        lines += ["", "Assumptions:"] + [f"- {a}" for a in self.assumptions]
        return "\n".join(lines)


def make_request(**kwargs: object) -> EstimateRequest:
    """An EstimateRequest from keyword arguments, with pydantic's complaints turned into one clear UserError."""
    try:
        return EstimateRequest(**{k: v for k, v in kwargs.items() if v is not None})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"])
            problems.append(f"{field}={error.get('input')!r}: {error['msg']}")
        raise UserError("Invalid estimate input: " + "; ".join(problems) + ".") from None


def load_profile() -> LocalProfile:
    """The local profile written by benchmarks/bench_estimate.py --save, else the built-in one."""
    path = paths.home() / PROFILE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return LocalProfile(**{k: v for k, v in data.items() if k in LocalProfile.__dataclass_fields__})
    except (OSError, ValueError, TypeError):
        return LocalProfile()


def local_flavor() -> Flavor:
    """This machine as a flavor: its vCPUs and RAM, no price."""
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    except (ValueError, OSError, AttributeError):
        ram = 8.0
    return Flavor("local", "This machine", os.cpu_count() or 1, round(ram, 1), 0.0)


def _beta(request: EstimateRequest) -> float:
    if request.beta is not None:
        return request.beta
    return {"dpo": 0.1, "kto": 0.1}.get(request.method, 0.0)


def build_job(request: EstimateRequest, facts: ModelFacts) -> tuple[Job, list[str]]:
    """The Job (work in tokens) for a request, with the assumptions made on the way."""
    notes: list[str] = []
    method = request.method
    pairs = method in ("dpo", "reward")
    if request.load_in_4bit and not request.use_peft:
        raise UserError("load_in_4bit=True needs use_peft=True: a 4-bit base can only be trained through a LoRA "
                        "adapter (QLoRA). Add use_peft=True or drop load_in_4bit.")
    mean = request.mean_tokens_per_row
    if request.total_tokens and request.num_rows:
        mean = request.total_tokens / request.num_rows
    rows = request.num_rows
    if request.max_steps:
        rows = None  # decided per flavor from max_steps
    elif rows is None and request.total_tokens:
        if mean is None:
            mean = float(min(request.max_length * (2 if pairs else 1), 512 * (2 if pairs else 1)))
            notes.append(f"num_rows unknown: assumed {mean:.0f} tokens per row to count optimiser steps")
        rows = max(1, round(request.total_tokens / mean))
    if rows is None and not request.max_steps:
        raise UserError("The estimate needs the amount of data: num_rows and mean_tokens_per_row (from "
                        "inspect_dataset's token statistics), or total_tokens, or max_steps.")
    if mean is None:
        mean = float(request.max_length * (2 if pairs else 1))
        notes.append(f"mean_tokens_per_row unknown: assumed max_length ({request.max_length}) tokens per sequence")
    # Tokens per training sequence, truncated at max_length (DPO/reward rows hold two sequences).
    per_sequence = min(mean / 2 if pairs else mean, float(request.max_length))
    if method == "grpo":
        prompt = min(mean, float(request.max_length))
        seq = prompt + request.max_completion_length
        notes.append(f"grpo: every completion runs to max_completion_length ({request.max_completion_length} tokens), "
                     "an upper bound")
    else:
        prompt, seq = 0.0, per_sequence
    epochs = request.num_train_epochs
    sequences = (rows or 0) * epochs
    tokens_per_row = seq * (request.num_generations if method == "grpo" else 2 if pairs else 1)
    job = Job(
        model=facts, method=method, train_tokens=sequences * tokens_per_row, num_sequences=sequences,
        mean_seq_len=seq, max_length=request.max_length,
        per_device_train_batch_size=request.per_device_train_batch_size,
        gradient_accumulation_steps=request.gradient_accumulation_steps,
        activation_checkpointing=request.activation_checkpointing, use_peft=request.use_peft, lora_r=request.lora_r,
        lora_target_modules=request.lora_target_modules, load_in_4bit=request.load_in_4bit, optim=request.optim,
        precompute_ref_log_probs=request.precompute_ref_log_probs, beta=_beta(request),
        num_generations=request.num_generations, max_completion_length=request.max_completion_length,
        mean_prompt_len=prompt, use_vllm=request.use_vllm, push_to_hub=request.push_to_hub,
    )
    return job, notes


def _for_devices(job: Job, request: EstimateRequest, devices: int) -> Job:
    """With max_steps the data seen grows with the GPUs (each takes its own batch per step)."""
    if not request.max_steps:
        return job
    sequences = request.max_steps * job.per_device_train_batch_size * job.gradient_accumulation_steps * max(devices, 1)
    per_row = job.mean_seq_len * (job.num_generations if job.method == "grpo" else 2 if job.method in ("dpo", "reward")
                                  else 1)
    return replace(job, num_sequences=sequences, train_tokens=sequences * per_row)


ASSUMPTIONS = [
    "FLOPs: 6N per token for full training, 4N for LoRA (no weight gradients for the frozen base), +2N with "
    "activation checkpointing, + PaLM's attention term; preference methods add the reference forward (2N)",
    "utilisation (MFU): A100 0.45, H200 0.40, L40S/A10G/RTX PRO 6000 0.38, L4 0.30, T4 0.28 for full training; "
    "x0.83 for LoRA, x0.70 for QLoRA, x(N/1B)^0.25 below 1B parameters (see references/hardware_guide.md)",
    "multi-GPU: data parallel, 92% scaling per doubling on A100/H200, 85% on PCIe cards",
    "memory: weights/grads/AdamW moments in the training dtype (8 bytes/parameter in BF16), LoRA adapters in FP32 "
    "(16 bytes/parameter), activations per Korthikanti et al. 2022 for a batch of max_length sequences, logits 10 "
    "bytes per vocabulary entry, 1 GiB + 8% overhead, 92% of GPU memory usable",
    "start-up 150 s (image and dependencies), model download 150 MB/s, Hub upload 80 MB/s",
    "cost: billed per minute, rounded up; timeout = estimate x 1.25, at least 10 minutes",
]


def estimate_cost(request: EstimateRequest, catalog: Catalog, facts: ModelFacts,
                  profile: LocalProfile | None = None) -> EstimateResult:
    """Estimate `request` on every flavor of `catalog` (or those named), pure: no network, no files."""
    from hf_trainer.hardware import check_flavor  # hardware imports huggingface_hub's client; only needed here

    profile = profile or LocalProfile()
    job, notes = build_job(request, facts)
    flavors = [check_flavor(name, catalog) for name in request.flavors] if request.flavors else list(catalog.flavors)
    rows: list[FlavorEstimate] = [estimate_flavor(_for_devices(job, request, f.gpu_count or 1), f, profile)
                                  for f in flavors]
    if request.local:
        rows.append(estimate_flavor(_for_devices(job, request, 1), local_flavor(), profile, local=True))
    best = recommend(rows, request.max_hours)
    base = _for_devices(job, request, 1)
    warnings = _warnings(request, facts, catalog, rows, best)
    seconds = best.hours * 3600 if best else None
    model = ModelSummary(
        num_params=facts.num_params, num_active_params=facts.active_params, num_layers=facts.num_layers,
        hidden_size=facts.hidden_size, vocab_size=facts.vocab_size, dtype=facts.dtype,
        lora_params=lora_params(facts, request.lora_r, request.lora_target_modules) if request.use_peft else None,
        source=facts.source)
    assumptions = list(ASSUMPTIONS) + notes + list(facts.assumed)
    if request.local:
        assumptions.append(f"local profile: {profile.gflops_per_vcpu:g} GFLOPS per vCPU at {profile.utilisation:g} "
                           f"utilisation, {profile.step_overhead_s:g} s per micro-step ({profile.source})")
    if request.max_hours:
        assumptions.append(f"time limit for the recommendation: {request.max_hours:g} h")
    return EstimateResult(
        model=model, method=request.method, train_tokens=base.train_tokens,
        training_flops=sum(training_flops(base).values()),
        rows=[FlavorRow(**asdict(r)) for r in rows],
        recommended_flavor=best.flavor if best else None,
        recommended_hours=round(best.hours, 3) if best else None,
        recommended_cost_usd=round(best.cost_usd, 2) if best else None,
        timeout=timeout_for(seconds) if seconds is not None else None,
        changes=best.changes if best else [],
        catalog_source=f"{catalog.source} ({catalog.note or catalog.as_of})",
        warnings=warnings, assumptions=assumptions,
    )


def _warnings(request: EstimateRequest, facts: ModelFacts, catalog: Catalog, rows: list[FlavorEstimate],
              best: FlavorEstimate | None) -> list[str]:
    warnings = []
    if catalog.source == "fallback":
        warnings.append(f"Prices are the built-in fallback table of {catalog.as_of}: the Hub's hardware list could not "
                        "be fetched; check huggingface.co/pricing.")
    if facts.assumed:
        warnings.append("The model's architecture was guessed from its parameter count: activation memory is rough.")
    fitting = [r for r in rows if r.verdict != "does not fit"]
    if not fitting:
        hint = " Try use_peft=True (LoRA) or load_in_4bit=True (QLoRA)." if not request.use_peft else (
            " Try load_in_4bit=True, a shorter max_length or a smaller model.")
        warnings.append("The job fits no flavor as asked, even with the changes we try." + hint)
    elif best is None:
        fastest = min(fitting, key=lambda r: r.hours)
        warnings.append(f"No flavor finishes within {request.max_hours:g} h; the fastest that fits is "
                        f"{fastest.flavor} at {fastest.hours:.1f} h. Raise max_hours, train on fewer tokens or use "
                        "LoRA.")
    if best and best.gpu.endswith("T4") and not request.load_in_4bit:
        warnings.append("The T4 has no BF16: the scripts train in FP16 there (slower, can overflow).")
    if request.method == "grpo" and not request.use_vllm:
        warnings.append("GRPO without vLLM: rollouts with transformers' generate dominate the time; use_vllm=True is "
                        "several times faster on GPU flavors.")
    if best and best.hours > 0 and math.isfinite(best.hours) and best.hours < 0.1:
        warnings.append("This is a short job: start-up and model download dominate; the estimate is mostly "
                        "fixed costs.")
    return warnings


def run_estimate(request: EstimateRequest, *, api: object | None = None, catalog: Catalog | None = None,
                 facts: ModelFacts | None = None) -> EstimateResult:
    """Resolve the model size and the flavor list (Hub, cache or fallback), then estimate."""
    from hf_trainer.hardware import load_catalog  # the Hub client is imported on use, keeping the CLI start fast
    from hf_trainer.model_size import model_facts

    facts = facts or model_facts(request.model_name_or_path, num_params=request.num_params, api=api)
    catalog = catalog or load_catalog(api)
    return estimate_cost(request, catalog, facts, load_profile())
