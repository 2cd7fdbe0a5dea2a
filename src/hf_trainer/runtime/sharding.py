"""Sharded training for the training scripts (`--fsdp`): PyTorch FSDP2 driven by transformers' Trainer and accelerate.

With `--fsdp`, each of the N processes (one per GPU, started by `accelerate launch` or the script's own relaunch) holds
1/N of the weights, gradients and optimizer state; a layer's full weights exist only while it runs. That is how a
model that does not fit one GPU with its training state trains on an xN flavor. Everything goes through the Trainer's
own `fsdp` / `fsdp_config` arguments (FullyShardedDataParallelPlugin, fsdp_version=2), so TRL's trainers shard their
reference models the same way (trl.models.prepare_fsdp).

- Checkpoints during training are sharded (SHARDED_STATE_DICT: each process writes its own part with
  torch.distributed.checkpoint, in parallel): `checkpoint-N/pytorch_model_fsdp_0/`, `optimizer_0/`. They are pushed
  with hub_strategy=checkpoint like any checkpoint, and resume on the same or another number of GPUs (DCP reshards).
- The final model is consolidated: gathered into one full state dict on the main process and saved as ordinary
  safetensors (a LoRA run: the adapter), so from_pretrained, the model card and the push see a normal model.
- Mixed precision: with bf16 the trainable weights are kept as fp32 shards (accelerate upcasts them) and layers are
  gathered and computed in bf16. Activation checkpointing is FSDP's own (the Trainer's would gather each layer twice).

Standard library only at the top: this module is inlined into the self-contained training scripts.
"""

import json
import os
from pathlib import Path

# fsdp_config keys as transformers' TrainingArguments reads them (version 2 = FSDP2).
FSDP_CHECKPOINT_FORMAT = "SHARDED_STATE_DICT"


def activation_checkpointing_on(args, device: dict) -> bool:
    """Whether to recompute activations: on by default on GPUs (memory is the constraint there), off on CPU."""
    if device["type"] == "cuda":
        return args.activation_checkpointing is not False
    return bool(args.activation_checkpointing)


def fsdp_problem(args, device: dict, world_size: int) -> str | None:
    """Why `--fsdp` cannot run with these arguments here (one actionable sentence), or None."""
    if not getattr(args, "fsdp", False):
        return None
    if world_size < 2:
        where = f"{device['count']} GPU" if device["type"] == "cuda" else "CPU"
        return (f"--fsdp shards the model over several processes, but this run has one ({where}). Run on a multi-GPU "
                "flavor (e.g. a10g-largex4, l40sx4, a100x4: the script starts one process per GPU), or drop --fsdp "
                "(on one GPU, --use_peft or --load_in_4bit save memory instead).")
    if getattr(args, "load_in_4bit", False):
        return ("--fsdp with --load_in_4bit is not supported by these scripts: shard a bf16 LoRA (--fsdp --use_peft) "
                "over several GPUs, or train QLoRA on one GPU without --fsdp.")
    if "8bit" in (getattr(args, "optim", None) or ""):
        return (f"--optim {args.optim} keeps bitsandbytes 8-bit state that FSDP2's sharded (DTensor) parameters do "
                "not support: drop --optim with --fsdp (sharding already divides the AdamW state by the GPU count).")
    if getattr(args, "eval_baseline", False):
        return ("--eval_baseline runs generation on the main process only, which a sharded model cannot do (every "
                "process holds part of each layer). Drop --eval_baseline and score the pushed model afterwards with "
                "scripts/evaluate.py.")
    return None


# The folder Trainer writes a sharded model into inside a checkpoint (transformers' FSDP_MODEL_NAME + "_0").
SHARDED_MODEL_DIR = "pytorch_model_fsdp_0"


def is_sharded_checkpoint(files) -> bool:
    """Whether a checkpoint is sharded: `files` is its folder (a path) or the names in it (e.g. a Hub listing of
    last-checkpoint/, names relative to it)."""
    if isinstance(files, (str, Path)):
        return (Path(files) / SHARDED_MODEL_DIR).is_dir()
    return any(str(name).startswith(SHARDED_MODEL_DIR + "/") for name in files)


def checkpoint_problem(args, where: str, sharded: bool) -> str | None:
    """Why this run cannot continue the checkpoint at `where` (sharded or not: see is_sharded_checkpoint), or None.

    transformers would only fail inside train() ("only supported when using PyTorch FSDP") or in torch's checkpoint
    reader: call this where the checkpoint to resume is chosen, before anything is loaded or downloaded."""
    fsdp = getattr(args, "fsdp", False)
    if sharded and not fsdp:
        return (f"{where} is a sharded (--fsdp) checkpoint: continue it with --fsdp on a multi-GPU flavor (any GPU "
                "count: the shards are redistributed), or pass --resume never to start from step 0.")
    if not sharded and fsdp:
        return (f"{where} was saved by a run without --fsdp: continue it without --fsdp, or pass --resume never to "
                "start a sharded run from step 0.")
    return None


def fsdp_kwargs(args, device: dict) -> dict:
    """The TrainingArguments (SFTConfig, DPOConfig, ...) entries for --fsdp; {} without it.

    Pass next to precision_kwargs(...), which then leaves activation checkpointing to FSDP."""
    if not getattr(args, "fsdp", False):
        return {}
    if device["type"] != "cuda":
        enable_fsdp_on_cpu()
    if os.environ.get("RANK", "0") == "0":
        print(f"--fsdp: weights, gradients and optimizer state sharded over {os.environ.get('WORLD_SIZE', '1')} "
              "processes (FSDP2); sharded checkpoints, one consolidated model at the end.", flush=True)
    return {
        "fsdp": True,
        "fsdp_config": {
            "version": 2,
            # TRANSFORMER_BASED_WRAP falls back to the model's _no_split_modules (its decoder layer class): one
            # FSDP unit per layer, so at most one layer (plus the next, prefetched) is gathered at a time.
            "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
            "reshard_after_forward": True,  # free each layer's full weights after forward (gathered again in backward)
            "state_dict_type": FSDP_CHECKPOINT_FORMAT,
            "activation_checkpointing": activation_checkpointing_on(args, device),
            # Every process loads the weights (transformers 5 no longer skips that on the others), but only the first
            # upcasts them to fp32 and the others receive its shards: otherwise each process would hold a full fp32
            # copy in host RAM before sharding (8 x 128 GB for a 32B model on h200x8).
            "cpu_ram_efficient_loading": True,
        },
    }


def enable_fsdp_on_cpu() -> None:
    """Let accelerate run FSDP2 over gloo on CPU, as torch does: for rehearsing a sharded run on a CPU machine.

    accelerate 1.16 chooses FSDP only for GPU-like backends (AcceleratorState: MULTI_CPU is not in its list) and would
    silently run data parallel instead, so a CPU rehearsal would test something else. After its own setup, a run
    that was given an FSDP plugin is switched to FSDP. No effect on GPUs, where accelerate does this itself."""
    from accelerate import state
    from accelerate.utils import DistributedType

    if getattr(state.AcceleratorState, "_hf_trainer_cpu_fsdp", False):
        return
    original = state.AcceleratorState.__init__

    def init(self, *positional, fsdp_plugin=None, **keywords):
        original(self, *positional, fsdp_plugin=fsdp_plugin, **keywords)
        if fsdp_plugin is not None and self.distributed_type == DistributedType.MULTI_CPU:
            self.distributed_type = DistributedType.FSDP
            self.fsdp_plugin = fsdp_plugin
            state.PartialState._shared_state["distributed_type"] = DistributedType.FSDP

    state.AcceleratorState.__init__ = init
    state.AcceleratorState._hf_trainer_cpu_fsdp = True


def is_sharded(trainer) -> bool:
    return getattr(trainer, "is_fsdp_enabled", False)


def _training_dtype(trainer):
    """The dtype the model was loaded in for training (bf16/fp16 on GPUs), or None for fp32."""
    import torch

    return torch.bfloat16 if trainer.args.bf16 else torch.float16 if trainer.args.fp16 else None


def save_final_model(trainer, output_dir: str) -> None:
    """Save the trained model to output_dir as from_pretrained-loadable safetensors (a LoRA run: the adapter).

    A sharded run gathers the full state dict onto the main process's CPU, one parameter at a time (every process must
    call this: the gathers are collectives; only the main process writes). Under bf16 mixed precision FSDP trains fp32
    master weights, so a full model is cast back to the dtype it was loaded in: the same files, and the same size,
    as an unsharded run writes (a LoRA adapter stays fp32, as PEFT keeps it in either case)."""
    if not is_sharded(trainer):
        # Full fine-tuning trains FP32 master weights under 16-bit autocast (runtime/precision.py): written in the
        # autocast dtype, as the sharded path below, so the files keep the size the base model had.
        dtype, model = _training_dtype(trainer), trainer.accelerator.unwrap_model(trainer.model)
        master = next((p.dtype for p in model.parameters() if p.requires_grad), None)
        if dtype is None or hasattr(model, "peft_config") or master in (None, dtype):
            trainer.save_model(output_dir)
            return
        if trainer.args.should_save:
            state_dict, seen = {}, set()
            for name, tensor in model.state_dict().items():
                if tensor.data_ptr() in seen:  # a tied weight (lm_head = embed_tokens): written once, as before
                    continue
                seen.add(tensor.data_ptr())
                state_dict[name] = tensor.detach().to("cpu", dtype) if tensor.is_floating_point() else tensor
            trainer._save(output_dir, state_dict=state_dict)
            record_dtype(Path(output_dir) / "config.json", dtype)
        # save_model would also push; results.finish uploads the folder, after the checkpoint pushes in flight.
        getattr(trainer, "_finish_current_push", lambda: None)()
        return
    state_dict = trainer.accelerator.get_state_dict(trainer.model)  # FSDP2: full tensors, on the main process only
    dtype = _training_dtype(trainer)
    is_adapter = hasattr(trainer.accelerator.unwrap_model(trainer.model), "peft_config")
    if dtype is not None and not is_adapter:
        cast_floating(state_dict, dtype)
    trainer._save(output_dir, state_dict=state_dict)  # what Trainer.save_model does for FSDP, with our state dict
    config = Path(output_dir) / "config.json"
    if dtype is not None and not is_adapter and trainer.args.should_save and config.is_file():
        record_dtype(config, dtype)


def cast_floating(state_dict: dict, dtype) -> None:
    """Cast the floating-point tensors of state_dict to dtype in place, one at a time (peak: one extra tensor)."""
    for name, tensor in state_dict.items():
        if tensor.is_floating_point() and tensor.dtype != dtype:
            state_dict[name] = tensor.to(dtype)


def record_dtype(config_path: Path, dtype) -> None:
    """Write the weights' dtype into config.json (save_pretrained recorded the fp32 of the sharded master weights)."""
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["dtype"] = str(dtype).removeprefix("torch.")
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
