"""Tiny models and datasets built offline, for the demo, the tests and the benchmarks.

A Llama of a few hundred thousand parameters with a byte-level BPE tokenizer trained on the spot and a ChatML-style
chat template (with `{% generation %}` markers, so TRL's assistant_only_loss works). Deterministic with fixed seeds.
Needs the `train` extra; torch and transformers are imported inside the functions.
"""

import json
import random
from typing import Any
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]

# Facts the demo's model learns: short, repetitive, so the loss visibly falls within a few dozen steps.
_FACTS = [
    ("What colour is the sky?", "The sky is blue."),
    ("What is two plus two?", "Two plus two is four."),
    ("Name a fruit.", "An apple is a fruit."),
    ("What do cats say?", "Cats say meow."),
    ("What is the capital of France?", "Paris is the capital of France."),
    ("How many legs does a spider have?", "A spider has eight legs."),
    ("What is frozen water called?", "Frozen water is called ice."),
    ("Which planet do we live on?", "We live on Earth."),
]


def chat_rows(n: int = 64, seed: int = 0) -> list[dict]:
    """Conversational rows: {"messages": [system?, user, assistant]}."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        question, answer = _FACTS[i % len(_FACTS)] if i < len(_FACTS) else rng.choice(_FACTS)
        messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        if i % 3 == 0:
            messages.insert(0, {"role": "system", "content": "You answer briefly."})
        rows.append({"messages": messages})
    return rows


def write_jsonl(rows: list[dict], path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    return path


def _corpus() -> list[str]:
    text = []
    for question, answer in _FACTS:
        text += [question, answer, f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n{answer}<|im_end|>"]
    # A little general English so other tests' prompts tokenize into sensible pieces.
    text += ["The quick brown fox jumps over the lazy dog. 0 1 2 3 4 5 6 7 8 9 + - = ? ! . , ; : ' \" ( ) [ ]"] * 4
    return text


def build_tokenizer(output_dir: Path, vocab_size: int = 1024):
    """A byte-level BPE tokenizer with a chat template, saved to `output_dir`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<|endoftext|>",
        eos_token="<|im_end|>",
        pad_token="<|pad|>",
        unk_token=None,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(output_dir)
    return fast


def build_model(output_dir: Path, hidden_size: int = 64, num_layers: int = 2, vocab_size: int = 1024,
                intermediate_size: int | None = None, num_heads: int = 4, seed: int = 0) -> Path:
    """Save a randomly initialised tiny Llama and its tokenizer to `output_dir` and return the folder."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    output_dir = Path(output_dir)
    tokenizer = build_tokenizer(output_dir, vocab_size=vocab_size)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(output_dir)
    return output_dir


# --- tiny vision-language models (scripts/train_vlm.py, runtime/vision.py) ----------------------------------------

# Content parts ({"type": "image"} / {"type": "text"}) or plain strings, ChatML-style. The processor expands each
# <image> into the model's image tokens.
VLM_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}{{ '<image>' }}{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>' }}"
    "{{ '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# Two families whose processors build offline without torchvision (transformers picks their PIL image processors):
# Idefics3 (SmolVLM's architecture: image splitting into tiles, pixel-shuffle connector) and LLaVA (CLIP tower, MLP
# projector, a fixed number of image tokens). Qwen2-VL's processor always carries a video processor, which needs
# torchvision in transformers 5; the torchvision wheel found here is a CUDA build that fails with the CPU torch.
VLM_FAMILIES = ("idefics3", "llava")


def _text_config(tokenizer, hidden_size: int) -> dict:
    return dict(model_type="llama", vocab_size=len(tokenizer), hidden_size=hidden_size,
                intermediate_size=hidden_size * 2, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                max_position_embeddings=1024, pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False)


def build_vlm(output_dir: Path, family: str = "idefics3", hidden_size: int = 64, seed: int = 0) -> Path:
    """Save a randomly initialised tiny vision-language model (vision tower + projector + 2-layer Llama) and its
    processor (image processor + tokenizer + chat template) to `output_dir`; loads with AutoProcessor and
    AutoModelForImageTextToText. 64x64 images become 20 image tokens (idefics3: 2x2 tiles + a global image, 4 tokens
    each) or 16 (llava: 32x32 crop, 8x8 patches)."""
    import torch

    if family not in VLM_FAMILIES:
        raise ValueError(f"family {family!r}: choose one of {', '.join(VLM_FAMILIES)}")
    output_dir = Path(output_dir)
    tokenizer = build_tokenizer(output_dir)
    torch.manual_seed(seed)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=32,
                  patch_size=8)
    if family == "idefics3":
        from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor
        from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

        tokenizer.add_special_tokens({"additional_special_tokens": [
            "<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>",
            *[f"<row_{i + 1}_col_{j + 1}>" for i in range(6) for j in range(6)]]})
        # One variable per part, for either family (their classes differ, their roles do not).
        image_processor: Any
        processor: Any
        config: Any
        model: Any
        image_processor = Idefics3ImageProcessorPil(size={"longest_edge": 64}, max_image_size={"longest_edge": 32},
                                                    do_image_splitting=True)
        processor = Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer, image_seq_len=4,
                                      chat_template=VLM_CHAT_TEMPLATE)
        config = Idefics3Config(vision_config=vision, text_config=_text_config(tokenizer, hidden_size), scale_factor=2,
                                image_token_id=tokenizer.convert_tokens_to_ids("<image>"), tie_word_embeddings=False,
                                # generation settings pass through the config's **kwargs
                                **{"pad_token_id": tokenizer.pad_token_id})
        model = Idefics3ForConditionalGeneration(config)
    else:
        from transformers import LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor
        from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

        tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
        image_processor = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
        processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=8,
                                   vision_feature_select_strategy="default", num_additional_image_tokens=1,
                                   chat_template=VLM_CHAT_TEMPLATE)
        config = LlavaConfig(vision_config=dict(model_type="clip_vision_model", projection_dim=32, **vision),
                             text_config=_text_config(tokenizer, hidden_size),
                             vision_feature_select_strategy="default", vision_feature_layer=-1,
                             tie_word_embeddings=False,
                             # LLaVA's token id: its config takes the name the processor uses too (**kwargs)
                             **{"image_token_id": tokenizer.convert_tokens_to_ids("<image>")})
        model = LlavaForConditionalGeneration(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(output_dir)
    processor.save_pretrained(output_dir)
    return output_dir


# Solid colours the tiny VLM learns to name: the answer depends on the image only, so a falling loss means the
# model reads the image tokens.
_COLOURS = {"red": (220, 30, 30), "green": (30, 190, 40), "blue": (30, 40, 220), "yellow": (235, 215, 40)}


def colour_image(name: str, size: int = 64, seed: int = 0):
    """A size x size PIL image of one colour with a little noise (so no two images are identical)."""
    import numpy as np
    from PIL import Image

    rng = np.random.RandomState(seed)
    pixels = np.clip(np.array(_COLOURS[name], dtype=np.int16) + rng.randint(-12, 13, (size, size, 3)), 0, 255)
    return Image.fromarray(pixels.astype("uint8"))


def image_rows(n: int = 32, shape: str = "messages", size: int = 64, seed: int = 0) -> list[dict]:
    """Rows with generated images in a given shape: "messages" (TRL vision), "image" (a single image column +
    messages with string content), "preference" (images + prompt/chosen/rejected), "the_cauldron" (images + texts)
    or "llava" (image + conversations with <image>)."""
    names = list(_COLOURS)
    rows = []
    for i in range(n):
        colour, wrong = names[i % len(names)], names[(i + 1) % len(names)]
        image = colour_image(colour, size, seed + i)
        question, answer = "What colour is this image?", f"The image is {colour}."
        if shape == "messages":
            rows.append({"images": [image], "messages": [
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]},
                {"role": "assistant", "content": [{"type": "text", "text": answer}]}]})
        elif shape == "image":
            rows.append({"image": image, "messages": [{"role": "user", "content": question},
                                                      {"role": "assistant", "content": answer}]})
        elif shape == "preference":
            rows.append({"images": [image],
                         "prompt": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}],
                         "chosen": [{"role": "assistant", "content": [{"type": "text", "text": answer}]}],
                         "rejected": [{"role": "assistant", "content": [{"type": "text",
                                                                         "text": f"The image is {wrong}."}]}]})
        elif shape == "the_cauldron":
            rows.append({"images": [image], "texts": [{"user": question, "assistant": answer, "source": "tiny"}]})
        elif shape == "llava":
            rows.append({"image": image, "conversations": [{"from": "human", "value": f"<image>\n{question}"},
                                                           {"from": "gpt", "value": answer}]})
        else:
            raise ValueError(f"shape {shape!r}: messages, image, preference, the_cauldron or llava")
    return rows


def write_image_parquet(rows: list[dict], path: Path) -> Path:
    """Rows with PIL images as a parquet file (datasets' Image feature), which `load_dataset("parquet")` and the
    training scripts read back as images (JSONL can only carry paths)."""
    from datasets import Dataset

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Dataset.from_list(rows).to_parquet(str(path))
    return path
