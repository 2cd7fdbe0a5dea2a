"""The command that starts a training script in a job: plain `uv run` on one GPU, `accelerate launch` on several.

With several GPUs visible, a plain `python script.py` makes transformers' Trainer wrap the model in DataParallel (one
process driving every GPU: slow, and refused by TRL's trainers). Distributed data parallel needs one process per GPU,
which `accelerate launch --num_processes N` starts. For a PEP 723 script under uv 0.13 that is:

    uv run --with-requirements train_sft.py accelerate launch --num_processes 4 ... train_sft.py --model_name_or_path ...

`--with-requirements <script>` reads the script's inline dependency block (verified with uv 0.13.9), so `accelerate`
(one of every training script's dependencies) runs inside the same environment the script would get from `uv run
script.py`. The bundled training scripts also relaunch themselves this way when started plainly on a multi-GPU
machine; building the command here makes the job's command say what it does.

Sharded training (`--fsdp` in the script's arguments, FSDP2) needs nothing more on the command line: the scripts pass
their FSDP configuration to the Trainer, which hands it to accelerate, so the same launcher starts it. It does need
several GPUs: `sharding_problem` says so before a job is submitted rather than after it started.

Pure functions, no I/O: the Hub backend (jobs/hub.py) and the local backend call `launch_command` and put the
result in the job's command.
"""

import re

# Flavors whose name ends in xN run N GPUs (a10g-largex4, l40sx8, h200x2, rtx-pro-6000x4); others run one or none.
_MULTI = re.compile(r"x(\d+)$")
_CPU_PREFIX = "cpu-"


def gpus_for_flavor(flavor: str | None) -> int:
    """GPUs in an HF Jobs flavor, from its name: 'a100x4' -> 4, 'l4x1' -> 1, 'a10g-large' -> 1, 'cpu-basic' -> 0.
    (The live hardware catalog has the exact `accelerator.quantity`; this is for when it is not at hand.)"""
    if not flavor or flavor.startswith(_CPU_PREFIX):
        return 0
    match = _MULTI.search(flavor)
    return int(match.group(1)) if match else 1


def accelerate_launcher(script_target: str, num_gpus: int) -> list[str]:
    """The words between `uv run [options]` and the script that start one process per GPU; [] for 0 or 1 GPU.

    script_target: the script's path or URL exactly as it will follow these words (it is named twice: once so uv
    installs its PEP 723 dependencies, once as the program accelerate starts). Fits jobs.hub.uv_command's `launcher`.
    """
    if num_gpus < 0:
        raise ValueError(f"num_gpus must be 0 or more, got {num_gpus}")
    if num_gpus <= 1:
        return []
    return [
        "--with-requirements", script_target,
        "accelerate", "launch",
        "--multi_gpu",
        "--num_processes", str(num_gpus),
        "--num_machines", "1",
        # The scripts choose bf16/fp16 through TrainingArguments; accelerate's own default would only warn.
        "--mixed_precision", "no",
        "--dynamo_backend", "no",
    ]


def sharding_problem(script_args: list[str] | tuple[str, ...], num_gpus: int) -> str | None:
    """Why these training-script arguments cannot run with num_gpus GPUs (one sentence naming the fix), or None.

    `--fsdp` shards the model over one process per GPU: with one GPU or none the script would refuse at start."""
    if "--fsdp" not in [str(arg) for arg in script_args] or num_gpus > 1:
        return None
    where = "one GPU" if num_gpus == 1 else "no GPU"
    return (f"--fsdp shards the model over several GPUs, but this flavor has {where}. Pick a multi-GPU flavor "
            "(e.g. a10g-largex4, l40sx4, a100x4, h200x2), or drop --fsdp.")


def launch_command(script_name: str, script_args: list[str] | tuple[str, ...] = (), num_gpus: int = 1,
                   uv: str = "uv") -> list[str]:
    """The argv that runs a PEP 723 script with uv: one process per GPU under `accelerate launch` when num_gpus > 1.

    script_name: the script's path (or URL) as the job sees it. script_args: its arguments, passed through verbatim
    (no shell quoting needed: this is an argv list). num_gpus: GPUs of the flavor (see gpus_for_flavor).
    Raises ValueError for `--fsdp` on fewer than two GPUs (sharding_problem).
    """
    problem = sharding_problem(script_args, num_gpus)
    if problem:
        raise ValueError(problem)
    return [uv, "run", *accelerate_launcher(script_name, num_gpus), script_name, *[str(arg) for arg in script_args]]
