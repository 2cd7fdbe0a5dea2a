"""scripts/train_vlm.py: SFT and DPO of two tiny vision-language model families on generated 64x64 images."""

import importlib.util
import json
from pathlib import Path

import pytest
from helpers import json_summary, run_script

from hf_trainer.tiny import build_model, build_vlm, image_rows, write_image_parquet

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train_vlm.py"
# One thread per run: the tiny models gain nothing from more, and the test machine's cores are shared.
ENV = {"OMP_NUM_THREADS": "1"}
FAST = ["--per_device_train_batch_size", "4", "--gradient_accumulation_steps", "1", "--eval_split_size", "0",
        "--report_to", "none", "--json"]


@pytest.fixture(scope="module")
def vlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("vlm")
    for family in ("idefics3", "llava"):
        build_vlm(root / family, family)
    for shape in ("messages", "preference", "llava", "the_cauldron"):
        write_image_parquet(image_rows(32, shape), root / "data" / shape / "train.parquet")
    build_model(root / "text")
    return root


def _script(path: Path = SCRIPT):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _train(capsys: pytest.CaptureFixture, *argv: str) -> dict:
    """Run the script's main() in this process (the imports are paid once for the whole file; the subprocess runs
    are kept for --help and the other scripts) and return its --json summary."""
    import torch

    module = _script()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as OMP_NUM_THREADS=1 for the subprocess runs
    try:
        assert module.main(module.parse_args([*FAST, *argv])) == 0
    finally:
        torch.set_num_threads(threads)
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _refusal(*argv: str) -> str:
    """Run main() in this process (no training happens before a refusal) and return the ScriptError text."""
    module = _script()
    with pytest.raises(module.ScriptError) as caught:
        module.main(module.parse_args(list(argv)))
    return str(caught.value)


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_help_exits_zero() -> None:
    result = run_script("train_vlm.py", "--help")
    assert result.returncode == 0 and "--train_vision_tower" in result.stdout


def test_full_sft_trains_the_language_model_keeps_the_vision_tower_and_resumes(vlm_dir: Path, tmp_path: Path,
                                                                              capsys: pytest.CaptureFixture) -> None:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    out = tmp_path / "out"
    args = ["--model_name_or_path", str(vlm_dir / "idefics3"), "--dataset_name", str(vlm_dir / "data" / "messages"),
            "--output_dir", str(out), "--learning_rate", "3e-3", "--save_steps", "4"]
    summary = _train(capsys, *args, "--max_steps", "8")
    assert summary["steps"] == 8 and summary["last_loss"] < summary["first_loss"] - 0.3
    before, after = _weights(vlm_dir / "idefics3"), _weights(out)
    tower = [k for k in before if ".vision_model." in k]
    language = [k for k in before if ".text_model." in k]
    projector = [k for k in before if ".connector." in k]
    assert tower and language and projector
    assert all((before[k] == after[k]).all() for k in tower + projector)  # frozen by default
    assert any((before[k] != after[k]).any() for k in language)
    # The output folder is a complete vision-language model: processor + weights load with the auto classes.
    assert AutoProcessor.from_pretrained(out).image_processor is not None
    assert type(AutoModelForImageTextToText.from_pretrained(out)).__name__ == "Idefics3ForConditionalGeneration"
    assert "vision_language" in (out / "README.md").read_text()

    # Resume: the same run continues from checkpoint-8 to step 12.
    resumed = _train(capsys, *args, "--max_steps", "12", "--resume")
    assert resumed["steps"] == 12


def test_lora_on_llava_rows_targets_the_language_model_and_saves_the_projector(vlm_dir: Path, tmp_path: Path,
                                                                              capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "lora"
    summary = _train(
        capsys, "--model_name_or_path", str(vlm_dir / "llava"), "--dataset_name",
        str(vlm_dir / "data" / "llava"), "--dataset_mapping", "llava", "--use_peft", "--train_projector",
        "--output_dir", str(out), "--learning_rate", "5e-3", "--max_steps", "8",
        # --eval_baseline on image rows: the base model and the adapter scored on the same 4 held-out rows.
        "--eval_baseline", "--num_samples", "1", "--max_new_tokens", "4", "--eval_split_size", "4")
    assert summary["last_loss"] < summary["first_loss"] - 0.2
    assert summary["evaluation"]["loss"]["difference"] < 0
    assert json.loads((out / "results" / "samples.jsonl").read_text().splitlines()[0])["images"] == 1
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["modules_to_save"] == ["multi_modal_projector"]
    from safetensors.torch import load_file

    keys = list(load_file(str(out / "adapter_model.safetensors")))
    assert any("language_model" in k and "lora_A" in k for k in keys)
    assert not any("vision_tower" in k for k in keys)  # LoRA stays off the frozen vision tower
    assert any("multi_modal_projector" in k for k in keys)
    assert (out / "processor_config.json").exists()


def test_dpo_on_image_preference_rows_pushes_model_and_processor(fake_hub, vlm_dir: Path, tmp_path: Path) -> None:
    from fakes.fake_hub_repos import add_repo_routes

    repos = add_repo_routes(fake_hub)
    # A subprocess: huggingface_hub reads HF_ENDPOINT (the fake Hub) when it is first imported.
    summary = json_summary(run_script(
        "train_vlm.py", "--method", "dpo", "--model_name_or_path", str(vlm_dir / "llava"), "--dataset_name",
        str(vlm_dir / "data" / "preference"), "--output_dir", str(tmp_path / "dpo"), "--learning_rate", "1e-3",
        "--max_steps", "6", "--save_steps", "3", "--push_to_hub", "--hub_model_id", "alice/tiny-vlm-dpo", *FAST,
        env=ENV))
    assert summary["first_loss"] == pytest.approx(0.6931, abs=1e-3)  # log(2): policy equals reference at step 0
    assert summary["last_loss"] < 0.66 and summary["extra_results"]["reward_accuracy"] > 0.5
    files = repos["alice/tiny-vlm-dpo"].files
    # The pushed repo loads with AutoProcessor + AutoModelForImageTextToText, and a new job can resume from it.
    for name in ("model.safetensors", "config.json", "processor_config.json", "chat_template.jinja", "tokenizer.json",
                 "README.md", "last-checkpoint/trainer_state.json"):
        assert name in files, name


@pytest.mark.parametrize("extra, expected", [
    # A text-only model cannot see the images: refused with the reason, before any training.
    (["--model", "text"], "is a text-only model"),
    # A max_length that would cut the image tokens (20 per image, after a 3-token header).
    (["--max_length", "16"], "cuts the image tokens"),
    # QLoRA needs CUDA; this machine has none.
    (["--use_peft", "--load_in_4bit"], "needs a CUDA GPU"),
    # the_cauldron rows need their mapping.
    (["--data", "the_cauldron"], "--dataset_mapping the_cauldron"),
    # DPO needs preference rows.
    (["--method", "dpo"], "needs images + prompt/chosen/rejected"),
])
def test_refusals_name_the_reason(vlm_dir: Path, tmp_path: Path, extra: list[str], expected: str) -> None:
    model, data = "idefics3", "messages"
    if extra[:1] == ["--model"]:
        model, extra = extra[1], extra[2:]
    if extra[:1] == ["--data"]:
        data, extra = extra[1], extra[2:]
    message = _refusal("--model_name_or_path", str(vlm_dir / model), "--dataset_name", str(vlm_dir / "data" / data),
                       "--output_dir", str(tmp_path / "o"), "--report_to", "none", *extra)
    assert expected in message


def test_text_rows_are_sent_to_the_text_scripts(vlm_dir: Path, tmp_path: Path) -> None:
    from hf_trainer.tiny import chat_rows, write_jsonl

    data = write_jsonl(chat_rows(8), tmp_path / "chat.jsonl")
    message = _refusal("--model_name_or_path", str(vlm_dir / "idefics3"), "--dataset_name", str(data),
                       "--output_dir", str(tmp_path / "o"), "--report_to", "none")
    assert "has no image column" in message and "train_sft.py" in message


def test_convert_to_gguf_refuses_vision_models_and_their_adapters(vlm_dir: Path, tmp_path: Path) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(vlm_dir / "llava"),
                                                             "peft_type": "LORA"}))
    for model in (vlm_dir / "idefics3", adapter):
        result = run_script("convert_to_gguf.py", "--model_name_or_path", str(model), "--output_dir",
                            str(tmp_path / "gguf"))
        assert result.returncode == 2 and "is a vision-language model" in result.stderr
        assert "--mmproj" in result.stderr and not (tmp_path / "gguf").exists()


def test_evaluate_and_generate_responses_take_image_rows(vlm_dir: Path, tmp_path: Path) -> None:
    model, data = str(vlm_dir / "idefics3"), str(vlm_dir / "data" / "messages")
    evaluation = json_summary(run_script(
        "evaluate.py", "--model_name_or_path", model, "--dataset_name", data, "--max_eval_samples", "4",
        "--num_samples", "1", "--max_new_tokens", "4", "--output_dir", str(tmp_path / "eval"), "--json", env=ENV))
    assert evaluation["rows"] == 4 and evaluation["loss"] > 0
    generated = json_summary(run_script(
        "generate_responses.py", "--model_name_or_path", model, "--dataset_name", data, "--max_samples", "2",
        "--max_new_tokens", "4", "--output_dir", str(tmp_path / "gen"), "--json", env=ENV))
    assert generated["rows"] == 2
    first = json.loads((tmp_path / "gen" / "data.jsonl").read_text().splitlines()[0])
    assert first["num_images"] == 1 and "images" not in first and first["messages"][-1]["role"] == "assistant"


@pytest.mark.parametrize("script, method", [("train_sft.py", "sft"), ("train_dpo.py", "dpo")])
def test_text_scripts_refuse_image_rows_and_name_train_vlm(vlm_dir: Path, tmp_path: Path, script: str,
                                                           method: str) -> None:
    module = _script(SCRIPT.parent / script)
    data = vlm_dir / "data" / ("messages" if method == "sft" else "preference")
    with pytest.raises(module.ScriptError) as caught:
        module.main(module.parse_args(["--model_name_or_path", str(vlm_dir / "text"), "--dataset_name", str(data),
                                       "--output_dir", str(tmp_path / "o"), "--report_to", "none"]))
    assert "carry images" in str(caught.value) and f"train_vlm.py --method {method}" in str(caught.value)


@pytest.mark.parametrize("flags, trained", [
    ([], {"language_model"}),  # default: LoRA on the language model only
    (["--train_vision_tower"], {"language_model", "vision_tower"}),  # LoRA on the tower's linear layers too
    (["--train_projector"], {"language_model", "projector"}),  # the projector trained fully (modules_to_save)
])
def test_lora_targets_follow_the_train_options(vlm_dir: Path, flags: list[str], trained: set[str]) -> None:
    from peft import get_peft_model
    from transformers import AutoModelForImageTextToText

    module = _script()
    args = module.parse_args(["--model_name_or_path", "m", "--dataset_name", "d", "--use_peft", *flags])
    model = AutoModelForImageTextToText.from_pretrained(vlm_dir / "llava")
    peft_model = get_peft_model(model, module.vision_lora_config(args, model))
    parts = {module.vision_part(name) for name, p in peft_model.named_parameters() if p.requires_grad}
    assert parts == trained


@pytest.mark.parametrize("shape,method,mapping", [
    ("llava", "sft", "llava"),  # LLaVA rows: the plan carries the mapping inspection checked
    ("preference", "dpo", None),  # image preference rows: DPO, ready as they are
])
def test_train_plans_image_data_on_the_vision_script(vlm_dir: Path, tmp_path: Path, shape: str, method: str,
                                                      mapping: str | None) -> None:
    # The agent's path: `train` inspects, estimates and builds the job; image rows go to train_vlm.py --method M.
    from hf_trainer.jobs.local import LocalBackend
    from hf_trainer.train import TrainRequest, plan_training

    plan = plan_training(TrainRequest(method=method, model_name_or_path=str(vlm_dir / "llava"),
                                      dataset_name=str(vlm_dir / "data" / shape / "train.parquet"),
                                      output_dir=str(tmp_path / "out"), max_steps=2, backend="local"),
                         LocalBackend(use_uv=False))
    assert plan.script == "train_vlm.py"
    assert plan.script_args[:2] == ["--method", method]
    assert plan.dataset_mapping == mapping and plan.preflight.ok, plan.render()


def test_the_planned_vision_job_really_trains(vlm_dir: Path, tmp_path: Path, monkeypatch) -> None:
    from hf_trainer.jobs.base import Stage
    from hf_trainer.jobs.local import LocalBackend
    from hf_trainer.train import TrainRequest, train

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    backend = LocalBackend(use_uv=False)
    plan = train(TrainRequest(method="sft", model_name_or_path=str(vlm_dir / "llava"),
                              dataset_name=str(vlm_dir / "data" / "llava" / "train.parquet"),
                              output_dir=str(tmp_path / "out"), max_steps=2, backend="local",
                              extra_args=["--report_to", "none"], confirm=True), backend)
    final = backend.wait(plan.job.id, timeout=300, poll_interval=0.2)
    assert final.stage == Stage.COMPLETED, "\n".join(backend.logs(plan.job.id, tail=40))
    summary = json.loads(list(backend.logs(plan.job.id, tail=1))[-1])
    assert summary["steps"] == 2 and (tmp_path / "out" / "adapter_config.json").is_file()
