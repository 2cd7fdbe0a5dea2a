"""estimate_cost: time, memory and money of a training job on every HF Jobs flavor, and which one to pick.

`estimate_cost(request, catalog, facts)` is pure (tests pass hand-made catalogs and model facts); `run_estimate()`
fetches what it needs first (model size from the Hub or a folder, the live flavor list). The physics lives in
estimate_math.py (standard library only, inlined into scripts/estimate_cost.py); references/hardware_guide.md
explains every formula and constant.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal, NoReturn

from pydantic import BaseModel, Field, ValidationError, model_validator

from hf_trainer import paths
from hf_trainer.errors import UserError, to_user_error
from hf_trainer.runtime import vision as vision_runtime
from hf_trainer.runtime.vocabulary import Method
from hf_trainer.runtime.estimate_math import (
    DEFAULT_MAX_HOURS,
    GIB,
    Catalog,
    EstimateError,
    Flavor,
    LocalProfile,
    ModelFacts,
    SCRIPT_FIELDS,
    estimate,
    render_estimate,
)

if TYPE_CHECKING:
    from huggingface_hub import HfApi  # the client is imported on use, keeping the CLI start fast

Optim = Literal["adamw_torch", "adamw_torch_fused", "adamw_bnb_8bit", "paged_adamw_8bit", "adafactor", "sgd"]
PROFILE_FILE = "local_profile.json"


SCRIPT_DEFAULT = "Default: the method's training script's own default."


class EstimateRequest(BaseModel):
    """What to estimate: the model, the data in tokens, the method and its settings (TRL's names; every setting left
    out takes the default of the method's training script, read from its argument parser)."""

    model_name_or_path: str | None = Field(None, description="Hub model id (e.g. 'Qwen/Qwen2.5-0.5B') or local folder; "
                                           "its size is read from safetensors metadata / config.json, never the name.")
    num_params: int | None = Field(None, ge=1, description="Parameter count, when the model cannot be read "
                                   "(overrides the count read from the model).")
    method: Method = Field("sft", description="sft, dpo, grpo, reward or kto.")
    num_rows: int | None = Field(None, ge=1, description="Training rows (pairs for dpo/reward, prompts for grpo).")
    mean_tokens_per_row: float | None = Field(None, gt=0, description="Mean tokens of one sequence: "
                                              "dataset_inspect's token_stats.mean (dpo/reward: the prompt with the "
                                              "longer response; a pair trains two; grpo: the prompt).")
    total_tokens: int | None = Field(None, ge=1, description="Tokens per epoch (every sequence), instead of rows x "
                                     "mean tokens.")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimiser steps (overrides epochs).")
    num_train_epochs: float | None = Field(None, gt=0, le=1000, description="Passes over the data. " + SCRIPT_DEFAULT)
    max_length: int | None = Field(None, ge=16, le=1_048_576, description="Tokens per sequence (truncation). "
                                   + SCRIPT_DEFAULT + " (2048 for sft and grpo, 1024 for dpo, reward and kto)")
    per_device_train_batch_size: int | None = Field(None, ge=1, le=4096, description=SCRIPT_DEFAULT + " (4; sft "
                                                    "packs 1 row per micro-batch with 4x the accumulation)")
    gradient_accumulation_steps: int | None = Field(None, ge=1, le=4096, description=SCRIPT_DEFAULT)
    activation_checkpointing: bool = Field(True, description="Recompute activations in backward. Left out: the "
                                           "scripts' default, on for GPUs and off on CPU.")
    use_peft: bool = Field(False, description="Train a LoRA adapter instead of all weights.")
    lora_r: int | None = Field(None, ge=1, le=4096, description=SCRIPT_DEFAULT)
    lora_target_modules: Literal["all-linear", "attention"] = Field("all-linear")
    load_in_4bit: bool = Field(False, description="QLoRA: 4-bit base model (with use_peft).")
    optim: Optim = Field("adamw_torch_fused", description="Optimizer (the scripts' GPU default; adamw_torch on CPU, "
                         "same memory).")
    fsdp: bool = Field(False, description="Shard weights, gradients and optimizer state over the GPUs of a "
                       "multi-GPU flavor (FSDP2, the scripts' --fsdp; not for grpo).")
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto", description="The scripts' --precision: auto is their policy (FP32 master weights + bf16 autocast for "
        "full fine-tuning, fp16 autocast on a T4); a forced bf16 rules out T4 flavors, fp16 CPU flavors.")
    precompute_ref_log_probs: bool = Field(False, description="dpo/kto: reference log-probs computed beforehand.")
    beta: float | None = Field(None, ge=0, description="KL coefficient. " + SCRIPT_DEFAULT + " (dpo/kto 0.1, "
                               "grpo 0.0)")
    num_generations: int | None = Field(None, ge=1, le=1024, description="grpo: completions per prompt. "
                                        + SCRIPT_DEFAULT)
    max_completion_length: int | None = Field(None, ge=1, le=1_048_576, description="grpo: tokens per completion. "
                                              + SCRIPT_DEFAULT)
    use_vllm: bool = Field(False, description="grpo: generate with vLLM colocated (the script's --use_vllm; the job "
                           "needs `--with vllm`). Either way the result's `vllm` prices both and says which pays.")
    steps_per_generation: int | None = Field(None, ge=1, le=4096, description="grpo: micro-batches per generation "
                                             "round. " + SCRIPT_DEFAULT + " (gradient_accumulation_steps)")
    vllm_gpu_memory_utilization: float | None = Field(None, gt=0, lt=1, description="grpo with vLLM: its share of "
                                                      "GPU memory. " + SCRIPT_DEFAULT)
    packing: bool | None = Field(None, description="sft: best-fit packing into max_length rows. " + SCRIPT_DEFAULT
                                 + " (on)")
    eval_split_size: float | None = Field(None, ge=0, description="Eval rows carved from the training rows when "
                                          "the dataset has no test split (fraction or count). " + SCRIPT_DEFAULT)
    eval_rows: int | None = Field(None, ge=0, description="Rows of the dataset's own eval (test/validation) split; "
                                  "left out: carved from num_rows with eval_split_size, as the scripts do.")
    save_steps: int | None = Field(None, ge=1, description="Checkpoint and evaluation interval in optimiser steps. "
                                   + SCRIPT_DEFAULT)
    num_rows_exact: bool = Field(True, description="False when num_rows is itself an estimate (a warning says so).")
    push_to_hub: bool = Field(True, description="Count the upload of the result to the Hub.")
    flavors: list[str] | None = Field(None, description="Only these flavors (default: every flavor on offer).")
    max_hours: float | None = Field(DEFAULT_MAX_HOURS, gt=0, description="Time limit for the recommendation.")
    local: bool = Field(False, description="Also estimate a run on this machine (the calibrated local profile).")
    dataset_name: str | None = Field(None, description="Hub dataset id or local file: when num_rows / "
                                     "mean_tokens_per_row are not given, dataset_inspect measures them with the "
                                     "model's tokenizer.")
    dataset_config: str | None = Field(None, description="Dataset config (subset), with dataset_name.")
    dataset_train_split: str | None = Field(None, description="Dataset split, with dataset_name (default train).")

    @model_validator(mode="after")
    def _script_defaults(self) -> "EstimateRequest":
        """Fill every script setting left out from the method's script (its argparse defaults; no torch import)."""
        from hf_trainer.script_defaults import method_defaults

        defaults = method_defaults(self.method)
        for name in SCRIPT_FIELDS:
            if getattr(self, name) is None and defaults.get(name) is not None:
                setattr(self, name, defaults[name])
        return self


class FlavorRow(BaseModel):
    flavor: str
    gpu: str
    verdict: Literal["fits", "fits with changes", "does not fit"]
    changes: list[str] = Field(description="What to change for the job to fit, for people.")
    script_args: list[str] = Field(default_factory=list, description="The same changes as training-script arguments "
                                   "to append to the job's, e.g. ['--optim', 'adamw_bnb_8bit'].")
    parallelism: str = Field("", description="single device, DDP over N GPUs (whole model on each) or FSDP over N "
                             "GPUs (sharded).")
    baseline_eval_s: float = Field(0.0, description="Seconds --eval_baseline would add (base model scored before "
                                   "training and the result after, with the scripts' evaluation defaults).")
    optimizer_steps: int = Field(0, description="Optimiser steps the trainer runs (its global_step at the end), as "
                                 "TRL counts them on this flavor's GPUs.")
    micro_batches: int = Field(0, description="Micro-batches per GPU over the run (forward + backward passes).")
    seconds_per_step: float = Field(0.0, description="Training, communication and rollouts per optimiser step.")
    generation: dict[str, Any] = Field(default_factory=dict, description="grpo: hours, cost and rollout seconds "
                                       "with transformers' generate and with vLLM, and why vLLM cannot run here.")
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


class VllmPlan(BaseModel):
    flavor: str
    hours: float
    cost_usd: float
    timeout: str
    optimizer_steps: int
    seconds_per_step: float
    script_args: list[str]
    rollout_s: float | None = None


class VllmChoice(BaseModel):
    """GRPO's rollouts priced both ways: transformers' generate and vLLM colocated on each GPU."""

    use_vllm: bool = Field(description="True when vLLM pays: plan the job with --use_vllm and `--with vllm`.")
    why: str
    with_vllm: VllmPlan | None
    without_vllm: VllmPlan | None
    script_args: list[str] = Field(description="Training-script arguments for the faster plan (['--use_vllm'] or []).")
    dependencies: list[str] = Field(description="Extra packages the job needs (`hf jobs uv run --with ...`).")


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
    script_args: list[str] = Field(default_factory=list, description="The recommended flavor's changes as training-"
                                   "script arguments: append them to the job's so the job that runs is the one "
                                   "estimated.")
    catalog_source: str
    warnings: list[str]
    assumptions: list[str]
    vision: dict[str, Any] | None = Field(None, description="Vision-language models: vision tower and projector "
                                          "parameters, image tokens per image (runtime/vision.py).")
    optimizer_steps: int | None = Field(None, description="The recommended flavor's optimiser steps.")
    seconds_per_step: float | None = Field(None, description="The recommended flavor's seconds per optimiser step.")
    vllm: VllmChoice | None = Field(None, description="grpo: the plan with vLLM and without, and whether vLLM pays.")

    def render(self) -> str:
        return render_estimate(self.model_dump())


def make_request(**kwargs: object) -> EstimateRequest:
    """An EstimateRequest from keyword arguments, with pydantic's complaints turned into one clear UserError."""
    try:
        return EstimateRequest.model_validate({k: v for k, v in kwargs.items() if v is not None})
    except ValidationError as exc:
        raise to_user_error(exc, what="estimate") from None


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


def estimate_cost(request: EstimateRequest, catalog: Catalog, facts: ModelFacts,
                  profile: LocalProfile | None = None) -> EstimateResult:
    """Estimate `request` on every flavor of `catalog` (or those named), pure: no network, no files."""
    params = request.model_dump()
    if "activation_checkpointing" not in request.model_fields_set:
        params["activation_checkpointing"] = None  # the scripts' default: on for GPUs, off on CPU
    try:
        return EstimateResult(**estimate(params, catalog, facts, profile, local_flavor()))
    except EstimateError as exc:
        raise UserError(str(exc)) from None


def apply_script_args(request: EstimateRequest, script_args: list[str]) -> EstimateRequest:
    """The request as the job will run once `script_args` (an estimate's changes) are appended to its arguments."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--activation_checkpointing", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--optim", default=None)
    parser.add_argument("--per_device_train_batch_size", type=int, default=None)
    parser.add_argument("--gradient_accumulation_steps", type=int, default=None)
    for flag in ("--fsdp", "--use_peft", "--load_in_4bit"):
        parser.add_argument(flag, action="store_true", default=None)
    known, _ = parser.parse_known_args(script_args)
    update = {k: v for k, v in vars(known).items() if v is not None}
    return request.model_validate({**request.model_dump(exclude_unset=True), **update})


def run_estimate(request: EstimateRequest, *, api: HfApi | None = None, catalog: Catalog | None = None,
                 facts: ModelFacts | None = None) -> EstimateResult:
    """Resolve the model size and the flavor list (Hub, cache or fallback), then estimate."""
    from hf_trainer.hardware import load_catalog  # the Hub client is imported on use, keeping the CLI start fast
    from hf_trainer.model_size import model_facts

    facts = facts or model_facts(request.model_name_or_path, num_params=request.num_params, api=api)
    note = None
    if request.dataset_name and not request.max_steps and not request.total_tokens and not (
            request.num_rows and request.mean_tokens_per_row):
        request, note = with_dataset_tokens(request)
    catalog = catalog or load_catalog(api)
    vision = vision_facts(request.model_name_or_path, api)
    if vision and "safetensors" not in facts.source:  # config.json arithmetic covers the language model only
        extra = vision["vision_tower_params"] + vision["projector_params"]
        facts = replace(facts, num_params=facts.num_params + extra, num_active_params=facts.active_params + extra)
    result = estimate_cost(request, catalog, facts, load_profile())
    if vision:
        result.vision = vision
        result.assumptions.append(vision_runtime.vision_summary_text(vision))
    if note:
        result.assumptions.append(note)
    return result


def _model_json(model_name_or_path: str, name: str, api: Any) -> dict | None:
    """One JSON file of a local folder or Hub model repo, or None when it is missing or unreadable."""
    local = Path(os.path.expanduser(model_name_or_path))
    try:
        if local.is_dir():
            path = local / name
        else:
            from hf_trainer.hub_client import get_hf_api  # huggingface_hub loads on use, keeping the CLI start fast

            api = api or get_hf_api()
            path = Path(api.hf_hub_download(model_name_or_path, name))
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, ValueError):  # missing file, Hub errors (OSError subclasses), bad JSON
        return None


def vision_facts(model_name_or_path: str | None, api: Any = None) -> dict | None:
    """Vision tower and projector parameters and image tokens per image for a vision-language model, from its
    config.json and processor configuration; None for a text model (runtime/vision.py does the arithmetic)."""
    if not model_name_or_path:
        return None
    config = _model_json(model_name_or_path, "config.json", api)
    if not config or not isinstance(config.get("vision_config"), dict):
        return None
    processor = _model_json(model_name_or_path, "processor_config.json", api) or {}
    image = _model_json(model_name_or_path, "preprocessor_config.json", api)
    if image and not isinstance(processor.get("image_processor"), dict):
        processor = {**processor, "image_processor": image}
    return vision_runtime.vision_summary(config, processor)


# Script options that become request fields under the same name (the rest need a translation or are not estimated).
_SAME_NAME = ("model_name_or_path", "dataset_name", "dataset_config", "dataset_train_split", "num_train_epochs",
              "max_length", "per_device_train_batch_size", "gradient_accumulation_steps", "use_peft", "lora_r",
              "load_in_4bit", "fsdp", "precompute_ref_log_probs", "beta", "num_generations", "max_completion_length",
              "push_to_hub", "packing", "eval_split_size", "save_steps", "steps_per_generation",
              "vllm_gpu_memory_utilization", "precision")
_ATTENTION_ONLY = {"q_proj", "k_proj", "v_proj", "o_proj"}


def request_from_script_args(script_name: str, script_args: list[str], **extra: object) -> EstimateRequest:
    """The estimate request for a bundled training script run with `script_args`, parsed by the script's own parser
    (so every default is the script's). `extra` adds what the arguments do not say: num_rows and mean_tokens_per_row
    (from dataset_inspect), flavors, max_hours, ...; --max_train_samples caps num_rows."""
    from hf_trainer.script_defaults import METHOD_SCRIPTS, build_parser  # loads the script file on first use

    method = next((m for m, name in METHOD_SCRIPTS.items() if name == script_name), None)
    if method is None and script_name == "train_sft_unsloth.py":
        method = "sft"
    if method is None:
        raise UserError(f"{script_name!r} is not a bundled training script: estimate it with estimate_cost's own "
                        f"fields. Training scripts: {', '.join(METHOD_SCRIPTS.values())}, train_sft_unsloth.py.")
    parser = build_parser(script_name)

    def refuse(message: str) -> NoReturn:  # argparse would print and exit
        raise UserError(f"{script_name} {' '.join(script_args)}: {message}.")

    parser.error = refuse  # type: ignore[method-assign]
    args, _ = parser.parse_known_args(list(script_args))
    fields: dict[str, object] = {"method": method}
    for name in _SAME_NAME:
        if getattr(args, name, None) is not None:
            fields[name] = getattr(args, name)
    if getattr(args, "max_steps", -1) and args.max_steps > 0:
        fields["max_steps"] = args.max_steps
    if args.activation_checkpointing is not None:
        fields["activation_checkpointing"] = args.activation_checkpointing
    if args.optim in Optim.__args__:  # type: ignore[attr-defined]
        fields["optim"] = args.optim
    targets = set(args.lora_target_modules or [])
    fields["lora_target_modules"] = "attention" if targets and targets <= _ATTENTION_ONLY else "all-linear"
    if getattr(args, "use_vllm", None):
        fields["use_vllm"] = True
    fields.update({k: v for k, v in extra.items() if v is not None})
    cap = getattr(args, "max_train_samples", None)
    if cap and (fields.get("num_rows") is None or int(fields["num_rows"]) > cap):  # type: ignore[call-overload]
        fields["num_rows"] = cap
    return make_request(**fields)


def with_dataset_tokens(request: EstimateRequest, inspect: Callable[..., Any] | None = None
                        ) -> tuple[EstimateRequest, str]:
    """Fill num_rows and mean_tokens_per_row from dataset_inspect (rows of the split, mean tokens of a sample)."""
    from hf_trainer.dataset_inspect import DatasetInspectInput, inspect_dataset  # tokenizers load on use

    if not request.dataset_name:
        raise UserError("Measuring the dataset's tokens needs a dataset: pass dataset_name, or give num_rows and "
                        "mean_tokens_per_row yourself.")
    if not request.model_name_or_path:
        raise UserError("Measuring the dataset's tokens needs the model's tokenizer: pass model_name_or_path, or "
                        "give num_rows and mean_tokens_per_row yourself.")
    inspection = (inspect or inspect_dataset)(DatasetInspectInput(
        dataset_name=request.dataset_name, dataset_config=request.dataset_config,
        dataset_train_split=request.dataset_train_split, method=request.method,
        model_name_or_path=request.model_name_or_path, max_length=request.max_length))
    rows = request.num_rows or inspection.source.num_rows
    stats = inspection.token_stats
    mean = request.mean_tokens_per_row or (stats.mean if stats else None)
    if not rows or not mean:
        raise UserError(f"dataset_inspect could not measure {request.dataset_name!r} (rows: {rows}, mean tokens: "
                        f"{mean}). Pass num_rows and mean_tokens_per_row, or total_tokens.")
    exact = "" if inspection.source.num_rows_exact else " (row count estimated)"
    note = (f"data: {rows:,} rows{exact} x {mean:.0f} mean tokens per sequence, measured by dataset_inspect on "
            f"{stats.rows if stats else 0} sample rows of {request.dataset_name}")
    update: dict[str, object] = {"num_rows": rows, "mean_tokens_per_row": mean,
                                 "num_rows_exact": request.num_rows is not None or inspection.source.num_rows_exact}
    if request.method == "kto" and inspection.kind in ("preference", "implicit_preference") and not request.num_rows:
        update["num_rows"] = 2 * rows  # TRL's KTOTrainer unpairs preference rows: a chosen and a rejected row each
        note += "; KTO trains each pair as two unpaired rows"
    if request.eval_rows is None and set(inspection.source.splits) & {"test", "validation"}:
        # The scripts evaluate the dataset's own test/validation split; its size was not read.
        update["eval_rows"] = max(1, round(0.05 * rows))
        note += (f"; the dataset has its own eval split, assumed {update['eval_rows']:,} rows (pass eval_rows for "
                 "its real size)")
    return request.model_copy(update=update), note


# --- references/multi_gpu.md: the estimator's numbers for public model sizes (generated; a test keeps them equal) ---
# config.json facts of public checkpoints (sizes only: the estimator never reads a name).
GUIDE_MODELS: dict[str, dict[str, object]] = {
    "Qwen2.5-7B": {"model_type": "qwen2", "hidden_size": 3584, "num_hidden_layers": 28, "num_attention_heads": 28,
                   "num_key_value_heads": 4, "intermediate_size": 18944, "vocab_size": 152064,
                   "tie_word_embeddings": False},
    "Qwen2.5-14B": {"model_type": "qwen2", "hidden_size": 5120, "num_hidden_layers": 48, "num_attention_heads": 40,
                    "num_key_value_heads": 8, "intermediate_size": 13824, "vocab_size": 152064,
                    "tie_word_embeddings": False},
    "Qwen2.5-32B": {"model_type": "qwen2", "hidden_size": 5120, "num_hidden_layers": 64, "num_attention_heads": 40,
                    "num_key_value_heads": 8, "intermediate_size": 27648, "vocab_size": 152064,
                    "tie_word_embeddings": False},
    "Llama-3.1-70B": {"model_type": "llama", "hidden_size": 8192, "num_hidden_layers": 80, "num_attention_heads": 64,
                      "num_key_value_heads": 8, "intermediate_size": 28672, "vocab_size": 128256,
                      "tie_word_embeddings": False},
}
GUIDE_FLAVORS = ("a10g-largex4", "l4x4", "l40sx4", "l40sx8", "rtx-pro-6000x4", "a100x4", "a100x8", "h200x2", "h200x4",
                 "h200x8")
GUIDE_DATA = {"num_rows": 10_000, "mean_tokens_per_row": 1000}  # 10M tokens, one epoch of SFT with its defaults
GUIDE_BEGIN = "<!-- BEGIN estimator table: generated by `python -m hf_trainer.estimate --sync-guide`; do not edit -->"
GUIDE_END = "<!-- END estimator table -->"


def _cheapest(rows: list[FlavorRow], keep: Callable[[FlavorRow], bool]) -> FlavorRow | None:
    fitting = [r for r in rows if r.verdict != "does not fit" and not r.note and keep(r)]
    return min(fitting, key=lambda r: (round(r.cost_usd, 2), r.hours)) if fitting else None


def multi_gpu_table_markdown(catalog: Catalog | None = None) -> str:
    """For each guide model and training (full, LoRA, QLoRA): the cheapest flavor that fits on one GPU, with data
    parallel (DDP) over several, and sharded (FSDP) over several, from the estimator itself."""
    from hf_trainer.runtime.estimate_math import facts_from_config, fallback_catalog

    catalog = catalog or fallback_catalog()
    lines = [f"SFT of {GUIDE_DATA['num_rows']:,} rows x {GUIDE_DATA['mean_tokens_per_row']:,} tokens (one epoch, "
             f"the script's defaults: 1 packed row of 2048 tokens x 16 accumulation per GPU), prices of "
             f"{catalog.as_of} ({catalog.source}). \"-\": no flavor of that kind fits.", "",
             "| Model | Training | One GPU | DDP (whole model per GPU) | FSDP (sharded) |", "|---|---|---|---|---|"]

    def cell(r: FlavorRow | None) -> str:
        if r is None:
            return "-"
        extra = [a for a in r.script_args if a not in ("--fsdp", "--load_in_4bit")]
        return (f"`{r.flavor}` {r.memory_gib:.0f}/{r.memory_available_gib:.0f} GiB, {r.hours:.1f} h, "
                f"${r.cost_usd:,.0f}" + (f" (`{' '.join(extra)}`)" if extra else ""))

    for name, config in GUIDE_MODELS.items():
        facts = facts_from_config(config, f"{name}/config.json")
        for label, options in (("full", {}), ("LoRA r=16", {"use_peft": True}),
                               ("QLoRA r=16", {"use_peft": True, "load_in_4bit": True})):
            rows = estimate_cost(make_request(**GUIDE_DATA, **options, max_hours=None), catalog, facts).rows
            quantized = bool(options.get("load_in_4bit"))

            def same_training(r: FlavorRow) -> bool:
                return quantized or "--load_in_4bit" not in r.script_args

            single = _cheapest(rows, lambda r: same_training(r) and r.parallelism == "single device" and
                               not r.gpu.startswith("CPU"))
            ddp = _cheapest(rows, lambda r: same_training(r) and r.parallelism.startswith("DDP"))
            fsdp = None
            if not quantized:
                multi = [f.name for f in catalog.flavors if f.gpu_count > 1]
                sharded = estimate_cost(make_request(**GUIDE_DATA, **options, fsdp=True, flavors=multi,
                                                     max_hours=None), catalog, facts).rows
                fsdp = _cheapest(sharded, same_training)
            size = f"{name} ({facts.num_params / 1e9:.1f}B)" if label == "full" else ""
            lines.append(f"| {size} | {label} | {cell(single)} | {cell(ddp)} | {cell(fsdp)} |")

    # Every model on each multi-GPU flavor with --fsdp: fit (memory per GPU / usable), hours and cost.
    multi = [name for name in GUIDE_FLAVORS if catalog.get(name)]
    lines += ["", "With `--fsdp` on each multi-GPU flavor (memory per GPU / usable GiB, hours, cost; \"no\": does not "
              "fit even with a smaller batch):", "",
              "| Model | Training | " + " | ".join(f"`{f}`" for f in multi) + " |", "|---|---|" + "---|" * len(multi)]
    for name, config in GUIDE_MODELS.items():
        facts = facts_from_config(config, f"{name}/config.json")
        for label, options in (("full", {}), ("LoRA r=16", {"use_peft": True})):
            by_flavor = {r.flavor: r for r in estimate_cost(make_request(
                **GUIDE_DATA, **options, fsdp=True, flavors=multi, max_hours=None), catalog, facts).rows}
            cells = [f"{by_flavor[f].memory_gib:.0f}/{by_flavor[f].memory_available_gib:.0f}, {by_flavor[f].hours:.1f} "
                     f"h, ${by_flavor[f].cost_usd:,.0f}" if by_flavor[f].verdict != "does not fit" else
                     f"no ({by_flavor[f].memory_gib:.0f})" for f in multi]
            lines.append(f"| {name if label == 'full' else ''} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def multi_gpu_guide_path() -> Path:
    return paths._REPO_ROOT / "references" / "multi_gpu.md"


def sync_multi_gpu_guide(path: Path | None = None) -> bool:
    """Rewrite the estimator table in references/multi_gpu.md; True when the file changed."""
    path = path or multi_gpu_guide_path()
    text = path.read_text(encoding="utf-8")
    try:
        start = text.index(GUIDE_BEGIN) + len(GUIDE_BEGIN)
        end = text.index(GUIDE_END, start)
    except ValueError:
        raise UserError(f"{path} lacks the markers {GUIDE_BEGIN!r} ... {GUIDE_END!r}.") from None
    new = "\n" + multi_gpu_table_markdown() + "\n"
    if text[start:end] == new:
        return False
    path.write_text(text[:start] + new + text[end:], encoding="utf-8")
    return True


if __name__ == "__main__":
    import sys

    if "--sync-guide" in sys.argv:
        print("updated" if sync_multi_gpu_guide() else "up to date", multi_gpu_guide_path())
