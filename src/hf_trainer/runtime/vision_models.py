"""The model side of vision-language training: which parts of a model see images (vision tower, projector, language
model), freezing and LoRA targets for train_vlm.py, and evaluation and generation with images for evaluate.py,
generate_responses.py and train_vlm.py --eval_baseline (same result keys as evaluation.evaluate_model).

Inlined into those scripts only (runtime/vision.py, which every training script carries, has the data side).
Standard library at the top; torch, transformers and peft inside the functions that need them.
"""

import json
import math
from pathlib import Path
from typing import Any

from .basics import ScriptError
from .vision import decode_image, row_images, vision_shape, with_image_parts

# Submodule names that hold the vision encoder, and those that project its features into the language model, across
# transformers' vision-language families (LLaVA, Idefics3/SmolVLM, Gemma 3, Qwen2/2.5/3-VL, PaliGemma, Mllama, ...).
VISION_TOWER_NAMES = ("vision_tower", "vision_model", "visual", "vision_encoder", "image_encoder", "vpm")
PROJECTOR_NAMES = ("multi_modal_projector", "connector", "mm_projector", "merger", "deepstack_merger_list",
                   "vision_projection", "resampler")


# --- the parts of a model ------------------------------------------------------------------------------------------


def vision_part(parameter_name: str) -> str:
    """Which part of a vision-language model a parameter or module belongs to: "projector", "vision_tower" or
    "language_model" (projector names first: Qwen2-VL's merger lives inside its visual tower)."""
    parts = parameter_name.split(".")
    if any(part in PROJECTOR_NAMES for part in parts):
        return "projector"
    if any(part in VISION_TOWER_NAMES for part in parts):
        return "vision_tower"
    return "language_model"


def count_vision_parameters(model) -> dict:
    """Parameters of each part of a loaded model: {"vision_tower", "projector", "language_model"}."""
    counts = {"vision_tower": 0, "projector": 0, "language_model": 0}
    for name, parameter in model.named_parameters():
        counts[vision_part(name)] += parameter.numel()
    return counts


# --- training (train_vlm.py) -----------------------------------------------------------------------------------


def trained_parts(args) -> list[str]:
    """The parts this run trains: the language model always, the projector and the vision tower on request."""
    return ["language_model"] + (["projector"] if args.train_projector else []) + (
        ["vision_tower"] if args.train_vision_tower else [])


def freeze_parts(model, parts: list[str]) -> dict:
    """Full fine-tuning: only the parameters of `parts` train. Returns trainable and frozen parameter counts."""
    counts = {"trainable": 0, "frozen": 0}
    for name, parameter in model.named_parameters():
        train = vision_part(name) in parts
        parameter.requires_grad_(train)
        counts["trainable" if train else "frozen"] += parameter.numel()
    return counts


def vision_lora_config(args, model):
    """LoRA on the language model's linear layers (and the vision tower's with --train_vision_tower); the projector,
    with --train_projector, trained fully and saved with the adapter (modules_to_save). The output layer is left out,
    as peft's all-linear does. --lora_target_modules other than all-linear is used as given."""
    if not args.use_peft:
        return None
    import re

    import torch
    from peft import LoraConfig

    parts = trained_parts(args)
    targets = args.lora_target_modules
    if targets == ["all-linear"]:
        leaves: set[str] = set()
        for name, module in model.named_modules():
            leaf = name.rsplit(".", 1)[-1]
            if isinstance(module, torch.nn.Linear) and leaf != "lm_head" and vision_part(name) in parts \
                    and vision_part(name) != "projector":
                leaves.add(leaf)
        # Leaf names alone would also match the vision tower's layers (SigLIP has q_proj too): exclude by path.
        excluded = PROJECTOR_NAMES + (() if "vision_tower" in parts else VISION_TOWER_NAMES)
        targets = (f"^(?!(?:.*\\.)?(?:{'|'.join(map(re.escape, excluded))})\\.).*\\."
                   f"(?:{'|'.join(map(re.escape, sorted(leaves)))})$")
    modules_to_save = None
    if args.train_projector:
        modules_to_save = sorted({name.rsplit(".", 1)[-1] for name, _ in model.named_modules()
                                  if name.rsplit(".", 1)[-1] in PROJECTOR_NAMES})
    return LoraConfig(r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
                      target_modules=targets, modules_to_save=modules_to_save or None, task_type="CAUSAL_LM")


def load_vision_model(args, model_kwargs: dict):
    """The model through AutoModelForImageTextToText, loaded with `model_kwargs` (train_common.model_init_kwargs: a
    parameter, so evaluate.py and generate_responses.py need not carry the training code); with QLoRA the vision
    tower, projector and output layer stay in full precision (4-bit vision encoders lose accuracy and save little)."""
    from transformers import AutoModelForImageTextToText

    kwargs = dict(model_kwargs)
    if args.load_in_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=kwargs["dtype"],
            llm_int8_skip_modules=[*VISION_TOWER_NAMES, *PROJECTOR_NAMES, "lm_head"])
    try:
        return AutoModelForImageTextToText.from_pretrained(args.model_name_or_path, **kwargs)
    except ValueError as exc:
        if "Unrecognized configuration class" in str(exc):
            raise ScriptError(f"{args.model_name_or_path} is not an image-text-to-text model (transformers has no "
                              "AutoModelForImageTextToText class for it). Use a vision-language model, or "
                              "train_sft.py for a text model.") from None
        raise


# --- evaluation and generation ---------------------------------------------------------------------------------


def vision_example(row: dict) -> dict | None:
    """{"images", "prompt", "completion"} of one TRL vision row (messages: the turns before the last answer and that
    answer; preference rows: the chosen answer); None for rows without an answer to score."""
    shape = vision_shape(row)
    images = row_images(row)
    if shape == "vision_messages":
        messages = list(row["messages"])
        last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=None)
        if not last:  # no answer, or an answer with no question before it
            return None
        return {"images": images, "prompt": messages[:last], "completion": messages[last:last + 1]}
    if shape in ("vision_prompt_completion", "vision_preference"):
        completion = row["completion"] if shape == "vision_prompt_completion" else row["chosen"]
        if isinstance(row["prompt"], list) and isinstance(completion, list):
            return {"images": images, "prompt": list(row["prompt"]), "completion": list(completion)}
    return None


def _vision_inputs(processor: Any, images: list, text: str, device: Any, dtype: Any):
    inputs = processor(images=images or None, text=[text], return_tensors="pt", add_special_tokens=False)
    moved = {}
    for key, value in inputs.items():
        value = value.to(device)
        moved[key] = value.to(dtype) if value.is_floating_point() else value
    return moved


def _vision_text(message_content: Any) -> str:
    if isinstance(message_content, str):
        return message_content
    return "".join(part.get("text") or "" for part in message_content or [] if isinstance(part, dict))


def evaluate_vision_model(model, processor, rows: list[dict], *, max_new_tokens: int = 128, num_samples: int = 5,
                          **_ignored) -> dict:
    """Loss and perplexity of a vision-language model over the answer tokens of image rows (the image and the
    question are context), and greedy generations for the first `num_samples` rows: the same result keys as
    evaluation.evaluate_model, so compare() and the card work unchanged. One row per forward pass (images differ
    in size, and the rows are few)."""
    import torch

    examples = [e for e in (vision_example(row) for row in rows) if e is not None]
    if not examples:
        raise ValueError("no image row has an answer to score: need images + messages ending in an assistant turn, "
                         "or images + conversational prompt/completion")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    total, count, samples = 0.0, 0, []
    with torch.no_grad():
        for index, example in enumerate(examples):
            images = [decode_image(value).convert("RGB") for value in example["images"]]
            prompt = processor.apply_chat_template(with_image_parts(example["prompt"], len(images)), tokenize=False,
                                                   add_generation_prompt=True)
            full = processor.apply_chat_template(with_image_parts(example["prompt"] + example["completion"],
                                                                   len(images)), tokenize=False)
            inputs = _vision_inputs(processor, images, full, device, dtype)
            prompt_inputs = _vision_inputs(processor, images, prompt, device, dtype)
            labels = inputs["input_ids"].clone()
            labels[:, :prompt_inputs["input_ids"].shape[1]] = -100
            scored = int((labels[:, 1:] != -100).sum())
            if scored:
                loss = model(**inputs, labels=labels).loss
                total, count = total + float(loss) * scored, count + scored
            if index < num_samples:
                output = model.generate(**prompt_inputs, max_new_tokens=max_new_tokens, do_sample=False)
                generated = processor.batch_decode(output[:, prompt_inputs["input_ids"].shape[1]:],
                                                   skip_special_tokens=True)[0]
                samples.append({"prompt": _vision_text(example["prompt"][-1].get("content")) if example["prompt"]
                                else "", "images": len(images),
                                "reference": _vision_text(example["completion"][-1].get("content")),
                                "generated": generated})
    if was_training:
        model.train()
    loss = total / count if count else None
    return {"rows": len(examples), "scored_tokens": count, "loss": loss,
            "perplexity": (math.exp(loss) if loss < 700 else float("inf")) if loss is not None else None,
            "samples": samples}


def load_vision_model_for_eval(name_or_path: str, *, adapter_base: str | None = None, trust_remote_code: bool = False,
                               token: str | None = None):
    """(model, processor, description) of a vision-language model or a LoRA adapter on one, for evaluation and
    generation: bf16/fp16 on a GPU, float32 on CPU, eval mode."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    cuda = torch.cuda.is_available()
    dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else torch.float32
    kwargs = {"dtype": dtype, "trust_remote_code": trust_remote_code, "token": token}
    local = Path(name_or_path).expanduser()
    adapter_config = local / "adapter_config.json"
    if adapter_config.is_file() or adapter_base:
        base = adapter_base or json.loads(adapter_config.read_text(encoding="utf-8"))["base_model_name_or_path"]
        from peft import PeftModel

        model = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(base, **kwargs), name_or_path,
                                          token=token)
        description = f"{name_or_path} (LoRA adapter on {base})"
    else:
        base = name_or_path
        model = AutoModelForImageTextToText.from_pretrained(name_or_path, **kwargs)
        description = name_or_path
    try:  # the training output carries the processor it was trained with
        processor = AutoProcessor.from_pretrained(name_or_path, trust_remote_code=trust_remote_code, token=token)
    except (OSError, ValueError):
        processor = AutoProcessor.from_pretrained(base, trust_remote_code=trust_remote_code, token=token)
    if cuda:
        model = model.to("cuda")
    model.eval()
    return model, processor, description


def generate_vision_responses(model, processor, items: list[tuple[dict, Any]], *, max_new_tokens: int = 256,
                              num_generations: int = 1, temperature: float = 0.0, top_p: float = 1.0,
                              top_k: int | None = None, repetition_penalty: float = 1.0) -> list[list[str]]:
    """Responses of a vision-language model to (row, prompt) pairs whose rows carry images: the prompt (messages,
    or a string taken as the user turn) with the row's images, through the processor's chat template. One row per
    call (images differ in size); `num_generations` samples each."""
    import torch

    device = next(model.parameters()).device
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    options = {"max_new_tokens": max_new_tokens, "do_sample": temperature > 0, "num_return_sequences": num_generations,
               "repetition_penalty": repetition_penalty}
    if temperature > 0:
        options.update(temperature=temperature, top_p=top_p, top_k=top_k or None)
    results = []
    for row, prompt in items:
        images = [decode_image(value).convert("RGB") for value in row_images(row)]
        messages = prompt if isinstance(prompt, list) else [{"role": "user", "content": str(prompt)}]
        text = processor.apply_chat_template(with_image_parts(messages, len(images)), tokenize=False,
                                             add_generation_prompt=True)
        inputs = _vision_inputs(processor, images, text, device, dtype)
        with torch.no_grad():
            output = model.generate(**inputs, **options)
        texts = processor.batch_decode(output[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        results.append([t.strip() for t in texts])
    return results
