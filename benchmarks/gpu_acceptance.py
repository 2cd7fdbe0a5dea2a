"""GPU acceptance in one command: every bundled training script's GPU path, its speed, and the estimator, checked.

On a CUDA machine with no network it builds a model shaped like Qwen2.5-0.5B (or 1.5B) from config facts (random
weights, bf16) and a word-level tokenizer offline, writes chat data whose lengths follow LMSYS-Chat-1M (see
benchmarks/bench_train.py), and runs each script's GPU path for a few optimiser steps, one subprocess each:

    sft_full                full fine-tuning, bf16, the script's defaults (packing, padding-free)
    sft_lora_packed_sdpa    LoRA, packing, sdpa attention (what HF Jobs gets: flash-attn is not in the scripts' header)
    sft_lora_packed_flash   LoRA, packing, flash_attention_2 varlen kernel (skipped unless flash_attn imports)
    sft_lora_anchor         huggingface/skills' SFT example: no packing, LoRA q/v, batch 4 x 4, checkpointing
    dpo_lora, grpo (transformers generate, no vLLM), reward, kto_lora
    sft_qlora               4-bit base + LoRA (skipped unless bitsandbytes imports)

For each: real (non-padding) tokens/s and seconds per optimiser step over the steps after warm-up, MFU against the
card's dense bf16 peak (from the estimator's datasheet table, GPU_SPECS), peak GPU memory, and the estimator's
prediction of seconds per step and peak memory for the same card and configuration, with predicted/measured ratios.
A failed path is recorded (exit code, the end of its output) and the rest go on; a time budget skips what would not
fit. Results: DIR/gpu_acceptance.json and DIR/gpu_acceptance.md.

    python benchmarks/gpu_acceptance.py --out results/                 # GPU: Qwen2.5-0.5B shape, ~5 min on an H100
    python benchmarks/gpu_acceptance.py --out results/ --shape 1.5b --only sft_lora_packed_sdpa sft_lora_anchor
    .venv/bin/python benchmarks/gpu_acceptance.py --out /tmp/ga --cpu  # CPU: tiny model, one step per path (tests)

Measurement: the scripts run unchanged under a probe (this file's `_probe` mode) that patches transformers'
Trainer.train to attach a callback (CUDA-synchronised time at every optimiser step's end, peak memory, the training
configuration as the trainer holds it) and to count the real tokens of every batch compute_loss sees. It also sets
HF_TRAINER_TOKEN_STATS, the scripts' own hook, and reads back what a script writes there (real/computed tokens per
micro-batch) to cross-check. The device machine's image lacks pydantic, so the estimator is called through its pure
core, hf_trainer.runtime.estimate_math.estimate (what hf_trainer.estimate.run_estimate ends in; the test checks they
agree). The one-call device command and the wheels it needs: references/training_speed.md.
"""

import argparse
import importlib.util
import json
import os
import platform
import random
import runpy
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCRIPTS = ROOT / "scripts"
sys.path[:0] = [str(HERE), str(ROOT / "src")]  # bench_train beside this file; hf_trainer without installing it

from bench_train import ANCHOR, LMSYS_PROMPT_TOKENS, LMSYS_RESPONSE_TOKENS, MarkovText, chat_dataset, mfu  # noqa: E402
from bench_train import sample_lognormal_int  # noqa: E402
from hf_trainer.runtime import estimate_math  # noqa: E402  (standard library only: runs on a bare image)

GIB = 2**30
PROBE_ENV = "HF_TRAINER_GPU_PROBE"
TOKEN_STATS_ENV = "HF_TRAINER_TOKEN_STATS"  # the scripts' own hook (runtime/train_common.py attach_token_stats)

# Model shapes from the published config.json files (Qwen/Qwen2.5-0.5B, Qwen/Qwen2.5-1.5B); random weights.
SHAPES: dict[str, dict] = {
    "0.5b": dict(model_type="qwen2", vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                 num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                 tie_word_embeddings=True),
    "1.5b": dict(model_type="qwen2", vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                 num_attention_heads=12, num_key_value_heads=2, max_position_embeddings=32768,
                 tie_word_embeddings=True),
    # CPU mode: the vocabulary is the tokenizer's own (about 2,000 words), two small layers.
    "tiny": dict(model_type="llama", vocab_size=None, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=4096,
                 tie_word_embeddings=False),
}

# Steps asked of the estimator: it rounds each time part to 0.1 s, so a long run makes its seconds per step exact (on a
# GPU its time is linear in steps; nothing else in the estimate depends on the count).
PREDICT_STEPS = 1000

# The H100 is no HF Jobs flavor, so the estimator's datasheet table (GPU_SPECS) has no row for it. NVIDIA's H100 SXM
# and H200 datasheets give the same dense BF16 peak (989 TFLOP/s); the H200 row stands in, and the JSON says so.
STAND_INS = {"H100": "H200"}


@dataclass(frozen=True)
class AcceptancePath:
    name: str
    script: str
    data: str  # chat | pairs | unpaired | prompts
    method: str  # the estimator's method
    args: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()  # cuda, flash_attn, bitsandbytes
    lora_targets: str = "all-linear"  # the estimator's lora_target_modules for this configuration
    max_steps: int | None = None  # fewer steps than the run's --steps (GRPO: each step generates)
    note: str = ""


GRPO_ARGS = ("--reward_funcs", "length_penalty", "--length_target", "64", "--num_generations", "4",
             "--per_device_train_batch_size", "8", "--gradient_accumulation_steps", "1", "--no-use_vllm")
# The comparisons the issue asks for first (LoRA SFT against the anchor), GRPO (generation-bound, slowest) last, so a
# spent time budget cuts the least.
PATHS: tuple[AcceptancePath, ...] = (
    AcceptancePath("sft_lora_packed_sdpa", "train_sft.py", "chat", "sft",
                   ("--use_peft", "--attn_implementation", "sdpa"), note="ours on HF Jobs (no flash-attn)"),
    AcceptancePath("sft_lora_anchor", "train_sft.py", "chat", "sft",
                   ("--use_peft", *ANCHOR, "--per_device_train_batch_size", "4", "--gradient_accumulation_steps", "4"),
                   lora_targets="attention", note="huggingface/skills' SFT example (estimator: LoRA on q,k,v,o)"),
    AcceptancePath("sft_lora_packed_flash", "train_sft.py", "chat", "sft",
                   ("--use_peft", "--attn_implementation", "flash_attention_2"), ("cuda", "flash_attn"),
                   note="ours with the varlen kernel"),
    AcceptancePath("sft_full", "train_sft.py", "chat", "sft", (), note="full fine-tuning, script defaults"),
    # The precision policy's check (issue 26): the same full fine-tuning in fp32 throughout, and forced onto the path a
    # T4 runs (FP32 master weights, fp16 autocast, GradScaler); their loss drops are compared in the report.
    AcceptancePath("sft_full_fp32", "train_sft.py", "chat", "sft", ("--precision", "fp32"), ("cuda",),
                   note="full fine-tuning in fp32 (the loss-drop reference; on CPU sft_full is fp32 already)"),
    AcceptancePath("sft_full_fp16", "train_sft.py", "chat", "sft", ("--precision", "fp16"), ("cuda",),
                   note="full fine-tuning forced to fp16 autocast + GradScaler (the T4 path)"),
    AcceptancePath("sft_qlora", "train_sft.py", "chat", "sft", ("--use_peft", "--load_in_4bit"),
                   ("cuda", "bitsandbytes"), note="NF4 base + LoRA"),
    AcceptancePath("dpo_lora", "train_dpo.py", "pairs", "dpo", ("--use_peft",)),
    AcceptancePath("kto_lora", "train_kto.py", "unpaired", "kto", ("--use_peft",)),
    AcceptancePath("reward", "train_reward.py", "pairs", "reward", ()),
    AcceptancePath("grpo", "train_grpo.py", "prompts", "grpo", GRPO_ARGS, max_steps=6,
                   note="transformers generate, no vLLM"),
)
PATH_NAMES = [p.name for p in PATHS]


# --- data and model ---------------------------------------------------------------------------------------------

def _message(role: str, text: str) -> dict:
    return {"role": role, "content": text}


def write_datasets(folder: Path, rows: int, seed: int = 0) -> dict[str, Path]:
    """JSONL files for each data shape; lengths follow LMSYS-Chat-1M (user 69.5 +/- 143.4, response 214.5 +/- 226.4)."""
    rng = random.Random(seed)
    text = MarkovText(seed=seed)

    def prompt() -> list[dict]:
        return [_message("user", text.text(sample_lognormal_int(rng, *LMSYS_PROMPT_TOKENS)))]

    def response() -> list[dict]:
        return [_message("assistant", text.text(sample_lognormal_int(rng, *LMSYS_RESPONSE_TOKENS)))]

    shapes = {
        "chat": chat_dataset(rows, seed=seed),
        "pairs": [{"prompt": prompt(), "chosen": response(), "rejected": response()} for _ in range(rows // 2)],
        "unpaired": [{"prompt": prompt(), "completion": response(), "label": i % 3 != 0} for i in range(rows // 2)],
        "prompts": [{"prompt": prompt()} for _ in range(max(64, rows // 16))],
    }
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, data in shapes.items():
        files[name] = folder / f"{name}.jsonl"
        files[name].write_text("".join(json.dumps(r) + "\n" for r in data), encoding="utf-8")
    return files


def build_model(folder: Path, shape: str, cuda: bool, seed: int = 0) -> dict:
    """A word-level tokenizer (one token per Markov word, ChatML template) and a random model of `shape`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedTokenizerFast

    from hf_trainer.tiny import CHAT_TEMPLATE, SPECIAL_TOKENS

    vocab = {t: i for i, t in enumerate([*SPECIAL_TOKENS, "<unk>", "system", "user", "assistant",
                                         *MarkovText(seed=seed).words])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<|endoftext|>", eos_token="<|im_end|>",
                                   pad_token="<|pad|>", unk_token="<unk>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(folder)
    facts = dict(SHAPES[shape])
    model_type = facts.pop("model_type")
    facts["vocab_size"] = facts["vocab_size"] or len(fast)
    config = AutoConfig.for_model(model_type, bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
                                  pad_token_id=fast.pad_token_id, **facts)
    torch.manual_seed(seed)
    dtype = torch.bfloat16 if cuda else torch.float32
    with torch.device("cuda" if cuda else "cpu"):  # random init on the GPU: seconds instead of a minute on CPU
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.generation_config.pad_token_id = fast.pad_token_id
    model.save_pretrained(folder)
    summary = {"shape": shape, "parameters": sum(p.numel() for p in model.parameters()),
               "layers": config.num_hidden_layers, "hidden_size": config.hidden_size, "vocab_size": config.vocab_size,
               "dtype": str(dtype).replace("torch.", "")}
    del model
    if cuda:
        torch.cuda.empty_cache()
    return summary


# --- the probe: runs inside each script's process ----------------------------------------------------------------

def _batch_tokens(inputs: dict) -> tuple | None:
    """(real, computed, prompt-real, rows, sequences) of one training batch as compute_loss sees it. Tensors stay
    lazy (no GPU sync per micro-batch). A padding-free batch is one row of several sequences (positions restart)."""
    if "input_ids" in inputs:  # SFT (padded or padding-free), DPO/reward (chosen + rejected stacked), KTO
        ids = inputs["input_ids"]
        mask = inputs.get("attention_mask")
        real = mask.sum() if mask is not None else ids.numel()  # padding-free rows carry no padding
        positions = inputs.get("position_ids")
        sequences = (positions == 0).sum() if mask is None and positions is not None else int(ids.shape[0])
        return real, ids.numel(), None, int(ids.shape[0]), sequences
    if "completion_ids" in inputs:  # GRPO after generation
        prompt = inputs["prompt_mask"].sum()
        real = prompt + inputs["completion_mask"].sum()
        computed = inputs["prompt_ids"].numel() + inputs["completion_ids"].numel()
        rows = int(inputs["completion_ids"].shape[0])
        return real, computed, prompt, rows, rows
    return None


def _install_probe(trainer, path: Path) -> None:
    import torch
    from transformers import TrainerCallback

    cuda = torch.cuda.is_available()
    out = path.open("a", encoding="utf-8")
    pending: list = []
    compute_loss = trainer.compute_loss

    def counting_compute_loss(model, inputs, *args, **kwargs):
        if model.training:
            counted = _batch_tokens(inputs)
            if counted:
                pending.append(counted)
        return compute_loss(model, inputs, *args, **kwargs)

    def now() -> float:
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter()

    class Probe(TrainerCallback):
        last = 0.0

        def on_train_begin(self, args, state, control, **kwargs):
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            self.last = now()

        def on_step_end(self, args, state, control, **kwargs):
            t = now()
            out.write(json.dumps({"step": state.global_step, "seconds": t - self.last,
                                  "real": sum(int(b[0]) for b in pending), "computed": sum(int(b[1]) for b in pending),
                                  "prompt_real": sum(int(b[2]) for b in pending if b[2] is not None),
                                  "rows": sum(b[3] for b in pending), "sequences": sum(int(b[4]) for b in pending),
                                  "micro_batches": len(pending)}) + "\n")
            pending.clear()
            self.last = now()  # logging and callbacks between steps stay in the next step's time

        def on_train_end(self, args, state, control, model=None, **kwargs):
            import resource

            base = trainer.model
            config = getattr(base, "config", None)
            summary = {
                "summary": True,
                "peak_allocated_bytes": torch.cuda.max_memory_allocated() if cuda else None,
                "peak_reserved_bytes": torch.cuda.max_memory_reserved() if cuda else None,
                "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "per_device_train_batch_size": args.per_device_train_batch_size,
                "gradient_accumulation_steps": args.gradient_accumulation_steps,
                "max_length": getattr(args, "max_length", None),
                "max_completion_length": getattr(args, "max_completion_length", None),
                "num_generations": getattr(args, "num_generations", None),
                "packing": getattr(args, "packing", None),
                "padding_free": getattr(args, "padding_free", None),
                "activation_checkpointing": bool(getattr(args, "activation_checkpointing", None)
                                                 or getattr(args, "gradient_checkpointing", False)),
                "bf16": bool(args.bf16), "fp16": bool(args.fp16), "optim": str(args.optim),
                "trainable_dtype": next((str(p.dtype).removeprefix("torch.") for p in base.parameters()
                                         if p.requires_grad), None),
                "use_liger_kernel": bool(getattr(args, "use_liger_kernel", False)),
                "attn_implementation": getattr(config, "_attn_implementation", None),
                "peft": hasattr(base, "peft_config"),
                "load_in_4bit": bool(getattr(base, "is_loaded_in_4bit", False)),
                "trainable_parameters": sum(p.numel() for p in base.parameters() if p.requires_grad),
                "global_steps": state.global_step,
            }
            out.write(json.dumps(summary) + "\n")
            out.close()

    trainer.compute_loss = counting_compute_loss
    trainer.add_callback(Probe())


def probe_main(stats: str, script: str, script_args: list[str]) -> None:
    """Run `script` as __main__ with its arguments, the probe attached to the first Trainer.train call."""
    import transformers

    original = transformers.Trainer.train

    def train(self, *args, **kwargs):
        if not getattr(self, "_gpu_acceptance_probe", False):
            self._gpu_acceptance_probe = True
            _install_probe(self, Path(stats))
        return original(self, *args, **kwargs)

    transformers.Trainer.train = train
    sys.argv = [script, *script_args]
    runpy.run_path(script, run_name="__main__")


# --- measurements (pure) ---------------------------------------------------------------------------------------------

def read_probe(path: Path) -> tuple[list[dict], dict]:
    steps, summary = [], {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if record.get("summary"):
                summary = record
            else:
                steps.append(record)
    return steps, summary


def read_token_stats(path: Path) -> dict | None:
    """Totals of the scripts' own HF_TRAINER_TOKEN_STATS lines (written by the scripts that attach the hook)."""
    if not path.exists():
        return None
    real = computed = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if "computed" in record:
            real += record["real"]
            computed += record["computed"]
    return {"real": real, "computed": computed} if computed else None


def steady_window(steps: list[dict], warmup: int) -> list[dict]:
    """The steps after the first `warmup` (CUDA context, kernel selection, allocator growth); at least the last."""
    if not steps:
        return []
    return steps[min(warmup, len(steps) - 1):]


def measure(steps: list[dict], warmup: int) -> dict:
    window = steady_window(steps, warmup)
    seconds = sum(s["seconds"] for s in window)
    real = sum(s["real"] for s in window)
    computed = sum(s["computed"] for s in window)
    rows = sum(s["rows"] for s in window)
    sequences = sum(s.get("sequences", s["rows"]) for s in window)
    micro = sum(s["micro_batches"] for s in window)
    return {
        "steps_measured": len(window), "steps_total": len(steps), "window_seconds": seconds,
        "seconds_per_step": seconds / len(window) if window else None,
        "first_step_seconds": steps[0]["seconds"] if steps else None,
        "real_tokens": real, "computed_tokens": computed,
        "padding_share": 1 - real / computed if computed else None,
        "real_tokens_per_second": real / seconds if seconds else None,
        "real_tokens_per_micro_batch": real / micro if micro else None,
        "rows_per_micro_batch": rows / micro if micro else None,
        "tokens_per_sequence": real / sequences if sequences else None,
        "prompt_tokens_per_row": (sum(s["prompt_real"] for s in window) / rows) if rows else None,
    }


# --- the estimator, same card and configuration -------------------------------------------------------------------

def card_spec(device_name: str, override: str | None = None) -> tuple[object | None, str]:
    """The estimator's datasheet row for this card (GPU_SPECS), and a note when a stand-in was used."""
    if override:
        return estimate_math.gpu_spec(override), f"--gpu_model {override} given"
    spec = estimate_math.gpu_spec(device_name)
    if spec:
        return spec, ""
    for fragment, stand_in in STAND_INS.items():
        if fragment.lower() in device_name.lower():
            return estimate_math.GPU_SPECS[stand_in], (f"{fragment} is not in the estimator's table: its {stand_in} "
                                                       "row stands in (same dense BF16 peak on the datasheets)")
    return None, f"{device_name!r} is not in the estimator's table: no MFU and no prediction"


def device_flavor(spec, vram_gib: float, cpus: int, ram_gb: float) -> object:
    return estimate_math.Flavor("this-card", f"this card ({spec.model} row)", cpus, ram_gb, 0.0, spec.model, 1,
                                round(vram_gib, 1))


def estimator_request(path: AcceptancePath, config: dict, measured: dict) -> dict:
    """The estimate request for the configuration the trainer really ran (the probe's record), in tokens measured."""
    batch = int(config["per_device_train_batch_size"])
    per_row = measured["real_tokens_per_micro_batch"] or 0.0
    if path.method in ("dpo", "reward"):
        mean = per_row / (2 * batch)  # chosen and rejected are stacked in one batch; a pair trains two sequences
    elif path.method == "grpo":
        mean = measured["prompt_tokens_per_row"] or 1.0  # the estimator counts GRPO rows as prompts
    else:
        mean = per_row / batch  # a packed row, or one padded conversation (padding is not counted)
    request = {
        # The steps the trainer ran: the estimator's schedule counts the same steps and the micro-batches in them.
        "method": path.method, "max_steps": int(config.get("global_steps") or PREDICT_STEPS),
        "per_device_train_batch_size": batch,
        "gradient_accumulation_steps": int(config["gradient_accumulation_steps"]),
        "max_length": int(config.get("max_length") or 2048), "mean_tokens_per_row": max(mean, 1.0),
        "activation_checkpointing": bool(config["activation_checkpointing"]), "use_peft": bool(config["peft"]),
        "lora_target_modules": path.lora_targets,
        "load_in_4bit": bool(config["load_in_4bit"]) or "--load_in_4bit" in path.args,
        "push_to_hub": False, "max_hours": None,
    }
    if config.get("optim") in ("adamw_torch", "adamw_torch_fused", "adamw_bnb_8bit", "paged_adamw_8bit"):
        request["optim"] = config["optim"]
    if path.method == "grpo":
        request["num_generations"] = int(config["num_generations"] or 8)
        request["max_completion_length"] = int(config["max_completion_length"] or 256)
    return request


def predict(request: dict, model_dir: Path, flavor: object | None) -> dict:
    """The estimator's seconds per step and peak memory for `request` on `flavor` (None: this CPU, local profile)."""
    facts = estimate_math.facts_from_folder(model_dir)
    if flavor is None:
        catalog = estimate_math.Catalog((), "none", "")
        cpus = os.cpu_count() or 1
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
        local = estimate_math.Flavor("local", "this machine", cpus, round(ram, 1), 0.0)
        result = estimate_math.estimate({**request, "local": True}, catalog, facts, None, local)
    else:
        catalog = estimate_math.Catalog((flavor,), "measured", time.strftime("%Y-%m-%d"))
        result = estimate_math.estimate(request, catalog, facts)
    row = result["rows"][0]
    times = row["time_parts_s"]
    step_s = row.get("seconds_per_step") or (
        (times.get("training", 0.0) + times.get("rollout_generation", 0.0)) / request["max_steps"])
    return {"seconds_per_step": step_s, "optimizer_steps": row.get("optimizer_steps"),
            "micro_batches": row.get("micro_batches"), "memory_gib": row["memory_gib"], "verdict": row["verdict"],
            "changes": row["changes"], "memory_parts_gib": row["memory_parts_gib"], "time_parts_s": times,
            "training_flops": result["training_flops"], "train_tokens": result["train_tokens"], "note": row["note"]}


# --- running one path ----------------------------------------------------------------------------------------------

@dataclass
class PathResult:
    name: str
    status: str  # ok | failed | timeout | skipped
    reason: str = ""
    note: str = ""
    wall_seconds: float = 0.0
    config: dict = field(default_factory=dict)
    measured: dict = field(default_factory=dict)
    predicted: dict = field(default_factory=dict)
    ratios: dict = field(default_factory=dict)
    mfu: dict = field(default_factory=dict)
    hook_tokens: dict | None = None
    summary: dict = field(default_factory=dict)
    output_tail: str = ""


def missing_need(path: AcceptancePath, available: dict[str, bool]) -> str | None:
    for need in path.needs:
        if not available.get(need):
            return {"cuda": "needs a CUDA GPU", "flash_attn": "flash_attn is not installed (varlen kernel)",
                    "bitsandbytes": "bitsandbytes is not installed (QLoRA)"}.get(need, f"needs {need}")
    return None


def run_path(path: AcceptancePath, ctx: dict, timeout: float) -> PathResult:
    work = ctx["work"] / path.name
    work.mkdir(parents=True, exist_ok=True)
    probe, hook = work / "probe.jsonl", work / "token_stats.jsonl"
    for f in (probe, hook):
        f.unlink(missing_ok=True)
    steps = min(ctx["steps"], path.max_steps or ctx["steps"])
    common = ["--model_name_or_path", str(ctx["model_dir"]), "--dataset_name", str(ctx["data"][path.data]),
              "--output_dir", str(work / "out"), "--max_steps", str(steps), "--logging_steps", "1",
              "--save_steps", "1000000", "--eval_split_size", "0", "--report_to", "none", "--json"]
    if path.method == "grpo":
        common += ["--max_completion_length", str(ctx["completion_length"])]
    # The mode's overrides come last, so they win over the path's own flags (argparse keeps the last value).
    cmd = [sys.executable, str(Path(__file__).resolve()), "_probe", str(probe), str(SCRIPTS / path.script),
           *common, *path.args, *ctx["extra"]]
    env = {**ctx["env"], TOKEN_STATS_ENV: str(hook)}
    started = time.time()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        tail = (exc.stderr or b"")[-3000:]
        return PathResult(path.name, "timeout", f"over its {timeout:.0f} s budget", path.note, time.time() - started,
                          output_tail=tail.decode("utf-8", "replace") if isinstance(tail, bytes) else str(tail))
    wall = time.time() - started
    result = PathResult(path.name, "ok", note=path.note, wall_seconds=wall)
    if proc.returncode != 0:
        result.status, result.reason = "failed", f"exit {proc.returncode}"
        result.output_tail = (proc.stdout[-1500:] + "\n" + proc.stderr[-3000:]).strip()
        return result
    steps, config = read_probe(probe)
    if not steps or not config:
        result.status, result.reason = "failed", "the probe recorded no training steps"
        result.output_tail = proc.stderr[-3000:]
        return result
    try:
        result.summary = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        result.summary = {}
    result.config = config
    result.measured = measure(steps, ctx["warmup"])
    peak = config["peak_reserved_bytes"] or config["peak_rss_bytes"]
    result.measured["peak_memory_gib"] = peak / GIB
    if config["peak_allocated_bytes"] is not None:
        result.measured["peak_allocated_gib"] = config["peak_allocated_bytes"] / GIB
    result.hook_tokens = read_token_stats(hook)
    m = result.measured
    if ctx["peak_flops"] and m["real_tokens_per_second"]:
        # Useful attention spans each sequence (a conversation), not the packed row or the padded batch.
        result.mfu = mfu(m["real_tokens_per_second"], ctx["model"], m["tokens_per_sequence"] or 0.0, ctx["peak_flops"])
        result.mfu["mfu"] = result.mfu["mfu_4n" if config["peft"] else "mfu_6n"]
    try:
        request = estimator_request(path, config, m)
        result.predicted = predict(request, ctx["model_dir"], ctx["flavor"])
        result.predicted["request"] = request
    except (estimate_math.EstimateError, KeyError, TypeError, ValueError) as exc:
        result.predicted = {"error": f"{type(exc).__name__}: {exc}"}
    p = result.predicted
    if p.get("seconds_per_step") and m["seconds_per_step"]:
        result.ratios["time_per_step"] = p["seconds_per_step"] / m["seconds_per_step"]
    if p.get("optimizer_steps") and config.get("global_steps"):
        result.ratios["steps"] = p["optimizer_steps"] / config["global_steps"]
    if p.get("memory_gib") and m["peak_memory_gib"]:
        result.ratios["peak_memory"] = p["memory_gib"] / m["peak_memory_gib"]
    return result


# --- report ----------------------------------------------------------------------------------------------------------

def _f(value: object, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def render(report: dict) -> str:
    env = report["environment"]
    lines = [f"# GPU acceptance: {env['device']}", "",
             f"{report['date']}; model {report['model']['shape']} ({report['model']['parameters'] / 1e6:.1f}M "
             f"parameters, {report['model']['dtype']}); torch {env['versions'].get('torch')}, transformers "
             f"{env['versions'].get('transformers')}, trl {env['versions'].get('trl')}, peft "
             f"{env['versions'].get('peft')}; peak {_f(env['peak_tflops'], '.0f')} TFLOP/s "
             f"({env['peak_source']}); {report['steps']} steps per path, the first {report['warmup']} not timed; "
             f"total {report['total_seconds']:.0f} s.", "",
             "| path | status | steps (est.) | real tok/s | s/step | MFU | padding | peak GiB | est. s/step (x) | "
             "est. GiB (x) | config |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["paths"]:
        m, p, x, c = r["measured"], r["predicted"], r["ratios"], r["config"]
        if r["status"] != "ok":
            lines.append(f"| {r['name']} | {r['status']}: {r['reason']} | | | | | | | | | |")
            continue
        shape = (f"{c['per_device_train_batch_size']}x{c['gradient_accumulation_steps']}, "
                 f"{c['attn_implementation']}, ckpt {'on' if c['activation_checkpointing'] else 'off'}")
        lines.append(
            f"| {r['name']} | ok | {_f(c.get('global_steps'), 'd')} ({_f(p.get('optimizer_steps'), 'd')}) | "
            f"{_f(m['real_tokens_per_second'], ',.0f')} | {_f(m['seconds_per_step'], '.3f')} | "
            f"{_f(r['mfu'].get('mfu'), '.1%')} | {_f(m['padding_share'], '.1%')} | {m['peak_memory_gib']:.2f} | "
            f"{_f(p.get('seconds_per_step'), '.3f')} ({_f(x.get('time_per_step'), '.2f')}) | "
            f"{_f(p.get('memory_gib'), '.2f')} ({_f(x.get('peak_memory'), '.2f')}) | {shape} |")
    by = {r["name"]: r for r in report["paths"] if r["status"] == "ok"}
    anchor = by.get("sft_lora_anchor")
    lines.append("")
    for ours in ("sft_lora_packed_sdpa", "sft_lora_packed_flash"):
        if anchor and ours in by and anchor["measured"]["real_tokens_per_second"]:
            ratio = by[ours]["measured"]["real_tokens_per_second"] / anchor["measured"]["real_tokens_per_second"]
            lines.append(f"- {ours} / sft_lora_anchor real tokens/s: x{ratio:.2f} (target >= 1.5)")
    lines += precision_lines(by)
    lines += ["- MFU: (6N full, 4N LoRA, + causal attention) x real tokens/s / peak; GRPO's time includes "
              "generation.",
              "- est.: the estimator (hf_trainer.runtime.estimate_math) for this card and the configuration the "
              "trainer ran: its step count (schedule) and seconds per step beside the trainer's global_step and "
              "measured s/step; (x) = predicted / measured. Measured memory: torch's peak reserved memory (CPU: peak RSS)."]
    lines += [f"- note: {n}" for n in report["notes"]]
    return "\n".join(lines) + "\n"


def loss_drop(result: dict) -> float | None:
    """First minus last logged training loss of a path (the script's own summary)."""
    first, last = (result.get("summary") or {}).get("first_loss"), (result.get("summary") or {}).get("last_loss")
    return first - last if first is not None and last is not None else None


PRECISION_TARGET = 0.70  # issue 26: a 16-bit path keeps at least 70% of fp32's loss drop over the same steps


def precision_lines(by: dict) -> list[str]:
    """Full fine-tuning's loss drop under the precision policy (sft_full: bf16 autocast over FP32 master weights) and
    forced to the T4's fp16 path, each against the same run in fp32: lost updates would show as a smaller drop."""
    reference = by.get("sft_full_fp32")
    base = loss_drop(reference) if reference else None
    lines = []
    for name, what in (("sft_full", "policy"), ("sft_full_fp16", "forced fp16 + GradScaler")):
        if name not in by or base is None:
            continue
        drop, c = loss_drop(by[name]), by[name]["config"]
        precision = "bf16" if c.get("bf16") else "fp16" if c.get("fp16") else "fp32"
        ratio = f"x{drop / base:.2f}" if drop is not None and base > 0 else "n/a (no drop to compare)"
        compute = "fp32, no autocast" if precision == "fp32" else f"{precision} autocast"
        lines.append(f"- {name} ({what}: {compute}, trained parameters {c.get('trainable_dtype')}): loss "
                     f"drop {_f(drop, '.4f')} vs sft_full_fp32 {_f(base, '.4f')} over the same steps: {ratio} "
                     f"(target >= {PRECISION_TARGET:.2f})")
    return lines


def stack_problems() -> list[str]:
    """What keeps the scripts' imports from working here (a missing wheel, a version clash), one line each."""
    import importlib

    problems = []
    for module in ("transformers", "trl", "datasets", "peft", "accelerate"):
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001  (any import failure is the finding; record it and stop cleanly)
            problems.append(f"import {module} failed: {type(exc).__name__}: {str(exc)[:300]}")
    return problems


def versions() -> dict:
    from importlib import metadata

    found = {}
    for name in ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "pyarrow", "bitsandbytes",
                 "flash_attn", "liger_kernel", "huggingface_hub", "tokenizers"):
        try:
            found[name] = metadata.version(name.replace("_", "-"))
        except metadata.PackageNotFoundError:
            try:
                found[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                found[name] = None
    return found


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="Folder for gpu_acceptance.json and gpu_acceptance.md.")
    parser.add_argument("--cpu", action="store_true", help="Tiny model, one step per path, on CPU (the test suite).")
    parser.add_argument("--only", nargs="+", choices=PATH_NAMES, help="Run only these paths (default: all).")
    parser.add_argument("--shape", choices=list(SHAPES), default=None, help="Model shape (default: 0.5b; tiny on CPU).")
    parser.add_argument("--steps", type=int, default=None, help="Optimiser steps per path (default: 10; CPU 1).")
    parser.add_argument("--warmup", type=int, default=None, help="Steps not timed (default: 3; CPU 0).")
    parser.add_argument("--rows", type=int, default=None, help="Conversations generated (default: 1200; CPU 48).")
    parser.add_argument("--budget_s", type=float, default=450.0,
                        help="Whole run; a path is skipped when less than --min_path_s is left.")
    parser.add_argument("--path_timeout_s", type=float, default=150.0, help="Most seconds one path may take.")
    parser.add_argument("--min_path_s", type=float, default=40.0)
    parser.add_argument("--gpu_model", default=None, help="The estimator's GPU row to use (e.g. H200) instead of the "
                        "one matched from the device name.")
    parser.add_argument("--workdir", default=None, help="Scratch folder (default: a temporary one).")
    return parser.parse_args(argv)


def main(args: argparse.Namespace) -> int:
    import torch

    started = time.time()
    cuda = torch.cuda.is_available() and not args.cpu
    if not cuda and not args.cpu:
        raise SystemExit("No CUDA GPU found. Run on a GPU machine, or pass --cpu for the tiny CPU rehearsal.")
    shape = args.shape or ("0.5b" if cuda else "tiny")
    steps = args.steps or (10 if cuda else 1)
    warmup = args.warmup if args.warmup is not None else (3 if cuda else 0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="gpu-acceptance-"))
    env = {**os.environ, "HF_HOME": str(work / "hf"), "HF_DATASETS_CACHE": str(work / "hf" / "datasets"),
           "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "TRACKIO_DIR": str(work / "trackio"), "HF_TRAINER_NO_RELAUNCH": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("HF_TOKEN", None)  # nothing here talks to the Hub
    if not cuda:
        env["CUDA_VISIBLE_DEVICES"] = ""
    notes: list[str] = []
    broken = stack_problems()
    notes += broken
    available = {"cuda": cuda, "flash_attn": False, "bitsandbytes": False}
    if cuda:
        # Found, not imported: importing a CUDA extension here would hold GPU memory in this process all run long;
        # one that is installed but broken fails its path, with the error in that path's output.
        for module in ("flash_attn", "bitsandbytes"):
            available[module] = importlib.util.find_spec(module) is not None
            if not available[module]:
                notes.append(f"{module} is not installed")
    device = torch.cuda.get_device_name(0) if cuda else f"CPU ({os.cpu_count()} cores)"
    spec, peak_note, flavor = None, "", None
    if cuda:
        spec, peak_note = card_spec(device, args.gpu_model)
        if spec:
            props = torch.cuda.get_device_properties(0)
            flavor = device_flavor(spec, props.total_memory / GIB, os.cpu_count() or 1, 0.0)
    if peak_note:
        notes.append(peak_note)
    model_dir = work / "model"
    model = {"shape": shape, "parameters": 0, "dtype": "-"}
    if not broken:
        try:
            model = build_model(model_dir, shape, cuda)
        except Exception as exc:  # noqa: BLE001  (out of memory, an API change: the finding, recorded below)
            broken.append(f"building the {shape} model failed: {type(exc).__name__}: {str(exc)[:300]}")
            notes.append(broken[-1])
    data = write_datasets(work / "data", args.rows or (1200 if cuda else 48))
    ctx = {"work": work, "model_dir": model_dir, "data": data, "steps": steps, "warmup": warmup, "env": env,
           "model": model, "peak_flops": spec.bf16_tflops * 1e12 if spec else None, "flavor": flavor,
           "completion_length": 128 if cuda else 8,
           # CPU: short rows and one micro-batch per step keep each path to a few seconds.
           "extra": [] if cuda else ["--max_length", "256", "--gradient_accumulation_steps", "1"]}
    print(f"Device: {device}. Model: {shape}, {model['parameters'] / 1e6:.1f}M parameters. Work dir: {work}",
          flush=True)
    results: list[PathResult] = []

    def write_report() -> dict:
        """Written after every path, so a run stopped from outside still leaves what it measured."""
        report = {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "mode": "gpu" if cuda else "cpu",
            "environment": {"device": device, "peak_tflops": spec.bf16_tflops if spec else None,
                            "peak_source": f"estimator GPU_SPECS[{spec.model!r}]" if spec else "none",
                            "python": platform.python_version(), "versions": versions(), "cpus": os.cpu_count(),
                            "available": available},
            "model": model, "steps": steps, "warmup": warmup, "notes": notes,
            "total_seconds": time.time() - started, "paths": [asdict(r) for r in results],
        }
        (out / "gpu_acceptance.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
        (out / "gpu_acceptance.md").write_text(render(report), encoding="utf-8")
        return report

    for path in PATHS:
        if args.only and path.name not in args.only:
            continue
        left = args.budget_s - (time.time() - started)
        reason = missing_need(path, available)
        if broken:
            results.append(PathResult(path.name, "skipped", "the training stack or the model failed (see notes)",
                                      path.note))
        elif reason:
            results.append(PathResult(path.name, "skipped", reason, path.note))
        elif left < args.min_path_s:
            results.append(PathResult(path.name, "skipped", f"time budget ({args.budget_s:.0f} s) spent", path.note))
        else:
            results.append(run_path(path, ctx, min(args.path_timeout_s, left)))
        r = results[-1]
        rate = r.measured.get("real_tokens_per_second")
        print(f"  {r.name}: {r.status}{' (' + r.reason + ')' if r.reason else ''}"
              f"{f', {rate:,.0f} real tok/s' if rate else ''}, {r.wall_seconds:.0f} s", flush=True)
        write_report()
    print(render(write_report()), flush=True)
    return 1 if broken else 0


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "_probe":
        probe_main(sys.argv[2], sys.argv[3], sys.argv[4:])
    else:
        sys.exit(main(parse_args()))
