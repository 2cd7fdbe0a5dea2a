"""Model size from files (local folder, Hub safetensors metadata and config.json), never from the name."""

import json
from pathlib import Path

import pytest
from fakes.fake_hub_models import FakeHubModels, FakeModel
from huggingface_hub import HfApi

from hf_trainer.errors import UserError
from hf_trainer.runtime.estimate_math import facts_from_config, facts_from_count, lora_params
from hf_trainer.model_size import model_facts

LLAMA2_7B = {"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
             "num_key_value_heads": 32, "intermediate_size": 11008, "vocab_size": 32000, "torch_dtype": "float16",
             "tie_word_embeddings": False}
QWEN25_05B = {"model_type": "qwen2", "hidden_size": 896, "num_hidden_layers": 24, "num_attention_heads": 14,
              "num_key_value_heads": 2, "intermediate_size": 4864, "vocab_size": 151936, "tie_word_embeddings": True,
              "torch_dtype": "bfloat16"}
MIXTRAL = {"model_type": "mixtral", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
           "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 32000, "num_local_experts": 8,
           "num_experts_per_tok": 2, "tie_word_embeddings": False}


@pytest.mark.parametrize("config, expected", [
    (LLAMA2_7B, 6_738_415_616),  # Llama-2-7b-hf: the published safetensors total
    (QWEN25_05B, 494_032_768),  # Qwen2.5-0.5B: q/k/v biases, grouped KV heads, tied embeddings
    (MIXTRAL, 46_702_792_704),  # Mixtral-8x7B: eight experts per layer plus a router
])
def test_config_arithmetic_matches_published_parameter_counts(config: dict, expected: int) -> None:
    assert facts_from_config(config).num_params == expected


def test_mixture_of_experts_counts_only_routed_experts_as_active() -> None:
    facts = facts_from_config(MIXTRAL)
    assert 12.5e9 < facts.active_params < 13.5e9  # Mixtral's ~12.9B active parameters


def test_multimodal_config_is_sized_from_its_text_config() -> None:
    wrapped = {"model_type": "llava", "text_config": dict(LLAMA2_7B)}
    assert facts_from_config(wrapped).num_params == 6_738_415_616


def test_config_without_sizes_is_refused_by_the_arithmetic() -> None:
    with pytest.raises(ValueError, match="lacks hidden_size"):
        facts_from_config({"model_type": "mystery"})


def test_lora_rank_16_on_all_linear_layers_of_llama_7b_has_40m_parameters() -> None:
    assert lora_params(facts_from_config(LLAMA2_7B), 16) == 39_976_960


def test_parameter_count_alone_gets_a_guessed_architecture_that_says_so() -> None:
    facts = facts_from_count(7_000_000_000)
    assert facts.num_params == 7_000_000_000
    assert 28 <= facts.num_layers <= 36 and 3800 <= facts.hidden_size <= 4600
    assert "guessed" in facts.assumed[0]


def test_local_folder_is_sized_exactly_from_its_safetensors_headers(tiny_model: Path) -> None:
    import torch  # the test checks our header count against the real model
    from transformers import AutoModelForCausalLM

    facts = model_facts(str(tiny_model))
    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    assert facts.num_params == sum(p.numel() for p in model.parameters())
    assert facts.num_layers == 2 and facts.hidden_size == 64
    # config.json arithmetic agrees with the weights for this architecture
    config = json.loads((tiny_model / "config.json").read_text(encoding="utf-8"))
    assert facts_from_config(config).num_params == facts.num_params
    assert "safetensors headers" in facts.source


def test_hub_model_size_comes_from_safetensors_metadata_and_config() -> None:
    models = {"meta-llama/Llama-2-7b-hf": FakeModel(
        files={"config.json": json.dumps(LLAMA2_7B).encode()},
        safetensors={"parameters": {"F16": 6_738_415_616}, "total": 6_738_415_616})}
    with FakeHubModels(models=models) as hub:
        facts = model_facts("meta-llama/Llama-2-7b-hf", api=HfApi(endpoint=hub.url))
    assert facts.num_params == 6_738_415_616
    assert facts.dtype == "float16" and facts.num_layers == 32
    assert "Hub safetensors metadata" in facts.source


def test_a_name_is_never_evidence_of_size() -> None:
    # The anchor read "7b" in the name; this repo holds a 205k-parameter model under a 7B name.
    tiny = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
            "intermediate_size": 128, "vocab_size": 1024}
    models = {"someone/Llama-2-7b-hf": FakeModel(files={"config.json": json.dumps(tiny).encode()})}
    with FakeHubModels(models=models) as hub:
        facts = model_facts("someone/Llama-2-7b-hf", api=HfApi(endpoint=hub.url))
    assert facts.num_params < 1_000_000
    assert facts.source == "someone/Llama-2-7b-hf/config.json"


def test_hub_repo_without_config_is_sized_from_the_safetensors_count_alone() -> None:
    models = {"org/weights-only": FakeModel(safetensors={"parameters": {"BF16": 1_500_000_000}, "total": 1_500_000_000})}
    with FakeHubModels(models=models) as hub:
        facts = model_facts("org/weights-only", api=HfApi(endpoint=hub.url))
    assert facts.num_params == 1_500_000_000
    assert facts.assumed


def test_given_num_params_overrides_the_count_but_keeps_the_architecture() -> None:
    models = {"org/m": FakeModel(files={"config.json": json.dumps(QWEN25_05B).encode()})}
    with FakeHubModels(models=models) as hub:
        facts = model_facts("org/m", num_params=600_000_000, api=HfApi(endpoint=hub.url))
    assert facts.num_params == 600_000_000 and facts.vocab_size == 151936


@pytest.mark.parametrize("repo, model, message", [
    ("org/missing", None, "was not found"),  # no such repo
    ("org/gated", FakeModel(gated=True), "is gated"),  # licence not accepted
    ("org/empty", FakeModel(), "neither safetensors metadata nor a config.json"),  # nothing to size it from
])
def test_unknown_model_size_is_a_user_error_saying_how_to_pass_num_params(repo: str, model: FakeModel | None,
                                                                          message: str) -> None:
    models = {repo: model} if model else {}
    with FakeHubModels(models=models) as hub, pytest.raises(UserError) as err:
        model_facts(repo, api=HfApi(endpoint=hub.url))
    assert message in str(err.value)
    assert "--num_params" in str(err.value)


def test_unreachable_hub_is_a_user_error_saying_how_to_pass_num_params() -> None:
    with pytest.raises(UserError, match="Could not reach") as err:
        model_facts("org/model", api=HfApi(endpoint="http://127.0.0.1:9"))
    assert "num_params" in str(err.value)


@pytest.mark.parametrize("kwargs, message", [
    ({"model_name_or_path": None}, "No model given"),  # nothing at all
    ({"model_name_or_path": "./no/such/folder"}, "does not exist"),  # a path that is not there
    ({"model_name_or_path": None, "num_params": 0}, "must be a positive"),  # a zero count
])
def test_bad_model_arguments_get_clear_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        model_facts(**kwargs)


def test_num_params_alone_is_enough() -> None:
    assert model_facts(None, num_params=3_000_000_000).num_params == 3_000_000_000
