"""scripts/convert_to_gguf.py really converts a LoRA fine-tune to GGUF, checks every file in llama.cpp, then publishes.

The pinned llama.cpp tools (converter source and a llama-quantize build) live in one cache shared by all tests:
$HF_TRAINER_LLAMA_CPP_DIR, default .venv/llama.cpp, which `make gguf-tools` fills (the first test that needs it fills
it otherwise, once).
"""

import importlib.util
import json
import os
from pathlib import Path

import pytest

from conftest import CANARY_TOKEN, REPO_ROOT
from fakes.fake_hub_repos import add_repo_routes
from helpers import SCRIPTS, json_summary, run_script

TOOLS_DIR = os.environ.get("HF_TRAINER_LLAMA_CPP_DIR") or str(REPO_ROOT / ".venv" / "llama.cpp")
TOOLS_ENV = {"HF_TRAINER_LLAMA_CPP_DIR": TOOLS_DIR}


def _load_script():
    spec = importlib.util.spec_from_file_location("convert_to_gguf", SCRIPTS / "convert_to_gguf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gguf_script = _load_script()


def convert(*args: str, timeout: float = 900):
    return run_script("convert_to_gguf.py", *args, env=TOOLS_ENV, timeout=timeout)


@pytest.fixture(scope="session")
def llama_cpp_tools() -> Path:
    """The shared cache with the converter and llama-quantize (built here only if `make gguf-tools` did not)."""
    root = gguf_script.tools_root(TOOLS_DIR)
    if not (root / "bin" / "llama-quantize").is_file():
        result = run_script("convert_to_gguf.py", "--setup_only", "--llama_cpp_dir", TOOLS_DIR, timeout=1800)
        assert result.returncode == 0, result.stderr[-2000:]
    return root


@pytest.fixture(scope="session")
def lora_adapter(tiny_model_256: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter on the hidden-256 tiny Llama with random, non-zero weights (so merging changes the model)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path_factory.mktemp("lora-adapter")
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_256)
    config = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", init_lora_weights=False,
                        task_type="CAUSAL_LM")
    get_peft_model(model, config).save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_model_256).save_pretrained(out)
    return out


def test_help_exits_0_and_names_the_supported_types():
    result = run_script("convert_to_gguf.py", "--help")
    assert result.returncode == 0
    assert "--quantization_types" in result.stdout and "Q4_K_M" in result.stdout and "--push_to_hub" in result.stdout


@pytest.mark.parametrize("types, expected", [
    ("Q4_K_M,Q9_9", "Unknown quantization type 'Q9_9'"),  # a typo among valid ones
    ("q4_k_x", "Unknown quantization type 'q4_k_x'"),  # lower case is accepted, but this type does not exist
    ("IQ2_XS", "needs an importance matrix"),  # real llama.cpp type, but it needs an imatrix we do not compute
    (" , ", "No quantization type given"),  # nothing at all
])
def test_bad_quantization_types_are_refused_with_the_supported_list(types, expected, tmp_path):
    result = convert("--model_name_or_path", str(tmp_path), "--quantization_types", types)
    assert result.returncode == 2
    assert expected in result.stderr
    if "Unknown" in expected:
        assert "Q4_K_M, Q4_K_S" in result.stderr and "Q8_0" in result.stderr  # the list to pick from
    assert "Traceback" not in result.stderr


def test_type_names_are_normalised_and_aliases_resolved():
    assert gguf_script.parse_types("q4_k_m, Q8_0 f16 q5_k Q4_K_M") == ["Q4_K_M", "Q8_0", "F16", "Q5_K_M"]


def test_every_offered_type_exists_in_the_pinned_llama_quantize(llama_cpp_tools):
    source = (llama_cpp_tools / "source" / "tools" / "quantize" / "quantize.cpp").read_text(encoding="utf-8")
    for name in gguf_script.SUPPORTED_TYPES:
        assert f'{{ "{name}",' in source, name


def test_a_missing_adapter_folder_gets_a_clear_error_and_creates_nothing(tmp_path):
    missing = tmp_path / "outputs" / "no-such-adapter"
    result = convert("--model_name_or_path", str(missing), "--output_dir", str(tmp_path / "gguf"))
    assert result.returncode == 2
    assert f"'{missing}' does not exist" in result.stderr
    assert not (tmp_path / "gguf").exists()


def test_an_adapter_whose_base_model_is_gone_names_the_base_and_the_fix(tmp_path, lora_adapter):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    config = json.loads((lora_adapter / "adapter_config.json").read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = str(tmp_path / "deleted-base")
    (adapter / "adapter_config.json").write_text(json.dumps(config), encoding="utf-8")
    result = convert("--model_name_or_path", str(adapter))
    assert result.returncode == 2
    assert "The adapter's base model" in result.stderr and "deleted-base" in result.stderr


def test_a_folder_that_is_not_a_model_gets_a_clear_error(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "train.jsonl").write_text("{}\n", encoding="utf-8")
    result = convert("--model_name_or_path", str(folder))
    assert result.returncode == 2
    assert "holds neither a LoRA adapter (adapter_config.json) nor a model" in result.stderr
    assert "train.jsonl" in result.stderr  # what it found, so the user sees the mix-up


def test_push_to_hub_without_a_repo_id_is_refused():
    result = run_script("convert_to_gguf.py", "--model_name_or_path", "x", "--push_to_hub")
    assert result.returncode == 2 and "--hub_model_id" in result.stderr


def _tensor_types(path: Path) -> dict[str, str]:
    from gguf import GGUFReader

    return {t.name: t.tensor_type.name for t in GGUFReader(path).tensors}


def test_a_lora_adapter_is_merged_converted_verified_in_llama_cpp_and_published_privately(
        lora_adapter, tiny_model_256, llama_cpp_tools, fake_hub, tmp_path):
    repos = add_repo_routes(fake_hub)
    out = tmp_path / "gguf"
    result = convert("--model_name_or_path", str(lora_adapter), "--quantization_types", "F16,Q8_0,Q4_K_M",
                     "--output_dir", str(out), "--model_name", "tiny", "--push_to_hub",
                     "--hub_model_id", "alice/tiny-GGUF", "--json")
    summary = json_summary(result)

    assert summary["kind"] == "adapter" and summary["base_model_name_or_path"] == str(tiny_model_256)
    assert summary["passed"] and summary["published"]
    assert summary["pre_tokenizer_fallback"] == "gpt-2"  # the tiny BPE's hash is unknown to llama.cpp
    files = {item["quantization"]: item for item in summary["files"]}
    assert list(files) == ["F16", "Q8_0", "Q4_K_M"]
    reference = summary["verification"]["reference_tokens"]
    assert len(reference) == 16
    for qtype, item in files.items():
        assert item["loaded"] and item["tokenizer_match"] and item["passed"], item
        assert item["positions"] == 16 and item["top1_agreement"] is not None
        assert (out / f"tiny-{qtype}.gguf").stat().st_size == item["size_bytes"]
    # F16 in llama.cpp generates exactly the HF model's greedy tokens, with near-identical log-probabilities.
    assert files["F16"]["greedy_tokens"] == reference and files["F16"]["greedy_identical"]
    assert files["F16"]["top1_agreement"] == 1.0 and files["F16"]["mean_abs_logprob_diff"] < 0.01
    # Smaller files are further from the reference: the comparison really measures the file.
    assert files["F16"]["mean_abs_logprob_diff"] < files["Q4_K_M"]["mean_abs_logprob_diff"]

    # Read back with gguf: the tensor types are what each name promises.
    types = {qtype: _tensor_types(out / f"tiny-{qtype}.gguf") for qtype in files}
    assert types["F16"]["blk.0.attn_v.weight"] == "F16"
    assert types["Q8_0"]["blk.0.attn_v.weight"] == "Q8_0"
    assert {"Q4_K", "Q6_K"} & set(types["Q4_K_M"].values())  # K-quants from llama-quantize
    assert len(types["F16"]) == len(types["Q4_K_M"]) == 2 * 9 + 3  # 2 layers x 9 tensors + embd, norm, output

    # The adapter was merged: the GGUF weights are base + LoRA delta, not the base.
    import numpy as np
    from gguf import GGUFReader
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    merged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_256),
                                       lora_adapter).merge_and_unload()
    base = AutoModelForCausalLM.from_pretrained(tiny_model_256)
    tensor = next(t for t in GGUFReader(out / "tiny-F16.gguf").tensors if t.name == "blk.0.attn_v.weight")
    in_gguf = np.asarray(tensor.data, dtype=np.float32).reshape(256, 256)
    expected = merged.model.layers[0].self_attn.v_proj.weight.detach().numpy()
    assert np.allclose(in_gguf, expected, atol=2e-3)
    assert not np.allclose(in_gguf, base.model.layers[0].self_attn.v_proj.weight.detach().numpy(), atol=2e-3)

    # Model card and Ollama Modelfile.
    card = (out / "README.md").read_text(encoding="utf-8")
    for expected_text in ("| tiny-F16.gguf | F16 |", "| tiny-Q8_0.gguf | Q8_0 |", "| tiny-Q4_K_M.gguf | Q4_K_M |",
                          "llama-cli -hf alice/tiny-GGUF:Q4_K_M", "ollama run hf.co/alice/tiny-GGUF:Q4_K_M",
                          "LM Studio", "merged into `" + tiny_model_256.name + "` (a local folder)"):
        assert expected_text in card, expected_text
    # The Hub rejects paths in base_model, and no local path leaks into a published card.
    assert "base_model:" not in card and str(tiny_model_256) not in card and str(lora_adapter) not in card
    assert card.count("| passed |") == 3
    modelfile = (out / "Modelfile").read_text(encoding="utf-8")
    assert "FROM ./tiny-Q4_K_M.gguf" in modelfile
    assert 'TEMPLATE """' in modelfile and "<|im_start|>assistant\n" in modelfile and "{{ .Content }}" in modelfile
    assert 'PARAMETER stop "<|im_end|>"' in modelfile

    # Published to a private repo: exactly the verified files, the card and the Modelfile, byte for byte.
    repo = repos["alice/tiny-GGUF"]
    assert repo.visibility == "private"
    assert sorted(repo.files) == sorted(["tiny-F16.gguf", "tiny-Q8_0.gguf", "tiny-Q4_K_M.gguf", "README.md",
                                         "Modelfile", "verification.json"])
    for name, content in repo.files.items():
        assert content == (out / name).read_bytes(), name
    # The token travelled only as a header: it is in no output and no published file.
    assert CANARY_TOKEN not in result.stdout + result.stderr
    assert all(CANARY_TOKEN.encode() not in content for content in repo.files.values())
    assert not (out / ".work").exists()  # the merged model and intermediates are cleaned up


def test_a_file_that_fails_verification_is_not_published_and_the_run_exits_1(
        tiny_model_256, llama_cpp_tools, fake_hub, tmp_path):
    repos = add_repo_routes(fake_hub)
    out = tmp_path / "gguf"
    # A full model (not an adapter) this time; an impossible agreement floor makes the F16 file fail.
    result = convert("--model_name_or_path", str(tiny_model_256), "--quantization_types", "F16",
                     "--output_dir", str(out), "--max_new_tokens", "4", "--min_top1_agreement", "1.01",
                     "--push_to_hub", "--hub_model_id", "alice/broken-GGUF", "--json")
    assert result.returncode == 1, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["kind"] == "model" and not summary["passed"] and not summary["published"]
    assert "top-1 agreement 1.00 < 1.01" in summary["files"][0]["reason"]
    assert "nothing was published" in summary["publish_skipped"]
    assert repos == {} and fake_hub.count("POST", r"/api/repos/create") == 0  # not even a repo was created
    assert "FAILED" in (out / "README.md").read_text(encoding="utf-8")  # the local card says why


def test_the_ollama_template_reproduces_the_models_chat_template(tiny_model_256):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_256)
    template = gguf_script.ollama_template(tokenizer)
    assert template is not None
    assert '{{ else if eq .Role "user" }}<|im_start|>user\n{{ .Content }}<|im_end|>\n{{ else if' in template
    assert template.endswith("{{ end }}{{ end }}<|im_start|>assistant\n")  # the generation prompt
    assert "{{-" not in template and "-}}" not in template  # trimming would eat the newlines after <|im_end|>
    tokenizer.chat_template = None
    assert gguf_script.ollama_template(tokenizer) is None  # no template: Ollama falls back to the GGUF's own


def test_an_adapter_and_its_base_named_by_hub_ids_are_downloaded_and_converted(
        lora_adapter, tiny_model_256, llama_cpp_tools, monkeypatch, tmp_path):
    from fakes.fake_hub_models import FakeHubModels, FakeModel

    adapter_files = {p.name: p.read_bytes() for p in lora_adapter.iterdir() if p.is_file()}
    config = json.loads(adapter_files["adapter_config.json"])
    config["base_model_name_or_path"] = "alice/tiny-base"  # as a Hub training job writes it
    adapter_files["adapter_config.json"] = json.dumps(config).encode()
    base_files = {p.name: p.read_bytes() for p in tiny_model_256.iterdir() if p.is_file()}
    with FakeHubModels(models={"alice/tiny-lora": FakeModel(files=adapter_files),
                               "alice/tiny-base": FakeModel(files=base_files)}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        result = convert("--model_name_or_path", "alice/tiny-lora", "--quantization_types", "F16",
                         "--output_dir", str(tmp_path / "gguf"), "--max_new_tokens", "4", "--json")
    summary = json_summary(result)
    assert summary["kind"] == "adapter" and summary["base_model_name_or_path"] == "alice/tiny-base"
    assert summary["passed"] and summary["files"][0]["greedy_identical"]
    assert (tmp_path / "gguf" / "tiny-lora-F16.gguf").is_file()
    card = (tmp_path / "gguf" / "README.md").read_text(encoding="utf-8")
    assert "base_model: alice/tiny-lora\n" in card  # a Hub id: the card links the fine-tune it was made from
    assert "[alice/tiny-base](https://huggingface.co/alice/tiny-base)" in card
    assert any("/alice/tiny-base/resolve/" in line and "model.safetensors" in line for line in hub.requests)


def test_setup_only_reports_the_cached_tools_without_rebuilding(llama_cpp_tools):
    result = run_script("convert_to_gguf.py", "--setup_only", "--llama_cpp_dir", TOOLS_DIR, "--json")
    tools = json_summary(result)
    assert Path(tools["llama_quantize"]) == llama_cpp_tools / "bin" / "llama-quantize"
    assert tools["llama_quantize_build_seconds"] is None  # cached: nothing was built
    assert (Path(tools["source"]) / "convert_hf_to_gguf.py").is_file()


@pytest.mark.parametrize("pre_tokenizer, requested, expected", [
    ({"type": "ByteLevel", "add_prefix_space": False, "use_regex": True}, "auto", "gpt-2"),  # GPT-2 style BPE
    ({"type": "ByteLevel", "use_regex": False}, "auto", ""),  # byte-level without GPT-2's split: no guess
    ({"type": "Metaspace", "replacement": "\u2581"}, "auto", ""),  # SentencePiece style: no guess
    ({"type": "Metaspace"}, "llama-bpe", "llama-bpe"),  # an explicit choice is used as given
])
def test_the_pre_tokenizer_fallback_is_gpt2_only_for_plain_byte_level_bpe(pre_tokenizer, requested, expected,
                                                                           tmp_path):
    (tmp_path / "tokenizer.json").write_text(json.dumps({"pre_tokenizer": pre_tokenizer}), encoding="utf-8")
    assert gguf_script.fallback_pre_tokenizer(tmp_path, requested) == expected


def test_a_wrong_pre_tokenizer_is_caught_by_verification_and_nothing_is_published(
        tiny_model_256, llama_cpp_tools, fake_hub, tmp_path):
    repos = add_repo_routes(fake_hub)
    # llama-bpe splits digits in threes and keeps punctuation with letters; the tiny tokenizer is GPT-2 style, so the
    # file converts and loads but tokenizes text differently from the HF tokenizer: a file that must not ship.
    result = convert("--model_name_or_path", str(tiny_model_256), "--quantization_types", "F16",
                     "--output_dir", str(tmp_path / "gguf"), "--max_new_tokens", "4", "--pre_tokenizer", "llama-bpe",
                     "--prompt", "Count 12345 apples (really)! It's 3.14, isn't it?",
                     "--push_to_hub", "--hub_model_id", "alice/wrong-GGUF", "--json")
    assert result.returncode == 1, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    item = summary["files"][0]
    assert item["loaded"] and item["tokenizer_match"] is False and not item["passed"]
    assert "tokenizes the prompt differently" in item["reason"]
    assert not summary["published"] and repos == {}


QWEN_STYLE = (  # a default system prompt when the conversation has none, as Qwen2.5's template does
    "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{%- endif %}"
    "{%- for message in messages %}{%- if message.role == 'system' and loop.first %}{%- else %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
NO_SYSTEM_ROLE = (  # refuses system messages, as Gemma's template does
    "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for message in messages %}{{ '<start_of_turn>' + message['role'] + '\\n' + message['content'] + "
    "'<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)


def test_a_default_system_prompt_becomes_the_ollama_templates_fallback(tiny_model_256):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_256)
    tokenizer.chat_template = QWEN_STYLE
    template = gguf_script.ollama_template(tokenizer)
    assert template.startswith("{{ if not .System }}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                               "{{ end }}{{ range .Messages }}")
    tokenizer.chat_template = NO_SYSTEM_ROLE
    assert gguf_script.ollama_template(tokenizer) is None  # cannot be expressed faithfully: left to the GGUF's own
