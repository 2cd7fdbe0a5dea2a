"""Resume that cannot mix runs: each checkpoint records what made it, and a run continues only from its own kind.

A checkpoint continued by a run with another base model dies deep in torch with a `size mismatch` traceback; one
continued with other data or another method trains on silently, mixing two runs in one model. So every checkpoint
folder gets `hf_trainer_run.json` (base model, method, dataset, and the training arguments that shape the saved
state, with their hash), written before the Trainer pushes the folder (hub_strategy=checkpoint pushes it as
last-checkpoint). Before anything is loaded, `resume_checkpoint` compares the newest checkpoint's record with this
run and continues, starts fresh, or stops with the difference named, as `--resume` asks:

    never  (default)  start from step 0
    auto              continue when the newest checkpoint (output_dir, else the Hub repo's last-checkpoint) was made
                      by the same kind of run; start from step 0 when there is none; refuse a different one
    must   (bare --resume)  like auto, but refuse when there is no checkpoint to continue
"""

import hashlib
import json
import os
from pathlib import Path

from .sharding import checkpoint_problem, is_sharded_checkpoint
from .basics import ScriptError

RUN_RECORD = "hf_trainer_run.json"
# Arguments that decide what a checkpoint holds (the adapter's shapes, which weights train, how rows are cut): a
# checkpoint made with other values is another run. Learning rate, schedule, batch shape, logging, saving and tracking
# are left out on purpose: changing them between two jobs of one run is legitimate (e.g. a smaller batch on a smaller
# GPU after a timeout).
STATE_ARGUMENTS = ("use_peft", "lora_r", "lora_alpha", "lora_target_modules", "load_in_4bit", "max_length")


def _identity(name: str | None) -> str | None:
    """A model or dataset as the record keeps it: the absolute path when it is a local folder or file (a relative path
    means another thing from another working directory), else the Hub id as given."""
    if name is None:
        return None
    path = Path(name).expanduser()
    return str(path.resolve()) if path.exists() else name


def run_record(args, method: str) -> dict:
    """What makes this run's checkpoints this run's: compared field by field when a later run wants to continue."""
    arguments = {name: getattr(args, name) for name in STATE_ARGUMENTS if hasattr(args, name)}
    if not arguments.get("use_peft"):  # LoRA settings do not shape a full fine-tune
        arguments = {k: v for k, v in arguments.items() if not k.startswith("lora_")}
    digest = hashlib.sha256(json.dumps(arguments, sort_keys=True).encode("utf-8")).hexdigest()
    return {
        "format": 1,
        "base_model": _identity(args.model_name_or_path),
        "method": method,
        "dataset": {"name": _identity(args.dataset_name), "config": getattr(args, "dataset_config", None),
                    "split": getattr(args, "dataset_train_split", None),
                    "mapping": getattr(args, "dataset_mapping", None),
                    "max_train_samples": getattr(args, "max_train_samples", None)},
        "arguments": arguments,
        "arguments_sha256": digest,
    }


def _value(value) -> str:
    return "none" if value is None else " ".join(map(str, value)) if isinstance(value, list) else str(value)


def differences(saved: dict, wanted: dict) -> list[str]:
    """Each way the checkpoint's run differs from this one, in words ('' when they match)."""
    found = []
    if saved.get("base_model") != wanted["base_model"]:
        found.append(f"the checkpoint was made from model {saved.get('base_model')}, this run asks for "
                     f"{wanted['base_model']}")
    if saved.get("method") != wanted["method"]:
        found.append(f"the checkpoint was made by {str(saved.get('method')).upper()}, this run is "
                     f"{wanted['method'].upper()}")
    old, new = saved.get("dataset") or {}, wanted["dataset"]
    for key, label in (("name", "dataset"), ("config", "dataset config"), ("split", "train split"),
                       ("mapping", "dataset mapping"), ("max_train_samples", "max_train_samples")):
        if old.get(key) != new[key]:
            found.append(f"the checkpoint was trained with {label} {_value(old.get(key))}, this run asks for "
                         f"{_value(new[key])}")
    if saved.get("arguments_sha256") != wanted["arguments_sha256"]:
        old_args, new_args = saved.get("arguments") or {}, wanted["arguments"]
        changed = [f"{key} {_value(old_args.get(key))} -> {_value(new_args.get(key))}"
                   for key in sorted(set(old_args) | set(new_args)) if old_args.get(key) != new_args.get(key)]
        found.append("the checkpoint was trained with other state-shaping arguments ("
                     + (", ".join(changed) if changed else "hash " + str(saved.get("arguments_sha256"))[:12]) + ")")
    return found


def run_recorder(args, method: str):
    """A TrainerCallback that writes this run's record into each checkpoint folder: before the Trainer pushes the
    folder to the Hub (on_push_begin) and after every save (on_save, for runs that do not push)."""
    from transformers import TrainerCallback

    text = json.dumps(run_record(args, method), indent=2) + "\n"

    class RunRecorder(TrainerCallback):
        def _write(self, train_args, state) -> None:
            if not state.is_world_process_zero:
                return
            folder = Path(train_args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                (folder / RUN_RECORD).write_text(text, encoding="utf-8")

        def on_push_begin(self, args, state, control, **kwargs):
            self._write(args, state)

        def on_save(self, args, state, control, **kwargs):
            self._write(args, state)

    return RunRecorder()


def _local_checkpoint(output_dir: str) -> str | None:
    if not Path(output_dir).is_dir():
        return None
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(output_dir)


def _read_record(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ScriptError(f"{path} cannot be read ({exc}): remove it, or start from step 0 with --resume never.") from None


def _hub_checkpoint(args):
    """(api, files) for the Hub repo's last-checkpoint, or None when the repo or the checkpoint does not exist."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    api = HfApi(token=os.environ.get("HF_TOKEN"))
    try:
        files = api.list_repo_files(args.hub_model_id)
    except RepositoryNotFoundError:
        return None
    return (api, files) if "last-checkpoint/trainer_state.json" in files else None


def _refuse(where: str, found: list[str], args) -> ScriptError:
    places = "a new --output_dir" + (" and --hub_model_id" if args.push_to_hub and args.hub_model_id else "")
    return ScriptError(
        f"{where} belongs to another run: {'; '.join(found)}. Continuing it would mix two runs, so nothing was "
        f"trained. Choose {places} for this run, or --resume never to start from step 0 (its checkpoints then go "
        "to the same place).")


def resume_checkpoint(args, method: str, output_dir: str) -> str | None:
    """The checkpoint this run continues from, or None to start from step 0 (see the module's docstring).

    Called before the model is loaded, so a refusal costs seconds, not a download."""
    mode = args.resume
    local = _local_checkpoint(output_dir)
    if mode == "never":
        if local:
            print(f"note: {output_dir} holds checkpoints (newest {Path(local).name}); --resume never ignores them and "
                  "starts from step 0.", flush=True)
        return None
    wanted = run_record(args, method)
    if local:
        where, saved, path = local, _read_record(Path(local) / RUN_RECORD), local
    elif args.push_to_hub and args.hub_model_id and (hub := _hub_checkpoint(args)):
        from huggingface_hub import hf_hub_download

        api, files = hub
        where = f"{args.hub_model_id}/last-checkpoint"
        saved = None
        if f"last-checkpoint/{RUN_RECORD}" in files:  # read the record alone first: a refusal downloads no weights
            saved = _read_record(Path(hf_hub_download(args.hub_model_id, f"last-checkpoint/{RUN_RECORD}",
                                                      token=os.environ.get("HF_TOKEN"), endpoint=api.endpoint)))
        path = None
    else:
        if mode == "must":
            hub = f" nor in {args.hub_model_id}/last-checkpoint" if args.push_to_hub and args.hub_model_id else ""
            raise ScriptError(f"--resume must: there is no checkpoint in {output_dir}{hub} to continue. Use --resume "
                              "auto (continue when there is one) or --resume never to start from step 0.")
        print("No checkpoint found: starting from step 0.", flush=True)
        return None

    if saved is None:
        if mode != "must":
            raise ScriptError(
                f"{where} has no {RUN_RECORD}, so this run cannot tell whether it made it (an older hf-trainer or "
                "another tool did). Continue from it anyway with --resume must, start from step 0 with --resume "
                "never, or choose a new --output_dir / --hub_model_id.")
        print(f"warning: {where} has no {RUN_RECORD}; continuing from it because --resume must asks to.", flush=True)
    else:
        found = differences(saved, wanted)
        if found:
            raise _refuse(where, found, args)
    # A sharded (--fsdp) checkpoint continues only sharded, a whole one only whole: transformers fails inside train().
    sharded = is_sharded_checkpoint(path) if path else is_sharded_checkpoint(
        name.removeprefix("last-checkpoint/") for name in files if name.startswith("last-checkpoint/"))
    problem = checkpoint_problem(args, where, sharded)
    if problem:
        raise ScriptError(problem)
    if path is None:
        from huggingface_hub import snapshot_download

        # Under a "_" folder: the Trainer's pushes of output_dir skip "_*", so this old copy can never be pushed back
        # over the newer checkpoints this run makes.
        target = Path(output_dir) / "_resumed_from_hub"
        snapshot_download(args.hub_model_id, allow_patterns=["last-checkpoint/*"], local_dir=str(target),
                          token=os.environ.get("HF_TOKEN"), endpoint=api.endpoint)
        path = str(target / "last-checkpoint")
    print(f"Resuming from {where}", flush=True)
    return path
