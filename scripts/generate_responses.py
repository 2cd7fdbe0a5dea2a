# /// script
# requires-python = ">=3.11"
# dependencies = [
#     "torch==2.13.0",
#     "transformers==5.25.0",
#     "peft==0.21.2",
#     "datasets==5.2.0",
#     "accelerate==1.16.0",
#     "huggingface_hub==2.4.0",
# ]
#
# [tool.uv]
# exclude-newer = "2026-12-06T13:00:48Z"
# ///
"""Batch generation over a dataset's prompts or messages with the model's chat template; a dataset with a card.

For synthetic data (answers from a strong model to train a small one) and for reading a model's outputs.
Locally (transformers), rows written to a folder as JSONL with a README card:
    uv run scripts/generate_responses.py --model_name_or_path Qwen/Qwen2.5-0.5B-Instruct \
        --dataset_name trl-lib/Capybara --max_samples 50 --output_dir outputs/capybara-responses
On HF Jobs with vLLM (used automatically on a GPU when installed), pushed as a private dataset:
    hf jobs uv run --flavor a10g-large --secrets HF_TOKEN --with vllm scripts/generate_responses.py \
        --model_name_or_path Qwen/Qwen2.5-7B-Instruct --dataset_name <you>/prompts --num_generations 4 \
        --temperature 0.8 --max_new_tokens 1024 --push_to_hub --hub_dataset_id <you>/prompts-qwen7b

Prompts come from --prompt_column, else `messages` (without a final assistant turn), `prompt`, `question`,
`instruction` or `text`. Output rows: the source columns, `prompt`, `completion`, `messages` (prompt + the answer, for
chat prompts), `model`, and `generation_index` when several generations are asked per prompt. Temperature 0 is
greedy. LoRA adapters load on their base with transformers. The token is read only from HF_TOKEN.
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


PROMPT_CANDIDATES = ("messages", "prompt", "question", "instruction", "text")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model_name_or_path", required=True, help="Hub id or local folder (model or LoRA adapter).")
    parser.add_argument("--trust_remote_code", action="store_true")
    parser.add_argument("--dataset_name", required=True, help="Hub dataset id or a local data file/folder.")
    parser.add_argument("--dataset_config", default=None)
    parser.add_argument("--dataset_split", default="train")
    parser.add_argument("--prompt_column", default=None, help="Column holding prompts (text or messages).")
    parser.add_argument("--system_prompt", default=None, help="A system message put before each chat prompt.")
    parser.add_argument("--max_samples", type=_positive_int, default=None, help="Use only the first N rows.")
    sampling = parser.add_argument_group("sampling")
    sampling.add_argument("--num_generations", type=_positive_int, default=1, help="Responses per prompt.")
    sampling.add_argument("--max_new_tokens", type=_positive_int, default=512)
    sampling.add_argument("--temperature", type=float, default=0.7, help="0 means greedy.")
    sampling.add_argument("--top_p", type=float, default=1.0)
    sampling.add_argument("--top_k", type=int, default=0, help="0 disables top-k.")
    sampling.add_argument("--repetition_penalty", type=float, default=1.0)
    sampling.add_argument("--seed", type=int, default=42)
    parser.add_argument("--batch_size", type=_positive_int, default=16, help="Prompts per batch (transformers).")
    parser.add_argument("--engine", choices=["auto", "vllm", "transformers"], default="auto",
                        help="auto: vLLM on a CUDA GPU when it is installed, else transformers.")
    out = parser.add_argument_group("output")
    out.add_argument("--output_dir", default=None, help="Local folder for data.jsonl and README.md.")
    out.add_argument("--push_to_hub", action="store_true", help="Push the rows as a dataset (private by default).")
    out.add_argument("--hub_dataset_id", default=None, help="Dataset repo, e.g. you/my-responses.")
    out.add_argument("--hub_private_repo", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--json", action="store_true", help="Print a one-line JSON summary at the end.")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def check(args) -> None:
    if not args.output_dir and not args.push_to_hub:
        raise ScriptError("Say where the responses go: --output_dir DIR, or --push_to_hub --hub_dataset_id you/name.")
    if on_hf_jobs() and not args.push_to_hub:
        raise ScriptError("This runs on HF Jobs, whose disk is discarded when the job ends: add --push_to_hub "
                          "--hub_dataset_id you/name, or the responses are lost.")
    if args.push_to_hub and not args.hub_dataset_id:
        raise ScriptError("--push_to_hub needs --hub_dataset_id (e.g. your-name/my-responses).")
    if args.push_to_hub and not os.environ.get("HF_TOKEN"):
        raise ScriptError("--push_to_hub needs a token in HF_TOKEN (on HF Jobs: --secrets HF_TOKEN).")
    if args.temperature == 0 and args.num_generations > 1:
        raise ScriptError("--num_generations > 1 with --temperature 0 (greedy) gives identical copies; sample with "
                          "a temperature > 0.")
    if args.temperature < 0 or not 0 < args.top_p <= 1:
        raise ScriptError(f"--temperature {args.temperature} / --top_p {args.top_p}: use temperature >= 0 and "
                          "0 < top_p <= 1.")


def load_rows(args) -> list[dict]:
    import datasets

    path = Path(args.dataset_name).expanduser()
    if path.exists():
        builder, files = _local_data_files(path)
        # a dict of splits (test.jsonl, validation.jsonl, ... in a folder), or one list for a single file
        loaded = datasets.load_dataset(builder, data_files=files if isinstance(files, dict) else {"train": files})
    else:
        loaded = datasets.load_dataset(args.dataset_name, args.dataset_config)
    if args.dataset_split not in loaded:
        raise ScriptError(f"Split {args.dataset_split!r} not found; the dataset has: {', '.join(loaded)}. "
                          "Pass --dataset_split.")
    split = loaded[args.dataset_split]
    count = min(args.max_samples or len(split), len(split))
    return [dict(split[i]) for i in range(count)]


def prompt_of(row: dict, column: str, system_prompt: str | None):
    """A row's prompt: a list of messages (chat) or a string; a final assistant turn is dropped (it is the answer)."""
    value = row.get(column)
    if isinstance(value, list) and value and isinstance(value[0], dict):
        messages = list(value[:-1] if value[-1].get("role") == "assistant" and len(value) > 1 else value)
        if system_prompt and messages[0].get("role") != "system":
            messages.insert(0, {"role": "system", "content": system_prompt})
        return messages
    if value is None or str(value).strip() == "":
        return None
    return [{"role": "system", "content": system_prompt}, {"role": "user", "content": str(value)}] \
        if system_prompt else str(value)


def _is_adapter(name: str) -> bool:
    path = Path(name).expanduser()
    if path.exists():
        return (path / "adapter_config.json").is_file()
    from huggingface_hub import HfApi

    return HfApi(token=os.environ.get("HF_TOKEN")).file_exists(name, "adapter_config.json")


def _use_vllm(args) -> bool:
    if args.engine == "transformers":
        return False
    import importlib.util

    import torch

    available = torch.cuda.is_available() and importlib.util.find_spec("vllm") is not None
    if args.engine == "vllm" and not available:
        raise ScriptError("--engine vllm needs a CUDA GPU and the vllm package (hf jobs uv run --with vllm ...).")
    return available


def generate_vllm(args, prompts: list) -> list[list[str]]:
    from vllm import LLM, SamplingParams

    llm = LLM(model=args.model_name_or_path, seed=args.seed, trust_remote_code=args.trust_remote_code)
    params = SamplingParams(n=args.num_generations, temperature=args.temperature, top_p=args.top_p,
                            top_k=args.top_k if args.top_k > 0 else -1, repetition_penalty=args.repetition_penalty,
                            max_tokens=args.max_new_tokens, seed=args.seed)
    chat = [i for i, p in enumerate(prompts) if isinstance(p, list)]
    text = [i for i, p in enumerate(prompts) if not isinstance(p, list)]
    results: list[list[str]] = [[] for _ in prompts]
    if chat:
        for i, out in zip(chat, llm.chat([prompts[i] for i in chat], params)):
            results[i] = [o.text for o in out.outputs]
    if text:
        for i, out in zip(text, llm.generate([prompts[i] for i in text], params)):
            results[i] = [o.text for o in out.outputs]
    return results


def generate_transformers(args, prompts: list) -> list[list[str]]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed

    set_seed(args.seed)
    cuda = torch.cuda.is_available()
    dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else torch.float32
    kwargs = {"dtype": dtype, "trust_remote_code": args.trust_remote_code}
    if cuda:  # spread a model too big for one GPU over all of them
        kwargs["device_map"] = "auto"
    if _is_adapter(args.model_name_or_path):
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(args.model_name_or_path, **kwargs)
    else:
        model = AutoModelForCausalLM.from_pretrained(args.model_name_or_path, **kwargs)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path, trust_remote_code=args.trust_remote_code)
    tokenizer.padding_side = "left"  # generation continues where each prompt ends
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if any(isinstance(p, list) for p in prompts) and not tokenizer.chat_template:
        raise ScriptError(f"{args.model_name_or_path} has no chat template, so chat prompts cannot be formatted. Use "
                          "an instruct model, or a text prompt column (--prompt_column).")
    rendered = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) if isinstance(p, list)
                else p for p in prompts]
    sample = args.temperature > 0
    options = {"max_new_tokens": args.max_new_tokens, "do_sample": sample, "num_return_sequences": args.num_generations,
               "repetition_penalty": args.repetition_penalty, "pad_token_id": tokenizer.pad_token_id}
    if sample:
        options.update(temperature=args.temperature, top_p=args.top_p, top_k=args.top_k or None)
    results: list[list[str]] = []
    for start in range(0, len(rendered), args.batch_size):
        chunk = rendered[start:start + args.batch_size]
        chat_chunk = [isinstance(p, list) for p in prompts[start:start + args.batch_size]]
        # Chat templates write their own special tokens; plain prompts get the tokenizer's.
        enc = tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=not any(chat_chunk))
        enc = enc.to(model.device)
        with torch.no_grad():
            generated = model.generate(**enc, **options)
        texts = tokenizer.batch_decode(generated[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        for i in range(len(chunk)):
            results.append([t.strip() for t in texts[i * args.num_generations:(i + 1) * args.num_generations]])
    return results


def card(args, summary: dict) -> str:
    """The dataset card: model, parameters and counts."""
    params = {k: getattr(args, k) for k in ("num_generations", "max_new_tokens", "temperature", "top_p", "top_k",
                                            "repetition_penalty", "seed", "system_prompt")}
    # configs: the Hub (and datasets.load_dataset) read data.jsonl as the train split.
    lines = ["---", "tags:", "- hf-trainer", "- synthetic", "configs:", "- config_name: default", "  data_files:",
             "  - split: train", "    path: data.jsonl", "---", "",
             f"# Responses of `{args.model_name_or_path}` to `{args.dataset_name}`", "",
             f"Generated by hf-trainer's scripts/generate_responses.py with {summary['engine']} from the "
             f"`{summary['prompt_column']}` column of the `{args.dataset_split}` split.", "",
             "| count | value |", "|---|---|",
             f"| prompts | {summary['prompts']} |", f"| rows skipped (no prompt) | {summary['skipped']} |",
             f"| generated rows | {summary['rows']} |", f"| empty responses | {summary['empty']} |",
             f"| runtime (s) | {summary['runtime_seconds']:.0f} |", "",
             "| parameter | value |", "|---|---|", *[f"| {k} | {v} |" for k, v in params.items()], "",
             "Columns: the source columns, `prompt`, `completion`, `messages` (chat prompts plus the response), "
             "`model`" + (", `generation_index`" if args.num_generations > 1 else "") + ".", ""]
    return "\n".join(lines)


def push(args, folder: Path) -> str:
    """One commit of data.jsonl and README.md to the dataset repo (created private unless --no-hub_private_repo)."""
    from huggingface_hub import HfApi

    api = HfApi(token=os.environ["HF_TOKEN"])
    api.create_repo(args.hub_dataset_id, repo_type="dataset", private=args.hub_private_repo, exist_ok=True)
    api.upload_folder(repo_id=args.hub_dataset_id, repo_type="dataset", folder_path=str(folder),
                      allow_patterns=["data.jsonl", "README.md"], commit_message="hf-trainer: generated responses")
    return hub_url("datasets/" + args.hub_dataset_id)


def main(args: argparse.Namespace) -> int:
    started = time.time()
    check(args)
    rows = load_rows(args)
    if not rows:
        raise ScriptError(f"Split {args.dataset_split!r} of {args.dataset_name} has no rows.")
    column = args.prompt_column or next((c for c in PROMPT_CANDIDATES if c in rows[0]), None)
    if column is None or column not in rows[0]:
        raise ScriptError(f"No prompt column: the rows have {sorted(rows[0])}; pass --prompt_column NAME "
                          f"(text or a list of messages).")
    pairs = [(row, prompt_of(row, column, args.system_prompt)) for row in rows]
    usable = [(row, prompt) for row, prompt in pairs if prompt is not None]
    if not usable:
        raise ScriptError(f"Column {column!r} holds no prompt in any row.")
    engine = "vllm" if _use_vllm(args) else "transformers"
    print(f"Generating {args.num_generations} response(s) for {len(usable)} prompts with {engine}", flush=True)
    prompts = [prompt for _, prompt in usable]
    if rows_have_images([row for row, _ in usable]):  # image rows: a vision-language model (runtime/vision.py)
        engine = "transformers"
        model, processor, _ = load_vision_model_for_eval(args.model_name_or_path, token=os.environ.get("HF_TOKEN"),
                                                         trust_remote_code=args.trust_remote_code)
        outputs = generate_vision_responses(
            model, processor, usable, max_new_tokens=args.max_new_tokens, num_generations=args.num_generations,
            temperature=args.temperature, top_p=args.top_p, top_k=args.top_k, repetition_penalty=args.repetition_penalty)
    else:
        outputs = generate_vllm(args, prompts) if engine == "vllm" else generate_transformers(args, prompts)

    out_rows = []
    for (row, prompt), responses in zip(usable, outputs):
        for index, response in enumerate(responses):
            new = {k: v for k, v in row.items() if k not in ("prompt", "completion", "messages", *IMAGE_COLUMNS)}
            if rows_have_images([row]):
                new["num_images"] = len(row_images(row))  # JSONL cannot carry the images themselves
            new.update(prompt=prompt, completion=response, model=args.model_name_or_path)
            if isinstance(prompt, list):
                new["messages"] = prompt + [{"role": "assistant", "content": response}]
            if args.num_generations > 1:
                new["generation_index"] = index
            out_rows.append(new)
    summary = {"model": args.model_name_or_path, "dataset": args.dataset_name, "engine": engine,
               "prompt_column": column, "prompts": len(usable), "skipped": len(rows) - len(usable),
               "rows": len(out_rows), "empty": sum(1 for r in out_rows if not r["completion"]),
               "runtime_seconds": time.time() - started}
    # Written to a folder first (a temporary one when only pushing): the Hub gets the same two files.
    folder = Path(args.output_dir) if args.output_dir else Path(tempfile.mkdtemp(prefix="hf-trainer-responses-"))
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "data.jsonl").open("w", encoding="utf-8") as handle:
        for row in out_rows:
            handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    (folder / "README.md").write_text(card(args, summary), encoding="utf-8")
    if args.output_dir:
        summary["output_dir"] = str(folder.resolve())
    if args.push_to_hub:
        summary["hub_url"] = push(args, folder)
    if args.json:
        print(json.dumps(summary), flush=True)
    else:
        print(f"Done: {summary['rows']} responses to {summary['prompts']} prompts in "
              f"{summary['runtime_seconds']:.0f}s. Output: {summary.get('hub_url') or summary.get('output_dir')}",
              flush=True)
    return 0


# ===== generated runtime: do not edit; source: src/hf_trainer/runtime/ (regenerate: make sync-scripts) =====
# runtime modules: basics, vision_models

# ----- runtime/file_types.py -----
"""The one list of local dataset file types: dataset inspection samples exactly these (runtime/dataset_files.py) and
the training scripts load exactly these (runtime/train_common.py), with the `datasets` builder and options each needs.

Pure standard library; small on purpose, because every training script carries it.
"""

import json
from pathlib import Path
from typing import Any

# Text is read in chunks of this size.
_CHUNK = 1 << 20
# suffix -> (reader here, `datasets` builder, builder options). A JSON file holding {"data": [rows]} also needs the
# builder's `field` option: see json_rows_field.
FILE_TYPES = {
    ".jsonl": ("jsonl", "json", {}), ".ndjson": ("jsonl", "json", {}), ".json": ("json", "json", {}),
    ".csv": ("csv", "csv", {}), ".tsv": ("csv", "csv", {"delimiter": "\t"}),
    ".parquet": ("parquet", "parquet", {}), ".arrow": ("arrow", "arrow", {}), ".feather": ("arrow", "arrow", {}),
}
EXTENSIONS = {suffix: reader for suffix, (reader, _builder, _options) in FILE_TYPES.items()}


def builder_for(files: list[Path]) -> tuple[str, dict]:
    """The `datasets` builder and options that load these files (one type per dataset); ValueError otherwise."""
    specs = set()
    for path in files:
        suffix = Path(path).suffix.lower()
        if suffix not in FILE_TYPES:
            raise ValueError(f"{path} is not a supported data file: use {', '.join(FILE_TYPES)}.")
        _reader, builder, options = FILE_TYPES[suffix]
        if builder == "json" and suffix == ".json":
            field = json_rows_field(Path(path))
            options = {"field": field} if field else {}
        specs.add((builder, tuple(sorted(options.items()))))
    if len(specs) != 1:
        raise ValueError(f"the files mix types or layouts ({', '.join(sorted(str(spec) for spec in specs))}); keep "
                         "one type per dataset.")
    builder, options = specs.pop()
    return builder, dict(options)


def json_rows_field(path: Path) -> str | None:
    """The key of a .json file that is one object holding the list of rows ({"data": [...]}), else None."""
    with path.open("rb") as handle:
        head = handle.read(_CHUNK).decode("utf-8", errors="ignore").lstrip()
    if not head.startswith("{"):
        return None
    first_line, _, rest = head.partition("\n")
    try:
        first = json.loads(first_line)
    except json.JSONDecodeError:
        first = None
    if first is not None and (rest.strip() or not _row_lists(first)):
        return None  # JSON Lines saved as .json
    try:
        lists = _row_lists(json.loads(path.read_text(encoding="utf-8"))) if first is None else _row_lists(first)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return None
    return lists[0] if len(lists) == 1 else None


def _row_lists(data: Any) -> list[str]:
    """Keys of a JSON object whose values are lists of row objects."""
    if not isinstance(data, dict):
        return []
    return [key for key, value in data.items() if isinstance(value, list) and value and isinstance(value[0], dict)]

# ----- runtime/splits.py -----
"""Which split of a dataset to read: one rule for dataset inspection, the plan and the training scripts.

- A method's training split. Datasets that serve several uses name one split per use
  (HuggingFaceH4/ultrafeedback_binarized: train_prefs/test_prefs for preference methods, train_sft/test_sft for SFT,
  train_gen/test_gen for generation): a method reads its own `train_<use>`, else `train`, else the first split whose
  name starts with train, else the first split.
- The eval split beside it: the training split's name with train replaced by test, validation, ... (train_prefs ->
  test_prefs), else test, else validation.
- A local folder's splits, named from its files the way the Hub's exports name them:
  `train_prefs-00000-of-00001.parquet` and `data/train_prefs.jsonl` are split train_prefs, `val.jsonl` is
  validation, `train/part-0.parquet` is train; a file whose name says nothing is train.

Standard library only: the training scripts carry it (runtime/basics.py, runtime/train_common.py) and so does
scripts/inspect_dataset.py (runtime/dataset_files.py, runtime/dataset_viewer.py).
"""

import re
from pathlib import PurePath

# The use a method's split is named after, best first (split names as HuggingFaceH4's datasets write them).
METHOD_SPLIT_USES = {"sft": ("sft",), "dpo": ("prefs",), "reward": ("prefs",), "kto": ("prefs",),
                     "grpo": ("gen", "prompts")}
# Split words in file names, and the split each means (the Hub reads file names the same way).
SPLIT_WORDS = {"train": "train", "training": "train", "test": "test", "testing": "test", "validation": "validation",
               "valid": "validation", "val": "validation", "dev": "validation", "eval": "validation"}
# Words an eval split's name may start with in place of "train", best first.
EVAL_WORDS = ("test", "validation", "valid", "val", "dev", "eval")
# A split word followed by a use: train_prefs, test_sft.
_NAMED_SPLIT = re.compile(r"^(train|training|test|testing|validation|valid|val|dev|eval)(_[A-Za-z][A-Za-z0-9]*)+$",
                          re.IGNORECASE)
# Shard suffixes of exported files: -00000-of-00003, -0000, _3.
_SHARD = re.compile(r"(-\d{5}-of-\d{5}|[-_]\d+)$")


def train_split(names: list[str], method: str | None = None) -> str | None:
    """The split `method` trains on among `names` (None when there are none)."""
    lowered = {name.lower(): name for name in names}
    for use in METHOD_SPLIT_USES.get(method or "", ()):
        if f"train_{use}" in lowered:
            return lowered[f"train_{use}"]
    if "train" in names:
        return "train"
    trains = [name for name in names if name.lower().startswith("train")]
    if trains:
        return trains[0]
    return names[0] if names else None


def eval_split(names: list[str], train: str) -> str | None:
    """The eval split beside `train` among `names`: train_prefs -> test_prefs, then test, then validation."""
    lowered = {name.lower(): name for name in names}
    if train.lower().startswith("train"):
        rest = train.lower()[len("train"):]
        for word in EVAL_WORDS:
            if rest and word + rest in lowered:
                return lowered[word + rest]
    return next((name for name in ("test", "validation") if name in names and name != train), None)


def split_name(text: str) -> str | None:
    """The split a file or folder name stands for ('train_prefs-00000-of-00001' -> 'train_prefs', 'val' ->
    'validation'), or None when the name is not a split's."""
    stem = _SHARD.sub("", text)
    if stem.lower() in SPLIT_WORDS:
        return SPLIT_WORDS[stem.lower()]
    if _NAMED_SPLIT.match(stem):
        return stem
    return None


def split_of(relative: PurePath) -> str:
    """The split of a data file inside a dataset folder, from its path relative to the folder: the file's own name,
    then its folders (nearest first), then any split word in them; train when nothing names one."""
    parts = [PurePath(relative.name).stem.split(".")[0], *reversed(relative.parts[:-1])]
    for part in parts:
        found = split_name(part)
        if found:
            return found
    words = [w for w in re.split(r"[^a-z]+", "/".join(relative.parts[-2:]).lower()) if w]
    return next((SPLIT_WORDS[w] for w in words if w in SPLIT_WORDS), "train")

# ----- runtime/basics.py -----
"""What every bundled script shares, training or not: the one-line error and entry point, argument types, where it
runs (HF Jobs, which process), Hub URLs and local data files.

Kept apart from train_common so that scripts/evaluate.py and scripts/generate_responses.py carry only this (and the
modules they use), not the training machinery. Inlined into the scripts by `make sync-scripts`: standard library only.
"""

import argparse
import os
import sys
from pathlib import Path


# One list of local file types, shared with dataset inspection (runtime/file_types.py): suffix -> datasets builder.
LOCAL_DATA_SUFFIXES = {suffix: builder for suffix, (_reader, builder, _options) in FILE_TYPES.items()}


class ScriptError(Exception):
    """A problem the user can fix: printed as one line, exit status 2, no traceback."""


def run_main(main, parse_args) -> None:
    """Run `main(parse_args())`, turning ScriptError into a one-line message and exit status 2 (1 with --smoke)."""
    args = parse_args()
    try:
        code = main(args)
    except ScriptError as exc:
        # In smoke mode every failure is the one line an agent reads, with the smoke exit status.
        if getattr(args, "smoke", False):
            print(f"smoke: FAIL - {exc}", flush=True)
            sys.exit(1)
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code or 0)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive integer")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


def is_main_process() -> bool:
    """True in a single-process run and in rank 0 of a distributed one (accelerate launch / torchrun set RANK)."""
    return os.environ.get("RANK", "0") == "0"


def current_job_id() -> str | None:
    """The id of the job this script runs in. HF Jobs sets HF_JOB_ID (read by transformers' model card code) and
    JOB_ID (read by TRL's tags); either may be missing, so both count. hf-trainer's local backend sets JOB_ID too."""
    return os.environ.get("HF_JOB_ID") or os.environ.get("JOB_ID") or None


def current_job_flavor() -> str | None:
    """The job's flavor when the platform or hf-trainer says it (HF_JOB_FLAVOR, HF_TRAINER_FLAVOR)."""
    return os.environ.get("HF_JOB_FLAVOR") or os.environ.get("HF_TRAINER_FLAVOR") or None


def on_hf_jobs() -> bool:
    """True inside an HF Jobs job: a job id (HF_JOB_ID or JOB_ID) or flavor is set, and it is not a local job."""
    in_job = bool(current_job_id() or os.environ.get("HF_JOB_FLAVOR"))
    return in_job and os.environ.get("HF_TRAINER_BACKEND") != "local"


def hub_url(repo_id: str) -> str:
    return f"{os.environ.get('HF_ENDPOINT', 'https://huggingface.co').rstrip('/')}/{repo_id}"


# --- local data files -----------------------------------------------------------------------------------------------

# Files in a folder that describe a dataset rather than hold rows (datasets.save_to_disk, the Hub's card).
_METADATA_FILES = {"dataset_info.json", "state.json", "dataset_dict.json", "README.md"}


def _local_data_files(path: Path) -> tuple[str, dict[str, list[str]]]:
    """The builder name and the files of each split for a local file or folder (split from the file names, by
    runtime/splits.split_of, the rule dataset inspection reads folders with)."""
    if path.is_file():
        files = [path]
    else:
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in LOCAL_DATA_SUFFIXES
                       and p.name not in _METADATA_FILES and not p.name.startswith("."))
    if not files:
        raise ScriptError(f"No data files ({', '.join(LOCAL_DATA_SUFFIXES)}) in {path}.")
    builders = {LOCAL_DATA_SUFFIXES.get(p.suffix.lower()) for p in files}
    if None in builders:
        raise ScriptError(f"{path} is not a supported data file: use {', '.join(LOCAL_DATA_SUFFIXES)}.")
    if len(builders) > 1:
        raise ScriptError(f"{path} mixes file types ({', '.join(sorted(builders))}); keep one type per dataset.")
    splits: dict[str, list[str]] = {}
    for file in files:
        splits.setdefault("train" if path.is_file() else split_of(file.relative_to(path)), []).append(str(file))
    return builders.pop(), splits

# ----- runtime/image_rows.py -----
"""Whether rows carry images, and the text scripts' verdict on them: the little of runtime/vision.py that every
training script needs (the text scripts refuse image rows and name train_vlm.py), kept apart so they do not carry the
whole vision module."""

IMAGE_COLUMNS = ("images", "image")
VISION_METHODS = ("sft", "dpo")
VISION_SCRIPT = "scripts/train_vlm.py"


def image_column(row: dict) -> str | None:
    """The row's image column (`images` or `image`), or None for a text-only row."""
    return next((key for key in IMAGE_COLUMNS if key in row), None)


def rows_have_images(rows: list[dict]) -> bool:
    """Whether sample rows carry images (an `images` or `image` column in any row)."""
    return any(image_column(row) is not None for row in rows)


def text_script_image_verdict(rows: list[dict], method: str) -> dict:
    """The verdict of a text training script (train_sft.py, train_dpo.py, ...) on rows with images: INCOMPATIBLE,
    whatever the model, because those scripts load a tokenizer and train text; train_vlm.py trains them."""
    column = next(column for column in IMAGE_COLUMNS if any(column in row for row in rows))
    where = (f"{VISION_SCRIPT} --method {method}" if method in VISION_METHODS else VISION_SCRIPT)
    return {"verdict": "INCOMPATIBLE", "mapping": None, "reasons": [
        f"the rows carry images (column {column!r}), which a text-only model cannot see and this text script does not "
        f"load: train a vision-language model with {where}, or drop the {column!r} column to train on the text alone"]}

# ----- runtime/mappings.py -----
"""Named row mappings that turn common dataset shapes into TRL's formats; conversations stay messages.

Pure standard library on purpose: this file is inlined verbatim into the self-contained PEP 723 training scripts,
which call `map_row(args.dataset_mapping, row)` through `datasets.Dataset.map` with every old column removed. So each
mapping returns the whole new row: the TRL columns it builds plus the row's other columns (e.g. an `answer` that a GRPO
reward function reads), minus the columns it consumed and minus stray TRL column names that would confuse a trainer.
A mapping raises ValueError for a row it cannot convert faithfully (a missing column, None content, an unknown role)
rather than training on an empty or mislabelled turn.

Public API (stable): `MAPPINGS`, `map_row(name, row)`, `mapping_source(name)`.
"""

import inspect
from typing import Callable

# ShareGPT speaker names seen in public datasets, and the chat role each one means.
SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bard": "assistant",
    "bing": "assistant",
    "model": "assistant",
    "function_call": "assistant",
    "tool": "tool",
    "function_response": "tool",
    "observation": "tool",
}


# Column names TRL trainers read (plus ShareGPT's); never passed through, so a mapped row has exactly one format.
TRL_COLUMNS = ("text", "messages", "conversations", "prompt", "completion", "chosen", "rejected", "label")


def _row(row: dict, consumed: tuple, new: dict) -> dict:
    """The mapped row: the new TRL columns plus the row's other columns, minus those consumed."""
    kept = {key: value for key, value in row.items() if key not in consumed and key not in TRL_COLUMNS}
    kept.update(new)
    return kept


def _text(row: dict, key: str) -> str:
    """A required text column: present, a string and not None."""
    if key not in row:
        raise ValueError(f"row has no {key!r} column (columns: {sorted(row)})")
    value = row[key]
    if value is None:
        raise ValueError(f"column {key!r} is None")
    if not isinstance(value, str):
        raise ValueError(f"column {key!r} holds {type(value).__name__}, expected a string")
    return value


def _optional_text(row: dict, key: str) -> str:
    """An optional text column: missing or None reads as empty."""
    value = row.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"column {key!r} holds {type(value).__name__}, expected a string")
    return value


def _join(first: str, second: str) -> str:
    """Instruction plus its optional input/context, separated by a blank line."""
    return f"{first}\n\n{second}" if second.strip() else first


def _with_system(row: dict, messages: list) -> list:
    """Prepend a non-empty `system` column as a system message."""
    system = row.get("system")
    if isinstance(system, str) and system.strip() and not (messages and messages[0]["role"] == "system"):
        return [{"role": "system", "content": system}] + messages
    return messages


def sharegpt(row: dict) -> dict:
    """`conversations: [{from, value}]` -> `messages: [{role, content}]` (human->user, gpt->assistant, ...)."""
    turns = row.get("conversations")
    if not isinstance(turns, list):
        raise ValueError(f"column 'conversations' must be a list of turns, got {type(turns).__name__}")
    messages = []
    for index, turn in enumerate(turns):
        # Some exports keep ShareGPT's `conversations` column but already use role/content inside it.
        if not isinstance(turn, dict) or not ({"from", "value"} <= set(turn) or {"role", "content"} <= set(turn)):
            raise ValueError(f"conversations[{index}] must be a dict with 'from' and 'value', got {turn!r:.80}")
        speaker = str(turn["from"] if "from" in turn else turn["role"]).strip().lower()
        value = turn["value"] if "value" in turn else turn["content"]
        if speaker not in SHAREGPT_ROLES:
            raise ValueError(
                f"conversations[{index}] has unknown speaker {speaker!r}; known: {sorted(SHAREGPT_ROLES)}"
            )
        if value is None:
            raise ValueError(f"conversations[{index}] has no text (None)")
        messages.append({"role": SHAREGPT_ROLES[speaker], "content": str(value)})
    return _row(row, ("system",), {"messages": _with_system(row, messages)})


def sharegpt_prompt_only(row: dict) -> dict:
    """ShareGPT for GRPO: every turn before the last assistant turn becomes the conversational `prompt`."""
    messages = sharegpt(row)["messages"]
    if messages and messages[-1]["role"] == "assistant":
        messages = messages[:-1]
    if not messages:
        raise ValueError("conversation has no turn before the final assistant reply")
    return _row(row, ("system",), {"prompt": messages})


def messages_prompt_only(row: dict) -> dict:
    """`messages` for GRPO: every message before the last assistant message becomes the `prompt`."""
    messages = row.get("messages")
    if not isinstance(messages, list):
        raise ValueError(f"column 'messages' must be a list of messages, got {type(messages).__name__}")
    if messages and isinstance(messages[-1], dict) and messages[-1].get("role") == "assistant":
        messages = messages[:-1]
    if not messages:
        raise ValueError("conversation has no message before the final assistant reply")
    return _row(row, (), {"prompt": list(messages)})


ALPACA_COLUMNS = ("instruction", "input", "output", "system")


def alpaca(row: dict) -> dict:
    """`instruction`, optional `input`, `output` -> `messages` (user: instruction + input; assistant: output)."""
    user = _join(_text(row, "instruction"), _optional_text(row, "input"))
    messages = [{"role": "user", "content": user}, {"role": "assistant", "content": _text(row, "output")}]
    return _row(row, ALPACA_COLUMNS, {"messages": _with_system(row, messages)})


def alpaca_prompt_completion(row: dict) -> dict:
    """Alpaca -> conversational `prompt` / `completion` (loss on the answer only by TRL's default)."""
    messages = alpaca(row)["messages"]
    return _row(row, ALPACA_COLUMNS, {"prompt": messages[:-1], "completion": messages[-1:]})


def alpaca_prompt_only(row: dict) -> dict:
    """Alpaca for GRPO: the instruction (and input) as a conversational `prompt`; `output` stays for rewards."""
    return _row(row, ("instruction", "input", "system"), {"prompt": alpaca(row)["messages"][:-1]})


def dolly(row: dict) -> dict:
    """`instruction`, optional `context`, `response` -> `messages`."""
    user = _join(_text(row, "instruction"), _optional_text(row, "context"))
    messages = [{"role": "user", "content": user}, {"role": "assistant", "content": _text(row, "response")}]
    return _row(row, ("instruction", "context", "response", "system"), {"messages": _with_system(row, messages)})


def dolly_prompt_only(row: dict) -> dict:
    """Dolly for GRPO: the instruction (and context) as a conversational `prompt`; `response` stays for rewards."""
    return _row(row, ("instruction", "context", "system"), {"prompt": dolly(row)["messages"][:-1]})


def question_answer(row: dict) -> dict:
    """`question` / `answer` -> `messages`."""
    messages = [
        {"role": "user", "content": _text(row, "question")},
        {"role": "assistant", "content": _text(row, "answer")},
    ]
    return _row(row, ("question", "answer", "system"), {"messages": _with_system(row, messages)})


def question_answer_prompt_only(row: dict) -> dict:
    """`question` for GRPO as a conversational `prompt`; `answer` stays as a column for reward functions."""
    prompt = _with_system(row, [{"role": "user", "content": _text(row, "question")}])
    return _row(row, ("question", "system"), {"prompt": prompt})


def prompt_response(row: dict) -> dict:
    """`prompt` (a string) / `response` -> `messages`."""
    messages = [
        {"role": "user", "content": _text(row, "prompt")},
        {"role": "assistant", "content": _text(row, "response")},
    ]
    return _row(row, ("response", "system"), {"messages": _with_system(row, messages)})


def text_prompt_completion(row: dict) -> dict:
    """String `prompt` / `completion` -> conversational prompt/completion, so the chat template is applied."""
    return _row(row, ("system",), {
        "prompt": _with_system(row, [{"role": "user", "content": _text(row, "prompt")}]),
        "completion": [{"role": "assistant", "content": _text(row, "completion")}],
    })


def text_prompt_only(row: dict) -> dict:
    """String `prompt` -> conversational `prompt` (for GRPO with an instruct model's chat template)."""
    return _row(row, ("system",), {"prompt": _with_system(row, [{"role": "user", "content": _text(row, "prompt")}])})


# Column pairs that hold the two answers in "foreign" preference datasets, in the order they are tried.
PREFERENCE_COLUMNS = (
    ("chosen_response", "rejected_response"),
    ("response_chosen", "response_rejected"),
    ("chosen_text", "rejected_text"),
    ("chosen", "rejected"),
)
PROMPT_COLUMNS = ("prompt", "question", "instruction", "input")


def preference_columns(row: dict) -> dict:
    """`prompt`/`question` + `chosen_response`/`rejected_response` (or similar strings) -> conversational
    `prompt` / `chosen` / `rejected`."""
    prompt_key = next((key for key in PROMPT_COLUMNS if isinstance(row.get(key), str)), None)
    if prompt_key is None:
        raise ValueError(f"row has no prompt column among {list(PROMPT_COLUMNS)} (columns: {sorted(row)})")
    pair = next((pair for pair in PREFERENCE_COLUMNS if pair[0] in row and pair[1] in row), None)
    if pair is None:
        raise ValueError(f"row has no chosen/rejected column pair among {list(PREFERENCE_COLUMNS)}")
    return _row(row, (prompt_key, pair[0], pair[1], "system"), {
        "prompt": _with_system(row, [{"role": "user", "content": _text(row, prompt_key)}]),
        "chosen": [{"role": "assistant", "content": _text(row, pair[0])}],
        "rejected": [{"role": "assistant", "content": _text(row, pair[1])}],
    })


def _shared_turns(chosen: list, rejected: list) -> int:
    """How many leading turns chosen and rejected share (trl.data_utils.extract_prompt's rule, turn by turn)."""
    shared = 0
    while shared < min(len(chosen), len(rejected)) and chosen[shared] == rejected[shared]:
        shared += 1
    return shared


def extract_prompt(row: dict) -> dict:
    """Conversational `chosen` / `rejected` that repeat the prompt's turns (with or without a redundant string `prompt`,
    as in HuggingFaceH4/ultrafeedback_binarized) -> conversational `prompt` (the turns they share) / `chosen` /
    `rejected` (the rest), as trl.data_utils.extract_prompt does. When they share no turn, a string `prompt` becomes
    the user turn."""
    chosen, rejected = row.get("chosen"), row.get("rejected")
    for key, value in (("chosen", chosen), ("rejected", rejected)):
        if not isinstance(value, list) or not value or not all(isinstance(m, dict) and "role" in m for m in value):
            raise ValueError(f"column {key!r} must be a list of {{'role', 'content'}} messages, got {value!r:.80}")
    shared = _shared_turns(chosen, rejected)
    prompt = chosen[:shared]
    if not prompt:
        prompt = [{"role": "user", "content": _text(row, "prompt")}]
    if shared == len(chosen) or shared == len(rejected):
        raise ValueError("chosen and rejected are identical, or one is the other's prefix: nothing to prefer")
    return _row(row, ("system",), {"prompt": _with_system(row, prompt), "chosen": chosen[shared:],
                                   "rejected": rejected[shared:]})


def chosen_as_completion(row: dict) -> dict:
    """A preference row for SFT: `prompt` + `chosen` -> `prompt` / `completion`; without a prompt, `chosen` alone
    becomes `messages` (or `text`). A string prompt beside conversational chosen/rejected (ultrafeedback_binarized)
    is dropped for the conversation's own turns. The rejected answer is dropped."""
    chosen = row.get("chosen")
    if chosen is None or chosen == "" or chosen == []:
        raise ValueError("column 'chosen' is missing or empty")
    if isinstance(row.get("prompt"), str) and isinstance(chosen, list):
        mapped = extract_prompt(row)
        return _row(row, (), {"prompt": mapped["prompt"], "completion": mapped["chosen"]})
    if "prompt" in row:
        if row["prompt"] is None:
            raise ValueError("column 'prompt' is None")
        return _row(row, (), {"prompt": row["prompt"], "completion": chosen})
    return _row(row, (), {"messages": chosen} if isinstance(chosen, list) else {"text": chosen})


MAPPINGS: dict[str, Callable[[dict], dict]] = {
    "sharegpt": sharegpt,
    "sharegpt_prompt_only": sharegpt_prompt_only,
    "messages_prompt_only": messages_prompt_only,
    "alpaca": alpaca,
    "alpaca_prompt_completion": alpaca_prompt_completion,
    "alpaca_prompt_only": alpaca_prompt_only,
    "dolly": dolly,
    "dolly_prompt_only": dolly_prompt_only,
    "question_answer": question_answer,
    "question_answer_prompt_only": question_answer_prompt_only,
    "prompt_response": prompt_response,
    "text_prompt_completion": text_prompt_completion,
    "text_prompt_only": text_prompt_only,
    "preference_columns": preference_columns,
    "chosen_as_completion": chosen_as_completion,
    "extract_prompt": extract_prompt,
}


def _lookup(name: str) -> Callable[[dict], dict]:
    if name not in MAPPINGS:
        raise ValueError(f"Unknown dataset mapping {name!r}. Known mappings: {', '.join(sorted(MAPPINGS))}.")
    return MAPPINGS[name]


def map_row(name: str, row: dict) -> dict:
    """Apply the mapping called `name` to one row; returns the new TRL columns. Unknown name -> ValueError."""
    return _lookup(name)(row)


def _names(code) -> set:
    """Every name a code object (and the comprehensions nested in it) looks up; attribute names included."""
    names = set(code.co_names)
    for const in code.co_consts:
        if inspect.iscode(const):
            names |= _names(const)
    return names


def _dependencies(function: Callable, found: dict) -> None:
    """Collect, depth first, the module-level functions and constants that `function` refers to."""
    for global_name in sorted(_names(function.__code__)):
        # Attribute names (`__name__`, `get`) share co_names with globals; only this module's own names count.
        if global_name in found or global_name.startswith("__") or global_name not in globals():
            continue
        value = globals()[global_name]
        if inspect.isfunction(value) and value.__module__ == function.__module__:
            _dependencies(value, found)
            found[global_name] = inspect.getsource(value)
        elif isinstance(value, (dict, tuple, str)):
            found[global_name] = f"{global_name} = {value!r}\n"


def mapping_source(name: str) -> str:
    """Self-contained Python source of one mapping: its helpers, its constants and the function itself.

    `exec` it and call the function named `name` (also bound to `map_row`) on a row dict.
    """
    function = _lookup(name)
    found: dict[str, str] = {}
    _dependencies(function, found)
    parts = [f'"""Dataset mapping {name!r} from hf-trainer: {inspect.getdoc(function)}"""\n']
    parts += list(found.values())
    parts.append(inspect.getsource(function))
    parts.append(f"map_row = {function.__name__}\n")
    return "\n\n".join(part.rstrip("\n") + "\n" for part in parts)

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

# ----- runtime/vision.py -----
"""Vision-language data and models: image columns, the common Hub shapes as named mappings, image and placeholder
checks, image tokens per image from a processor's configuration, and which parts of a model see images.

Every training script carries it (through dataset_formats, which hands image rows here), so it holds only what data
inspection, the scripts' row checks and the estimator need; the model side (which parts train, LoRA targets,
evaluation and generation with images) is in vision_models.py, which only the scripts that load a vision model carry.
Standard library at the top; PIL and transformers only inside the functions that need them; every name prefixed or
specific enough not to clash with the other runtime modules.

TRL's vision format (trl.data_utils.prepare_multimodal_messages): an `images` list (or a single `image`) beside
`messages`, `prompt`/`completion` or `prompt`/`chosen`/`rejected`; a message's content is either a string (TRL puts
every image before the first user turn) or a list of parts `{"type": "image"}` / `{"type": "text", "text": ...}`,
and the number of image parts must equal the number of images.
"""

import io
import math
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


IMAGE_PLACEHOLDER = "<image>"
# Methods train_vlm.py runs on image rows (TRL 1.16: SFTTrainer and DPOTrainer take vision data).
VISION_SHAPE_TEXT = {
    "vision_messages": "TRL vision (images + messages)",
    "vision_prompt_completion": "TRL vision (images + prompt/completion)",
    "vision_preference": "TRL vision preference (images + prompt/chosen/rejected)",
    "vision_text": "TRL vision (images + text with <image> placeholders)",
    "the_cauldron": "the_cauldron style (images + texts of user/assistant pairs)",
    "llava": "LLaVA style (image + conversations with <image> placeholders)",
    "image_caption": "image + caption",
    "vision_unknown": "images with no known text columns",
}
# Shapes that need a named mapping first, and the mapping's name.
VISION_SHAPE_MAPPING = {"the_cauldron": "the_cauldron", "llava": "llava", "image_caption": "image_caption"}
CAPTION_COLUMNS = ("caption", "captions", "description")
CAPTION_PROMPT = "Describe this image."
# Images the dataset viewer gives as URLs ({"src": ...}) that one inspection downloads, so it can decode them and count
# their tokens; the rest of the sample keeps its URLs (counted, not decoded).
VIEWER_IMAGES_FETCHED = 48
MAX_IMAGE_BYTES = 20 * 1024 * 1024  # one fetched image at most (a viewer asset is a few hundred KB)



# --- detection -------------------------------------------------------------------------------------------------


def row_images(row: dict) -> list:
    """The row's images as a list (a single `image` becomes a one-item list; None becomes no image)."""
    column = image_column(row)
    if column is None or row[column] is None:
        return []
    value = row[column]
    return list(value) if isinstance(value, (list, tuple)) else [value]


def vision_shape(row: dict) -> str | None:
    """The vision shape of one row (a key of VISION_SHAPE_TEXT), or None when it has no image column."""
    column = image_column(row)
    if column is None:
        return None
    keys = set(row)
    if column == "images" and "texts" in keys and isinstance(row["texts"], list):
        return "the_cauldron"
    if "conversations" in keys and isinstance(row["conversations"], list):
        return "llava"
    if {"prompt", "chosen", "rejected"} <= keys:
        return "vision_preference"
    if {"prompt", "completion"} <= keys:
        return "vision_prompt_completion"
    if "messages" in keys:
        return "vision_messages"
    if "text" in keys and isinstance(row["text"], str) and IMAGE_PLACEHOLDER in row["text"]:
        return "vision_text"
    if any(isinstance(row.get(key), str) for key in CAPTION_COLUMNS + ("text",)):
        return "image_caption"
    return "vision_unknown"


# --- named mappings ------------------------------------------------------------------------------------------------


def _vision_parts(text: str, images_left: list[int]) -> list[dict]:
    """Text with `<image>` placeholders -> content parts; counts the placeholders in images_left[0]."""
    parts: list[dict] = []
    pieces = text.split(IMAGE_PLACEHOLDER)
    for index, piece in enumerate(pieces):
        if index > 0:
            parts.append({"type": "image"})
            images_left[0] += 1
        piece = piece.strip("\n") if index > 0 or len(pieces) > 1 else piece
        if piece:
            parts.append({"type": "text", "text": piece})
    return parts


def _vision_kept(row: dict, consumed: tuple) -> dict:
    return {key: value for key, value in row.items() if key not in consumed and key not in IMAGE_COLUMNS}


def map_the_cauldron(row: dict) -> dict:
    """the_cauldron style: `images` + `texts: [{user, assistant}]` -> `images` + `messages` (every image before the
    first question, as in HuggingFaceM4/the_cauldron)."""
    texts = row.get("texts")
    if not isinstance(texts, list) or not texts:
        raise ValueError("column 'texts' must be a non-empty list of {user, assistant} pairs")
    images = row_images(row)
    messages: list[dict] = []
    for number, pair in enumerate(texts):
        if not isinstance(pair, dict) or not isinstance(pair.get("user"), str) or not isinstance(
                pair.get("assistant"), str):
            raise ValueError(f"texts[{number}] must have string 'user' and 'assistant' fields, got {pair!r:.80}")
        user = [{"type": "image"} for _ in images] if number == 0 else []
        user.append({"type": "text", "text": pair["user"]})
        messages += [{"role": "user", "content": user},
                     {"role": "assistant", "content": [{"type": "text", "text": pair["assistant"]}]}]
    return {**_vision_kept(row, ("texts",)), "images": images, "messages": messages}


def map_llava(row: dict) -> dict:
    """LLaVA style: `image` + `conversations: [{from, value}]` with `<image>` placeholders -> `images` + `messages`
    (the placeholder becomes an image part where it stood)."""
    conversations = row.get("conversations")
    if not isinstance(conversations, list) or not conversations:
        raise ValueError("column 'conversations' must be a non-empty list of {from, value} turns")
    images = row_images(row)
    seen = [0]
    messages = []
    for number, turn in enumerate(conversations):
        speaker = turn.get("from", turn.get("role")) if isinstance(turn, dict) else None
        value = turn.get("value", turn.get("content")) if isinstance(turn, dict) else None
        role = SHAREGPT_ROLES.get(str(speaker).lower())
        if role is None or not isinstance(value, str):
            raise ValueError(f"conversations[{number}] must have a known 'from' and a string 'value', got "
                             f"{turn!r:.80}")
        messages.append({"role": role, "content": _vision_parts(value, seen)})
    if seen[0] != len(images):
        raise ValueError(f"the row has {seen[0]} {IMAGE_PLACEHOLDER} placeholder(s) but {len(images)} image(s)")
    return {**_vision_kept(row, ("conversations",)), "images": images, "messages": messages}


def map_image_caption(row: dict) -> dict:
    """`image`/`images` + a caption (`caption`, `captions`, `description` or `text`) -> `images` + `messages`
    (user: the images and "Describe this image."; assistant: the caption)."""
    column = next((key for key in CAPTION_COLUMNS + ("text",) if isinstance(row.get(key), str)), None)
    if column is None:
        raise ValueError(f"no caption column ({', '.join(CAPTION_COLUMNS + ('text',))}) with a string")
    images = row_images(row)
    if not images:
        raise ValueError("the row has no image")
    user = [{"type": "image"} for _ in images] + [{"type": "text", "text": CAPTION_PROMPT}]
    return {**_vision_kept(row, (column,)), "images": images,
            "messages": [{"role": "user", "content": user},
                         {"role": "assistant", "content": [{"type": "text", "text": row[column]}]}]}


VISION_MAPPINGS = {"the_cauldron": map_the_cauldron, "llava": map_llava, "image_caption": map_image_caption}


# --- checks --------------------------------------------------------------------------------------------------------


def decode_image(value: Any, base_dir: str | None = None):
    """A PIL image from what a dataset row holds: a PIL image, `{"bytes", "path"}` (datasets' Image feature as
    stored), raw bytes, or a file path (relative paths under `base_dir`). Raises ValueError when it cannot."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(value, Image.Image):
        return value
    data, path = None, None
    if isinstance(value, dict):
        data, path = value.get("bytes"), value.get("path")
        if data is None and path is None and value.get("src"):
            raise ValueError(f"an image URL from the dataset viewer ({str(value['src'])[:60]}...) is not decoded here")
    elif isinstance(value, (bytes, bytearray)):
        data = bytes(value)
    elif isinstance(value, str):
        path = value
    else:
        raise ValueError(f"an image cell holds {type(value).__name__}, expected an image, bytes or a path")
    try:
        if data is not None:
            image = Image.open(io.BytesIO(data))
        else:
            file = Path(path)
            if not file.is_absolute() and base_dir:
                file = Path(base_dir) / file
            if not file.is_file():
                raise ValueError(f"image file {path!r} does not exist (image paths must point to files next to the "
                                 "data; better: store the images in parquet with datasets' Image feature)")
            image = Image.open(file)
        image.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"an image does not decode ({exc})") from None
    return image


def fetch_viewer_images(rows: list[dict], limit: int = VIEWER_IMAGES_FETCHED, timeout: float = 15.0) -> list[dict]:
    """The rows with the dataset viewer's image URLs (cells {"src": "https://...", "height", "width"}) replaced by the
    downloaded bytes, for up to `limit` images; rows without such cells come back as they are. The viewer signs its
    asset URLs, so no token is sent (a URL in a row must never receive the caller's token)."""
    fetched, result = 0, []
    for row in rows:
        column = image_column(row)
        if column is None or fetched >= limit:
            result.append(row)
            continue
        values = row_images(row)
        new_values = []
        for value in values:
            src = value.get("src") if isinstance(value, dict) else None
            if isinstance(src, str) and src.startswith(("https://", "http://")) and fetched < limit \
                    and value.get("bytes") is None:
                try:
                    with urllib.request.urlopen(urllib.request.Request(src), timeout=timeout) as response:
                        data = response.read(MAX_IMAGE_BYTES + 1)
                    if len(data) <= MAX_IMAGE_BYTES:  # larger: left a URL, counted as not decoded
                        value = {"bytes": data, "path": None}
                except (urllib.error.URLError, TimeoutError, ConnectionError, ValueError):
                    pass  # stays a URL: counted as not decoded
                fetched += 1
            new_values.append(value)
        new_row = dict(row)
        new_row[column] = new_values if isinstance(row[column], (list, tuple)) else (new_values or [None])[0]
        result.append(new_row)
    return result


def placeholder_count(messages: list, images: int) -> int:
    """Image placeholders TRL will count in these messages (prepare_multimodal_messages): image parts, plus `images`
    placeholders that TRL inserts before the first user turn whose content is a plain string."""
    count = 0
    inserted = False
    for message in messages or []:
        content = message.get("content") if isinstance(message, dict) else None
        role = message.get("role") if isinstance(message, dict) else None
        if isinstance(content, str):
            if role == "user" and not inserted:
                count += images
                inserted = True
        elif isinstance(content, list) and role != "tool":
            count += sum(1 for part in content if isinstance(part, dict) and part.get("type") == "image"
                         and part.get("image") is None)
    return count


def row_placeholders(row: dict) -> int | None:
    """Image placeholders in a TRL vision row (None for shapes that need a mapping first)."""
    images = len(row_images(row))
    shape = vision_shape(row)
    if shape == "vision_messages":
        return placeholder_count(row["messages"], images)
    if shape in ("vision_prompt_completion", "vision_preference"):
        prompt = row["prompt"]
        return placeholder_count(prompt, images) if isinstance(prompt, list) else prompt.count(IMAGE_PLACEHOLDER)
    if shape == "vision_text":
        return row["text"].count(IMAGE_PLACEHOLDER)
    return None


def check_image_rows(rows: list[dict], base_dir: str | None = None) -> dict:
    """Decode every image of the sample and compare placeholders with images. Returns counts, per-row problems
    (at most five of each kind) and the image sizes seen."""
    decoded, undecodable, mismatched, sizes, per_row = 0, [], [], [], []
    viewer_urls = 0
    for index, row in enumerate(rows):
        images = row_images(row)
        per_row.append(len(images))
        for value in images:
            if isinstance(value, dict) and value.get("src") and value.get("bytes") is None and not value.get("path"):
                viewer_urls += 1
                if value.get("width") and value.get("height"):
                    sizes.append((int(value["height"]), int(value["width"])))
                continue
            try:
                image = decode_image(value, base_dir)
            except ValueError as exc:
                undecodable.append({"row": index, "error": str(exc)})
                continue
            decoded += 1
            sizes.append((image.height, image.width))
        placeholders = row_placeholders(row)
        if placeholders is not None and placeholders != len(images):
            mismatched.append({"row": index, "error": f"{placeholders} image placeholder(s) for {len(images)} "
                                                      "image(s)"})
    return {"images": sum(per_row), "decoded": decoded, "viewer_urls": viewer_urls,
            "images_per_row": {"min": min(per_row, default=0), "max": max(per_row, default=0)},
            "rows_without_images": sum(1 for n in per_row if n == 0),
            "undecodable": undecodable[:5], "undecodable_count": len(undecodable),
            "mismatched": mismatched[:5], "mismatched_count": len(mismatched),
            "sizes": {"min": list(min(sizes, key=lambda s: s[0] * s[1])), "max": list(max(sizes, key=lambda s: s[0]
                                                                                            * s[1]))}
            if sizes else None}


# --- models --------------------------------------------------------------------------------------------------------


def config_sees_images(config: dict | None) -> bool:
    """Whether a model configuration (config.json as a dict) describes a model that takes images."""
    if not config:
        return False
    return bool(config.get("vision_config") or config.get("vision_tower") or config.get("mm_vision_tower")
                or config.get("visual"))


def processor_sees_images(processing_class: Any) -> bool:
    """Whether a loaded processing class handles images (a processor with an image processor; a tokenizer: no)."""
    return getattr(processing_class, "image_processor", None) is not None


def _vision_layer_params(hidden: int, intermediate: int, layers: int) -> int:
    # Per transformer layer: q, k, v, o (h x h + bias each), two MLP matrices (with biases), two norms.
    return layers * (4 * (hidden * hidden + hidden) + 2 * hidden * intermediate + intermediate + hidden + 4 * hidden)


def vision_params_from_config(config: dict) -> dict | None:
    """Approximate parameters of the vision tower and the projector from config.json alone (no weights), or None for
    a text-only config. Standard ViT arithmetic; projectors per family (LLaVA MLP, Idefics3 pixel-shuffle linear,
    Qwen-VL patch merger, Gemma 3 linear)."""
    vision = config.get("vision_config")
    if not isinstance(vision, dict):
        return None
    text = config.get("text_config") or config
    hidden = int(vision.get("hidden_size") or vision.get("embed_dim") or vision.get("width") or 0)
    if not hidden:
        return None
    intermediate = int(vision.get("intermediate_size") or 4 * hidden)
    layers = int(vision.get("num_hidden_layers") or vision.get("depth") or 0)
    patch = int(vision.get("patch_size") or 14)
    channels = int(vision.get("num_channels") or vision.get("in_channels") or 3)
    temporal = int(vision.get("temporal_patch_size") or 1)
    image_size = vision.get("image_size")
    positions = (int(image_size) // patch) ** 2 + 1 if isinstance(image_size, int) else 0
    tower = _vision_layer_params(hidden, intermediate, layers) + channels * temporal * patch * patch * hidden \
        + positions * hidden + 2 * hidden
    text_hidden = int(text.get("hidden_size") or vision.get("out_hidden_size") or hidden)
    model_type = str(config.get("model_type", ""))
    if "qwen" in model_type:
        merge = int(vision.get("spatial_merge_size") or 2)
        merged = hidden * merge * merge
        projector = merged * merged + merged + merged * int(vision.get("out_hidden_size") or text_hidden)
    elif model_type in ("idefics3", "smolvlm"):
        scale = int(config.get("scale_factor") or 1)
        projector = hidden * scale * scale * text_hidden
    elif "gemma3" in model_type:
        projector = hidden * text_hidden + hidden
    else:  # LLaVA-style two-layer MLP
        projector = hidden * text_hidden + text_hidden * text_hidden + 2 * text_hidden
    return {"vision_tower": tower, "projector": projector, "image_size": image_size, "patch_size": patch}


# --- image tokens --------------------------------------------------------------------------------------------------


def _image_processor_config(processor_config: dict) -> dict:
    """The image processor's settings: nested under "image_processor" (processor_config.json of transformers 5) or
    at the top level (preprocessor_config.json)."""
    nested = processor_config.get("image_processor")
    return {**processor_config, **nested} if isinstance(nested, dict) else processor_config


def _longest_edge(value: Any, default: int) -> int:
    if isinstance(value, dict):
        return int(value.get("longest_edge") or value.get("height") or default)
    return int(value or default)


def _qwen_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """Qwen2-VL's smart_resize: both sides multiples of `factor`, the area within [min_pixels, max_pixels]."""
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return h, w


def image_tokens_per_image(processor_config: dict, model_config: dict | None = None, height: int = 512,
                           width: int = 512) -> dict:
    """Image tokens one image of height x width becomes, from the processor's configuration (and the model's, for
    values only it has). Returns {"tokens", "scheme", "tiles"}; scheme: "fixed", "tiles" (Idefics3/SmolVLM image
    splitting) or "dynamic" (Qwen-VL native resolution); "unknown" with tokens None when the family is not known.
    The tokens are the placeholders the language model reads (the vision features), not the wrapper tokens some
    families add around them."""
    model_config = model_config or {}
    image = _image_processor_config(processor_config)
    kind = str(processor_config.get("processor_class") or image.get("image_processor_type") or "")
    model_type = str(model_config.get("model_type", ""))
    vision = model_config.get("vision_config") or {}
    if "Qwen" in kind or "qwen" in model_type:
        patch = int(image.get("patch_size") or vision.get("patch_size") or 14)
        merge = int(image.get("merge_size") or vision.get("spatial_merge_size") or 2)
        size = image.get("size") if isinstance(image.get("size"), dict) else {}
        min_pixels = int(image.get("min_pixels") or size.get("shortest_edge") or 56 * 56)
        max_pixels = int(image.get("max_pixels") or size.get("longest_edge") or 28 * 28 * 1280)
        h, w = _qwen_resize(height, width, patch * merge, min_pixels, max_pixels)
        return {"tokens": (h // (patch * merge)) * (w // (patch * merge)), "scheme": "dynamic", "tiles": 1,
                "resized": [h, w]}
    if "Idefics3" in kind or "SmolVLM" in kind or model_type in ("idefics3", "smolvlm"):
        seq = processor_config.get("image_seq_len")
        if not seq and vision:
            scale = int(model_config.get("scale_factor") or 2)
            seq = (int(vision.get("image_size", 512)) // int(vision.get("patch_size", 16))) ** 2 // (scale * scale)
        seq = int(seq or 169)
        tile = _longest_edge(image.get("max_image_size"), 364)
        tiles = 1
        if image.get("do_image_splitting", True):
            longest = _longest_edge(image.get("size"), 4 * 364)
            scale_to = longest / max(height, width)
            h, w = max(1, int(height * scale_to)), max(1, int(width * scale_to))
            rows, cols = math.ceil(h / tile), math.ceil(w / tile)
            tiles = rows * cols + (1 if rows * cols > 1 else 0)  # the tiles plus a downscaled global image
        return {"tokens": seq * tiles, "scheme": "tiles", "tiles": tiles}
    if "Llava" in kind or model_type == "llava":
        patch = int(processor_config.get("patch_size") or vision.get("patch_size") or 14)
        crop = image.get("crop_size") or {}
        side_h = int(crop.get("height") or vision.get("image_size") or 336)
        side_w = int(crop.get("width") or side_h)
        tokens = (side_h // patch) * (side_w // patch) + int(processor_config.get("num_additional_image_tokens") or 0)
        if (processor_config.get("vision_feature_select_strategy")
                or model_config.get("vision_feature_select_strategy")) == "default":
            tokens -= 1
        return {"tokens": tokens, "scheme": "fixed", "tiles": 1}
    for key in ("image_seq_length", "image_seq_len", "num_image_tokens", "mm_tokens_per_image"):
        value = processor_config.get(key) or model_config.get(key)
        if value:
            return {"tokens": int(value), "scheme": "fixed", "tiles": 1}
    if "gemma3" in model_type or "Gemma3" in kind:
        return {"tokens": 256, "scheme": "fixed", "tiles": 1}
    return {"tokens": None, "scheme": "unknown", "tiles": None}


def measure_vision_row(row: dict, processor: Any) -> dict:
    """Tokens of one TRL vision row as the processor builds them: the whole sequence and the image tokens in it (for
    preference rows, the longer of prompt+chosen and prompt+rejected)."""
    images = [decode_image(value).convert("RGB") for value in row_images(row)]
    shape = vision_shape(row)
    if shape == "vision_messages":
        texts = [processor.apply_chat_template(with_image_parts(row["messages"], len(images)), tokenize=False)]
    elif shape in ("vision_prompt_completion", "vision_preference"):
        keys = ("completion",) if shape == "vision_prompt_completion" else ("chosen", "rejected")
        if isinstance(row["prompt"], list):
            texts = [processor.apply_chat_template(with_image_parts(list(row["prompt"]) + list(row[key]),
                                                                     len(images)), tokenize=False) for key in keys]
        else:
            texts = [row["prompt"] + row[key] for key in keys]
    elif shape == "vision_text":
        texts = [row["text"]]
    else:
        raise ValueError(f"{VISION_SHAPE_TEXT.get(shape or '', shape)} rows need a mapping before they can be measured")
    image_token_id = getattr(processor, "image_token_id", None)
    best = None
    for text in texts:
        encoded = processor(images=images or None, text=[text], add_special_tokens=False)
        ids = encoded["input_ids"][0]
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        image_tokens = sum(1 for token in ids if token == image_token_id) if image_token_id is not None else None
        positions = [i for i, token in enumerate(ids) if token == image_token_id]
        measured = {"tokens": len(ids), "image_tokens": image_tokens,
                    "last_image_token": positions[-1] + 1 if positions else 0}
        if best is None or measured["tokens"] > best["tokens"]:
            best = measured
    return best


def with_image_parts(messages: list, images: int) -> list:
    """Messages in the structured form TRL gives the chat template (string content -> text parts, the images before
    the first user turn), without the None fields a datasets round trip adds to parts."""
    result, inserted = [], False
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            parts = [{"type": "text", "text": content}]
            if message.get("role") == "user" and not inserted:
                parts = [{"type": "image"} for _ in range(images)] + parts
                inserted = True
        else:
            parts = [{key: value for key, value in part.items() if value is not None} for part in content or []]
        result.append({"role": message["role"], "content": parts})
    return result


def vision_token_stats(rows: list[dict], processor: Any, max_length: int | None) -> dict:
    """Token lengths of TRL vision rows, image tokens included, and the rows whose image tokens `max_length` would
    cut (training refuses those)."""
    measured, failures = [], []
    for index, row in enumerate(rows):
        try:
            measured.append(measure_vision_row(row, processor))
        except (ValueError, KeyError, TypeError) as exc:
            failures.append({"row": index, "error": str(exc)[:200]})
    stats: dict[str, Any] = {"rows": len(measured), "failures": failures[:5], "max_length": max_length}
    if measured:
        lengths = sorted(m["tokens"] for m in measured)
        image_tokens = [m["image_tokens"] for m in measured if m["image_tokens"] is not None]
        stats.update(mean=round(sum(lengths) / len(lengths), 1), min=lengths[0], max=lengths[-1],
                     p50=lengths[max(0, math.ceil(0.5 * len(lengths)) - 1)],
                     p90=lengths[max(0, math.ceil(0.9 * len(lengths)) - 1)],
                     p95=lengths[max(0, math.ceil(0.95 * len(lengths)) - 1)],
                     p99=lengths[max(0, math.ceil(0.99 * len(lengths)) - 1)],
                     image_tokens_mean=round(sum(image_tokens) / len(image_tokens), 1) if image_tokens else None,
                     image_tokens_max=max(image_tokens) if image_tokens else None)
        if max_length:
            stats["truncated_share"] = round(sum(1 for n in lengths if n > max_length) / len(lengths), 4)
            stats["image_cut_rows"] = sum(1 for m in measured if m["last_image_token"] > max_length)
    return stats


def max_length_cuts_images(rows: list[dict], processor: Any, max_length: int | None) -> str | None:
    """A message when `max_length` would cut image tokens in any of these rows, else None."""
    if not max_length:
        return None
    measured = [measure_vision_row(row, processor) for row in rows]
    cut = [index for index, m in enumerate(measured) if m["last_image_token"] > max_length]
    if not cut:
        return None
    first = measured[cut[0]]
    longest = max(m["tokens"] for m in measured)
    return (f"--max_length {max_length} cuts the image tokens of {len(cut)} of the first {len(rows)} rows (row "
            f"{cut[0]}: its last image token is at position {first['last_image_token']} of {first['tokens']}), and a "
            "cut image cannot be trained on. Drop --max_length (no truncation, as TRL recommends for vision data), "
            f"or pass --max_length {longest} or more (the longest of those rows).")


# --- verdicts for dataset inspection ----------------------------------------------------------------------------


def analyse_vision(rows: list[dict], processor: Any = None, max_length: int | None = None,
                   base_dir: str | None = None) -> dict:
    """Inspection of sample rows with images, in dataset_report.analyse's report shape plus a "vision" section.

    READY only for a model that can see images (`processor` with an image processor): with a text-only tokenizer, or
    no model named, every method is INCOMPATIBLE and the reason says why. SFT and DPO are the methods train_vlm.py
    runs on images; the others are INCOMPATIBLE for image rows."""
    if processor is not None and not processor_sees_images(processor):
        processor = _vision_processor_of(processor)
    counts: dict[str, int] = {}
    for row in rows:
        shape = vision_shape(row) or "text_only"
        counts[shape] = counts.get(shape, 0) + 1
    shape = max(counts, key=lambda key: counts[key])
    mapping = VISION_SHAPE_MAPPING.get(shape)
    mapped, mapping_failures = rows, []
    if mapping:
        mapped = []
        for index, row in enumerate(rows):
            try:
                mapped.append(VISION_MAPPINGS[mapping](dict(row)))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                mapping_failures.append({"row": index, "error": str(exc)})
    images = check_image_rows(mapped if mapping else rows, base_dir)
    issues = []

    def issue(severity: str, column: str, message: str, problems: list[dict], count: int) -> None:
        issues.append({"severity": severity, "column": column, "message": message, "count": count,
                       "rows": [p["row"] for p in problems[:5]]})

    if images["undecodable_count"]:
        issue("error", "images", f"has images that do not decode ({images['undecodable'][0]['error']})",
              images["undecodable"], images["undecodable_count"])
    if images["mismatched_count"]:
        issue("error", "messages", f"has image placeholders that do not match the images "
              f"({images['mismatched'][0]['error']})", images["mismatched"], images["mismatched_count"])
    if mapping_failures:
        issue("error", "*", f"cannot be converted by mapping {mapping!r} ({mapping_failures[0]['error']})",
              mapping_failures, len(mapping_failures))
    if counts.get("text_only"):
        issue("warning", "images", "is missing (text-only rows among image rows); TRL trains them without images",
              [], counts["text_only"])
    sees = processor is not None and processor_sees_images(processor)
    errors = [item for item in issues if item["severity"] == "error"]
    target = {"vision_preference": "dpo"}.get(shape, "sft")
    methods = {}
    for method in METHODS:
        if processor is None:
            verdict, reasons = "INCOMPATIBLE", ["rows carry images: only a vision-language model can train on "
                                                "them; name one (model_name_or_path) to check the rows with its "
                                                f"processor, then train with {VISION_SCRIPT}"]
        elif not sees:
            verdict, reasons = "INCOMPATIBLE", ["rows carry images, and this model is text-only (its processing "
                                                "class has no image processor), so it cannot see them: use a "
                                                f"vision-language model with {VISION_SCRIPT}, or drop the image "
                                                "column to train on the text alone"]
        elif method not in VISION_METHODS:
            verdict, reasons = "INCOMPATIBLE", [f"{VISION_SCRIPT} trains SFT and DPO on image rows; "
                                                f"{method.upper()} with images is not bundled"]
        elif method != target and not (method == "sft" and shape == "vision_preference"):
            verdict, reasons = "INCOMPATIBLE", [f"{VISION_SHAPE_TEXT.get(shape, shape)} rows do not fit "
                                                f"{method.upper()}"]
        elif method == "sft" and shape == "vision_preference":
            verdict, reasons = "INCOMPATIBLE", ["preference rows with images: train DPO (--method dpo)"]
        elif shape == "vision_unknown":
            verdict, reasons = "INCOMPATIBLE", ["images with no known text columns (messages, prompt/completion, "
                                                "prompt/chosen/rejected, texts, conversations, caption)"]
        elif errors:
            verdict, reasons = "INCOMPATIBLE", ["the format fits, but sample rows have errors (see issues): fix or "
                                                "filter them first"]
        elif mapping:
            verdict, reasons = "NEEDS MAPPING", [f"{VISION_SHAPE_TEXT[shape]} rows become TRL vision messages; "
                                                 f"train with {VISION_SCRIPT} --dataset_mapping {mapping}"]
        else:
            verdict, reasons = "READY", [f"{VISION_SHAPE_TEXT.get(shape, shape)} rows train with {VISION_SCRIPT}"]
        methods[method] = {"verdict": verdict, "mapping": mapping if verdict == "NEEDS MAPPING" else None,
                           "reasons": reasons}
    token_stats = None
    if sees and not errors and shape != "vision_unknown":
        token_stats = dict(vision_token_stats(mapped, processor, max_length), method=target)
    return {
        "kind": shape, "kind_text": VISION_SHAPE_TEXT.get(shape, shape), "conversational": shape in (
            "vision_messages", "the_cauldron", "llava", "image_caption") or None,
        "columns": sorted({column for row in rows for column in row}), "sample_rows": len(rows), "issues": issues,
        "methods": methods, "mappings": {},
        "chat_template": bool(getattr(processor, "chat_template", None)) if processor is not None else None,
        "chat_template_used": "model" if sees and getattr(processor, "chat_template", None) else None,
        "token_stats": token_stats,
        "vision": {"shape": shape, "mapping": mapping, "model_sees_images": sees if processor is not None else None,
                   "script": VISION_SCRIPT, **{key: value for key, value in images.items()}},
    }


def _vision_processor_of(tokenizer: Any) -> Any:
    """The model's own processor when a caller loaded only its tokenizer (AutoTokenizer on a vision-language model
    gives a tokenizer without the image processor); the tokenizer itself for a text-only model."""
    name = getattr(tokenizer, "name_or_path", None)
    if not name:
        return tokenizer
    try:
        from transformers import AutoProcessor

        processor = AutoProcessor.from_pretrained(name)
    except (ImportError, OSError, ValueError, TypeError, KeyError):
        return tokenizer
    return processor if processor_sees_images(processor) else tokenizer


def render_vision(report: dict) -> list[str]:
    """Text lines for the "vision" section of an inspection report."""
    vision = report.get("vision")
    if not vision:
        return []
    sizes = vision.get("sizes")
    lines = [f"  images: {vision['images']} in {report['sample_rows']} rows ({vision['images_per_row']['min']}-"
             f"{vision['images_per_row']['max']} per row), {vision['decoded']} decoded"
             + (f", {vision['viewer_urls']} viewer URLs not decoded" if vision.get("viewer_urls") else "")
             + (f", sizes {sizes['min'][0]}x{sizes['min'][1]} to {sizes['max'][0]}x{sizes['max'][1]}" if sizes
                else "")]
    if vision.get("model_sees_images") is False:
        lines.append("  model: text-only; these rows need a vision-language model")
    stats = report.get("token_stats") or {}
    if stats.get("image_tokens_mean") is not None:
        lines.append(f"  image tokens per row: mean {stats['image_tokens_mean']}, max {stats['image_tokens_max']}")
    if stats.get("image_cut_rows"):
        lines.append(f"  advice: max_length {stats['max_length']} would cut the image tokens of "
                     f"{stats['image_cut_rows']} sample rows: train without --max_length, or with --max_length "
                     f"{stats['max']}")
    return lines


# --- estimation ----------------------------------------------------------------------------------------------------

# The image size the estimate quotes tokens for when the data is not measured (a common photo after resizing).
ESTIMATE_IMAGE_SIDE = 512


def vision_summary(model_config: dict, processor_config: dict | None = None,
                   side: int = ESTIMATE_IMAGE_SIDE) -> dict | None:
    """What an estimate says about a vision-language model: vision tower and projector parameters (config.json
    arithmetic) and the image tokens one side x side image becomes (from the processor's configuration). None for a
    text-only model. Frozen by default in train_vlm.py, the tower adds weights but no gradients, optimizer state or
    stored activations; its image tokens count as sequence tokens of the language model (dataset_inspect measures
    them per row)."""
    params = vision_params_from_config(model_config)
    if params is None:
        return None
    tokens = image_tokens_per_image(processor_config or {}, model_config, side, side)
    return {"vision_tower_params": params["vision_tower"], "projector_params": params["projector"],
            "image_side": side, "image_tokens_per_image": tokens["tokens"], "image_token_scheme": tokens["scheme"],
            "tiles_per_image": tokens["tiles"]}


def vision_summary_text(summary: dict) -> str:
    """One line for an estimate's assumptions."""
    tokens = summary["image_tokens_per_image"]
    scheme = {"tiles": f"{summary['tiles_per_image']} tiles", "dynamic": "native resolution",
              "fixed": "fixed"}.get(summary["image_token_scheme"], "unknown scheme")
    per_image = (f"{tokens} image tokens per {summary['image_side']}x{summary['image_side']} image ({scheme})"
                 if tokens else "image tokens per image unknown for this family")
    def count(n: int) -> str:
        return f"{n / 1e6:.1f}M" if n >= 1e5 else f"{n:,}"

    return (f"vision-language model: vision tower {count(summary['vision_tower_params'])} and projector "
            f"{count(summary['projector_params'])} parameters (frozen by default: weights only); {per_image}, "
            "counted as sequence tokens (dataset_inspect measures them per row)")

# ----- runtime/vision_models.py -----
"""The model side of vision-language training: which parts of a model see images (vision tower, projector, language
model), freezing and LoRA targets for train_vlm.py, and evaluation and generation with images for evaluate.py,
generate_responses.py and train_vlm.py --eval_baseline (same result keys as evaluation.evaluate_model).

Inlined into those scripts only (runtime/vision.py, which every training script carries, has the data side).
Standard library at the top; torch, transformers and peft inside the functions that need them.
"""

import json
import math
from pathlib import Path
from typing import Any


# Submodule names that hold the vision encoder, and those that project its features into the language model, across
# transformers' vision-language families (LLaVA, Idefics3/SmolVLM, Gemma 3, Qwen2/2.5/3-VL, PaliGemma, Mllama, ...).
VISION_TOWER_NAMES = ("vision_tower", "vision_model", "visual", "vision_encoder", "image_encoder", "vpm")
PROJECTOR_NAMES = ("multi_modal_projector", "connector", "mm_projector", "merger", "deepstack_merger_list",
                   "vision_projection", "resampler")


# --- the parts of a model ------------------------------------------------------------------------------------------


def vision_part(parameter_name: str) -> str:
    """Which part of a vision-language model a parameter or module belongs to: "projector", "vision_tower" or
    "language_model" (projector names first: Qwen2-VL's merger lives inside its visual tower)."""
    parts = parameter_name.split(".")
    if any(part in PROJECTOR_NAMES for part in parts):
        return "projector"
    if any(part in VISION_TOWER_NAMES for part in parts):
        return "vision_tower"
    return "language_model"


def count_vision_parameters(model) -> dict:
    """Parameters of each part of a loaded model: {"vision_tower", "projector", "language_model"}."""
    counts = {"vision_tower": 0, "projector": 0, "language_model": 0}
    for name, parameter in model.named_parameters():
        counts[vision_part(name)] += parameter.numel()
    return counts


# --- training (train_vlm.py) -----------------------------------------------------------------------------------


def trained_parts(args) -> list[str]:
    """The parts this run trains: the language model always, the projector and the vision tower on request."""
    return ["language_model"] + (["projector"] if args.train_projector else []) + (
        ["vision_tower"] if args.train_vision_tower else [])


def freeze_parts(model, parts: list[str]) -> dict:
    """Full fine-tuning: only the parameters of `parts` train. Returns trainable and frozen parameter counts."""
    counts = {"trainable": 0, "frozen": 0}
    for name, parameter in model.named_parameters():
        train = vision_part(name) in parts
        parameter.requires_grad_(train)
        counts["trainable" if train else "frozen"] += parameter.numel()
    return counts


def vision_lora_config(args, model):
    """LoRA on the language model's linear layers (and the vision tower's with --train_vision_tower); the projector,
    with --train_projector, trained fully and saved with the adapter (modules_to_save). The output layer is left out,
    as peft's all-linear does. --lora_target_modules other than all-linear is used as given."""
    if not args.use_peft:
        return None
    import re

    import torch
    from peft import LoraConfig

    parts = trained_parts(args)
    targets = args.lora_target_modules
    if targets == ["all-linear"]:
        leaves: set[str] = set()
        for name, module in model.named_modules():
            leaf = name.rsplit(".", 1)[-1]
            if isinstance(module, torch.nn.Linear) and leaf != "lm_head" and vision_part(name) in parts \
                    and vision_part(name) != "projector":
                leaves.add(leaf)
        # Leaf names alone would also match the vision tower's layers (SigLIP has q_proj too): exclude by path.
        excluded = PROJECTOR_NAMES + (() if "vision_tower" in parts else VISION_TOWER_NAMES)
        targets = (f"^(?!(?:.*\\.)?(?:{'|'.join(map(re.escape, excluded))})\\.).*\\."
                   f"(?:{'|'.join(map(re.escape, sorted(leaves)))})$")
    modules_to_save = None
    if args.train_projector:
        modules_to_save = sorted({name.rsplit(".", 1)[-1] for name, _ in model.named_modules()
                                  if name.rsplit(".", 1)[-1] in PROJECTOR_NAMES})
    return LoraConfig(r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
                      target_modules=targets, modules_to_save=modules_to_save or None, task_type="CAUSAL_LM")


def load_vision_model(args, model_kwargs: dict):
    """The model through AutoModelForImageTextToText, loaded with `model_kwargs` (train_common.model_init_kwargs: a
    parameter, so evaluate.py and generate_responses.py need not carry the training code); with QLoRA the vision
    tower, projector and output layer stay in full precision (4-bit vision encoders lose accuracy and save little)."""
    from transformers import AutoModelForImageTextToText

    kwargs = dict(model_kwargs)
    if args.load_in_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=kwargs["dtype"],
            llm_int8_skip_modules=[*VISION_TOWER_NAMES, *PROJECTOR_NAMES, "lm_head"])
    try:
        return AutoModelForImageTextToText.from_pretrained(args.model_name_or_path, **kwargs)
    except ValueError as exc:
        if "Unrecognized configuration class" in str(exc):
            raise ScriptError(f"{args.model_name_or_path} is not an image-text-to-text model (transformers has no "
                              "AutoModelForImageTextToText class for it). Use a vision-language model, or "
                              "train_sft.py for a text model.") from None
        raise


# --- evaluation and generation ---------------------------------------------------------------------------------


def vision_example(row: dict) -> dict | None:
    """{"images", "prompt", "completion"} of one TRL vision row (messages: the turns before the last answer and that
    answer; preference rows: the chosen answer); None for rows without an answer to score."""
    shape = vision_shape(row)
    images = row_images(row)
    if shape == "vision_messages":
        messages = list(row["messages"])
        last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=None)
        if not last:  # no answer, or an answer with no question before it
            return None
        return {"images": images, "prompt": messages[:last], "completion": messages[last:last + 1]}
    if shape in ("vision_prompt_completion", "vision_preference"):
        completion = row["completion"] if shape == "vision_prompt_completion" else row["chosen"]
        if isinstance(row["prompt"], list) and isinstance(completion, list):
            return {"images": images, "prompt": list(row["prompt"]), "completion": list(completion)}
    return None


def _vision_inputs(processor: Any, images: list, text: str, device: Any, dtype: Any):
    inputs = processor(images=images or None, text=[text], return_tensors="pt", add_special_tokens=False)
    moved = {}
    for key, value in inputs.items():
        value = value.to(device)
        moved[key] = value.to(dtype) if value.is_floating_point() else value
    return moved


def _vision_text(message_content: Any) -> str:
    if isinstance(message_content, str):
        return message_content
    return "".join(part.get("text") or "" for part in message_content or [] if isinstance(part, dict))


def evaluate_vision_model(model, processor, rows: list[dict], *, max_new_tokens: int = 128, num_samples: int = 5,
                          **_ignored) -> dict:
    """Loss and perplexity of a vision-language model over the answer tokens of image rows (the image and the
    question are context), and greedy generations for the first `num_samples` rows: the same result keys as
    evaluation.evaluate_model, so compare() and the card work unchanged. One row per forward pass (images differ
    in size, and the rows are few)."""
    import torch

    examples = [e for e in (vision_example(row) for row in rows) if e is not None]
    if not examples:
        raise ValueError("no image row has an answer to score: need images + messages ending in an assistant turn, "
                         "or images + conversational prompt/completion")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    total, count, samples = 0.0, 0, []
    with torch.no_grad():
        for index, example in enumerate(examples):
            images = [decode_image(value).convert("RGB") for value in example["images"]]
            prompt = processor.apply_chat_template(with_image_parts(example["prompt"], len(images)), tokenize=False,
                                                   add_generation_prompt=True)
            full = processor.apply_chat_template(with_image_parts(example["prompt"] + example["completion"],
                                                                   len(images)), tokenize=False)
            inputs = _vision_inputs(processor, images, full, device, dtype)
            prompt_inputs = _vision_inputs(processor, images, prompt, device, dtype)
            labels = inputs["input_ids"].clone()
            labels[:, :prompt_inputs["input_ids"].shape[1]] = -100
            scored = int((labels[:, 1:] != -100).sum())
            if scored:
                loss = model(**inputs, labels=labels).loss
                total, count = total + float(loss) * scored, count + scored
            if index < num_samples:
                output = model.generate(**prompt_inputs, max_new_tokens=max_new_tokens, do_sample=False)
                generated = processor.batch_decode(output[:, prompt_inputs["input_ids"].shape[1]:],
                                                   skip_special_tokens=True)[0]
                samples.append({"prompt": _vision_text(example["prompt"][-1].get("content")) if example["prompt"]
                                else "", "images": len(images),
                                "reference": _vision_text(example["completion"][-1].get("content")),
                                "generated": generated})
    if was_training:
        model.train()
    loss = total / count if count else None
    return {"rows": len(examples), "scored_tokens": count, "loss": loss,
            "perplexity": (math.exp(loss) if loss < 700 else float("inf")) if loss is not None else None,
            "samples": samples}


def load_vision_model_for_eval(name_or_path: str, *, adapter_base: str | None = None, trust_remote_code: bool = False,
                               token: str | None = None):
    """(model, processor, description) of a vision-language model or a LoRA adapter on one, for evaluation and
    generation: bf16/fp16 on a GPU, float32 on CPU, eval mode."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    cuda = torch.cuda.is_available()
    dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else torch.float32
    kwargs = {"dtype": dtype, "trust_remote_code": trust_remote_code, "token": token}
    local = Path(name_or_path).expanduser()
    adapter_config = local / "adapter_config.json"
    if adapter_config.is_file() or adapter_base:
        base = adapter_base or json.loads(adapter_config.read_text(encoding="utf-8"))["base_model_name_or_path"]
        from peft import PeftModel

        model = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(base, **kwargs), name_or_path,
                                          token=token)
        description = f"{name_or_path} (LoRA adapter on {base})"
    else:
        base = name_or_path
        model = AutoModelForImageTextToText.from_pretrained(name_or_path, **kwargs)
        description = name_or_path
    try:  # the training output carries the processor it was trained with
        processor = AutoProcessor.from_pretrained(name_or_path, trust_remote_code=trust_remote_code, token=token)
    except (OSError, ValueError):
        processor = AutoProcessor.from_pretrained(base, trust_remote_code=trust_remote_code, token=token)
    if cuda:
        model = model.to("cuda")
    model.eval()
    return model, processor, description


def generate_vision_responses(model, processor, items: list[tuple[dict, Any]], *, max_new_tokens: int = 256,
                              num_generations: int = 1, temperature: float = 0.0, top_p: float = 1.0,
                              top_k: int | None = None, repetition_penalty: float = 1.0) -> list[list[str]]:
    """Responses of a vision-language model to (row, prompt) pairs whose rows carry images: the prompt (messages,
    or a string taken as the user turn) with the row's images, through the processor's chat template. One row per
    call (images differ in size); `num_generations` samples each."""
    import torch

    device = next(model.parameters()).device
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    options = {"max_new_tokens": max_new_tokens, "do_sample": temperature > 0, "num_return_sequences": num_generations,
               "repetition_penalty": repetition_penalty}
    if temperature > 0:
        options.update(temperature=temperature, top_p=top_p, top_k=top_k or None)
    results = []
    for row, prompt in items:
        images = [decode_image(value).convert("RGB") for value in row_images(row)]
        messages = prompt if isinstance(prompt, list) else [{"role": "user", "content": str(prompt)}]
        text = processor.apply_chat_template(with_image_parts(messages, len(images)), tokenize=False,
                                             add_generation_prompt=True)
        inputs = _vision_inputs(processor, images, text, device, dtype)
        with torch.no_grad():
            output = model.generate(**inputs, **options)
        texts = processor.batch_decode(output[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        results.append([t.strip() for t in texts])
    return results
# ===== end of generated runtime =====


if __name__ == "__main__":
    run_main(main, parse_args)
