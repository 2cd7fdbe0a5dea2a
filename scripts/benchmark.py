# /// script
# requires-python = ">=3.11"
# dependencies = [
#     "torch==2.13.0",
#     "transformers==5.25.0",
#     "peft==0.21.2",
#     "datasets==5.2.0",
#     "accelerate==1.16.0",
#     "huggingface_hub==2.4.0",
#     "lm_eval[hf,ifeval]==0.4.13",
# ]
#
# [tool.uv]
# exclude-newer = "2026-12-06T13:00:48Z"
# ///
"""Standard benchmarks (IFEval, GSM8K, MMLU, any lm-evaluation-harness task) on a model, before and after fine-tuning.

What did the fine-tune gain, and what general ability did it lose? EleutherAI's lm-evaluation-harness (`lm_eval`)
scores the model, and with --baseline_model its base on the same questions, in one job: a table per task with the
difference and a verdict (regressed / improved beyond the standard error, or within noise), results/benchmark.json
and a "Standard benchmarks" section of the model card (a later run replaces it).
Locally (transformers), a quick look with few examples per task:
    uv run scripts/benchmark.py --model_name_or_path outputs/qwen-sft --baseline_model Qwen/Qwen2.5-0.5B-Instruct \
        --limit 50
On HF Jobs with vLLM (used automatically on a GPU when installed), the default suite, results pushed to the model:
    hf jobs uv run --flavor a10g-large --secrets HF_TOKEN --with vllm==0.30.0 scripts/benchmark.py \
        --model_name_or_path <you>/qwen-sft --baseline_model Qwen/Qwen2.5-0.5B-Instruct --push_to_hub

--tasks takes harness task or group names (`lm_eval ls tasks`), task YAML files, or names defined in the YAML files
of --include_path folders (the harness's own task format, e.g. a local JSONL through `dataset_path: json`).
LoRA adapters are scored on their base (with vLLM: merged into it first). The token is read only from HF_TOKEN.
"""

import argparse
import difflib
import json
import os
import time
from pathlib import Path

DEFAULT_TASKS = "ifeval,gsm8k,mmlu"  # instruction following, grade-school math, knowledge: minutes on one GPU


def _limit(text: str) -> int | float:
    value = float(text)
    if value <= 0 or (value >= 1 and not value.is_integer()):
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of examples (50) or a fraction below 1 (0.1)")
    return value if value < 1 else int(value)


def _tasks(text: str) -> list[str]:
    tasks = [t.strip() for t in text.split(",") if t.strip()]
    if not tasks:
        raise argparse.ArgumentTypeError(f"{text!r} names no task")
    return tasks


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model_name_or_path", required=True, help="Hub id or local folder: a model or an adapter.")
    parser.add_argument("--adapter_base", default=None,
                        help="Base model of a LoRA adapter (default: the one named in adapter_config.json).")
    parser.add_argument("--baseline_model", default=None,
                        help="Also score this model (the base before fine-tuning) on the same questions and compare.")
    parser.add_argument("--tasks", type=_tasks, default=DEFAULT_TASKS,
                        help="Comma-separated harness task or group names, or task YAML files.")
    parser.add_argument("--include_path", action="append", default=[],
                        help="A folder of task YAML files (the harness's format); repeat for several.")
    parser.add_argument("--num_fewshot", type=int, default=None,
                        help="Few-shot examples for every task (default: each task's own, e.g. 5 for gsm8k).")
    parser.add_argument("--limit", type=_limit, default=None,
                        help="Examples per task (or a fraction): a quick look whose numbers are not comparable "
                             "with published ones (default: every example).")
    parser.add_argument("--apply_chat_template", choices=["auto", "yes", "no"], default="auto",
                        help="Format prompts with the model's chat template (auto: when its tokenizer has one).")
    parser.add_argument("--engine", choices=["auto", "vllm", "transformers"], default="auto",
                        help="auto: vLLM on a CUDA GPU when installed (--with vllm), else transformers.")
    parser.add_argument("--batch_size", default="auto",
                        help="transformers: requests per batch (auto: the largest that fits a GPU; 8 on CPU).")
    parser.add_argument("--max_length", type=int, default=None,
                        help="Context length in tokens (default: the model's).")
    parser.add_argument("--gpu_memory_utilization", type=float, default=0.8,
                        help="vLLM: the share of GPU memory it takes for weights and KV cache.")
    parser.add_argument("--trust_remote_code", action="store_true")
    parser.add_argument("--confirm_run_unsafe_code", action="store_true",
                        help="Allow tasks that execute model-written code (e.g. humaneval).")
    parser.add_argument("--output_dir", default=None,
                        help="Where results/ and README.md go (default: the model folder when it is local, else "
                             "outputs/benchmark-<model>).")
    parser.add_argument("--push_to_hub", action="store_true",
                        help="Upload results/benchmark.json and the card section to --hub_model_id (default: the "
                             "scored repo).")
    parser.add_argument("--hub_model_id", default=None)
    parser.add_argument("--json", action="store_true", help="Print a one-line JSON summary at the end.")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)  # argparse applies `type` to the string default of --tasks too


# --- models ---------------------------------------------------------------------------------------------------------

def _has_file(name_or_path: str, filename: str, token: str | None) -> bool:
    path = Path(name_or_path).expanduser()
    if path.exists():
        return (path / filename).is_file()
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HFValidationError

    try:
        return HfApi(token=token).file_exists(name_or_path, filename)
    except HFValidationError:
        raise ScriptError(f"{name_or_path!r} is neither a local folder nor a Hub repo id (owner/name).") from None


def model_spec(name_or_path: str, adapter_base: str | None, token: str | None) -> dict:
    """What to load: {"name", "base" (an adapter's base, else None), "tokenizer" (where its tokenizer is)}."""
    if not _has_file(name_or_path, "adapter_config.json", token):
        return {"name": name_or_path, "base": None, "tokenizer": name_or_path}
    base = adapter_base
    if base is None:
        path = Path(name_or_path).expanduser()
        if path.exists():
            config = path / "adapter_config.json"
        else:
            from huggingface_hub import hf_hub_download

            config = Path(hf_hub_download(name_or_path, "adapter_config.json", token=token))
        base = json.loads(config.read_text(encoding="utf-8")).get("base_model_name_or_path")
        if not base:
            raise ScriptError(f"{name_or_path}'s adapter_config.json names no base model: pass --adapter_base.")
    # an adapter folder usually carries the (possibly extended) tokenizer it was trained with
    tokenizer = name_or_path if _has_file(name_or_path, "tokenizer_config.json", token) else base
    return {"name": name_or_path, "base": base, "tokenizer": tokenizer}


def use_vllm(engine: str) -> bool:
    if engine == "transformers":
        return False
    import importlib.util

    import torch

    available = torch.cuda.is_available() and importlib.util.find_spec("vllm") is not None
    if engine == "vllm" and not available:
        raise ScriptError("--engine vllm needs a CUDA GPU and the vllm package (hf jobs uv run --with vllm==0.30.0 ...).")
    return available


def _merged_adapter(spec: dict, folder: Path, trust_remote_code: bool) -> str:
    """vLLM scores full models: the adapter merged into its base (bf16), saved with its tokenizer in `folder`."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(spec["tokenizer"], trust_remote_code=trust_remote_code)
    model = AutoModelForCausalLM.from_pretrained(spec["base"], dtype=torch.bfloat16, trust_remote_code=trust_remote_code)
    if model.get_input_embeddings().weight.shape[0] < len(tokenizer):  # the adapter added tokens
        model.resize_token_embeddings(len(tokenizer))
    model = PeftModel.from_pretrained(model, spec["name"]).merge_and_unload()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def _harness_model(spec: dict, settings: dict, scratch: Path):
    """The harness's LM object for one model: vLLM or transformers (HFLM, an adapter through its `peft` option)."""
    from lm_eval.api.registry import get_model

    if settings["engine"] == "vllm":
        path = _merged_adapter(spec, scratch, settings["trust_remote_code"]) if spec["base"] else spec["name"]
        options = {"pretrained": path, "dtype": "auto", "trust_remote_code": settings["trust_remote_code"],
                   "gpu_memory_utilization": settings["gpu_memory_utilization"]}
        if settings["max_length"]:
            options["max_model_len"] = settings["max_length"]
        return get_model("vllm").create_from_arg_obj(options, {"batch_size": "auto"})
    import torch

    cuda = torch.cuda.is_available()
    options = {"pretrained": spec["base"] or spec["name"], "tokenizer": spec["tokenizer"],
               "trust_remote_code": settings["trust_remote_code"],
               "dtype": ("bfloat16" if torch.cuda.is_bf16_supported() else "float16") if cuda else "float32"}
    if spec["base"]:
        options["peft"] = spec["name"]
    if settings["max_length"]:
        options["max_length"] = settings["max_length"]
    batch = settings["batch_size"]
    if batch == "auto" and not cuda:
        batch = 8  # the harness's search for the largest batch runs the model at full length: slow on a CPU
    return get_model("hf").create_from_arg_obj(options, {"batch_size": batch, "device": "cuda" if cuda else "cpu"})


def task_manager(tasks: list[str], include_paths: list[str]):
    """The harness's task index: only the given folders when every task is a YAML file or defined there (indexing
    the thousands of bundled tasks takes seconds), else the bundled tasks too. Unknown names are refused."""
    files = [t for t in tasks if t.endswith((".yaml", ".yml"))]
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise ScriptError(f"Task file {missing[0]!r} does not exist.")
    for folder in include_paths:
        if not Path(folder).is_dir():
            raise ScriptError(f"--include_path {folder!r} is not a folder.")
    from lm_eval.tasks import TaskManager  # the harness, imported once the arguments are known to be sound

    named = [t for t in tasks if t not in files]
    if include_paths:
        manager = TaskManager(include_path=include_paths, include_defaults=False)
        if all(name in manager.all_tasks for name in named):
            return manager
    if not named:
        return TaskManager(include_defaults=False)
    manager = TaskManager(include_path=include_paths or None)
    for name in named:
        if name not in manager.all_tasks:
            close = difflib.get_close_matches(name, manager.all_tasks, n=3)
            raise ScriptError(f"{name!r} is not a task the harness knows" +
                              (f" (did you mean {', '.join(close)}?)" if close else "") +
                              ". List them with `lm_eval ls tasks`, or pass a task YAML file or --include_path.")
    return manager


def score_model(spec: dict, settings: dict, manager=None) -> dict:
    """Run the harness on one model; its scores per top-level task, whether the chat template was used, the time."""
    import tempfile

    import lm_eval

    started = time.time()
    manager = manager or task_manager(settings["tasks"], settings["include_path"])
    with tempfile.TemporaryDirectory(prefix="benchmark-") as scratch:
        try:
            lm = _harness_model(spec, settings, Path(scratch))
        except OSError as exc:  # transformers' words for a missing, private or gated repo, or a broken folder
            raise ScriptError(f"{spec['base'] or spec['name']} could not be loaded: {str(exc).splitlines()[0]}") from None
        has_template = bool(getattr(lm.tokenizer, "chat_template", None))
        chat = has_template if settings["apply_chat_template"] == "auto" else settings["apply_chat_template"] == "yes"
        if chat and not has_template:
            raise ScriptError(f"{spec['name']} has no chat template: use --apply_chat_template auto or no.")
        output = lm_eval.simple_evaluate(
            model=lm, tasks=settings["tasks"], task_manager=manager, num_fewshot=settings["num_fewshot"],
            limit=settings["limit"], apply_chat_template=chat, fewshot_as_multiturn=chat, log_samples=False,
            confirm_run_unsafe_code=settings["confirm_run_unsafe_code"])
    return {"scores": task_scores(output), "chat_template": chat, "runtime_seconds": round(time.time() - started, 1)}


def _score_in_child(spec: dict, settings: dict, result_path: str) -> None:
    Path(result_path).write_text(json.dumps(score_model(spec, settings)), encoding="utf-8")


def score(spec: dict, settings: dict, manager) -> dict:
    """Score one model. vLLM runs in a fresh process per model: its engine keeps GPU memory until its process ends,
    and the second model needs it."""
    description = f"{spec['name']} (LoRA adapter on {spec['base']})" if spec["base"] else spec["name"]
    print(f"Benchmarking {description} on {', '.join(settings['tasks'])} ({settings['engine']})", flush=True)
    if settings["engine"] != "vllm":
        result = score_model(spec, settings, manager)
        import gc

        gc.collect()
        return {**result, "description": description}
    import multiprocessing
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "scores.json")
        child = multiprocessing.get_context("spawn").Process(target=_score_in_child, args=(spec, settings, path))
        child.start()
        child.join()
        if child.exitcode != 0 or not Path(path).is_file():
            raise ScriptError(f"Scoring {description} with vLLM failed (exit {child.exitcode}); its log is above. "
                              "--engine transformers avoids vLLM.")
        return {**json.loads(Path(path).read_text(encoding="utf-8")), "description": description}


# --- results ----------------------------------------------------------------------------------------------------------

def _write(folder: Path, benchmark: dict) -> list[str]:
    """results/benchmark.json and the card's benchmark section in a local folder."""
    written = []
    for relative, text in result_files(benchmark).items():
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(str(target))
    card = folder / "README.md"
    old = card.read_text(encoding="utf-8") if card.is_file() else f"# {benchmark['model_name']}\n"
    card.write_text(replace_card_section(old, card_section(benchmark)), encoding="utf-8")
    written.append(str(card))
    return written


def _push(repo_id: str, benchmark: dict) -> str:
    """One commit to the model repo: results/benchmark.json and the card with its benchmark section replaced."""
    from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError

    token = os.environ.get("HF_TOKEN")
    if not token:
        raise ScriptError("--push_to_hub needs a token in HF_TOKEN (on HF Jobs: --secrets HF_TOKEN).")
    try:
        old = Path(hf_hub_download(repo_id, "README.md", token=token)).read_text(encoding="utf-8")
    except EntryNotFoundError:
        old = f"# {repo_id}\n"
    except RepositoryNotFoundError:
        raise ScriptError(f"Model repo {repo_id!r} does not exist (or this token cannot see it): the results go "
                          "beside the model, so push the model first, or name its repo with --hub_model_id.") from None
    files = {**result_files(benchmark), "README.md": replace_card_section(old, card_section(benchmark))}
    HfApi(token=token).create_commit(repo_id, operations=[CommitOperationAdd(p, t.encode("utf-8"))
                                                          for p, t in files.items()],
                                     commit_message="hf-trainer: standard benchmarks")
    return hub_url(repo_id)


def main(args: argparse.Namespace) -> int:
    from importlib import metadata

    started = time.time()
    if on_hf_jobs() and not args.push_to_hub:
        print("warning: on HF Jobs the results folder is discarded with the container; only this log keeps the "
              "numbers. Add --push_to_hub to write them to the model repo.", flush=True)
    local = Path(args.model_name_or_path).expanduser()
    repo = args.hub_model_id or (None if local.exists() else args.model_name_or_path)
    if args.push_to_hub and repo is None:
        raise ScriptError("--push_to_hub with a local model needs --hub_model_id (the repo to write to).")
    token = os.environ.get("HF_TOKEN")
    engine = "vllm" if use_vllm(args.engine) else "transformers"
    settings = {"tasks": args.tasks, "include_path": args.include_path, "num_fewshot": args.num_fewshot,
                "limit": args.limit, "apply_chat_template": args.apply_chat_template, "engine": engine,
                "batch_size": args.batch_size, "max_length": args.max_length,
                "gpu_memory_utilization": args.gpu_memory_utilization, "trust_remote_code": args.trust_remote_code,
                "confirm_run_unsafe_code": args.confirm_run_unsafe_code}
    manager = task_manager(args.tasks, args.include_path)  # unknown task names fail here, before any model loads
    tuned_spec = model_spec(args.model_name_or_path, args.adapter_base, token)
    base_spec = model_spec(args.baseline_model, None, token) if args.baseline_model else None
    benchmark = {"harness": HARNESS, "harness_version": f"lm_eval {metadata.version('lm_eval')}", "engine": engine,
                 "tasks": args.tasks, "num_fewshot": args.num_fewshot, "limit": args.limit,
                 "model_name": args.model_name_or_path}
    if base_spec:  # the base first: a failure there costs less than one after the fine-tuned model's run
        base = score(base_spec, settings, manager)
        tuned = score(tuned_spec, settings, manager)
        benchmark.update(base_name=args.baseline_model, base=base, fine_tuned=tuned,
                         comparison=compare_scores(base["scores"], tuned["scores"]))
        benchmark["regressions"] = regressions(benchmark["comparison"])
    else:
        tuned = score(tuned_spec, settings, manager)
        benchmark["model"] = tuned
    benchmark["runtime_seconds"] = round(time.time() - started, 1)

    folder = Path(args.output_dir) if args.output_dir else (
        local if local.is_dir() else Path("outputs") / f"benchmark-{args.model_name_or_path.rstrip('/').split('/')[-1]}")
    written = _write(folder, benchmark)
    summary = {"model": args.model_name_or_path, "baseline_model": args.baseline_model, "engine": engine,
               "tasks": args.tasks, "scores": tuned["scores"], "comparison": benchmark.get("comparison"),
               "regressions": benchmark.get("regressions"), "files": written,
               "runtime_seconds": benchmark["runtime_seconds"]}
    if args.push_to_hub:
        summary["hub_url"] = _push(repo, benchmark)
    if args.json:
        print(json.dumps(summary), flush=True)
        return 0
    print(comparison_table(benchmark["comparison"], args.baseline_model, args.model_name_or_path)
          if base_spec else scores_table(tuned["scores"]))
    if base_spec:
        print("\nRegressed beyond the standard error: " + (", ".join(benchmark["regressions"]) or "nothing"))
    print(f"\nResults: {summary.get('hub_url') or folder}", flush=True)
    return 0


# ===== generated runtime: do not edit; source: src/hf_trainer/runtime/ (regenerate: make sync-scripts) =====
# runtime modules: basics, benchmark_report

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

# ----- runtime/benchmark_report.py -----
"""Standard benchmarks before and after: the harness's scores reduced to one table, the verdict per task, the model
card section and results/benchmark.json.

scripts/benchmark.py runs EleutherAI's lm-evaluation-harness (`lm_eval`) on a model, and on its base with
--baseline_model; this module reads what the harness returns (`results`, `group_subtasks`, `higher_is_better`,
`n-samples`, `n-shot`, `versions`) and turns it into numbers a person can act on. Standard library only (inlined into
the script by `make sync-scripts`): the harness itself is imported by the script, never here.

A difference counts as a regression (or a gain) when it is larger than its standard error: the square root of the
two models' squared standard errors, as the harness reports them per task. Both models answer the same questions, so
this treats them as independent samples and is conservative; "within noise" means the run cannot tell.
"""

import json
import math

CARD_START = "<!-- hf-trainer:benchmark:start -->"
CARD_END = "<!-- hf-trainer:benchmark:end -->"
RESULTS_FILE = "results/benchmark.json"
HARNESS = "EleutherAI lm-evaluation-harness"
HARNESS_URL = "https://github.com/EleutherAI/lm-evaluation-harness"

REGRESSED, IMPROVED, WITHIN_NOISE, NO_STDERR = "regressed", "improved", "within noise", "no standard error"


def _number(value) -> float | None:
    """A harness value as a float, or None for its "N/A" and for anything not finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def top_level_tasks(output: dict) -> list[str]:
    """The tasks and groups a person asked for, in the harness's order: every entry of `results` that is not a
    member of a group that is itself reported (mmlu, not its 57 subjects)."""
    members = {child for children in (output.get("group_subtasks") or {}).values() for child in children}
    return [name for name in output.get("results") or {} if name not in members]


def task_scores(output: dict) -> dict[str, dict]:
    """{task: {"samples": n, "num_fewshot": k, "version": v, "metrics": {metric: {"value", "stderr",
    "higher_is_better"}}}} for the top-level tasks of one harness run. A metric key is the harness's
    "metric,filter" ("exact_match,flexible-extract"); the filter "none" is dropped ("acc")."""
    results = output.get("results") or {}
    better = output.get("higher_is_better") or {}
    samples = output.get("n-samples") or {}
    shots = output.get("n-shot") or {}
    versions = output.get("versions") or {}
    scores = {}
    for task in top_level_tasks(output):
        entry = results[task]
        metrics = {}
        for key, value in entry.items():
            if "," not in key or "_stderr," in key:
                continue
            metric, _, filter_name = key.partition(",")
            if _number(value) is None:
                continue
            name = metric if filter_name in ("", "none") else f"{metric} ({filter_name})"
            metrics[name] = {"value": float(value),
                             "stderr": _number(entry.get(f"{metric}_stderr,{filter_name}")),
                             "higher_is_better": bool((better.get(task) or {}).get(metric, True))}
        count = (samples.get(task) or {}).get("effective") or entry.get("sample_len")
        scores[task] = {"samples": count, "num_fewshot": shots.get(task), "version": versions.get(task),
                        "metrics": metrics}
    return scores


def verdict(difference: float | None, stderr: float | None, higher_is_better: bool) -> str:
    """regressed / improved when the difference is beyond its standard error, else within noise."""
    if difference is None:
        return NO_STDERR
    if stderr is None:
        return NO_STDERR if difference else WITHIN_NOISE
    if abs(difference) <= stderr:
        return WITHIN_NOISE
    return IMPROVED if (difference > 0) == higher_is_better else REGRESSED


def compare_scores(base: dict, tuned: dict) -> list[dict]:
    """One row per task and metric both runs report: base, fine-tuned, difference (fine-tuned minus base), the
    standard error of the difference and the verdict."""
    rows = []
    for task, tuned_task in tuned.items():
        base_task = base.get(task)
        if not base_task:
            continue
        for metric, t in tuned_task["metrics"].items():
            b = base_task["metrics"].get(metric)
            if b is None:
                continue
            difference = t["value"] - b["value"]
            errors = [e for e in (b["stderr"], t["stderr"]) if e is not None]
            stderr = math.sqrt(sum(e * e for e in errors)) if len(errors) == 2 else None
            rows.append({"task": task, "metric": metric, "base": b["value"], "fine_tuned": t["value"],
                         "difference": difference, "stderr": stderr, "higher_is_better": t["higher_is_better"],
                         "verdict": verdict(difference, stderr, t["higher_is_better"])})
    return rows


def _value(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def comparison_table(rows: list[dict], base_name: str = "base", tuned_name: str = "fine-tuned") -> str:
    """task | metric | base | fine-tuned | difference | std. error | verdict; regressions in bold."""
    lines = [f"| task | metric | {base_name} | {tuned_name} | difference | std. error | verdict |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        mark = f"**{row['verdict']}**" if row["verdict"] == REGRESSED else row["verdict"]
        note = "" if row["higher_is_better"] else " (lower is better)"
        lines.append(f"| {row['task']} | {row['metric']}{note} | {_value(row['base'])} | {_value(row['fine_tuned'])} "
                     f"| {row['difference']:+.4f} | {_value(row['stderr'])} | {mark} |")
    return "\n".join(lines)


def scores_table(scores: dict) -> str:
    """task | metric | value | std. error, for one model."""
    lines = ["| task | metric | value | std. error |", "|---|---|---|---|"]
    for task, entry in scores.items():
        for metric, m in entry["metrics"].items():
            note = "" if m["higher_is_better"] else " (lower is better)"
            lines.append(f"| {task} | {metric}{note} | {_value(m['value'])} | {_value(m['stderr'])} |")
    return "\n".join(lines)


def regressions(rows: list[dict]) -> list[str]:
    """"task metric" for every row the fine-tune lost beyond its standard error."""
    return [f"{row['task']} {row['metric']}" for row in rows if row["verdict"] == REGRESSED]


def card_section(benchmark: dict) -> str:
    """The model card's benchmark section, between markers so that a later run replaces it."""
    main = benchmark.get("fine_tuned") or benchmark.get("model") or {}
    setup = [f"{benchmark.get('harness_version') or 'lm_eval'}", f"{benchmark.get('engine') or '?'} engine",
             "chat template " + ("on" if main.get("chat_template") else "off")]
    if benchmark.get("num_fewshot") is not None:
        setup.append(f"{benchmark['num_fewshot']}-shot")
    else:
        setup.append("each task's own number of few-shot examples")
    lines = [CARD_START, "## Standard benchmarks", ""]
    if benchmark.get("comparison") is not None:
        lines += [f"General ability before and after fine-tuning: `{benchmark.get('base_name')}` (base) and this "
                  f"model, on the same questions, with [{HARNESS}]({HARNESS_URL}) ({', '.join(setup)}), by "
                  "hf-trainer's scripts/benchmark.py.", ""]
        lines += [comparison_table(benchmark["comparison"], "base", "fine-tuned"), ""]
        if (benchmark.get("base") or {}).get("chat_template") != main.get("chat_template"):
            lines += ["The base model was scored " + ("with" if benchmark["base"].get("chat_template") else "without")
                      + " a chat template and this model " + ("with" if main.get("chat_template") else "without")
                      + ": part of any difference is the prompt format.", ""]
        lost = regressions(benchmark["comparison"])
        lines += [("Regressed beyond the standard error: " + ", ".join(lost) + ".") if lost else
                  "No task regressed beyond its standard error.", "",
                  "A difference is marked when it is larger than its standard error (the square root of both "
                  "models' squared standard errors, as the harness reports them); within noise, this run cannot "
                  "tell the two models apart.", ""]
    else:
        lines += [f"Scored with [{HARNESS}]({HARNESS_URL}) ({', '.join(setup)}), by hf-trainer's "
                  "scripts/benchmark.py.", "", scores_table(main.get("scores") or {}), ""]
    if benchmark.get("limit") is not None:
        lines += [f"Limited to {benchmark['limit']} examples per task: compare these numbers with each other, not "
                  "with published scores.", ""]
    lines += [f"Every number, with each task's version and sample count: `{RESULTS_FILE}`.", "", CARD_END]
    return "\n".join(lines) + "\n"


def replace_card_section(card: str, section: str) -> str:
    """The card with its benchmark section replaced, or appended when it has none (the rest stays as it was)."""
    if CARD_START in card and CARD_END in card:
        head, _, rest = card.partition(CARD_START)
        _, _, tail = rest.partition(CARD_END)
        return head + section.rstrip("\n") + tail
    return card.rstrip("\n") + "\n\n" + section


def result_files(benchmark: dict) -> dict[str, str]:
    """{relative path: text} to write into the model folder and push with it."""
    return {RESULTS_FILE: json.dumps(benchmark, indent=2, default=str) + "\n"}
# ===== end of generated runtime =====


if __name__ == "__main__":
    run_main(main, parse_args)
