"""--fsdp: the training scripts shard with FSDP2 (runtime/sharding.py), here over two CPU processes (gloo).

torch's FSDP2 runs on CPU over gloo; accelerate picks FSDP only for GPU backends, and sharding.enable_fsdp_on_cpu lets
it here, so these runs take the scripts' real sharded path: parameters are DTensor shards, checkpoints are written by
torch.distributed.checkpoint (one file per process), the final model is gathered into one safetensors file. What is not
run here: NCCL on real GPUs and bf16 mixed precision (CPU runs fp32).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import SCRIPTS, json_summary, run_script
from hf_trainer.tiny import chat_rows, write_jsonl

FAST = ["--max_length", "128", "--gradient_accumulation_steps", "1", "--learning_rate", "1e-3", "--logging_steps", "1",
        "--report_to", "none", "--eval_split_size", "0", "--json"]
CPU = {"type": "cpu", "bf16": False, "count": 0, "name": "cpu"}
A100X4 = {"type": "cuda", "bf16": True, "count": 4, "name": "A100"}
_NO_REPO = type("NoRepo", (), {"files": {}})()  # before the first push creates the repo


def _args(**overrides):
    import argparse

    from hf_trainer.runtime.train_common import add_common_arguments

    parser = argparse.ArgumentParser()
    add_common_arguments(parser)
    args = parser.parse_args(["--model_name_or_path", "m", "--dataset_name", "d"])
    vars(args).update(overrides)
    return args


def _sharded(script: str, *args: str) -> list[str]:
    """Two processes under torch.distributed.run (what `accelerate launch --multi_gpu` starts) with --fsdp."""
    with socket.socket() as probe:  # a free rendezvous port (port 0 is not understood by the launcher)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
            "--master_port", str(port), str(SCRIPTS / script), *args, "--fsdp"]


def _process_tree(root: int) -> list[int]:
    """root and its descendants (the launcher starts each worker in a session of its own: killpg misses them)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += parents.get(pid, [])
    return found


def _kill_tree(process: subprocess.Popen) -> None:
    for pid in _process_tree(process.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()


def _run_sharded(argv: list[str], timeout: float = 240) -> subprocess.CompletedProcess:
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:  # never leave worker processes behind
            _kill_tree(process)
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


def _one_summary(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, f"STDOUT:\n{result.stdout[-3000:]}\nSTDERR:\n{result.stderr[-3000:]}"
    summaries = [line for line in result.stdout.splitlines() if line.startswith('{"method"')]
    assert len(summaries) == 1  # the main process only
    return json.loads(summaries[0])


def _step_losses(checkpoint: Path) -> list[tuple[int, float]]:
    state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    return [(entry["step"], entry["loss"]) for entry in state["log_history"] if "loss" in entry]


def _assert_sharded_checkpoint(checkpoint: Path) -> None:
    # One torch.distributed.checkpoint file per process for the weights and for the optimizer state; no full copy.
    assert sorted(p.name for p in (checkpoint / "pytorch_model_fsdp_0").glob("*.distcp")) == ["__0_0.distcp",
                                                                                               "__1_0.distcp"]
    assert len(list((checkpoint / "optimizer_0").glob("*.distcp"))) == 2
    assert not (checkpoint / "model.safetensors").exists()


# --- configuration (no training) -----------------------------------------------------------------------------------

def test_fsdp_configures_fsdp2_with_sharded_checkpoints_and_its_own_activation_checkpointing(tmp_path):
    from transformers import TrainingArguments

    from hf_trainer.runtime.sharding import fsdp_kwargs
    from hf_trainer.runtime.train_common import precision_kwargs

    args = _args(fsdp=True)
    assert fsdp_kwargs(_args(), A100X4) == {}  # without --fsdp nothing changes
    kwargs = fsdp_kwargs(args, A100X4)
    assert kwargs["fsdp_config"]["activation_checkpointing"] is True  # GPUs: on by default, done by FSDP...
    assert precision_kwargs(args, A100X4)["activation_checkpointing"] is False  # ...not by the Trainer (twice)
    assert precision_kwargs(_args(), A100X4)["activation_checkpointing"] is True  # unchanged without --fsdp
    assert fsdp_kwargs(_args(fsdp=True, activation_checkpointing=False), A100X4)["fsdp_config"][
        "activation_checkpointing"] is False

    # The installed transformers reads these keys into accelerate's FSDP plugin arguments.
    plugin = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, **kwargs).fsdp_plugin_args
    assert plugin["fsdp_version"] == 2 and plugin["state_dict_type"] == "SHARDED_STATE_DICT"
    assert plugin["auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP" and plugin["reshard_after_forward"] is True
    assert plugin["activation_checkpointing"] is True
    assert plugin["cpu_ram_efficient_loading"] is True  # one fp32 upcast on the first process, shards sent to the rest


@pytest.mark.parametrize(
    "overrides, device, world, refusal",
    [
        ({}, A100X4, 1, None),  # no --fsdp: nothing to check
        ({"fsdp": True}, A100X4, 4, None),  # one process per GPU: shards
        ({"fsdp": True}, {**A100X4, "count": 1}, 1, "this run has one (1 GPU)"),  # nothing to shard over
        ({"fsdp": True}, CPU, 1, "this run has one (CPU)"),
        ({"fsdp": True, "use_peft": True, "load_in_4bit": True}, A100X4, 4, "--load_in_4bit is not supported"),
        ({"fsdp": True, "eval_baseline": True}, A100X4, 4, "Drop --eval_baseline"),  # generation on rank 0 only
        ({"fsdp": True, "optim": "paged_adamw_8bit"}, A100X4, 4, "drop --optim"),  # bitsandbytes state, not DTensor
    ],
)
def test_what_cannot_shard_is_refused_with_the_fix(overrides, device, world, refusal):
    from hf_trainer.runtime.sharding import fsdp_problem

    problem = fsdp_problem(_args(**overrides), device, world)
    assert problem is None if refusal is None else refusal in problem


@pytest.mark.parametrize(
    "sharded_checkpoint, fsdp, refusal",
    [
        (True, True, None),  # sharded -> sharded (any GPU count)
        (False, False, None),  # whole -> whole
        (True, False, "continue it with --fsdp"),  # transformers would fail inside train()
        (False, True, "continue it without --fsdp"),
    ],
)
def test_a_checkpoint_continues_only_in_its_own_format(tmp_path, sharded_checkpoint, fsdp, refusal):
    from hf_trainer.runtime.sharding import checkpoint_problem, is_sharded_checkpoint

    checkpoint = tmp_path / "checkpoint-2"
    inside = "pytorch_model_fsdp_0" if sharded_checkpoint else "model.safetensors"
    (checkpoint / inside).mkdir(parents=True)
    listing = [f"{inside}/__0_0.distcp" if sharded_checkpoint else inside, "trainer_state.json"]  # a Hub listing
    assert is_sharded_checkpoint(checkpoint) is is_sharded_checkpoint(listing) is sharded_checkpoint
    problem = checkpoint_problem(_args(fsdp=fsdp), "alice/x/last-checkpoint", sharded_checkpoint)
    assert problem is None if refusal is None else refusal in problem and "alice/x/last-checkpoint" in problem


@pytest.mark.parametrize("sharded_checkpoint, fsdp", [(True, False), (False, True)])
def test_resume_stops_before_loading_when_the_checkpoint_format_differs(tmp_path, sharded_checkpoint, fsdp):
    from hf_trainer.runtime.resume import RUN_RECORD, resume_checkpoint, run_record
    from hf_trainer.runtime.train_common import ScriptError

    args = _args(fsdp=fsdp, resume="must", output_dir=str(tmp_path))
    checkpoint = tmp_path / "checkpoint-2"
    (checkpoint / ("pytorch_model_fsdp_0" if sharded_checkpoint else "x")).mkdir(parents=True)
    (checkpoint / "trainer_state.json").write_text("{}", encoding="utf-8")
    (checkpoint / RUN_RECORD).write_text(json.dumps(run_record(args, "sft")), encoding="utf-8")  # the same run
    with pytest.raises(ScriptError, match="without --fsdp" if fsdp else "continue it with --fsdp"):
        resume_checkpoint(args, "sft", str(tmp_path))


class _FakeShardedTrainer:
    """What save_final_model reads of a Trainer whose model FSDP2 sharded (no process group needed)."""

    is_fsdp_enabled = True

    def __init__(self, state_dict: dict, bf16: bool, adapter: bool = False):
        from types import SimpleNamespace

        model = SimpleNamespace(peft_config={}) if adapter else SimpleNamespace()
        self.model = model
        self.args = SimpleNamespace(bf16=bf16, fp16=False, should_save=True)
        self.accelerator = SimpleNamespace(get_state_dict=lambda _: state_dict, unwrap_model=lambda m: m)
        self.saved: dict = {}

    def _save(self, output_dir, state_dict):
        self.saved = state_dict
        Path(output_dir, "config.json").write_text('{"dtype": "float32", "model_type": "llama"}', encoding="utf-8")


@pytest.mark.parametrize(
    "bf16, adapter, saved_dtype, config_dtype",
    [
        (True, False, "bfloat16", "bfloat16"),  # full model: back to the dtype it was loaded in, config says so
        (True, True, "float32", "float32"),  # a LoRA adapter stays fp32 (PEFT keeps it so unsharded too)
        (False, False, "float32", "float32"),  # fp32 training (CPU): nothing to cast
    ],
)
def test_the_consolidated_model_is_saved_in_the_dtype_it_was_loaded_in(tmp_path, bf16, adapter, saved_dtype,
                                                                      config_dtype):
    import torch

    from hf_trainer.runtime.sharding import save_final_model

    # FSDP2 under bf16 mixed precision trains fp32 master weights: what the gather returns.
    trainer = _FakeShardedTrainer({"w": torch.ones(2, 2), "step": torch.tensor(3)}, bf16, adapter)
    save_final_model(trainer, str(tmp_path))
    assert str(trainer.saved["w"].dtype) == f"torch.{saved_dtype}" and trainer.saved["step"].dtype == torch.int64
    assert json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))["dtype"] == config_dtype


def test_a_script_given_fsdp_in_one_process_stops_before_loading_anything(tiny_model, tmp_path):
    data = write_jsonl(chat_rows(8), tmp_path / "chat.jsonl")
    result = run_script("train_sft.py", "--model_name_or_path", str(tiny_model), "--dataset_name", str(data),
                        "--output_dir", str(tmp_path / "out"), "--fsdp", *FAST)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--fsdp shards the model over several processes" in result.stderr and "multi-GPU flavor" in result.stderr
    assert not (tmp_path / "out").exists()


# --- two processes ---------------------------------------------------------------------------------------------------

def test_sharded_sft_pushes_sharded_checkpoints_survives_sigkill_resumes_in_a_new_job_and_ends_consolidated(
        fake_hub, tiny_model, tmp_path):
    import torch
    from conftest import CANARY_TOKEN
    from fakes.fake_hub_files import add_download_routes
    from fakes.fake_hub_repos import add_repo_routes
    from transformers import AutoModelForCausalLM, AutoTokenizer

    repos = add_repo_routes(fake_hub)
    add_download_routes(fake_hub, repos)
    data = write_jsonl(chat_rows(48), tmp_path / "chat.jsonl")
    common = ["--model_name_or_path", str(tiny_model), "--dataset_name", str(data), "--no-packing", "--max_steps", "4",
              "--save_steps", "2", *FAST]
    # The reference: one process with the batch both processes make together, run through.
    json_summary(run_script("train_sft.py", *common, "--output_dir", str(tmp_path / "one"),
                            "--per_device_train_batch_size", "4"))

    sharded = [*common, "--per_device_train_batch_size", "2", "--push_to_hub", "--hub_model_id", "alice/tiny-fsdp"]
    job1 = tmp_path / "job1"
    first = subprocess.Popen(_sharded("train_sft.py", *sharded, "--output_dir", str(job1)), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 240
    try:  # until hub_strategy=checkpoint has pushed checkpoint-2 (trainer_state.json is written after the shards)
        while "last-checkpoint/trainer_state.json" not in repos.get("alice/tiny-fsdp", _NO_REPO).files:
            assert first.poll() is None, "the sharded run ended before pushing checkpoint-2"
            assert time.time() < deadline, "checkpoint-2 was not pushed within 240s"
            time.sleep(0.05)
    finally:
        _kill_tree(first)  # the launcher and both workers, as when a job's machine goes away
    _assert_sharded_checkpoint(job1 / "checkpoint-2")
    files = repos["alice/tiny-fsdp"].files
    assert {"last-checkpoint/pytorch_model_fsdp_0/__0_0.distcp", "last-checkpoint/pytorch_model_fsdp_0/__1_0.distcp",
            "last-checkpoint/optimizer_0/__0_0.distcp", "last-checkpoint/optimizer_0/__1_0.distcp"} <= set(files)

    # A fresh container: only the Hub has the checkpoint.
    job2 = tmp_path / "job2"
    resumed = _run_sharded(_sharded("train_sft.py", *sharded, "--output_dir", str(job2), "--resume"))
    summary = _one_summary(resumed)
    assert summary["steps"] == 4 and "Resuming from alice/tiny-fsdp/last-checkpoint" in resumed.stdout
    _assert_sharded_checkpoint(job2 / "checkpoint-4")

    # Sharded, killed and resumed elsewhere: the same losses, step for step, as one process that ran through.
    steps = _step_losses(job2 / "checkpoint-4")
    reference = _step_losses(tmp_path / "one" / "checkpoint-4")
    assert [step for step, _ in steps] == [1, 2, 3, 4]
    assert [loss for _, loss in steps] == pytest.approx([loss for _, loss in reference], rel=1e-4)

    # The final model is consolidated: one safetensors file (pushed too) that from_pretrained loads and that generates.
    assert b"model.safetensors" not in b"".join(name.encode() for name in files if name.startswith("last-checkpoint/"))
    assert "model.safetensors" in files and not any(CANARY_TOKEN.encode() in content for content in files.values())
    model = AutoModelForCausalLM.from_pretrained(job2)
    one = AutoModelForCausalLM.from_pretrained(tmp_path / "one")
    for (name, weight), (_, expected) in zip(model.state_dict().items(), one.state_dict().items()):
        assert torch.allclose(weight, expected, atol=1e-4), name
    tokenizer = AutoTokenizer.from_pretrained(job2)
    inputs = tokenizer("Hello", return_tensors="pt")
    generated = model.generate(**inputs, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    assert generated.shape[1] == inputs["input_ids"].shape[1] + 4


def test_sharded_dpo_shards_its_reference_model_too_and_matches_one_process(tiny_model, tmp_path):
    wrong = [{"role": "assistant", "content": "I do not know."}]
    rows = [{"prompt": row["messages"][:-1], "chosen": [row["messages"][-1]], "rejected": wrong}
            for row in chat_rows(32)]
    data = write_jsonl(rows, tmp_path / "pairs.jsonl")
    common = ["--model_name_or_path", str(tiny_model), "--dataset_name", str(data), "--max_steps", "3", *FAST]
    one = json_summary(run_script("train_dpo.py", *common, "--output_dir", str(tmp_path / "one"),
                                  "--per_device_train_batch_size", "8"))
    sharded = _one_summary(_run_sharded(_sharded("train_dpo.py", *common, "--output_dir", str(tmp_path / "sharded"),
                                                 "--per_device_train_batch_size", "4")))
    assert sharded["first_loss"] == pytest.approx(0.6931, abs=1e-3)  # policy == reference (both sharded) at step 1
    assert sharded["last_loss"] == pytest.approx(one["last_loss"], rel=1e-4)
    assert sharded["extra_results"]["reward_margin"] == pytest.approx(one["extra_results"]["reward_margin"], rel=1e-3)
    assert (tmp_path / "sharded" / "model.safetensors").is_file()


def test_sharded_lora_ends_with_an_adapter_that_loads_on_the_base_model(tiny_model, tmp_path):
    from peft import PeftModel
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM

    data = write_jsonl(chat_rows(16), tmp_path / "chat.jsonl")
    out = tmp_path / "out"
    summary = _one_summary(_run_sharded(_sharded(
        "train_sft.py", "--model_name_or_path", str(tiny_model), "--dataset_name", str(data), "--use_peft",
        "--no-packing", "--per_device_train_batch_size", "2", "--max_steps", "2", "--save_steps", "2",
        "--output_dir", str(out), *FAST)))
    assert summary["steps"] == 2
    _assert_sharded_checkpoint(out / "checkpoint-2")
    with safe_open(str(out / "adapter_model.safetensors"), "pt") as adapter:  # PEFT's names, no FSDP wrapper prefixes
        names = list(adapter.keys())
    assert names and all(name.startswith("base_model.model.model.layers.") and ".lora_" in name for name in names)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), out)
    assert sum("lora_A" in name for name, _ in model.named_parameters()) == len(names) // 2
