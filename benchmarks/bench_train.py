"""Training speed: scripts/train_sft.py with our defaults against the anchor configuration, side by side.

The anchor is huggingface/skills' SFT example (train_sft_example.py): TRL's SFTConfig defaults (no packing,
max_length 1024, activation checkpointing on), LoRA r=16/alpha 32/dropout 0.05 on q_proj+v_proj, batch 4 x 4, lr 2e-5,
warmup 10%, cosine. Ours: the script's defaults with --use_peft (best-fit packing, padding-free, LoRA on all linear
layers, lr 2e-4, max_length 2048, batch 4 x 4).

Both train one epoch of the same synthetic chat data (so the same real tokens, up to truncation) on the same locally
built model; configurations run interleaved (A, B, B, A, ...) so load on a shared machine hits both alike, and the
figures are medians over repetitions. Per configuration it prints real (non-padding) tokens/s, the padding share of
computed tokens, peak memory, the training loss over the last quarter of the tokens, the held-out loss, and ours/anchor
ratios. On a CUDA GPU it builds a Qwen2.5-0.5B-shaped model (random init, bf16, fastest attention) and adds MFU.

Lengths: conversations follow LMSYS-Chat-1M's published statistics (Zheng et al. 2023, arXiv:2309.11998, Table 1):
2.0 turns per conversation, 69.5 +/- 143.4 tokens per user prompt, 214.5 +/- 226.4 tokens per response, drawn from
log-normals with those means and standard deviations (moment matching) and a geometric number of turns.

    .venv/bin/python benchmarks/bench_train.py                      # CPU: ~12M-parameter Llama, 2 repetitions
    .venv/bin/python benchmarks/bench_train.py --rows 96 --repeats 3 --json results.json

The text is a word-level Markov chain (each word has a few likely successors), so the loss has something to learn
and both configurations can be compared on it. Not a test: it takes minutes.
"""

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAIN_SFT = ROOT / "scripts" / "train_sft.py"

# LMSYS-Chat-1M, Table 1 of arXiv:2309.11998 (tokens counted with the Llama tokenizer): mean and standard deviation.
LMSYS_TURNS_MEAN = 2.0
LMSYS_PROMPT_TOKENS = (69.5, 143.4)
LMSYS_RESPONSE_TOKENS = (214.5, 226.4)
# ChatML framing around each message with the benchmark's word-level tokenizer: <|im_start|>, role, <|im_end|>.
TEMPLATE_TOKENS_PER_MESSAGE = 3

# Peak dense bf16 tensor throughput (FLOP/s) by GPU name fragment, for MFU; vendor datasheets.
PEAK_BF16_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12, "A10G": 70e12,
                   "RTX PRO 6000": 500e12}


# --- lengths (pure) ---------------------------------------------------------------------------------------------

def lognormal_params(mean: float, std: float) -> tuple[float, float]:
    """(mu, sigma) of the log-normal with this mean and standard deviation (moment matching)."""
    if mean <= 0 or std < 0:
        raise ValueError(f"a log-normal needs mean > 0 and std >= 0, got mean={mean}, std={std}")
    sigma2 = math.log1p((std / mean) ** 2)
    return math.log(mean) - sigma2 / 2, math.sqrt(sigma2)


def sample_turns(rng: random.Random, mean_turns: float = LMSYS_TURNS_MEAN) -> int:
    """A geometric number of user/assistant exchanges (>= 1) with the given mean."""
    p = 1.0 / mean_turns
    turns = 1
    while rng.random() > p:
        turns += 1
    return turns


def sample_lognormal_int(rng: random.Random, mean: float, std: float) -> int:
    mu, sigma = lognormal_params(mean, std)
    return max(1, round(rng.lognormvariate(mu, sigma)))


def sample_conversation_lengths(rng: random.Random) -> list[tuple[int, int]]:
    """[(prompt tokens, response tokens)] per exchange of one conversation."""
    return [(sample_lognormal_int(rng, *LMSYS_PROMPT_TOKENS), sample_lognormal_int(rng, *LMSYS_RESPONSE_TOKENS))
            for _ in range(sample_turns(rng))]


def conversation_tokens(exchanges: list[tuple[int, int]]) -> int:
    """Tokens of a conversation once the chat template frames each message."""
    return sum(p + r + 2 * TEMPLATE_TOKENS_PER_MESSAGE for p, r in exchanges)


# --- padding arithmetic (pure) ------------------------------------------------------------------------------------

def padded_batches(lengths: list[int], batch_size: int, max_length: int | None = None) -> tuple[int, int]:
    """(real, computed) tokens when consecutive batches are padded to their longest row (TRL without packing)."""
    real = computed = 0
    for start in range(0, len(lengths), batch_size):
        rows = [min(n, max_length) if max_length else n for n in lengths[start:start + batch_size]]
        real += sum(rows)
        computed += max(rows) * len(rows)
    return real, computed


def padding_share(real: int, computed: int) -> float:
    """The share of computed tokens that are padding."""
    if computed <= 0:
        return 0.0
    if real > computed:
        raise ValueError(f"real tokens ({real}) cannot exceed computed tokens ({computed})")
    return 1.0 - real / computed


# --- synthetic data and model ---------------------------------------------------------------------------------------

class MarkovText:
    """Words w0..wN; each word is followed by one of a few successors (Zipf weights), so text is learnable."""

    def __init__(self, words: int = 2000, successors: int = 4, seed: int = 0):
        rng = random.Random(seed)
        self.words = [f"w{i}" for i in range(words)]
        self.next = [rng.sample(range(words), successors) for _ in range(words)]
        self.weights = [1.0 / (k + 1) for k in range(successors)]
        self.rng = rng

    def text(self, n_words: int) -> str:
        word = self.rng.randrange(len(self.words))
        out = []
        for _ in range(n_words):
            out.append(self.words[word])
            word = self.rng.choices(self.next[word], self.weights)[0]
        return " ".join(out)


def chat_dataset(rows: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    source = MarkovText(seed=seed)
    data = []
    for _ in range(rows):
        messages = []
        for prompt, response in sample_conversation_lengths(rng):
            messages.append({"role": "user", "content": source.text(prompt)})
            messages.append({"role": "assistant", "content": source.text(response)})
        data.append({"messages": messages})
    return data


def build_bench_model(folder: Path, gpu: bool, size: str = "small", seed: int = 0) -> dict:
    """A tokenizer with one token per word, and a random model: ~12M-param Llama (CPU) or Qwen2.5-0.5B shape (GPU)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    from hf_trainer.tiny import CHAT_TEMPLATE, SPECIAL_TOKENS

    # One token per word (a word-level vocabulary), so a message of n sampled tokens is n words.
    vocab = {token: i for i, token in enumerate([*SPECIAL_TOKENS, "<unk>", "system", "user", "assistant",
                                                 *MarkovText(seed=seed).words])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<|endoftext|>", eos_token="<|im_end|>",
                                   pad_token="<|pad|>", unk_token="<unk>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(folder)
    torch.manual_seed(seed)
    ids = {"bos_token_id": fast.bos_token_id, "eos_token_id": fast.eos_token_id, "pad_token_id": fast.pad_token_id}
    if gpu:
        # Qwen2.5-0.5B's architecture (its real vocabulary size, tied embeddings); random weights are fine for speed.
        config = Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                             num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                             tie_word_embeddings=True, **ids)
        model = Qwen2ForCausalLM(config).to(torch.bfloat16)
    else:
        hidden, layers = (384, 6) if size == "small" else (128, 4)
        config = LlamaConfig(vocab_size=len(fast), hidden_size=hidden, intermediate_size=hidden * 8 // 3,
                             num_hidden_layers=layers, num_attention_heads=hidden // 64,
                             num_key_value_heads=hidden // 64, max_position_embeddings=4096,
                             tie_word_embeddings=False, **ids)
        model = LlamaForCausalLM(config)
    model.save_pretrained(folder)
    return {"parameters": sum(p.numel() for p in model.parameters()), "layers": config.num_hidden_layers,
            "hidden_size": config.hidden_size, "vocab_size": config.vocab_size,
            "non_embedding_parameters": sum(p.numel() for n, p in model.named_parameters() if "embed" not in n
                                            and "lm_head" not in n)}


# --- configurations and runs --------------------------------------------------------------------------------------

# The anchor: huggingface/skills train_sft_example.py on TRL defaults (activation checkpointing is TRL's default).
ANCHOR = ["--no-packing", "--max_length", "1024", "--lora_target_modules", "q_proj", "v_proj",
          "--learning_rate", "2e-5", "--warmup_steps", "0.1", "--activation_checkpointing"]
OURS: list[str] = []  # the script's defaults


@dataclass
class RunResult:
    config: str
    repeat: int
    real_tokens: int
    computed_tokens: int
    train_runtime: float
    peak_memory_bytes: int
    steps: int
    tail_loss: float | None
    eval_loss: float | None
    losses: list[float] = field(default_factory=list)

    @property
    def real_tokens_per_second(self) -> float:
        return self.real_tokens / self.train_runtime if self.train_runtime else 0.0


def read_stats(path: Path) -> dict:
    """Totals from the HF_TRAINER_TOKEN_STATS file that train_sft.py writes."""
    real = computed = 0
    per_batch_real: list[int] = []
    losses: list[tuple[int, float]] = []
    out: dict = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if "computed" in record:
            real += record["real"]
            computed += record["computed"]
            per_batch_real.append(record["real"])
        elif "loss" in record:
            losses.append((record["step"], record["loss"]))
        else:
            out.update(record)
    out.update(real=real, computed=computed, losses=[loss for _, loss in losses])
    return out


def tail_mean(values: list[float], share: float = 0.25) -> float | None:
    """Mean of the last `share` of the logged losses (at least one)."""
    if not values:
        return None
    k = max(1, round(len(values) * share))
    return sum(values[-k:]) / k


def run_config(name: str, extra: list[str], model: Path, data: Path, work: Path, repeat: int, common: list[str],
               env: dict) -> RunResult:
    stats = work / f"{name}-{repeat}.jsonl"
    stats.unlink(missing_ok=True)
    cmd = [sys.executable, str(TRAIN_SFT), "--model_name_or_path", str(model), "--dataset_name", str(data),
           "--output_dir", str(work / f"out-{name}-{repeat}"), *common, *extra]
    started = time.time()
    proc = subprocess.run(cmd, env={**env, "HF_TRAINER_TOKEN_STATS": str(stats)}, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    s = read_stats(stats)
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    peak = int(s.get("peak_cuda_bytes") or s.get("peak_rss_bytes") or 0)
    print(f"  {name:6s} #{repeat}: {s['real']} real / {s['computed']} computed tokens in {s['train_runtime']:.1f}s "
          f"({s['real'] / s['train_runtime']:.0f} real tok/s), {summary['steps']} steps, eval loss "
          f"{s.get('eval_loss')}, wall {time.time() - started:.0f}s", flush=True)
    return RunResult(name, repeat, s["real"], s["computed"], s["train_runtime"], peak, summary["steps"],
                     tail_mean(s["losses"]), s.get("eval_loss"), s["losses"])


def interleaved_order(names: list[str], repeats: int) -> list[tuple[int, str]]:
    """A, B, B, A, A, B, ...: alternate which configuration goes first so drift in machine load hits both."""
    order = []
    for r in range(repeats):
        seq = names if r % 2 == 0 else list(reversed(names))
        order += [(r, n) for n in seq]
    return order


def summarize(results: list[RunResult]) -> dict:
    by: dict[str, list[RunResult]] = {}
    for r in results:
        by.setdefault(r.config, []).append(r)
    table = {}
    for name, runs in by.items():
        table[name] = {
            "real_tokens_per_second": statistics.median(r.real_tokens_per_second for r in runs),
            "padding_share": statistics.median(padding_share(r.real_tokens, r.computed_tokens) for r in runs),
            "peak_memory_gib": statistics.median(r.peak_memory_bytes for r in runs) / 2**30,
            "real_tokens": statistics.median(r.real_tokens for r in runs),
            "steps": statistics.median(r.steps for r in runs),
            "tail_train_loss": _median([r.tail_loss for r in runs]),
            "eval_loss": _median([r.eval_loss for r in runs]),
            "train_runtime": statistics.median(r.train_runtime for r in runs),
            "repeats": len(runs),
        }
    return table


def _median(values: list[float | None]) -> float | None:
    found = [v for v in values if v is not None]
    return statistics.median(found) if found else None


def render(table: dict, baseline: str = "anchor") -> str:
    rows = ["| config | real tok/s | padding share | peak memory (GiB) | real tokens | steps | train loss (last 25%) "
            "| eval loss |", "|---|---|---|---|---|---|---|---|"]
    for name, t in table.items():
        rows.append(f"| {name} | {t['real_tokens_per_second']:.0f} | {t['padding_share']:.1%} | "
                    f"{t['peak_memory_gib']:.2f} | {t['real_tokens']:.0f} | {t['steps']:.0f} | "
                    f"{_fmt(t['tail_train_loss'])} | {_fmt(t['eval_loss'])} |")
    base = table.get(baseline)
    if base:
        for name, t in table.items():
            if name == baseline:
                continue
            rows.append(f"\n{name}/{baseline}: real tok/s x{t['real_tokens_per_second'] / base['real_tokens_per_second']:.2f}, "
                        f"peak memory x{t['peak_memory_gib'] / base['peak_memory_gib']:.2f}, eval loss "
                        f"{_fmt(t['eval_loss'])} vs {_fmt(base['eval_loss'])}")
    return "\n".join(rows)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def mfu(tokens_per_second: float, model: dict, seq_len: float, peak: float) -> dict:
    """Model FLOPs utilisation two ways: 6N per token (the usual convention) and 4N (LoRA: no frozen-weight grads).

    Both add causal attention's 6 * layers * hidden * seq_len (PaLM's 12*L*H*T halved for the causal mask).
    """
    n = model["parameters"]
    attention = 6 * model["layers"] * model["hidden_size"] * seq_len
    return {"mfu_6n": tokens_per_second * (6 * n + attention) / peak,
            "mfu_4n": tokens_per_second * (4 * n + attention) / peak}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="Conversations (default: 64 on CPU, 4096 on GPU).")
    parser.add_argument("--eval_rows", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--configs", nargs="+", default=["ours", "anchor"],
                        help="ours, anchor, and variants: ours-b1 (packed, 1 row x 16), anchor-nockpt.")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--model_size", choices=["small", "tiny"], default="small",
                        help="CPU model: small (~12M parameters, speed) or tiny (~1M, for a loss study over many "
                             "steps).")
    parser.add_argument("--peak_tflops", type=float, default=None, help="GPU peak bf16 TFLOP/s for MFU.")
    parser.add_argument("--json", default=None, help="Also write the results to this file.")
    parser.add_argument("--train_args", nargs=argparse.REMAINDER, default=[],
                        help="Passed to train_sft.py for every configuration (its own flags win) "
                             "(e.g. --gradient_accumulation_steps 1 for more steps in a short loss study).")
    return parser.parse_args(argv)


VARIANTS = {
    "ours": OURS,
    "anchor": ANCHOR,
    # One packed row per micro-batch, the same tokens per optimiser step: 2.5x less peak memory on CPU, ~20% slower.
    "ours-b1": ["--per_device_train_batch_size", "1", "--gradient_accumulation_steps", "16"],
    "anchor-nockpt": [a for a in ANCHOR if a != "--activation_checkpointing"],
}


def main(args: argparse.Namespace) -> int:
    import torch  # heavy, and only needed to tell CPU from GPU and build the model

    gpu = torch.cuda.is_available()
    rows = args.rows or (4096 if gpu else 64)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-train-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HF_HOME": str(work / "hf"), "HF_DATASETS_CACHE": str(work / "hf" / "datasets"),
           "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    model_dir = work / "model"
    model = build_bench_model(model_dir, gpu, args.model_size)
    data = chat_dataset(rows + args.eval_rows)
    data_file = work / "chat.jsonl"
    data_file.write_text("".join(json.dumps(r) + "\n" for r in data), encoding="utf-8")
    common = ["--use_peft", "--num_train_epochs", "1", "--eval_split_size", str(args.eval_rows), "--save_steps",
              "1000000", "--logging_steps", "1", "--report_to", "none", "--json"]
    common += args.train_args
    if gpu:
        try:
            import flash_attn  # noqa: F401  (varlen kernels: padding-free batches without a dense mask)

            attn = "flash_attention_2"
        except ImportError:
            attn = "sdpa"
        common += ["--attn_implementation", attn]
    device = torch.cuda.get_device_name(0) if gpu else f"CPU ({os.cpu_count()} cores, torch {torch.__version__})"
    print(f"Device: {device}. Model: {model['parameters'] / 1e6:.1f}M parameters ({model['layers']} layers, hidden "
          f"{model['hidden_size']}, vocab {model['vocab_size']}). Data: {rows} train + {args.eval_rows} eval "
          f"conversations. Work dir: {work}", flush=True)
    unknown = [c for c in args.configs if c not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown configuration(s) {unknown}; known: {', '.join(VARIANTS)}")
    results = [run_config(name, VARIANTS[name], model_dir, data_file, work, r, common, env)
               for r, name in interleaved_order(args.configs, args.repeats)]
    table = summarize(results)
    print(render(table))
    out = {"device": device, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "model": model, "rows": rows,
           "eval_rows": args.eval_rows, "load_average": os.getloadavg(), "table": table,
           "runs": [asdict(r) for r in results]}
    if gpu:
        peak = (args.peak_tflops * 1e12 if args.peak_tflops else
                next((v for k, v in PEAK_BF16_FLOPS.items() if k in device), None))
        if peak:
            for name, t in table.items():
                # Useful attention work spans each conversation, not the packed row or the padded batch.
                seq = t["real_tokens"] / rows
                t.update(mfu(t["real_tokens_per_second"], model, seq, peak))
                print(f"{name}: MFU {t['mfu_6n']:.1%} (6N) / {t['mfu_4n']:.1%} (4N, LoRA)")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(parse_args()))
