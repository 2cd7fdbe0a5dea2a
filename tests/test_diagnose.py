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


# --- data and repos that do not exist: the argument to add (issue 27) -------------------------------------------

DPO_ARGS = ["--model_name_or_path", "Qwen/Qwen2.5-0.5B-Instruct", "--dataset_name",
            "HuggingFaceH4/ultrafeedback_binarized", "--push_to_hub", "--hub_model_id", "me/m"]


@pytest.mark.parametrize(
    "script, log, flag, value",
    [
        # the scripts' own refusal, DPO on ultrafeedback_binarized: its preference split
        ("train_dpo.py", "error: Split 'train' not found; the dataset has: train_prefs, test_prefs, train_sft, "
                         "test_sft. Pass --dataset_train_split.", "--dataset_train_split", "train_prefs"),
        # the same data for SFT: its own split
        ("train_sft.py", "error: Split 'train' not found; the dataset has: train_prefs, test_prefs, train_sft, "
                         "test_sft. Pass --dataset_train_split.", "--dataset_train_split", "train_sft"),
        # datasets' wording
        ("train_dpo.py", "ValueError: Unknown split \"train\". Should be one of ['train_prefs', 'test_prefs'].",
         "--dataset_train_split", "train_prefs"),
        # gsm8k without a config: datasets lists them on the next line
        ("train_grpo.py", "ValueError: Config name is missing.\nPlease pick one among the available configs: "
                          "['main', 'socratic']", "--dataset_config", "main"),
    ],
)
def test_a_missing_split_or_config_is_fixed_with_the_argument_to_add(script, log, flag, value):
    result = diagnose(Stage.ERROR, "exited with code 2", log.splitlines(), DPO_ARGS, script=script)
    assert result.kind in ("dataset_split", "dataset_config"), result.render()
    assert get_arg(result.change.script_args, flag) == value
    assert result.change.script_args[:len(DPO_ARGS)] == DPO_ARGS  # everything else as it was


def test_a_gated_model_without_a_token_gets_the_token_and_with_one_the_page_to_accept():
    log = ["huggingface_hub.errors.GatedRepoError: 401 Client Error. Cannot access gated repo for url "
           "https://huggingface.co/meta-llama/Llama-3.1-8B/resolve/main/config.json.",
           "Access to model meta-llama/Llama-3.1-8B is restricted. You must have access to it and be authenticated."]
    args = ["--model_name_or_path", "meta-llama/Llama-3.1-8B", "--dataset_name", "me/data"]
    without = diagnose(Stage.ERROR, None, log, args, secret_names=[])
    assert without.kind == "gated_repo" and without.change is not None and "HF_TOKEN" in without.change.description
    with_token = diagnose(Stage.ERROR, None, log, args, secret_names=["HF_TOKEN"])
    assert with_token.kind == "gated_repo" and with_token.change is None
    assert any("https://huggingface.co/meta-llama/Llama-3.1-8B" in step for step in with_token.next_steps)


def test_a_dataset_that_does_not_exist_names_the_argument_to_correct():
    log = ["datasets.exceptions.DatasetNotFoundError: Dataset 'me/no-such-data' doesn't exist on the Hub or cannot "
           "be accessed."]
    result = diagnose(Stage.ERROR, None, log, ["--model_name_or_path", "m/x", "--dataset_name", "me/no-such-data"])
    assert result.kind == "repo_not_found" and result.change is None
    assert "--dataset_name me/no-such-data" in result.summary


def test_a_revision_that_does_not_exist_is_dropped():
    log = ["huggingface_hub.errors.RevisionNotFoundError: 404 Client Error. Revision Not Found for url: ..."]
    result = diagnose(Stage.ERROR, None, log, ARGS + ["--dataset_revision", "v9"])
    assert result.kind == "revision_not_found" and "--dataset_revision" not in result.change.script_args


def test_the_submitted_timeout_is_the_one_diagnose_reports():
    result = diagnose(Stage.ERROR, "Job timed out", HEALTHY.splitlines(), ARGS, timeout_seconds=5 * 3600)
    assert "(18000s)" in result.summary and result.change.timeout_seconds == 36000
    unknown = diagnose(Stage.ERROR, "Job timed out", HEALTHY.splitlines(), ARGS)
    assert "not recorded" in unknown.summary and "1800" not in unknown.summary


@pytest.mark.parametrize("reason", ["nan_loss", "diverging", "zero_reward_variance", "stalled"])
def test_the_scripts_early_stop_line_names_the_failure(reason):
    log = ["{'loss': '2.0', 'epoch': '0.1'}", f"hf-trainer stopped early [{reason}] at step 40: ..."]
    assert diagnose(Stage.ERROR, "exited with code 3", log, ARGS).kind == reason
