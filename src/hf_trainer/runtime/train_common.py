"""What every training script shares before training: arguments, device, model loading, data, tracking, the Hub.

The training scripts carry it (and its siblings runtime/resume.py and runtime/results.py, the resume check and the
tail after training) in their generated runtime block, because HF Jobs runs a single file. So: standard-library
imports only at the top; torch, transformers, trl, peft and datasets are imported inside the functions that need them.
"""

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

from .basics import ScriptError, _local_data_files, _positive_float, _positive_int, is_main_process, on_hf_jobs
from .file_types import builder_for
from .dataset_formats import READY, dropped_columns, method_verdict, read_chat_template, refusal, template_problem
from .dataset_formats import sample_indices
from .early_stop import add_early_stop_arguments
from .mappings import MAPPINGS, map_row
from .precision import PRECISION_CHOICES, Precision, PrecisionError, device_kind, policy, training_mode
from .sharding import activation_checkpointing_on, fsdp_problem
from .splits import eval_split, train_split
from .vocabulary import RESUME_CHOICES

# Trackio project of runs that name none (--trackio_project).
DEFAULT_TRACKIO_PROJECT = "hf-trainer"


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments every method shares, named as in TRL and transformers."""
    model = parser.add_argument_group("model")
    model.add_argument("--model_name_or_path", required=True, help="Hub model id or local folder.")
    model.add_argument("--trust_remote_code", action="store_true")
    model.add_argument("--attn_implementation", default=None,
                       help="Attention kernel; default: flash_attention_2 when installed on a GPU, else sdpa.")

    data = parser.add_argument_group("data")
    data.add_argument("--dataset_name", required=True,
                      help="Hub dataset id, or a local .jsonl/.json/.csv/.parquet/.arrow file or a folder of them.")
    data.add_argument("--dataset_config", default=None, help="Dataset configuration (subset) name.")
    data.add_argument("--dataset_revision", default=None, help="Hub dataset revision: branch, tag or commit.")
    data.add_argument("--dataset_train_split", default="train")
    data.add_argument("--dataset_test_split", default=None,
                      help="Eval split name; default: the one beside the train split (test_prefs beside "
                           "train_prefs), else 'test' or 'validation' when the dataset has one.")
    data.add_argument("--eval_split_size", type=float, default=0.05,
                      help="When there is no eval split, carve one: a fraction (<1) or a row count (>=1); 0 disables.")
    data.add_argument("--dataset_mapping", default=None,
                      help="Convert rows with a named mapping first (e.g. sharegpt, alpaca); see dataset_inspect.")
    data.add_argument("--max_train_samples", type=_positive_int, default=None, help="Use only the first N rows.")

    train = parser.add_argument_group("training")
    train.add_argument("--output_dir", default=None, help="Local output folder (default: outputs/<model>-<method>).")
    train.add_argument("--max_length", type=_positive_int, default=2048, help="Tokens per example (truncation).")
    train.add_argument("--num_train_epochs", type=_positive_float, default=1.0)
    train.add_argument("--max_steps", type=int, default=-1, help="Stop after N optimiser steps (overrides epochs).")
    train.add_argument("--learning_rate", type=_positive_float, default=None,
                       help="Default: 2e-4 with LoRA, 2e-5 for full fine-tuning (method scripts may differ).")
    train.add_argument("--lr_scheduler_type", default="cosine")
    train.add_argument("--warmup_steps", type=float, default=0.03,
                       help="Linear warm-up: a step count, or a fraction (<1) of all steps.")
    train.add_argument("--weight_decay", type=float, default=0.0)
    train.add_argument("--per_device_train_batch_size", type=_positive_int, default=4)
    train.add_argument("--per_device_eval_batch_size", type=_positive_int, default=None)
    train.add_argument("--gradient_accumulation_steps", type=_positive_int, default=4)
    train.add_argument("--activation_checkpointing", action=argparse.BooleanOptionalAction, default=None,
                       help="Recompute activations to save memory (default: on for GPUs, off on CPU).")
    train.add_argument("--optim", default=None, help="Optimizer (default: adamw_torch_fused on GPU, adamw_torch on CPU).")
    train.add_argument("--precision", default="auto", choices=PRECISION_CHOICES,
                       help="auto: FP32 master weights with bf16 autocast on bf16 GPUs, fp16 autocast (GradScaler) on "
                            "fp16-only GPUs (T4), fp32 on CPU; LoRA/QLoRA keep a 16-bit base. bf16/fp16/fp32 force "
                            "the autocast (bf16 also runs on CPU). See references/training_methods.md.")
    train.add_argument("--logging_steps", type=_positive_int, default=None)
    train.add_argument("--save_steps", type=_positive_int, default=100)
    train.add_argument("--save_total_limit", type=_positive_int, default=2)
    train.add_argument("--seed", type=int, default=42)
    train.add_argument("--fsdp", action="store_true",
                       help="Shard weights, gradients and optimizer state over the GPUs (FSDP2), for models that do "
                            "not fit one GPU: needs a multi-GPU flavor; sharded checkpoints, one consolidated model.")

    peft = parser.add_argument_group("LoRA")
    peft.add_argument("--use_peft", action="store_true", help="Train a LoRA adapter instead of all weights.")
    peft.add_argument("--lora_r", type=_positive_int, default=16)
    peft.add_argument("--lora_alpha", type=_positive_int, default=32)
    peft.add_argument("--lora_dropout", type=float, default=0.05)
    peft.add_argument("--lora_target_modules", nargs="+", default=["all-linear"],
                      help="Module names, or all-linear (default).")
    peft.add_argument("--load_in_4bit", action="store_true", help="QLoRA: 4-bit base model (CUDA GPU only).")

    hub = parser.add_argument_group("Hub")
    hub.add_argument("--push_to_hub", action="store_true", help="Push checkpoints and the final model to the Hub.")
    hub.add_argument("--hub_model_id", default=None, help="Model repo, e.g. user/my-model.")
    hub.add_argument("--hub_private_repo", action=argparse.BooleanOptionalAction, default=True,
                     help="Make the repo private (default) or public (--no-hub_private_repo).")
    hub.add_argument("--hub_strategy", default="checkpoint", choices=["end", "every_save", "checkpoint", "all_checkpoints"],
                     help="Default 'checkpoint': the latest checkpoint is pushed too, so a new job can resume.")
    hub.add_argument("--resume", nargs="?", const="must", default="never", choices=RESUME_CHOICES,
                     help="Continue from the newest checkpoint (output_dir, else the Hub repo's last-checkpoint) only "
                          "when the same kind of run made it (model, method, data, LoRA shape): auto continues or "
                          "starts fresh, must (bare --resume) fails without one, never starts fresh. A checkpoint of "
                          "another run is refused before training, with the difference named.")

    track = parser.add_argument_group("tracking")
    track.add_argument("--report_to", default="trackio", help="trackio (default), none, wandb, tensorboard, ...")
    track.add_argument("--trackio_project", default=DEFAULT_TRACKIO_PROJECT,
                       help="Trackio project: runs of one project share a dashboard; choose one per experiment.")
    track.add_argument("--trackio_space_id", default=None,
                       help="Trackio Space for live metrics; default on HF Jobs: <user>/trackio (private unless "
                            "--no-hub_private_repo). 'none' disables.")
    track.add_argument("--run_name", default=None,
                       help="Run name in the dashboard; default: <model>-<data>-<method>-<UTC time>, e.g. "
                            "qwen2.5-0.5b-capybara-sft-20261206-1405.")

    run = parser.add_argument_group("run")
    run.add_argument("--smoke", action="store_true",
                     help="One optimiser step on real data: checks the loss is finite and the gradient non-zero.")
    run.add_argument("--json", action="store_true", help="Print a one-line JSON summary at the end.")
    add_early_stop_arguments(parser)  # --stall_minutes, --zero_reward_steps (runtime/early_stop.py)


# --- device and precision ---------------------------------------------------------------------------------------

def detect_device() -> dict:
    """What the machine offers: device type, bf16 support (not on T4/V100), GPU count and name."""
    import torch

    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability(0)
        return {
            "type": "cuda",
            # bf16 units from compute capability 8.0 (Ampere) on. Not torch.cuda.is_bf16_supported(): by default it
            # also answers True for emulated bf16 (a T4 can store bf16 tensors, not compute in them at speed).
            "bf16": major >= 8 or bool(torch.version.hip),
            "capability": f"{major}.{minor}",
            "count": torch.cuda.device_count(),
            "name": torch.cuda.get_device_name(0),
        }
    return {"type": "cpu", "bf16": False, "count": 0, "name": "cpu"}


def distributed_world_size() -> int:
    """Processes in this run: WORLD_SIZE under accelerate launch / torchrun, else 1."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def relaunch_distributed(device: dict) -> None:
    """With several GPUs visible to a plain `python` process, re-run this script under `accelerate launch` with one
    process per GPU: Trainer would otherwise fall back to DataParallel, which TRL refuses (and which is slow).
    Set HF_TRAINER_NO_RELAUNCH=1 to keep one process (e.g. when you launch it yourself)."""
    if device["count"] < 2 or "WORLD_SIZE" in os.environ or os.environ.get("HF_TRAINER_NO_RELAUNCH"):
        return
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(device["count"]),
               "--num_machines", "1", "--dynamo_backend", "no", "--mixed_precision", "no",
               str(Path(sys.argv[0]).resolve()), *sys.argv[1:]]
    print(f"{device['count']} GPUs visible: relaunching with accelerate launch --num_processes {device['count']}",
          flush=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, command)


def check_arguments(args, device: dict) -> None:
    """Refuse combinations that cannot work, before anything is loaded."""
    if args.load_in_4bit and device["type"] != "cuda":
        raise ScriptError("--load_in_4bit (QLoRA) needs a CUDA GPU, and none was found. Drop --load_in_4bit to train "
                          "LoRA in full precision here, or run on a GPU flavor.")
    if args.load_in_4bit and not args.use_peft:
        raise ScriptError("--load_in_4bit trains a LoRA adapter on a 4-bit base: add --use_peft.")
    if args.push_to_hub and not args.hub_model_id:
        raise ScriptError("--push_to_hub needs --hub_model_id (e.g. your-name/my-model).")
    if args.push_to_hub and not os.environ.get("HF_TOKEN"):
        raise ScriptError("--push_to_hub needs a token in the HF_TOKEN environment variable (on HF Jobs pass it as a "
                          "secret: --secrets HF_TOKEN).")
    if args.eval_split_size < 0:
        raise ScriptError(f"--eval_split_size {args.eval_split_size} is negative: use a fraction, a row count, or 0.")
    if args.max_steps == 0 or args.max_steps < -1:
        raise ScriptError(f"--max_steps {args.max_steps} is invalid: use a positive number, or -1 for epochs.")
    problem = fsdp_problem(args, device, distributed_world_size())
    if problem:
        raise ScriptError(problem)
    run_precision(args, device)  # a --precision the device cannot run stops here


def default_output_dir(args, method: str) -> str:
    name = args.model_name_or_path.rstrip("/").split("/")[-1]
    return args.output_dir or str(Path("outputs") / f"{name}-{method}")


def run_precision(args, device: dict) -> Precision:
    """The precision policy (runtime/precision.py) for this run: device kind x training mode x --precision."""
    mode = training_mode(getattr(args, "use_peft", False), getattr(args, "load_in_4bit", False),
                         getattr(args, "fsdp", False))
    try:
        return policy(device_kind(device), mode, getattr(args, "precision", "auto") or "auto")
    except PrecisionError as exc:
        raise ScriptError(str(exc)) from None


def precision_kwargs(args, device: dict) -> dict:
    """Trainer precision and speed settings: the policy's autocast (bf16, or fp16 with a GradScaler), CPU flags on
    CPU, the optimizer, activation checkpointing and Liger kernels."""
    precision = run_precision(args, device)
    if is_main_process():
        print(precision.summary(), flush=True)
    # With --fsdp, FSDP checkpoints activations itself (sharding.fsdp_kwargs); the Trainer's would gather layers twice.
    checkpointing = activation_checkpointing_on(args, device) and not getattr(args, "fsdp", False)
    if device["type"] != "cuda":
        return {**precision.training_arguments, "use_cpu": True, "optim": args.optim or "adamw_torch",
                "activation_checkpointing": checkpointing}
    kwargs = {**precision.training_arguments, "optim": args.optim or "adamw_torch_fused",
              "activation_checkpointing": checkpointing}
    if kwargs["activation_checkpointing"]:
        kwargs["activation_checkpointing_kwargs"] = {"use_reentrant": False}
    try:
        import liger_kernel  # noqa: F401  (optional: fused kernels, +10-24% throughput when installed)

        kwargs["use_liger_kernel"] = True
    except ImportError:
        pass
    return kwargs


def model_init_kwargs(args, device: dict) -> dict:
    """How to load the model: the policy's dtype (fp32 master weights for full fine-tuning, a 16-bit base for LoRA),
    the attention kernel, 4-bit quantization computing in the policy's autocast dtype."""
    import torch

    dtype = getattr(torch, run_precision(args, device).load_dtype)  # "bfloat16" -> torch.bfloat16
    attn = args.attn_implementation
    if attn is None:
        attn = "sdpa"
        if device["type"] == "cuda":
            try:
                import flash_attn  # noqa: F401  (optional: padding-free packing without a dense mask)

                attn = "flash_attention_2"
            except ImportError:
                pass
    kwargs = {"dtype": dtype, "attn_implementation": attn, "trust_remote_code": args.trust_remote_code}
    if args.load_in_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=dtype)
    return kwargs


def peft_config(args, task_type: str = "CAUSAL_LM"):
    """The LoRA configuration, or None for full fine-tuning."""
    if not args.use_peft:
        return None
    from peft import LoraConfig

    targets = args.lora_target_modules
    return LoraConfig(
        r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout, task_type=task_type,
        target_modules="all-linear" if targets == ["all-linear"] else targets,
    )


def default_learning_rate(args, full: float = 2e-5, lora: float = 2e-4) -> float:
    """LoRA trains few parameters from zero and wants ~10x the full fine-tuning rate."""
    if args.learning_rate is not None:
        return args.learning_rate
    return lora if args.use_peft else full


# --- data ------------------------------------------------------------------------------------------------------

def load_splits(args):
    """(train, eval or None), read exactly as dataset inspection reads them: a Hub dataset at --dataset_config and
    --dataset_revision, a local folder's split-named files, a save_to_disk folder's saved splits (never merged); the
    eval split is --dataset_test_split, else the one beside the train split (runtime/splits.eval_split), else one
    carved from the train rows."""
    import datasets

    path = Path(args.dataset_name).expanduser()
    revision = getattr(args, "dataset_revision", None)
    if path.exists() and revision:
        raise ScriptError(f"--dataset_revision {revision} applies to Hub datasets; {args.dataset_name} is a local "
                          "path. Drop --dataset_revision.")
    if path.is_dir() and ((path / "dataset_dict.json").exists() or (path / "state.json").exists()):
        loaded = datasets.load_from_disk(str(path))  # a datasets.save_to_disk folder
        if isinstance(loaded, datasets.Dataset):
            loaded = datasets.DatasetDict({"train": loaded})
        names, read = list(loaded), loaded.__getitem__
    elif path.exists():
        builder, files = _local_data_files(path)
        names = list(files)

        def read(name):
            # One split at a time: splits of one folder may hold different columns (train_prefs beside train_sft).
            try:
                # Options per file type (a .tsv delimiter, the `field` of a {"data": [...]} JSON file).
                options = builder_for([Path(file) for file in files[name]])[1]
                return datasets.load_dataset(builder, data_files={name: files[name]}, split=name, **options)
            except (ValueError, datasets.exceptions.DatasetGenerationError) as exc:
                raise ScriptError(f"Could not read {path} as {builder}: {exc}") from None
    elif args.dataset_name.startswith((".", "/", "~")) or args.dataset_name.count("/") > 1:
        raise ScriptError(f"--dataset_name {args.dataset_name!r} is neither an existing local path nor a Hub id "
                          "(owner/name).")
    else:
        loaded = datasets.load_dataset(args.dataset_name, args.dataset_config, revision=revision)
        names, read = list(loaded), loaded.__getitem__
    if args.dataset_train_split not in names:
        suggestion = train_split(names, getattr(args, "method", None))
        raise ScriptError(f"Split {args.dataset_train_split!r} not found; the dataset has: {', '.join(names)}. "
                          f"Pass --dataset_train_split {suggestion or '<split>'} (dataset_inspect names the split "
                          "each method trains on).")
    train = read(args.dataset_train_split)
    if len(train) == 0:
        raise ScriptError(f"Split {args.dataset_train_split!r} of {args.dataset_name} is empty.")
    if args.max_train_samples:
        train = train.select(range(min(args.max_train_samples, len(train))))
    if args.dataset_test_split and args.dataset_test_split not in names:
        raise ScriptError(f"Split {args.dataset_test_split!r} not found; the dataset has: {', '.join(names)}.")
    eval_name = args.dataset_test_split or eval_split(names, args.dataset_train_split)
    if eval_name:
        return train, read(eval_name)
    size = args.eval_split_size
    if size == 0 or len(train) < 4:
        return train, None
    test_size = max(1, int(round(size * len(train)))) if size < 1 else int(size)
    if test_size >= len(train):
        raise ScriptError(f"--eval_split_size {size} leaves no training rows ({len(train)} rows in all).")
    parts = train.train_test_split(test_size=test_size, seed=args.seed)
    return parts["train"], parts["test"]


def apply_mapping(dataset, name: str | None):
    """Convert rows with a named mapping (runtime/mappings.py)."""
    if dataset is None or not name:
        return dataset
    if name not in MAPPINGS:
        raise ScriptError(f"--dataset_mapping {name!r} is unknown. Known: {', '.join(sorted(MAPPINGS))}.")
    try:
        return dataset.map(lambda row: map_row(name, row), remove_columns=dataset.column_names)
    except (ValueError, KeyError, TypeError) as exc:
        raise ScriptError(f"--dataset_mapping {name} cannot convert a row: {exc}. Run dataset_inspect to see which "
                          "rows and which mapping fits.") from None


def validate_dataset(dataset, method: str, mapping: str | None, split: str = "train"):
    """The rows as the trainer will see them, checked with dataset inspection's own rules (runtime/dataset_formats)
    on the head and evenly spaced rows: READY trains; anything else stops here, before a model is loaded, with the
    inspection's reason and the mapping to pass. Returns the dataset without the columns the method must not see."""
    if dataset is None:
        return None
    drop = dropped_columns(method, dataset.column_names)
    if drop:
        dataset = dataset.remove_columns(drop)
    rows = [dataset[index] for index in sample_indices(len(dataset))]
    entry = method_verdict(rows, method, MAPPINGS)
    if entry["verdict"] != READY:
        raise ScriptError(refusal(entry, method, mapping, dataset.column_names)
                          + ("" if split == "train" else f" (the {split} split)"))
    return dataset


def require_columns(dataset, accepted: list[tuple[str, ...]], method: str) -> tuple[str, ...]:
    """The first accepted column set the dataset has; otherwise a ScriptError naming the columns it found."""
    columns = set(dataset.column_names)
    for option in accepted:
        if set(option) <= columns:
            return option
    wanted = " or ".join("+".join(option) for option in accepted)
    raise ScriptError(
        f"The dataset has no usable columns for {method}: found {sorted(columns)}, need {wanted}. "
        "Run dataset_inspect (hf-trainer dataset inspect) to get a --dataset_mapping, or rename the columns."
    )


def is_conversational_dataset(dataset) -> bool:
    """Whether the first row holds chat messages (lists of {role, content}) in any TRL column."""
    if dataset is None or len(dataset) == 0:
        return False
    row = dataset[0]
    return any(isinstance(row.get(key), list) and row.get(key) and isinstance(row[key][0], dict)
               for key in ("messages", "prompt", "completion", "chosen", "rejected"))


def require_chat_template(tokenizer, dataset, args) -> None:
    """Conversational data needs a chat template that renders it: refuse early with the fix, not deep in TRL.
    `--chat_template` (chatml or a Jinja file, where the script offers it) replaces the tokenizer's."""
    if getattr(args, "chat_template", None):
        try:
            tokenizer.chat_template = read_chat_template(args.chat_template)
        except ValueError as exc:
            raise ScriptError(f"--chat_template: {exc}.") from None
    if not is_conversational_dataset(dataset):
        return
    problem = template_problem([dataset[index] for index in sample_indices(len(dataset), 10, 10)], tokenizer)
    if problem:
        # Inspection's words (dataset_formats.template_problem), so its verdict and this refusal agree.
        raise ScriptError(f"{args.model_name_or_path}: {problem}.")


# --- tracking and the Hub ---------------------------------------------------------------------------------------

def tracking_kwargs(args, method: str) -> dict:
    """report_to, project, run name and (on HF Jobs) a Trackio Space whose URL is printed at start."""
    report_to = "none" if args.smoke else args.report_to
    kwargs = {"report_to": report_to,
              "run_name": args.run_name or default_run_name(args.model_name_or_path, args.dataset_name, method),
              "project": args.trackio_project or DEFAULT_TRACKIO_PROJECT}
    if report_to != "trackio":
        return kwargs
    space = args.trackio_space_id
    if space is None and on_hf_jobs() and os.environ.get("HF_TOKEN"):
        space = f"{_hub_user()}/trackio"
    if space and space != "none":
        kwargs["trackio_space_id"] = space
        os.environ["HF_TRAINER_TRACKIO_SPACE"] = space  # for the model card's link to the metrics
        print(f"Trackio dashboard: https://huggingface.co/spaces/{space} (project {kwargs['project']}, "
              f"run {kwargs['run_name']})", flush=True)
    return kwargs


def _slug(text: str, limit: int = 32) -> str:
    """The last path part of a model or dataset id, lower-case, safe in a run name ('Qwen/Qwen2.5-0.5B' -> 'qwen2.5-0.5b')."""
    last = str(text).rstrip("/").replace("\\", "/").split("/")[-1]
    last = re.sub(r"\.(jsonl|json|csv|parquet|arrow)$", "", last, flags=re.IGNORECASE)
    return re.sub(r"[^a-z0-9.]+", "-", last.lower()).strip("-.")[:limit] or "run"


def default_run_name(model: str, dataset: str, method: str, when: float | None = None) -> str:
    """A run name a person can tell apart in the dashboard: '<model>-<data>-<method>-<UTC time>'
    ('qwen2.5-0.5b-capybara-sft-20261206-1405'). `train` shows the same name in the plan."""
    stamp = time.strftime("%Y%m%d-%H%M", time.gmtime(time.time() if when is None else when))
    return f"{_slug(model)}-{_slug(dataset)}-{method}-{stamp}"


def _hub_user() -> str:
    from huggingface_hub import HfApi

    return HfApi(token=os.environ["HF_TOKEN"]).whoami()["name"]


def hub_kwargs(args) -> dict:
    """Checkpointing and pushing: the latest checkpoint goes to the Hub so a new job can resume."""
    # hub_private_repo always: transformers also reads it for the Trackio Space and its static copy, which would be
    # public (private=None) on a run that logs to a Space without pushing the model.
    kwargs = {"save_strategy": "no" if args.smoke else "steps", "save_steps": args.save_steps,
              "save_total_limit": args.save_total_limit, "hub_private_repo": args.hub_private_repo}
    if args.push_to_hub and not args.smoke:
        kwargs.update(push_to_hub=True, hub_model_id=args.hub_model_id, hub_strategy=args.hub_strategy)
    return kwargs


def eval_kwargs(args, eval_dataset) -> dict:
    if eval_dataset is None or args.smoke:
        return {"eval_strategy": "no"}
    return {"eval_strategy": "steps", "eval_steps": args.save_steps,
            "per_device_eval_batch_size": args.per_device_eval_batch_size or args.per_device_train_batch_size}


def logging_steps(args) -> int:
    if args.logging_steps:
        return args.logging_steps
    return 1 if args.smoke or 0 < args.max_steps <= 100 else 10


# --- benchmark hook (benchmarks/bench_train.py) -------------------------------------------------------------------

TOKEN_STATS_ENV = "HF_TRAINER_TOKEN_STATS"


def attach_token_stats(trainer) -> None:
    """With HF_TRAINER_TOKEN_STATS=<path> set, record what each training micro-batch computes; otherwise do nothing.

    One JSON line per micro-batch: tokens computed (the batch tensor's size) and real tokens (non-padding), so a
    benchmark can report the padding share; at the end one line with the training time, peak memory and the eval loss.
    """
    path = os.environ.get(TOKEN_STATS_ENV)
    if not path:
        return
    import resource

    from transformers import TrainerCallback

    collate = trainer.data_collator
    out = open(path, "a", encoding="utf-8")  # noqa: SIM115  (closed at the end of training)

    def counting_collator(features):
        batch = collate(features)
        ids = batch["input_ids"]
        mask = batch.get("attention_mask")
        real = int(mask.sum()) if mask is not None else int(ids.numel())  # padding-free batches have no padding
        out.write(json.dumps({"computed": int(ids.numel()), "real": real, "rows": int(ids.shape[0])}) + "\n")
        return batch

    # Only the training dataloader counts (evaluation shares the collator). Not `model.training`: the Trainer fetches
    # a whole accumulation window of batches before its first training_step switches the model to train mode.
    train_dataloader = trainer.get_train_dataloader

    def counting_train_dataloader():
        trainer.data_collator = counting_collator
        try:
            return train_dataloader()
        finally:
            trainer.data_collator = collate

    class _Summary(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                out.write(json.dumps({"step": state.global_step, "loss": logs["loss"]}) + "\n")
            if logs and "train_runtime" in logs:
                out.write(json.dumps({"train_runtime": logs["train_runtime"]}) + "\n")

        def on_train_end(self, args, state, control, **kwargs):
            import torch

            summary = {"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
            if torch.cuda.is_available():
                summary["peak_cuda_bytes"] = torch.cuda.max_memory_allocated()
            if trainer.eval_dataset is not None:
                summary["eval_loss"] = trainer.evaluate().get("eval_loss")
            out.write(json.dumps(summary) + "\n")
            out.close()

    trainer.get_train_dataloader = counting_train_dataloader
    trainer.add_callback(_Summary())
