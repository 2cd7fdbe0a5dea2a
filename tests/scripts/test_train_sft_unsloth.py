"""scripts/train_sft_unsloth.py: --help, the no-GPU message, and LoRA targets found from the architecture."""

import importlib.util
import time

import pytest

from helpers import SCRIPTS, run_script


def test_help_is_instant_and_shares_train_sft_arguments():
    started = time.time()
    result = run_script("train_sft_unsloth.py", "--help")
    assert result.returncode == 0
    sft_help = run_script("train_sft.py", "--help").stdout
    for flag in ("--model_name_or_path", "--dataset_mapping", "--packing", "--assistant_only_loss", "--lora_r",
                 "--push_to_hub", "--resume", "--smoke", "--json"):
        assert flag in result.stdout and flag in sft_help, flag
    assert "--no-load_in_4bit" in result.stdout
    assert time.time() - started < 20


def test_without_a_cuda_gpu_it_stops_at_once_with_a_clear_message(tmp_path):
    started = time.time()
    result = run_script("train_sft_unsloth.py", "--model_name_or_path", "unsloth/Qwen2.5-0.5B-Instruct",
                        "--dataset_name", "trl-lib/Capybara", "--output_dir", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "Unsloth needs a CUDA GPU, and none was found" in result.stderr
    assert "scripts/train_sft.py" in result.stderr  # the way out here
    assert "Traceback" not in result.stderr
    assert time.time() - started < 30  # before any download or model load
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def unsloth_script():
    """The script as a module (its main() is not run), to test its helpers without Unsloth or a GPU."""
    spec = importlib.util.spec_from_file_location("train_sft_unsloth", SCRIPTS / "train_sft_unsloth.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lora_targets_are_the_decoder_linear_layers_found_in_the_model(unsloth_script, tiny_model):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    assert unsloth_script.find_lora_target_modules(model) == [
        "down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]  # never lm_head


def test_lora_targets_skip_routers_heads_and_vision_modules(unsloth_script):
    import torch.nn as nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(4, 12)
            self.gate = nn.Linear(4, 2)  # an MoE router
            self.experts = nn.ModuleList([nn.Linear(4, 4)])

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([Block()])
            self.vision_tower = nn.ModuleDict({"fc1": nn.Linear(4, 4)})
            self.lm_head = nn.Linear(4, 10)

    # experts' Linear is named "0" inside the ModuleList: it is still a decoder linear layer
    assert unsloth_script.find_lora_target_modules(Model()) == ["0", "qkv"]


def test_a_model_without_linear_layers_gets_a_message_naming_the_flag(unsloth_script):
    import torch.nn as nn

    with pytest.raises(unsloth_script.ScriptError, match="--lora_target_modules"):
        unsloth_script.find_lora_target_modules(nn.Sequential(nn.ReLU()))
