"""diagnose: realistic failure logs get named, with one change applied to the job's arguments."""

import pytest

from hf_trainer.diagnose import diagnose, get_arg, set_arg
from hf_trainer.jobs.base import Stage

ARGS = ["--model_name_or_path", "Qwen/Qwen2.5-7B", "--dataset_name", "me/data", "--per_device_train_batch_size", "8",
        "--gradient_accumulation_steps", "2", "--push_to_hub", "--hub_model_id", "me/m"]

OOM = """\
{'loss': '1.92', 'grad_norm': '0.8', 'learning_rate': '2e-05', 'epoch': '0.01'}
Traceback (most recent call last):
  File "/tmp/script.py", line 880, in main
    trainer.train(resume_from_checkpoint=resume_checkpoint(args, output_dir))
torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 22.06 GiB of which 1.13 GiB is free.
"""
UV_RESOLUTION = """\
Downloading cpython-3.12.7-linux-x86_64-gnu (download) (15.6MiB)
  x No solution found when resolving script dependencies:
  `-> Because trl==9.0 was not found in the package registry and you require trl==9.0, we can conclude that your requirements are unsatisfiable.
"""
UNAUTHORIZED = """\
huggingface_hub.errors.HfHubHTTPError: 401 Client Error: Unauthorized for url: https://huggingface.co/api/repos/create
Invalid user token.
"""
FORBIDDEN = """\
huggingface_hub.errors.HfHubHTTPError: 403 Forbidden: You don't have the rights to create a model under the namespace "big-org".
"""
DATASET = """\
error: The dataset has no usable columns for SFT: found ['instruction', 'output'], need messages or prompt+completion or text.
"""
NO_CUDA = "error: --load_in_4bit (QLoRA) needs a CUDA GPU, and none was found.\n"
NAN = "\n".join(f"{{'loss': '{v}', 'grad_norm': 'nan', 'epoch': '0.{i}'}}" for i, v in enumerate([2.1, 5.3, "nan"]))
FLAT = "\n".join(f"{{'loss': '10.3735', 'grad_norm': '0.0', 'epoch': '0.{i}'}}" for i in range(8))
PUSH = """\
{'train_runtime': '3600', 'train_loss': '1.2'}
Error while uploading 'model.safetensors' to the Hub.
"""
HEALTHY = "\n".join(f"{{'loss': '{3 - i * 0.2:.3f}', 'epoch': '0.{i}'}}" for i in range(8))


@pytest.mark.parametrize(
    "stage, message, log, kind",
    [
        (Stage.ERROR, "exited with code 1", OOM, "out_of_memory"),
        (Stage.ERROR, "exited with code 2", UV_RESOLUTION, "dependency_resolution"),
        (Stage.ERROR, "exited with code 1", UNAUTHORIZED, "unauthorized"),
        (Stage.ERROR, "exited with code 1", FORBIDDEN, "forbidden"),
        (Stage.ERROR, "exited with code 2", DATASET, "dataset_format"),
        (Stage.ERROR, "exited with code 2", NO_CUDA, "no_cuda"),
        (Stage.ERROR, "exited with code 1", NAN, "nan_loss"),
        (Stage.COMPLETED, None, FLAT, "flat_loss"),  # it "worked" but learned nothing
        (Stage.ERROR, "exited with code 1", PUSH, "hub_push_failure"),
        (Stage.ERROR, "Job timed out after 1800s", HEALTHY, "timeout"),
        (Stage.COMPLETED, None, HEALTHY, "completed"),
        (Stage.CANCELED, "canceled by the user", HEALTHY, "canceled"),
        (Stage.ERROR, "exited with code 139", "Segmentation fault (core dumped)\n", "unknown"),
    ],
)
def test_failures_are_named_from_realistic_logs(stage, message, log, kind):
    result = diagnose(stage, message, log.splitlines(), ARGS, flavor="a10g-large", timeout_seconds=1800)
    assert result.kind == kind, result.render()
    if kind not in ("completed", "canceled"):
        assert result.evidence or result.next_steps


def test_out_of_memory_first_halves_the_batch_and_doubles_accumulation():
    change = diagnose(Stage.ERROR, None, OOM.splitlines(), ARGS, flavor="a10g-large").change
    assert get_arg(change.script_args, "--per_device_train_batch_size") == "4"
    assert get_arg(change.script_args, "--gradient_accumulation_steps") == "4"
    assert change.flavor == "a10g-large"  # one change at a time: same flavor


def test_out_of_memory_at_batch_one_moves_to_lora_then_to_a_bigger_flavor():
    args = set_arg(ARGS, "--per_device_train_batch_size", "1")
    first = diagnose(Stage.ERROR, None, OOM.splitlines(), args, flavor="a10g-large").change
    assert "--use_peft" in first.script_args and first.flavor == "a10g-large"
    second = diagnose(Stage.ERROR, None, OOM.splitlines(), first.script_args, flavor="a10g-large").change
    assert second.flavor == "l40sx1" and second.script_args == first.script_args


def test_out_of_memory_turns_checkpointing_back_on_when_it_was_switched_off():
    args = set_arg(ARGS, "--per_device_train_batch_size", "1") + ["--no-activation_checkpointing"]
    change = diagnose(Stage.ERROR, None, OOM.splitlines(), args, flavor="a10g-large").change
    assert "--activation_checkpointing" in change.script_args and "--no-activation_checkpointing" not in change.script_args


def test_out_of_memory_without_a_batch_argument_pins_batch_one_and_keeps_the_effective_batch():
    args = [a for a in ARGS if a not in ("--per_device_train_batch_size", "8")]
    change = diagnose(Stage.ERROR, None, OOM.splitlines(), args, flavor="a10g-large").change
    assert get_arg(change.script_args, "--per_device_train_batch_size") == "1"
    assert get_arg(change.script_args, "--gradient_accumulation_steps") == "8"  # 2 x 4


def test_a_timeout_doubles_the_limit_and_resumes():
    change = diagnose(Stage.ERROR, "Job timed out after 1800s", HEALTHY.splitlines(), ARGS,
                      timeout_seconds=1800).change
    assert change.timeout_seconds == 3600 and "--resume" in change.script_args


def test_nan_loss_lowers_the_learning_rate_tenfold():
    change = diagnose(Stage.ERROR, None, NAN.splitlines(), ARGS + ["--learning_rate", "1e-4"]).change
    assert get_arg(change.script_args, "--learning_rate") == "1e-05"


def test_set_arg_replaces_values_and_keeps_other_arguments():
    assert set_arg(["--a", "1", "--b", "--c=3"], "--c", "4") == ["--a", "1", "--b", "--c", "4"]
    assert set_arg(["--a", "1"], "--flag", None) == ["--a", "1", "--flag"]


def test_a_failed_local_job_is_diagnosed_from_its_record_and_log(tmp_path):
    from hf_trainer.diagnose import diagnose_job
    from hf_trainer.jobs.base import UvJobRequest
    from hf_trainer.jobs.local import LocalBackend

    script = tmp_path / "train.py"
    script.write_text("import sys\nprint(\"{'loss': '2.0', 'epoch': '0.1'}\")\n"
                      "print('torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB.')\n"
                      "sys.exit(1)\n", encoding="utf-8")
    backend = LocalBackend(use_uv=False)
    job = backend.uv(UvJobRequest(script=str(script), script_args=["--per_device_train_batch_size", "4"]))
    backend.wait(job.id, timeout=60, poll_interval=0.1)

    result = diagnose_job(backend, job.id)
    assert result.kind == "out_of_memory" and "CUDA out of memory" in result.evidence
    assert get_arg(result.change.script_args, "--per_device_train_batch_size") == "2"
