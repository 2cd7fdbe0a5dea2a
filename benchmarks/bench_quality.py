"""Training quality: scripts/train_sft.py's default recipe against TRL's reference recipe, same data, same tokens.

The reference is what TRL's own `trl/scripts/sft.py` does with its defaults: the model loaded in float32
(ModelConfig.dtype), SFTConfig's defaults (bf16 autocast, no packing, max_length 1024, per-device batch 8 without
accumulation, lr 2e-5 with a linear schedule and no warm-up, gradient checkpointing on), full fine-tuning. Ours: the
script's defaults for full fine-tuning (FP32 master weights with bf16 autocast by the precision policy, best-fit
packing without padding, lr 2e-5 cosine with 3% warm-up, 16 packed rows per optimiser step). On CPU ours runs with
`--precision bf16` so both compute as they would on a bf16 GPU; on a GPU both run as they would there.

Both train the same number of epochs over the same rows (so the same real tokens, up to truncation) from the same
locally built model. On CPU everything is scaled down by --scale (default 8): the conversations' lengths and both
recipes' max_length (ours 2048/8, the reference's 1024/8), so each optimiser step sees the same share of the data as at
full scale (ours 16 packed rows of max_length, the reference 8 rows) in a CPU's minutes; then both saved models are scored by one function on the same held-out rows (mean token
cross-entropy over the chat-formatted conversation, loaded in float32). It prints the eval loss of each, their ratio
(ours / reference: below 1 is better), real training tokens, optimiser steps, and real tokens/s of training.

    .venv/bin/python benchmarks/bench_quality.py                 # CPU: ~1M-parameter Llama, a couple of minutes
    .venv/bin/python benchmarks/bench_quality.py --quick         # smallest run that prints every figure
    .venv/bin/python benchmarks/bench_quality.py --rows 512 --epochs 2 --json quality.json

The conversations are benchmarks/bench_train.py's (LMSYS-Chat-1M lengths over a learnable word-level Markov text).
A benchmark, not a test: figures go to references/training_speed.md.
"""

import argparse
import importlib.util
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAIN_SFT = ROOT / "scripts" / "train_sft.py"

_spec = importlib.util.spec_from_file_location("bench_train", Path(__file__).with_name("bench_train.py"))
bench_train = importlib.util.module_from_spec(_spec)
sys.modules["bench_train"] = bench_train  # its dataclasses resolve annotations through sys.modules
_spec.loader.exec_module(bench_train)

SEED = 42


def write_jsonl(rows: list[dict], path: Path) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


# --- the two recipes ----------------------------------------------------------------------------------------------

OURS_MAX_LENGTH = 2048  # train_sft.py's default
REFERENCE_MAX_LENGTH = 1024  # SFTConfig's default


def scaled_chat_dataset(rows: int, scale: int, seed: int = 1) -> list[dict]:
    """bench_train's conversations (LMSYS-Chat-1M lengths, learnable Markov text) with every length divided by scale."""
    rng = random.Random(seed)
    source = bench_train.MarkovText(seed=0)  # the words the bench model's tokenizer knows
    data = []
    for _ in range(rows):
        messages = []
        for prompt, response in bench_train.sample_conversation_lengths(rng):
            messages.append({"role": "user", "content": source.text(max(1, prompt // scale))})
            messages.append({"role": "assistant", "content": source.text(max(1, response // scale))})
        data.append({"messages": messages})
    return data


def run_ours(model: Path, train: Path, out: Path, epochs: float, gpu: bool, scale: int, extra: list[str]) -> dict:
    """scripts/train_sft.py with its defaults (full fine-tuning); --precision bf16 on CPU."""
    stats = out.with_suffix(".stats.jsonl")
    cmd = [sys.executable, str(TRAIN_SFT), "--model_name_or_path", str(model), "--dataset_name", str(train),
           "--output_dir", str(out), "--num_train_epochs", str(epochs), "--eval_split_size", "0",
           "--report_to", "none", "--seed", str(SEED), "--json", "--max_length", str(OURS_MAX_LENGTH // scale),
           *([] if gpu else ["--precision", "bf16"]), *extra]
    return _run(cmd, stats, "ours")


def run_reference(model: Path, train: Path, out: Path, epochs: float, scale: int) -> dict:
    """TRL's SFTTrainer with TRL's defaults, in a process of its own (this file with --_reference)."""
    stats = out.with_suffix(".stats.jsonl")
    cmd = [sys.executable, __file__, "--_reference", str(model), str(train), str(out), str(epochs),
           str(REFERENCE_MAX_LENGTH // scale)]
    return _run(cmd, stats, "reference")


def _run(cmd: list[str], stats: Path, name: str) -> dict:
    stats.unlink(missing_ok=True)
    started = time.time()
    proc = subprocess.run(cmd, env={**os.environ, "HF_TRAINER_TOKEN_STATS": str(stats)}, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    s = bench_train.read_stats(stats)
    steps = next((json.loads(line)["steps"] for line in reversed(proc.stdout.splitlines())
                  if line.startswith("{") and '"steps"' in line), None)
    s.update(name=name, steps=steps, wall_s=round(time.time() - started, 1))
    print(f"  {name:9s}: {s['real']} real / {s['computed']} computed tokens, {steps} optimiser steps, "
          f"training {s['train_runtime']:.1f}s, wall {s['wall_s']:.0f}s", flush=True)
    return s


def reference_main(model: str, train: str, out: str, epochs: str, max_length: str) -> int:
    """TRL's reference: trl/scripts/sft.py with its defaults (ModelConfig.dtype float32, SFTConfig defaults)."""
    import datasets
    import torch
    from trl import SFTConfig, SFTTrainer

    sys.path.insert(0, str(ROOT / "src"))
    from hf_trainer.runtime.train_common import attach_token_stats

    gpu = torch.cuda.is_available()
    config = SFTConfig(output_dir=out, num_train_epochs=float(epochs), report_to="none", save_strategy="no",
                       seed=SEED, use_cpu=not gpu, model_init_kwargs={"dtype": "float32"}, disable_tqdm=True,
                       max_length=int(max_length))
    dataset = datasets.load_dataset("json", data_files=train, split="train")
    trainer = SFTTrainer(model=model, args=config, train_dataset=dataset)
    attach_token_stats(trainer)
    trainer.train()
    trainer.save_model(out)
    print(json.dumps({"steps": trainer.state.global_step}), flush=True)
    return 0


# --- one scoring function for both -----------------------------------------------------------------------------

def eval_loss(model_dir: Path, tokenizer_dir: Path, rows: list[dict], max_length: int = OURS_MAX_LENGTH) -> float:
    """Mean token cross-entropy of a saved model (loaded in float32) over chat-formatted conversations."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for row in rows:
            ids = tokenizer.apply_chat_template(row["messages"], tokenize=True, return_dict=True)["input_ids"]
            ids = torch.tensor([ids[:max_length]])
            tokens = ids.shape[1] - 1
            total += float(model(input_ids=ids, labels=ids).loss) * tokens
            count += tokens
    return total / count


def compare(ours: dict, reference: dict, untrained: float | None = None) -> dict:
    """The figures side by side; `untrained` (the starting model's eval loss) adds how much of the reference's
    improvement ours reached (a loss ratio near 1 can also mean neither trained much)."""
    tps = {name: r["real"] / r["train_runtime"] for name, r in (("ours", ours), ("reference", reference))}
    gained = ((untrained - ours["eval_loss"]) / (untrained - reference["eval_loss"])
              if untrained is not None and untrained != reference["eval_loss"] else None)
    return {
        "eval_loss": {"ours": ours["eval_loss"], "reference": reference["eval_loss"], "untrained": untrained},
        "eval_loss_ratio": ours["eval_loss"] / reference["eval_loss"],
        "improvement_ratio": gained,
        "real_tokens": {"ours": ours["real"], "reference": reference["real"]},
        "computed_tokens": {"ours": ours["computed"], "reference": reference["computed"]},
        "optimizer_steps": {"ours": ours["steps"], "reference": reference["steps"]},
        "train_runtime_s": {"ours": ours["train_runtime"], "reference": reference["train_runtime"]},
        "real_tokens_per_s": tps,
        "speed_ratio": tps["ours"] / tps["reference"] if tps["reference"] else math.nan,
    }


def render(result: dict) -> str:
    r = result
    lines = ["| | ours (train_sft.py defaults) | TRL reference | ours / reference |", "|---|---|---|---|"]
    lines.append(f"| eval loss | {r['eval_loss']['ours']:.4f} | {r['eval_loss']['reference']:.4f} | "
                 f"{r['eval_loss_ratio']:.4f} |")
    if r.get("improvement_ratio") is not None:
        start = r["eval_loss"]["untrained"]
        lines.append(f"| eval loss gained (untrained {start:.4f}) | {start - r['eval_loss']['ours']:.4f} | "
                     f"{start - r['eval_loss']['reference']:.4f} | {r['improvement_ratio']:.2f} |")
    lines.append(f"| real training tokens | {r['real_tokens']['ours']:,} | {r['real_tokens']['reference']:,} | "
                 f"{r['real_tokens']['ours'] / max(r['real_tokens']['reference'], 1):.3f} |")
    lines.append(f"| computed tokens (with padding) | {r['computed_tokens']['ours']:,} | "
                 f"{r['computed_tokens']['reference']:,} | |")
    lines.append(f"| optimiser steps | {r['optimizer_steps']['ours']} | {r['optimizer_steps']['reference']} | |")
    lines.append(f"| training time (s) | {r['train_runtime_s']['ours']:.1f} | {r['train_runtime_s']['reference']:.1f} "
                 f"| |")
    lines.append(f"| real tokens/s | {r['real_tokens_per_s']['ours']:.0f} | {r['real_tokens_per_s']['reference']:.0f} "
                 f"| {r['speed_ratio']:.2f} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="Training conversations (default 256; --quick 64).")
    parser.add_argument("--scale", type=int, default=None,
                        help="Divide lengths and both max_lengths by this (default: 8 on CPU, 1 on a GPU).")
    parser.add_argument("--eval_rows", type=int, default=32)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--model_size", choices=["small", "tiny"], default="tiny",
                        help="CPU model: tiny (hidden 128, 4 layers, ~1M parameters) or small (~12M).")
    parser.add_argument("--quick", action="store_true", help="The smallest run that prints every figure.")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--json", default=None, help="Also write the results to this file.")
    parser.add_argument("--ours_args", nargs=argparse.REMAINDER, default=[],
                        help="Extra train_sft.py arguments for ours (last on the line), e.g. to try other defaults.")
    return parser.parse_args(argv)


def main(args: argparse.Namespace) -> int:
    import torch

    gpu = torch.cuda.is_available()
    rows = args.rows or (64 if args.quick else 256)
    eval_rows = 8 if args.quick else args.eval_rows
    scale = args.scale or (1 if gpu else 8)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-quality-"))
    work.mkdir(parents=True, exist_ok=True)
    model_dir = work / "model"
    info = bench_train.build_bench_model(model_dir, gpu, args.model_size)
    data = scaled_chat_dataset(rows + eval_rows, scale)
    train = write_jsonl(data[:rows], work / "train.jsonl")
    held_out = data[rows:]
    device = torch.cuda.get_device_name(0) if gpu else f"CPU ({os.cpu_count()} cores)"
    print(f"Model: {info['parameters']:,} parameters; {rows} training conversations x {args.epochs:g} epoch(s), "
          f"{eval_rows} held out; lengths and max_length / {scale}; {device}", flush=True)
    ours = run_ours(model_dir, train, work / "ours", args.epochs, gpu, scale, args.ours_args)
    reference = run_reference(model_dir, train, work / "reference", args.epochs, scale)
    ours["eval_loss"] = eval_loss(work / "ours", model_dir, held_out)
    reference["eval_loss"] = eval_loss(work / "reference", model_dir, held_out)
    untrained = eval_loss(model_dir, model_dir, held_out)
    result = {"device": device, "model": info, "rows": rows, "eval_rows": eval_rows, "epochs": args.epochs,
              "scale": scale,
              **compare(ours, reference, untrained)}
    print(render(result), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--_reference":
        sys.exit(reference_main(*sys.argv[2:7]))
    sys.exit(main(parse_args()))
