"""launch_command: plain `uv run` on one GPU, `accelerate launch` with one process per GPU on several."""

import subprocess
import sys

import pytest

from hf_trainer.launch import accelerate_launcher, gpus_for_flavor, launch_command


@pytest.mark.parametrize(
    "flavor, gpus",
    [
        ("cpu-basic", 0),  # CPU flavors
        ("cpu-xl", 0),
        ("t4-small", 1),  # one GPU without an xN suffix
        ("a10g-large", 1),
        ("a100-large", 1),
        ("l4x1", 1),  # explicit x1
        ("l4x4", 4),  # multi-GPU flavors
        ("a10g-largex2", 2),
        ("a100x8", 8),
        ("h200x4", 4),
        ("rtx-pro-6000x2", 2),  # a model number before the suffix
        ("rtx-pro-6000", 1),  # ...and without one
        (None, 0),  # no flavor given
    ],
)
def test_gpus_for_flavor_reads_the_gpu_count_from_the_flavor_name(flavor, gpus):
    assert gpus_for_flavor(flavor) == gpus


@pytest.mark.parametrize("gpus", [0, 1])
def test_one_gpu_or_none_runs_the_script_plainly_with_uv(gpus):
    assert launch_command("train_dpo.py", ["--beta", "0.1"], gpus) == ["uv", "run", "train_dpo.py", "--beta", "0.1"]


def test_several_gpus_start_one_process_per_gpu_under_accelerate_in_the_scripts_own_environment():
    argv = launch_command("/tmp/train_grpo.py", ["--model_name_or_path", "Qwen/Qwen2.5-0.5B", "--run_name", "a b"], 4)
    assert argv[:4] == ["uv", "run", "--with-requirements", "/tmp/train_grpo.py"]  # the PEP 723 deps, accelerate too
    launcher = argv[4:argv.index("/tmp/train_grpo.py", 4)]
    assert launcher[:2] == ["accelerate", "launch"] and "--multi_gpu" in launcher
    assert launcher[launcher.index("--num_processes") + 1] == "4"
    assert launcher[launcher.index("--num_machines") + 1] == "1"
    # the script follows once, with its arguments verbatim (an argv list: a space needs no quoting)
    assert argv[argv.index("/tmp/train_grpo.py", 4):] == [
        "/tmp/train_grpo.py", "--model_name_or_path", "Qwen/Qwen2.5-0.5B", "--run_name", "a b"]
    assert "python" not in argv  # never a plain interpreter, which would fall back to DataParallel


def test_a_negative_gpu_count_is_refused():
    with pytest.raises(ValueError, match="num_gpus must be 0 or more"):
        launch_command("train_sft.py", [], -1)


def test_the_launcher_options_exist_in_the_installed_accelerate():
    # Guards against accelerate renaming a flag that the multi-GPU command relies on.
    argv = launch_command("s.py", [], 2)
    flags = [arg for arg in argv[argv.index("launch") + 1:argv.index("s.py", 5)] if arg.startswith("--")]
    help_text = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--help"], capture_output=True,
                               text=True, timeout=120).stdout
    for flag in flags:
        assert flag in help_text, flag


@pytest.mark.parametrize("gpus", [0, 1, 2, 8])
def test_the_launcher_words_fit_between_uv_run_and_the_script(gpus):
    # jobs.hub.uv_command builds `uv run [--with ...] <launcher> <script> <args>`: the same argv must come out.
    words = accelerate_launcher("/scripts/train_kto.py", gpus)
    assert launch_command("/scripts/train_kto.py", ["--beta", "0.2"], gpus) == [
        "uv", "run", *words, "/scripts/train_kto.py", "--beta", "0.2"]
    assert (words == []) is (gpus <= 1)


# --- the scripts' own safety net (hf_trainer.runtime.train_common, inlined into every training script) -------------------

def _captured_exec(monkeypatch) -> list:
    from hf_trainer.runtime import train_common

    calls: list = []
    monkeypatch.setattr(train_common.os, "execv", lambda path, argv: calls.append(argv))
    monkeypatch.setattr(train_common.sys, "argv", ["/skill/scripts/train_dpo.py", "--beta", "0.2", "--run_name", "a b"])
    return calls


def test_a_script_started_plainly_on_several_gpus_relaunches_itself_with_one_process_per_gpu(monkeypatch, capsys):
    from hf_trainer.runtime.train_common import relaunch_distributed

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("HF_TRAINER_NO_RELAUNCH", raising=False)
    calls = _captured_exec(monkeypatch)
    relaunch_distributed({"type": "cuda", "count": 4, "bf16": True, "name": "A100"})

    assert len(calls) == 1
    argv = calls[0]
    assert argv[:3] == [sys.executable, "-m", "accelerate.commands.launch"] and "--multi_gpu" in argv
    assert argv[argv.index("--num_processes") + 1] == "4"
    assert argv[-5:] == ["/skill/scripts/train_dpo.py", "--beta", "0.2", "--run_name", "a b"]  # same arguments
    assert "relaunching with accelerate launch --num_processes 4" in capsys.readouterr().out


@pytest.mark.parametrize(
    "count, env",
    [
        (1, {}),  # one GPU: nothing to distribute
        (0, {}),  # CPU
        (4, {"WORLD_SIZE": "4"}),  # already started by a launcher (this is the relaunched process)
        (4, {"HF_TRAINER_NO_RELAUNCH": "1"}),  # the user keeps one process on purpose
    ],
)
def test_no_relaunch_with_one_gpu_under_a_launcher_or_when_turned_off(monkeypatch, count, env):
    from hf_trainer.runtime.train_common import relaunch_distributed

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("HF_TRAINER_NO_RELAUNCH", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    calls = _captured_exec(monkeypatch)
    relaunch_distributed({"type": "cuda" if count else "cpu", "count": count, "bf16": True, "name": "x"})
    assert calls == []


@pytest.mark.parametrize("rank, printed", [("0", True), ("1", False), ("3", False)])
def test_only_the_main_process_prints_the_summary(monkeypatch, capsys, rank, printed):
    from hf_trainer.runtime.results import report

    monkeypatch.setenv("RANK", rank)
    report({"method": "dpo", "steps": 2}, as_json=True)
    assert (capsys.readouterr().out.strip() == '{"method": "dpo", "steps": 2}') is printed


# --- sharded training (--fsdp) ------------------------------------------------------------------------------------

def test_a_sharded_run_on_several_gpus_uses_the_same_launcher_with_fsdp_passed_to_the_script():
    # The scripts hand their FSDP configuration to the Trainer: the command line only needs one process per GPU.
    argv = launch_command("/s/train_sft.py", ["--model_name_or_path", "Qwen/Qwen2.5-7B", "--fsdp"], 4)
    assert argv == launch_command("/s/train_sft.py", ["--model_name_or_path", "Qwen/Qwen2.5-7B"], 4) + ["--fsdp"]
    assert argv[argv.index("--num_processes") + 1] == "4"


@pytest.mark.parametrize(
    "args, gpus, refused",
    [
        (["--fsdp"], 1, True),  # one GPU: nothing to shard over
        (["--fsdp"], 0, True),  # CPU flavor
        (["--fsdp"], 2, False),  # the smallest multi-GPU flavor
        (["--use_peft"], 1, False),  # no --fsdp: nothing to check
    ],
)
def test_fsdp_on_fewer_than_two_gpus_is_refused_before_submission(args, gpus, refused):
    from hf_trainer.launch import sharding_problem

    problem = sharding_problem(args, gpus)
    assert (problem is not None) is refused
    if refused:
        assert "--fsdp" in problem and "multi-GPU flavor" in problem
        with pytest.raises(ValueError, match="multi-GPU flavor"):
            launch_command("train_sft.py", args, gpus)
