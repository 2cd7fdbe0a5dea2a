"""What scripts/benchmark.py costs: time and money of a standard-benchmark run on one flavor. Standard library only.

The harness's work per task is a number of documents, each either scored by log-likelihood (multiple choice: one
forward pass over the prompt; the harness caches the logits of answers that are single tokens) or answered by greedy
generation (a prompt forward pass, then one decoding step per generated token). Prompt passes are compute-bound
(2 N FLOPs per token at the card's MFU); decoding is bandwidth-bound (every weight read once per step), as in the
training estimate's rollouts (estimate_math.decode_step_seconds). vLLM batches up to 256 sequences continuously;
transformers' generate decodes fixed batches until their longest answer ends, so it pays the longest generation of
every batch. --baseline_model doubles the work (two models, the same questions).

The task table holds the figures of the standard tasks the docs name (documents in the split the harness scores,
mean prompt tokens with the task's few-shot examples under a chat template, generated tokens). A task it does not
know is priced like gsm8k and named in the estimate's assumptions.
"""

import math
from dataclasses import dataclass, field

from .estimate_math import (DECODE_BANDWIDTH_UTIL, DECODE_STEP_FLOOR_S, DOWNLOAD_BYTES_PER_S, MFU_FULL,
                            MFU_FULL_DEFAULT, STARTUP_S, VLLM_STARTUP_S, Flavor, LocalProfile, ModelFacts,
                            small_model_factor)


@dataclass(frozen=True)
class TaskCost:
    """One harness task's work: documents scored, requests and prompt tokens per document, generated tokens."""

    docs: int
    prompt_tokens: float  # mean prompt length, few-shot examples and chat template included
    requests_per_doc: float = 1.0  # forward passes per document (multiple choice with multi-token answers: 1 each)
    mean_new_tokens: float = 0.0  # generation tasks: mean answer length
    max_new_tokens: int = 0  # generation tasks: the task's limit (a batch of transformers' generate runs to it)


# lm_eval 0.4.13's task configs: the split each scores, its few-shot default and max_gen_toks (256 when unset).
TASK_COSTS: dict[str, TaskCost] = {
    "ifeval": TaskCost(541, 90, mean_new_tokens=400, max_new_tokens=1280),  # 0-shot, google/IFEval train
    "gsm8k": TaskCost(1319, 1000, mean_new_tokens=150, max_new_tokens=256),  # 5-shot, test split
    "mmlu": TaskCost(14042, 130),  # 0-shot, 57 subjects' test splits; answers A-D: one pass per question
    "arc_challenge": TaskCost(1172, 50, requests_per_doc=4),  # 0-shot, test split, four answer texts
    "arc_easy": TaskCost(2376, 50, requests_per_doc=4),
    "hellaswag": TaskCost(10042, 110, requests_per_doc=4),  # validation split, four endings
    "winogrande": TaskCost(1267, 30, requests_per_doc=2),  # validation (xl dev), two fillings
    "truthfulqa_mc2": TaskCost(817, 200, requests_per_doc=8),  # validation, ~8 true/false answers per question
    "piqa": TaskCost(1838, 40, requests_per_doc=2),
    "boolq": TaskCost(3270, 150, requests_per_doc=2),
}
UNKNOWN_TASK = TASK_COSTS["gsm8k"]
VLLM_MAX_SEQS = 256  # vLLM's default max_num_seqs: sequences decoded together
HF_GPU_BATCH = 32  # transformers: what the harness's batch-size search typically settles on for small models
HF_CPU_BATCH = 8  # benchmark.py's batch on a CPU
PROMPT_PASS_OVERHEAD_S = {True: 0.0005, False: 0.01}  # use_vllm -> per request: scheduling, tokenising, Python
HARNESS_SETUP_S = 60.0  # per model: import the harness, index its tasks, download the task datasets
VLLM_INSTALL_S = 60.0  # `--with vllm`: its wheels and CUDA libraries on top of the script's header


@dataclass
class BenchmarkEstimate:
    """Seconds and dollars of one benchmark.py run on one flavor, with what they are made of."""

    flavor: str
    engine: str  # "vllm" or "transformers"
    models: int
    seconds: float
    cost_usd: float
    fits: bool  # the model's 16-bit weights (and a KV cache) fit the GPU, or the RAM of a CPU flavor
    parts_s: dict[str, float] = field(default_factory=dict)
    task_seconds: dict[str, float] = field(default_factory=dict)  # per model
    assumed: list[str] = field(default_factory=list)


def _limited(docs: int, limit: int | float | None) -> int:
    if limit is None:
        return docs
    return min(docs, int(limit) if limit >= 1 else max(1, math.ceil(docs * limit)))


def task_seconds(task: TaskCost, facts: ModelFacts, flavor: Flavor, use_vllm: bool, limit: int | float | None = None,
                 profile: LocalProfile | None = None) -> float:
    """One model's seconds on one task: prompt passes plus decoding."""
    n = facts.active_params
    docs = _limited(task.docs, limit)
    spec = flavor.spec
    if flavor.is_gpu and spec:
        # Inference runs in 16 bit on one GPU (benchmark.py scores on one device).
        peak, bandwidth = spec.bf16_tflops * 1e12, spec.memory_bandwidth_gbs * 1e9
        mfu = MFU_FULL.get(spec.model, MFU_FULL_DEFAULT) * small_model_factor(n)
        weight_bytes, floor = 2.0, DECODE_STEP_FLOOR_S[use_vllm]
    else:
        profile = profile or LocalProfile()
        peak = max(flavor.vcpus, 1) * profile.gflops_per_vcpu * 1e9
        bandwidth = 20e9 * max(flavor.vcpus, 1) / 2
        mfu, weight_bytes, floor = profile.utilisation, 4.0, 0.0
    requests = docs * task.requests_per_doc
    prompt = requests * task.prompt_tokens * 2.0 * n / (peak * mfu) + requests * PROMPT_PASS_OVERHEAD_S[use_vllm]
    if not task.max_new_tokens:
        return prompt
    batch = min(docs, VLLM_MAX_SEQS if use_vllm else (HF_GPU_BATCH if flavor.is_gpu else HF_CPU_BATCH))

    def step(in_flight: int) -> float:
        bw = n * weight_bytes / (bandwidth * DECODE_BANDWIDTH_UTIL[use_vllm])
        return max(bw, 2.0 * n * in_flight / (peak * mfu), floor)

    if use_vllm:  # continuous batching: the total answer tokens in batches of `batch`, at least one longest answer
        steps = max(float(task.max_new_tokens), docs * task.mean_new_tokens / batch)
    else:  # every batch decodes until its longest answer ends: the limit, for a batch of many answers
        steps = math.ceil(docs / batch) * float(task.max_new_tokens)
    return prompt + steps * step(batch)


def benchmark_estimate(facts: ModelFacts, flavor: Flavor, tasks: list[str], *, models: int = 2,
                       use_vllm: bool = False, limit: int | float | None = None,
                       profile: LocalProfile | None = None, local: bool = False) -> BenchmarkEstimate:
    """benchmark.py on `flavor`: start-up (and vLLM's install), model downloads, per model the harness's setup (and
    vLLM's engine start) and every task. vLLM is planned only on a GPU with BF16 (not the T4, as for GRPO's
    rollouts); elsewhere the script scores with transformers."""
    use_vllm = use_vllm and flavor.is_gpu and bool(flavor.spec and flavor.spec.bf16)
    parts: dict[str, float] = {}
    assumed = [f"{name}: not in the task table, priced like gsm8k" for name in tasks if name not in TASK_COSTS]
    if not local:
        parts["startup"] = STARTUP_S + (VLLM_INSTALL_S if use_vllm else 0.0)
        parts["model_download"] = models * facts.num_params * 2.0 / DOWNLOAD_BYTES_PER_S
    parts["harness_setup"] = models * (HARNESS_SETUP_S + (VLLM_STARTUP_S if use_vllm else 0.0))
    per_task = {name: task_seconds(TASK_COSTS.get(name, UNKNOWN_TASK), facts, flavor, use_vllm, limit, profile)
                for name in tasks}
    parts["tasks"] = models * sum(per_task.values())
    seconds = sum(parts.values())
    if flavor.is_gpu:
        vram = flavor.vram_gb_per_gpu or (flavor.spec.vram_gb if flavor.spec else 0.0)
        fits = facts.num_params * 2.0 * 1.2 <= vram * 2**30  # weights plus room for activations and a KV cache
    else:
        fits = facts.num_params * 4.0 * 1.5 <= flavor.ram_gb * 1e9
    return BenchmarkEstimate(flavor.name, "vllm" if use_vllm else "transformers", models, seconds,
                             seconds / 3600 * flavor.price_per_hour, fits, parts, per_task, assumed)
