"""scripts/train_grpo.py: RL from reward functions on a tiny model, on CPU (transformers generate, no vLLM)."""

import importlib.util
import json
import re
import time
from pathlib import Path

import pytest

from helpers import SCRIPTS, json_summary, run_script
from hf_trainer.tiny import write_jsonl

# 4 prompts x 4 generations per step, 8 new tokens each: a step takes about a second here.
FAST = ["--per_device_train_batch_size", "4", "--gradient_accumulation_steps", "1", "--num_generations", "4",
        "--max_completion_length", "8", "--learning_rate", "1e-3", "--json", "--report_to", "none"]


def question_rows(n: int = 16) -> list[dict]:
    """question/answer rows, as in GSM8K-like data before mapping."""
    return [{"question": f"What is {i % 5} plus {(i * 3) % 7}?", "answer": str(i % 5 + (i * 3) % 7)} for i in range(n)]


def standard_prompt_rows(n: int = 16) -> list[dict]:
    """Standard prompts with the reference in a differently named column, GSM8K style."""
    return [{"prompt": f"Q: {row['question']} A:", "solution": f"It is... #### {row['answer']}"}
            for row in question_rows(n)]


REWARD_FILE = '''
def brevity_reward(completions, **kwargs):
    """Shorter completions score higher: enough reward variance for a tiny model to get a gradient."""
    return [-len(c if isinstance(c, str) else c[-1]["content"]) / 10 for c in completions]
'''


def _base(tiny_model, data, out) -> list[str]:
    return ["--model_name_or_path", str(tiny_model), "--dataset_name", str(data), "--output_dir", str(out)]


def test_full_grpo_on_mapped_conversational_prompts_with_named_rewards(tiny_model, tmp_path):
    data = write_jsonl(question_rows(), tmp_path / "qa.jsonl")
    out = tmp_path / "out"
    summary = json_summary(run_script(
        "train_grpo.py", *_base(tiny_model, data, out), "--dataset_mapping", "question_answer_prompt_only",
        "--reward_funcs", "accuracy", "format", "length_penalty", "--length_target", "4", "--max_steps", "2",
        "--eval_baseline", "--max_eval_samples", "4", "--max_new_tokens", "4", *FAST))

    assert summary["steps"] == 2 and summary["method"] == "grpo"
    # --eval_baseline: base and trained model scored on the same rows, the answers checked as the reward does
    evaluation = summary["evaluation"]
    assert evaluation["loss"]["difference"] == pytest.approx(evaluation["loss"]["fine_tuned"] - evaluation["loss"]["base"])
    assert 0.0 <= evaluation["accuracy"]["base"] <= 1.0 and (out / "results" / "evaluation.json").is_file()
    assert summary["extra_results"]["first_reward"] <= 0.0  # a random tiny model: accuracy 0, some length penalty
    assert (out / "model.safetensors").is_file()
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "| reward_funcs | accuracy think_format length_penalty |" in card and "| num_generations | 4 |" in card


def test_lora_grpo_on_standard_prompts_with_a_reward_file_and_a_renamed_answer_column(tiny_model, tmp_path):
    data = write_jsonl(standard_prompt_rows(), tmp_path / "prompts.jsonl")
    rewards = tmp_path / "my_rewards.py"
    rewards.write_text(REWARD_FILE, encoding="utf-8")
    out = tmp_path / "out"
    summary = json_summary(run_script(
        "train_grpo.py", *_base(tiny_model, data, out), "--reward_funcs", "accuracy", "--reward_funcs_file",
        str(rewards), "--answer_column", "solution", "--reward_weights", "1.0", "0.5", "--use_peft",
        "--max_steps", "2", *FAST))

    assert summary["steps"] == 2
    assert (out / "adapter_model.safetensors").is_file()
    assert "accuracy brevity_reward" in (out / "README.md").read_text(encoding="utf-8")


def test_resume_continues_from_the_local_checkpoint(tiny_model, tmp_path):
    data = write_jsonl(standard_prompt_rows(), tmp_path / "prompts.jsonl")
    rewards = tmp_path / "my_rewards.py"
    rewards.write_text(REWARD_FILE, encoding="utf-8")
    out = tmp_path / "out"
    args = [*_base(tiny_model, data, out), "--reward_funcs_file", str(rewards), "--save_steps", "2", *FAST]
    json_summary(run_script("train_grpo.py", *args, "--max_steps", "2"))
    summary = json_summary(run_script("train_grpo.py", *args, "--max_steps", "3", "--resume"))
    assert summary["steps"] == 3
    state = json.loads((out / "checkpoint-3" / "trainer_state.json").read_text(encoding="utf-8"))
    assert [entry["step"] for entry in state["log_history"] if "loss" in entry] == [1, 2, 3]


def test_smoke_passes_with_one_line_that_reports_the_reward(tiny_model, tmp_path):
    data = write_jsonl(standard_prompt_rows(8), tmp_path / "prompts.jsonl")
    rewards = tmp_path / "my_rewards.py"
    rewards.write_text(REWARD_FILE, encoding="utf-8")
    result = run_script("train_grpo.py", *_base(tiny_model, data, tmp_path / "out"), "--reward_funcs_file",
                        str(rewards), "--smoke", *FAST[:-3])
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("smoke:")]
    assert len(lines) == 1 and lines[0].startswith("smoke: OK - loss ") and "reward " in lines[0]


@pytest.mark.parametrize(
    "args, message",
    [
        # no reward source at all: nothing to learn
        ([], "GRPO needs at least one reward: pass --reward_funcs"),
        # 4 completions per step cannot hold whole groups of 3: the numbers to change are named
        (["--reward_funcs", "format", "--num_generations", "3"],
         "= 4 completions, which is not a multiple of --num_generations 3. Set --num_generations to 2 or 4, or "
         "--per_device_train_batch_size to 6."),
    ],
)
def test_no_reward_or_a_batch_without_whole_groups_is_refused_before_anything_loads(tiny_model, tmp_path, args,
                                                                                    message):
    data = write_jsonl(standard_prompt_rows(8), tmp_path / "prompts.jsonl")
    started = time.time()
    result = run_script("train_grpo.py", *_base(tiny_model, data, tmp_path / "out"), *FAST[:4], *FAST[6:],
                        *(["--num_generations", "4"] if "--num_generations" not in args else []), *args)
    assert result.returncode == 2, result.stdout[-2000:]
    assert message in result.stderr and "Traceback" not in result.stderr
    assert time.time() - started < 30  # no TRL import, no data load


@pytest.fixture(scope="module")
def grpo():
    """The script as a module (main() not run): its checks are plain functions."""
    spec = importlib.util.spec_from_file_location("train_grpo", SCRIPTS / "train_grpo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _args(grpo, *extra: str):
    return grpo.parse_args(["--model_name_or_path", "m", "--dataset_name", "d", *extra])


@pytest.mark.parametrize(
    "extra, world_size, message",
    [
        # a group of one has no relative advantage
        (["--num_generations", "1"], 1, "--num_generations 1 is too small"),
        # 2 processes x 3 x 1 = 6 is not a multiple of 4; 2 x 4 x 1 = 8 would be
        (["--num_generations", "4", "--per_device_train_batch_size", "3", "--gradient_accumulation_steps", "1"], 2,
         "3 x 2 process(es) x gradient_accumulation_steps 1 = 6 completions"),
        # the default 4 x 1 x 4 = 16 holds two groups of 8, but steps_per_generation 1 leaves 4
        (["--steps_per_generation", "1"], 1, "steps_per_generation 1 = 4 completions"),
    ],
)
def test_the_generation_batch_check_counts_processes_and_steps(grpo, extra, world_size, message):
    with pytest.raises(grpo.ScriptError, match=re.escape(message)):
        grpo.check_generation_batch(_args(grpo, *extra), world_size, has_eval=False)


def test_the_defaults_hold_whole_groups_and_an_eval_batch_must_too(grpo):
    grpo.check_generation_batch(_args(grpo), 1, has_eval=False)  # 4 x 1 x 4 = 16, two groups of 8
    with pytest.raises(grpo.ScriptError, match="set --per_device_eval_batch_size to 8"):
        grpo.check_generation_batch(_args(grpo), 1, has_eval=True)  # eval batch 4 < one group of 8


@pytest.mark.parametrize(
    "extra, columns, message",
    [
        # accuracy needs the reference answers
        (["--reward_funcs", "accuracy", "--answer_column", "missing"], ["prompt"], "no 'missing' column"),
        # one weight per reward function
        (["--reward_funcs", "format", "length_penalty", "--reward_weights", "1"], ["prompt"],
         "--reward_weights has 1 values for 2 reward functions (think_format, length_penalty)"),
    ],
)
def test_reward_setup_mistakes_are_named(grpo, extra, columns, message):
    with pytest.raises(grpo.ScriptError, match=re.escape(message)):
        grpo.reward_functions(_args(grpo, *extra), columns)


def test_a_broken_reward_file_is_reported_with_its_line(grpo, tmp_path):
    rewards = tmp_path / "broken.py"
    rewards.write_text("def x_reward(:\n", encoding="utf-8")
    with pytest.raises(grpo.ScriptError, match="syntax error at line 1"):
        grpo.reward_functions(_args(grpo, "--reward_funcs_file", str(rewards)), ["prompt"])


def test_vllm_is_used_only_on_a_cuda_gpu_with_vllm_installed(grpo):
    cpu = {"type": "cpu", "bf16": False, "count": 0, "name": "cpu"}
    assert grpo.use_vllm(_args(grpo), cpu) is False  # plain generate on CPU
    with pytest.raises(grpo.ScriptError, match="--use_vllm needs a CUDA GPU"):
        grpo.use_vllm(_args(grpo, "--use_vllm"), cpu)


def test_data_without_prompts_is_refused_naming_the_columns(tiny_model, tmp_path):
    data = write_jsonl(question_rows(8), tmp_path / "qa.jsonl")
    result = run_script("train_grpo.py", *_base(tiny_model, data, tmp_path / "out"), "--reward_funcs", "format", *FAST)
    assert result.returncode == 2
    # the inspection's verdict, with the mapping that gives GRPO a prompt
    assert ("GRPO cannot train on these rows as they are (found ['answer', 'question'])" in result.stderr
            and "--dataset_mapping question_answer_prompt_only" in result.stderr)


def test_help_is_instant_and_lists_the_reward_names():
    started = time.time()
    result = run_script("train_grpo.py", "--help")
    assert result.returncode == 0
    assert all(name in result.stdout for name in ("accuracy", "format", "length_penalty", "--reward_funcs_file"))
    assert time.time() - started < 10


def test_the_inlined_rewards_are_the_package_module():
    # The script carries a verbatim copy (HF Jobs runs one file); a stale copy would score differently.
    from hf_trainer.runtime import rewards

    script = (Path(__file__).resolve().parents[2] / "scripts" / "train_grpo.py").read_text(encoding="utf-8")
    assert Path(rewards.__file__).read_text(encoding="utf-8") in script
