"""Calibrate and check the estimator on this machine: predicted vs measured training time and peak memory.

Runs the real scripts/train_sft.py (full fine-tuning, CPU, float32) on two models built offline, the tiny Llama
(~200k parameters) and a larger one (~26M), with the test venv's Python, reads the script's own measurements
(HF_TRAINER_TOKEN_STATS: tokens per micro-batch, train_runtime, peak RSS) and compares them with the `local` row of
the estimate for the same job and the same tokens. Prints the ratios predicted / measured.

    .venv/bin/python benchmarks/bench_estimate.py                 # compare with the current local profile
    .venv/bin/python benchmarks/bench_estimate.py --save          # also fit and save the local profile
    .venv/bin/python benchmarks/bench_estimate.py --json --max_steps 20

The fitted profile (matmul GFLOPS per vCPU, training utilisation, per-micro-step overhead, and the largest model it
was measured on: CPU rows are trusted up to twice that size) is written to
$HF_TRAINER_HOME/local_profile.json with --save; `hf-trainer estimate --local` uses it. This machine is shared, so
timings move with its load: the load average is printed with the results.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODELS = {  # name -> build_model keyword arguments
    "tiny": {"hidden_size": 64, "num_layers": 2},
    "larger": {"hidden_size": 512, "num_layers": 8, "intermediate_size": 1376, "num_heads": 8},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max_steps", type=int, default=6, help="Optimiser steps per run (default 6).")
    parser.add_argument("--per_device_train_batch_size", type=int, default=4)
    parser.add_argument("--max_length", type=int, default=128)
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--save", action="store_true", help="Fit the local profile to these runs and save it.")
    parser.add_argument("--json", action="store_true", help="Print the results as JSON.")
    return parser.parse_args(argv)


def matmul_gflops_per_vcpu(size: int = 1024, repeats: int = 8) -> float:
    """float32 matmul rate of this machine, per vCPU (the peak the local profile scales)."""
    import torch  # heavy: only when measuring

    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b  # warm-up: thread pool and caches
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    seconds = time.perf_counter() - start
    return 2 * size**3 * repeats / seconds / 1e9 / (os.cpu_count() or 1)


def run_training(model_dir: Path, data: Path, args: argparse.Namespace, workdir: Path) -> dict:
    """Train with scripts/train_sft.py; return its measurements (tokens, train_runtime, peak RSS, wall time)."""
    stats = workdir / "stats.jsonl"
    stats.unlink(missing_ok=True)
    command = [sys.executable, str(REPO / "scripts" / "train_sft.py"), "--model_name_or_path", str(model_dir),
               "--dataset_name", str(data), "--max_steps", str(args.max_steps), "--per_device_train_batch_size",
               str(args.per_device_train_batch_size), "--gradient_accumulation_steps", "1", "--max_length",
               str(args.max_length), "--output_dir", str(workdir / "out"), "--report_to", "none",
               "--eval_split_size", "0", "--logging_steps", "1", "--save_steps", "100000", "--json"]
    env = {**os.environ, "HF_TRAINER_TOKEN_STATS": str(stats), "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"train_sft.py failed ({done.returncode}):\n{done.stderr[-3000:]}")
    lines = [json.loads(line) for line in stats.read_text(encoding="utf-8").splitlines() if line.strip()]
    batches = [line for line in lines if "computed" in line]
    runtime = next(line["train_runtime"] for line in lines if "train_runtime" in line)
    peak = next(line["peak_rss_bytes"] for line in lines if "peak_rss_bytes" in line)
    return {"micro_batches": len(batches), "computed_tokens": sum(b["computed"] for b in batches),
            "rows": sum(b["rows"] for b in batches), "train_runtime_s": runtime, "peak_rss_bytes": peak,
            "wall_s": wall}


def predict(model_dir: Path, measured: dict, args: argparse.Namespace, profile) -> dict:
    """The estimator's local row for the same job: same steps, batch and the tokens the script really computed."""
    from hf_trainer.estimate import estimate_cost, local_flavor, make_request
    from hf_trainer.runtime.estimate_math import fallback_catalog
    from hf_trainer.model_size import model_facts

    facts = model_facts(str(model_dir))
    # Packing with padding-free batches flattens each micro-batch into one row: count sequences from the batch size.
    sequences = measured["micro_batches"] * args.per_device_train_batch_size
    tokens_per_row = measured["computed_tokens"] / max(sequences, 1)
    request = make_request(max_steps=measured["micro_batches"],
                           per_device_train_batch_size=args.per_device_train_batch_size,
                           gradient_accumulation_steps=1, max_length=args.max_length,
                           mean_tokens_per_row=tokens_per_row, activation_checkpointing=False, optim="adamw_torch",
                           push_to_hub=False, local=True, flavors=["cpu-basic"])
    result = estimate_cost(request, fallback_catalog(), facts, profile)
    row = next(r for r in result.rows if r.flavor == "local")
    return {"num_params": facts.num_params, "flops": result.training_flops, "train_s": row.time_parts_s["training"],
            "total_s": sum(row.time_parts_s.values()), "memory_bytes": row.memory_gib * 2**30,
            "tokens_per_row": tokens_per_row, "flavor": local_flavor().name}


def fit_profile(runs: list[dict], gflops_per_vcpu: float, base):
    """Solve train_s = micro_steps * overhead + flops / (peak * utilisation) over the runs (least squares, 2 unknowns),
    and start-up = wall - train_runtime averaged."""
    peak = gflops_per_vcpu * (os.cpu_count() or 1) * 1e9
    xs = [(r["measured"]["micro_batches"], r["predicted"]["flops"] / peak) for r in runs]
    ys = [r["measured"]["train_runtime_s"] for r in runs]
    if len(runs) >= 2:
        # Normal equations for y = a * steps + b * (flops/peak), a = overhead, b = 1 / utilisation.
        s11 = sum(x[0] * x[0] for x in xs)
        s12 = sum(x[0] * x[1] for x in xs)
        s22 = sum(x[1] * x[1] for x in xs)
        t1 = sum(x[0] * y for x, y in zip(xs, ys))
        t2 = sum(x[1] * y for x, y in zip(xs, ys))
        det = s11 * s22 - s12 * s12
        overhead, inverse_util = (t1 * s22 - t2 * s12) / det, (s11 * t2 - s12 * t1) / det
    else:
        overhead, inverse_util = base.step_overhead_s, ys[0] / xs[0][1] if xs[0][1] else 1 / base.utilisation
    overhead = max(overhead, 0.0)
    utilisation = min(max(1 / inverse_util if inverse_util > 0 else base.utilisation, 0.01), 1.0)
    startup = sum(r["measured"]["wall_s"] - r["measured"]["train_runtime_s"] for r in runs) / len(runs)
    # The largest model measured bounds the sizes the estimator trusts CPU rows for (x2, CPU_CALIBRATION_MARGIN).
    return replace(base, gflops_per_vcpu=round(gflops_per_vcpu, 2), utilisation=round(utilisation, 4),
                   step_overhead_s=round(overhead, 4), startup_s=round(startup, 2),
                   max_params_measured=max(int(r["predicted"]["num_params"]) for r in runs),
                   source=f"fitted by benchmarks/bench_estimate.py on {time.strftime('%Y-%m-%d')}")


def main(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(REPO / "src"))
    from hf_trainer import paths
    from hf_trainer.estimate import PROFILE_FILE, load_profile
    from hf_trainer.tiny import build_model, chat_rows, write_jsonl

    profile = load_profile()
    gflops = matmul_gflops_per_vcpu()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        data = write_jsonl(chat_rows(256), tmp_path / "chat.jsonl")
        for name in args.models:
            model_dir = build_model(tmp_path / name, **MODELS[name])
            measured = run_training(model_dir, data, args, tmp_path / f"run-{name}")
            runs.append({"model": name, "model_dir": model_dir, "measured": measured,
                         "predicted": predict(model_dir, measured, args, profile)})
        fitted = fit_profile(runs, gflops, profile)
        # The same prediction with the matmul rate measured now: separates the model's error from the machine's load.
        now = replace(profile, gflops_per_vcpu=gflops)
        for run in runs:
            m, p = run["measured"], run["predicted"]
            p_now = run["predicted_at_current_matmul_rate"] = predict(run["model_dir"], m, args, now)
            run["ratios"] = {"train_time": p["train_s"] / m["train_runtime_s"], "total_time": p["total_s"] / m["wall_s"],
                             "peak_memory": p["memory_bytes"] / m["peak_rss_bytes"],
                             "train_time_at_current_matmul_rate": p_now["train_s"] / m["train_runtime_s"]}
            run["model_dir"] = str(run["model_dir"])
    report = {"profile_used": asdict(profile), "matmul_gflops_per_vcpu_now": gflops, "fitted_profile": asdict(fitted),
              "load_average": os.getloadavg(), "cpu_count": os.cpu_count(), "runs": runs}
    if args.save:
        path = paths.home() / PROFILE_FILE
        path.write_text(json.dumps(asdict(fitted), indent=1), encoding="utf-8")
        report["saved_to"] = str(path)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"matmul: {gflops:.1f} GFLOPS per vCPU now ({os.cpu_count()} vCPU, load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}); profile used: {profile.source}")
    print("| model | params | tokens | train s (pred / meas) | ratio | ratio at current matmul rate | "
          "total s (pred / meas) | ratio | peak memory GiB (pred / meas) | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for run in runs:
        m, p, r = run["measured"], run["predicted"], run["ratios"]
        print(f"| {run['model']} | {p['num_params']:,} | {m['computed_tokens']:,} | {p['train_s']:.1f} / "
              f"{m['train_runtime_s']:.1f} | {r['train_time']:.2f} | {r['train_time_at_current_matmul_rate']:.2f} | {p['total_s']:.1f} / {m['wall_s']:.1f} | "
              f"{r['total_time']:.2f} | {p['memory_bytes'] / 2**30:.2f} / {m['peak_rss_bytes'] / 2**30:.2f} | "
              f"{r['peak_memory']:.2f} |")
    print(f"fitted profile: utilisation {fitted.utilisation}, {fitted.step_overhead_s} s per micro-step, start-up "
          f"{fitted.startup_s} s" + (f" (saved to {report['saved_to']})" if args.save else " (not saved; --save)"))
    return 0


if __name__ == "__main__":
    sys.exit(main(parse_args()))
