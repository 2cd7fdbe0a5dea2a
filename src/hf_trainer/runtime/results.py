"""The end of every training script: smoke check, model card, save and push, the summary (and why a run stopped
early: runtime/early_stop.py stops it, the card and the summary say why).

`finish_run(trainer, args, METHOD, ...)` is the one tail the training scripts share: with --smoke the one-step check,
otherwise the evaluation after training (--eval_baseline), the saved model with its card and result files, the push,
and the printed (or --json) summary. Like every runtime module it is inlined into the scripts by `make sync-scripts`:
standard library at the top; transformers and huggingface_hub are imported inside the functions that need them.
"""

import json
import math
import os
import re
import sys
import time
from pathlib import Path

from .early_stop import BROKEN_REASONS, STOPPED_EXIT_CODE, finish_pushes, stop_record
from .follow_up import submit_follow_up
from .basics import ScriptError, current_job_flavor, current_job_id, hub_url, is_main_process, on_hf_jobs
from .sharding import save_final_model
from .train_common import detect_device


def losses(log_history: list[dict]) -> list[float]:
    return [entry["loss"] for entry in log_history if "loss" in entry]


def check_smoke(trainer) -> tuple[bool, str]:
    """After one step: the loss must be finite and the gradient norm finite and non-zero."""
    history = trainer.state.log_history
    step_logs = [entry for entry in history if "loss" in entry]
    if not step_logs:
        return False, "smoke: FAIL - no loss was logged after one step"
    loss = float(step_logs[-1]["loss"])
    grad = float(step_logs[-1].get("grad_norm", float("nan")))
    if not math.isfinite(loss):
        return False, f"smoke: FAIL - the loss is {loss} after one step (check the data and the learning rate)"
    if not math.isfinite(grad) or grad == 0.0:
        return False, (f"smoke: FAIL - the gradient norm is {grad} after one step: nothing is being trained "
                       "(labels all masked? check assistant_only_loss/completion masks and max_length)")
    return True, f"smoke: OK - loss {loss:.4f}, gradient norm {grad:.4f} after one step on real data"


def job_url() -> str | None:
    job_id = current_job_id()
    if not job_id:
        return None
    if not on_hf_jobs():
        return f"local job {job_id}"
    # hf-trainer's train tool passes the namespace it submitted to; other submitters may not.
    owner = os.environ.get("HF_TRAINER_NAMESPACE") or os.environ.get("JOB_OWNER") or ""
    base = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    return f"{base}/jobs/{owner}/{job_id}" if owner else f"job {job_id}"


RECORDED_LIBRARIES = ("torch", "transformers", "trl", "peft", "datasets", "accelerate", "huggingface_hub")


def _job_flavor(job_id: str | None) -> str | None:
    """The HF Jobs flavor this job runs on, read from its own record (best effort: None when it cannot be read)."""
    if not job_id or not on_hf_jobs() or not os.environ.get("HF_TOKEN"):
        return None
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    try:
        api = HfApi(token=os.environ["HF_TOKEN"])
        owner = os.environ.get("JOB_OWNER") or api.whoami()["name"]
        flavor = api.inspect_job(job_id=job_id, namespace=owner).flavor
    except (HfHubHTTPError, OSError, KeyError, ValueError):
        return None
    return str(getattr(flavor, "value", flavor)) if flavor else None


def recorded_job(method: str) -> dict:
    """What reproduces this run: the script (name and sha256 of its bytes), its arguments, the job and flavor, the
    library versions. `hf-trainer rerun <repo>` reads it back from the model card's `hf_trainer_job` metadata."""
    import hashlib
    import platform
    from importlib import metadata

    script = Path(sys.argv[0])
    digest = hashlib.sha256(script.read_bytes()).hexdigest() if script.is_file() else None
    versions = {}
    for name in RECORDED_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    job_id = current_job_id()
    device = detect_device()
    return {"method": method, "script": script.name, "script_sha256": digest, "arguments": sys.argv[1:],
            "job_id": job_id, "job_url": job_url(),
            "flavor": current_job_flavor() or _job_flavor(job_id),
            "hardware": f"{device['count']} x {device['name']}" if device["count"] else "cpu",
            "python": platform.python_version(), "libraries": versions}


_YAML_PLAIN = re.compile(r"[A-Za-z0-9_/][A-Za-z0-9_./@+-]*")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}


def yaml_scalar(value: str) -> str:
    """A user's value (model id, path, dataset name) for the card's YAML header: as written when YAML reads it back
    unchanged, else a double-quoted YAML string, so a newline or ': ' in a name cannot add or break metadata."""
    text = str(value)
    if _YAML_PLAIN.fullmatch(text) and text.lower() not in _YAML_WORDS and not re.fullmatch(r"[-+0-9._e]+", text):
        return text
    quoted = []
    for char in text:
        code = ord(char)
        if char in '"\\':
            quoted.append("\\" + char)
        elif char.isprintable():
            quoted.append(char)
        else:  # YAML's escapes: \xXX, \uXXXX, \UXXXXXXXX
            quoted.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000
                          else f"\\U{code:08x}")
    return '"' + "".join(quoted) + '"'


def model_card(args, method: str, result: dict, extra_hparams: dict, sections: list[str] | None = None) -> str:
    """A model card: base model, data, method, hyper-parameters, final metrics, extra `sections` (e.g. evaluation),
    and the job that made it (machine-readable in the `hf_trainer_job` metadata, for reruns)."""
    hparams = {
        "learning_rate": result.get("learning_rate"),
        "num_train_epochs": args.num_train_epochs,
        "max_steps": args.max_steps,
        "per_device_train_batch_size": args.per_device_train_batch_size,
        "gradient_accumulation_steps": args.gradient_accumulation_steps,
        "max_length": args.max_length,
        "lr_scheduler_type": args.lr_scheduler_type,
        "seed": args.seed,
        **({"lora_r": args.lora_r, "lora_alpha": args.lora_alpha, "lora_dropout": args.lora_dropout,
            "lora_target_modules": " ".join(args.lora_target_modules), "load_in_4bit": args.load_in_4bit}
           if args.use_peft else {}),
        **extra_hparams,
    }
    base = args.model_name_or_path
    tags = ["hf-trainer", "trl", method] + (["lora", "peft"] if args.use_peft else [])
    lines = [
        "---",
        f"base_model: {yaml_scalar(base)}",
        *( [f"datasets:\n- {yaml_scalar(args.dataset_name)}"] if not Path(args.dataset_name).exists() else [] ),
        "library_name: " + ("peft" if args.use_peft else "transformers"),
        "tags:", *[f"- {tag}" for tag in tags],
        # JSON on one line is valid YAML: the Hub returns it in cardData, so reruns read it without parsing markdown.
        *([f"hf_trainer_job: {json.dumps(result['recorded_job'])}"] if result.get("recorded_job") else []),
        "---",
        "",
        f"# {args.hub_model_id or Path(result['output_dir']).name}",
        "",
        f"Fine-tuned from `{base}` with {method.upper()} ({'LoRA adapter' if args.use_peft else 'full fine-tuning'}) "
        f"on `{args.dataset_name}` by hf-trainer using TRL.",
        "",
        "## Results",
        "",
        "| metric | value |", "|---|---|",
        f"| steps | {result['steps']} |",
        f"| first training loss | {_fmt(result['first_loss'])} |",
        f"| last training loss | {_fmt(result['last_loss'])} |",
        *([f"| eval loss | {_fmt(result['eval_loss'])} |"] if result.get("eval_loss") is not None else []),
        *[f"| {key.replace('_', ' ')} | {_fmt(value) if isinstance(value, float) else value} |"
          for key, value in (result.get("extra_results") or {}).items()],
        f"| runtime (s) | {result['runtime_seconds']:.0f} |",
        "",
        "## Hyper-parameters",
        "",
        "| name | value |", "|---|---|",
        *[f"| {key} | {value} |" for key, value in hparams.items()],
        "",
    ]
    stopped = result.get("stopped_early")
    if stopped:
        lines += ["## Stopped early", "",
                  f"The run stopped itself at step {stopped['step']} ({stopped['reason']}): {stopped['detail']}.",
                  *(["The weights of that step were not kept: the last checkpoint saved before it is the last good "
                     "one."] if stopped["reason"] in BROKEN_REASONS else []), ""]
    for section in sections or []:
        lines += [section.rstrip("\n"), ""]
    # Links back from the model to the job and its metrics (the job's labels link forward to both).
    provenance = [f"Trained by Hugging Face job: {job_url()}"] if job_url() else []
    if result.get("trackio_project"):
        space = os.environ.get("HF_TRAINER_TRACKIO_SPACE")
        provenance.append(f"Training metrics: trackio project `{result['trackio_project']}`, run "
                          f"`{result.get('run_name')}`" + (f" ({hub_url('spaces/' + space)})" if space else ""))
    if provenance:
        lines += ["## Provenance", "", *[f"- {line}" for line in provenance], ""]
    recorded = result.get("recorded_job")
    if recorded:
        import shlex

        where = args.hub_model_id if args.push_to_hub and args.hub_model_id else (recorded.get("job_id") or "")
        lines += ["## Reproduce", "",
                  f"Script `{recorded['script']}` (sha256 `{recorded['script_sha256']}`) on "
                  f"{recorded.get('flavor') or recorded['hardware']}, with "
                  + ", ".join(f"{k} {v}" for k, v in recorded["libraries"].items()) + ":", "",
                  "```", shlex.join([recorded["script"], *recorded["arguments"]]), "```", ""]
        if where:
            lines += [f"Plan the same job again with `hf-trainer rerun {where}` (add `--confirm` to submit).", ""]
    return "\n".join(lines)


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def finish(trainer, args, method: str, output_dir: str, started: float, extra_hparams: dict | None = None,
           extra_results: dict | None = None, card_sections: list[str] | None = None,
           extra_files: dict[str, str] | None = None, stopped: dict | None = None) -> dict:
    """Save the model, write its card, push it (when asked) and return the summary.

    Under accelerate launch every process calls this (saving may gather shards), but only the main process writes
    the card and pushes. `extra_results` (method metrics, e.g. GRPO rewards) go into the summary and the card;
    `card_sections` (markdown) into the card; `extra_files` ({relative path: text}, e.g. results/evaluation.json)
    into the output folder, so they are pushed with the model."""
    history = trainer.state.log_history
    found = losses(history)
    eval_losses = [entry["eval_loss"] for entry in history if "eval_loss" in entry]
    result = {
        "method": method,
        "output_dir": str(Path(output_dir).resolve()),
        "hub_model_id": args.hub_model_id if args.push_to_hub else None,
        "steps": trainer.state.global_step,
        "first_loss": found[0] if found else None,
        "last_loss": found[-1] if found else None,
        "eval_loss": eval_losses[-1] if eval_losses else None,
        "runtime_seconds": time.time() - started,
        "learning_rate": trainer.args.learning_rate,
        "trackio_project": trainer.args.project if args.report_to == "trackio" else None,
        "run_name": trainer.args.run_name,
        "job_url": job_url(),
        **({"extra_results": extra_results} if extra_results else {}),
        **({"stopped_early": stopped} if stopped else {}),
    }
    broken = stopped is not None and stopped["reason"] in BROKEN_REASONS
    if broken:
        finish_pushes(trainer)  # the last good checkpoint reaches the Hub before the run ends
    else:
        save_final_model(trainer, output_dir)  # a sharded (--fsdp) model is gathered into one first
    if not trainer.is_world_process_zero():
        return result
    processing = getattr(trainer, "processing_class", None)
    if processing is not None and not broken:
        processing.save_pretrained(output_dir)
    for relative, text in (extra_files or {}).items():
        Path(output_dir, relative).parent.mkdir(parents=True, exist_ok=True)
        Path(output_dir, relative).write_text(text, encoding="utf-8")
    # The run's duration goes with the record: a rerun sizes its timeout from it (HF Jobs does not report timeouts).
    record = {**recorded_job(method), "runtime_seconds": round(result["runtime_seconds"])}
    card_result = {**result, "recorded_job": record}
    # The versions this job really ran (the header pins them; a rerun can pin them again from the summary too).
    result["libraries"] = record["libraries"]
    result["flavor"] = record["flavor"]
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    Path(output_dir, "README.md").write_text(model_card(args, method, card_result, extra_hparams or {}, card_sections),
                                             encoding="utf-8")
    if args.push_to_hub:
        from huggingface_hub import HfApi

        api = HfApi(token=os.environ["HF_TOKEN"])
        api.create_repo(args.hub_model_id, private=args.hub_private_repo, exist_ok=True)
        if broken:  # only the card that says why: the diverged weights are no result
            api.upload_file(path_or_fileobj=str(Path(output_dir, "README.md")), path_in_repo="README.md",
                            repo_id=args.hub_model_id, commit_message="hf-trainer: run stopped early")
            result["hub_url"] = hub_url(args.hub_model_id)
            return result
        api.upload_folder(repo_id=args.hub_model_id, folder_path=output_dir, commit_message="hf-trainer: final model",
                          ignore_patterns=["checkpoint-*/**", "checkpoint-*", "last-checkpoint/**", "runs/**", "_*"])
        result["hub_url"] = hub_url(args.hub_model_id)
    return result


def report(result: dict, as_json: bool) -> None:
    if not is_main_process():  # one summary per run, not one per GPU process
        return
    if as_json:
        print(json.dumps(result), flush=True)
        return
    where = result.get("hub_url") or result["output_dir"]
    stopped = result.get("stopped_early")
    if stopped:
        print(f"Stopped early at step {stopped['step']} ({stopped['reason']}): {stopped['detail']}. Card: {where}",
              flush=True)
        return
    print(f"Done: {result['steps']} steps, loss {_fmt(result['first_loss'])} -> {_fmt(result['last_loss'])}, "
          f"{result['runtime_seconds']:.0f}s. Model: {where}", flush=True)


def finish_run(trainer, args, method: str, output_dir: str, started: float, hparams: dict, *,
               extra_results: dict | None = None, evaluate_after=None, smoke_check=check_smoke) -> int:
    """Everything after `trainer.train()`; returns the exit status.

    With --smoke: `smoke_check(trainer)` (finite loss, non-zero gradient) prints one line, exit 0 or 1. Otherwise:
    `evaluate_after(model, processing_class)` (from --eval_baseline, or None) scores the trained model, and its card
    section and result files go with the model; `hparams` (method settings) and `extra_results` (method metrics) go
    into the card and the summary; the model is saved and pushed (when asked) and the summary printed."""
    if args.smoke:
        ok, line = smoke_check(trainer)
        print(line, flush=True)
        return 0 if ok else 1
    stopped = stop_record(trainer)
    if stopped is not None:
        evaluate_after = None  # a stopped run is not worth scoring
    evaluation = evaluate_after(trainer.model, trainer.processing_class) if evaluate_after else None
    result = finish(trainer, args, method, output_dir, started, hparams, extra_results=extra_results,
                    card_sections=[evaluation["card_section"]] if evaluation else None,
                    extra_files=evaluation["files"] if evaluation else None, stopped=stopped)
    if evaluation:
        result["evaluation"] = evaluation["comparison"]
    if stopped is None and args.push_to_hub and (follow_up := submit_follow_up()):
        result["follow_up_job"] = follow_up  # the job `train` planned after this one (benchmark.py on the model)
    report(result, args.json)
    return STOPPED_EXIT_CODE if stopped is not None else 0
