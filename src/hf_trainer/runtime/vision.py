"""Vision-language data and models: image columns, the common Hub shapes as named mappings, image and placeholder
checks, image tokens per image from a processor's configuration, and which parts of a model see images.

Every training script carries it (through dataset_formats, which hands image rows here), so it holds only what data
inspection, the scripts' row checks and the estimator need; the model side (which parts train, LoRA targets,
evaluation and generation with images) is in vision_models.py, which only the scripts that load a vision model carry.
Standard library at the top; PIL and transformers only inside the functions that need them; every name prefixed or
specific enough not to clash with the other runtime modules.

TRL's vision format (trl.data_utils.prepare_multimodal_messages): an `images` list (or a single `image`) beside
`messages`, `prompt`/`completion` or `prompt`/`chosen`/`rejected`; a message's content is either a string (TRL puts
every image before the first user turn) or a list of parts `{"type": "image"}` / `{"type": "text", "text": ...}`,
and the number of image parts must equal the number of images.
"""

import io
import math
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .image_rows import IMAGE_COLUMNS, VISION_METHODS, VISION_SCRIPT, image_column
from .mappings import SHAREGPT_ROLES
from .vocabulary import METHODS

IMAGE_PLACEHOLDER = "<image>"
# Methods train_vlm.py runs on image rows (TRL 1.16: SFTTrainer and DPOTrainer take vision data).
VISION_SHAPE_TEXT = {
    "vision_messages": "TRL vision (images + messages)",
    "vision_prompt_completion": "TRL vision (images + prompt/completion)",
    "vision_preference": "TRL vision preference (images + prompt/chosen/rejected)",
    "vision_text": "TRL vision (images + text with <image> placeholders)",
    "the_cauldron": "the_cauldron style (images + texts of user/assistant pairs)",
    "llava": "LLaVA style (image + conversations with <image> placeholders)",
    "image_caption": "image + caption",
    "vision_unknown": "images with no known text columns",
}
# Shapes that need a named mapping first, and the mapping's name.
VISION_SHAPE_MAPPING = {"the_cauldron": "the_cauldron", "llava": "llava", "image_caption": "image_caption"}
CAPTION_COLUMNS = ("caption", "captions", "description")
CAPTION_PROMPT = "Describe this image."
# Images the dataset viewer gives as URLs ({"src": ...}) that one inspection downloads, so it can decode them and count
# their tokens; the rest of the sample keeps its URLs (counted, not decoded).
VIEWER_IMAGES_FETCHED = 48
MAX_IMAGE_BYTES = 20 * 1024 * 1024  # one fetched image at most (a viewer asset is a few hundred KB)



# --- detection -------------------------------------------------------------------------------------------------


def row_images(row: dict) -> list:
    """The row's images as a list (a single `image` becomes a one-item list; None becomes no image)."""
    column = image_column(row)
    if column is None or row[column] is None:
        return []
    value = row[column]
    return list(value) if isinstance(value, (list, tuple)) else [value]


def vision_shape(row: dict) -> str | None:
    """The vision shape of one row (a key of VISION_SHAPE_TEXT), or None when it has no image column."""
    column = image_column(row)
    if column is None:
        return None
    keys = set(row)
    if column == "images" and "texts" in keys and isinstance(row["texts"], list):
        return "the_cauldron"
    if "conversations" in keys and isinstance(row["conversations"], list):
        return "llava"
    if {"prompt", "chosen", "rejected"} <= keys:
        return "vision_preference"
    if {"prompt", "completion"} <= keys:
        return "vision_prompt_completion"
    if "messages" in keys:
        return "vision_messages"
    if "text" in keys and isinstance(row["text"], str) and IMAGE_PLACEHOLDER in row["text"]:
        return "vision_text"
    if any(isinstance(row.get(key), str) for key in CAPTION_COLUMNS + ("text",)):
        return "image_caption"
    return "vision_unknown"


# --- named mappings ------------------------------------------------------------------------------------------------


def _vision_parts(text: str, images_left: list[int]) -> list[dict]:
    """Text with `<image>` placeholders -> content parts; counts the placeholders in images_left[0]."""
    parts: list[dict] = []
    pieces = text.split(IMAGE_PLACEHOLDER)
    for index, piece in enumerate(pieces):
        if index > 0:
            parts.append({"type": "image"})
            images_left[0] += 1
        piece = piece.strip("\n") if index > 0 or len(pieces) > 1 else piece
        if piece:
            parts.append({"type": "text", "text": piece})
    return parts


def _vision_kept(row: dict, consumed: tuple) -> dict:
    return {key: value for key, value in row.items() if key not in consumed and key not in IMAGE_COLUMNS}


def map_the_cauldron(row: dict) -> dict:
    """the_cauldron style: `images` + `texts: [{user, assistant}]` -> `images` + `messages` (every image before the
    first question, as in HuggingFaceM4/the_cauldron)."""
    texts = row.get("texts")
    if not isinstance(texts, list) or not texts:
        raise ValueError("column 'texts' must be a non-empty list of {user, assistant} pairs")
    images = row_images(row)
    messages: list[dict] = []
    for number, pair in enumerate(texts):
        if not isinstance(pair, dict) or not isinstance(pair.get("user"), str) or not isinstance(
                pair.get("assistant"), str):
            raise ValueError(f"texts[{number}] must have string 'user' and 'assistant' fields, got {pair!r:.80}")
        user = [{"type": "image"} for _ in images] if number == 0 else []
        user.append({"type": "text", "text": pair["user"]})
        messages += [{"role": "user", "content": user},
                     {"role": "assistant", "content": [{"type": "text", "text": pair["assistant"]}]}]
    return {**_vision_kept(row, ("texts",)), "images": images, "messages": messages}


def map_llava(row: dict) -> dict:
    """LLaVA style: `image` + `conversations: [{from, value}]` with `<image>` placeholders -> `images` + `messages`
    (the placeholder becomes an image part where it stood)."""
    conversations = row.get("conversations")
    if not isinstance(conversations, list) or not conversations:
        raise ValueError("column 'conversations' must be a non-empty list of {from, value} turns")
    images = row_images(row)
    seen = [0]
    messages = []
    for number, turn in enumerate(conversations):
        speaker = turn.get("from", turn.get("role")) if isinstance(turn, dict) else None
        value = turn.get("value", turn.get("content")) if isinstance(turn, dict) else None
        role = SHAREGPT_ROLES.get(str(speaker).lower())
        if role is None or not isinstance(value, str):
            raise ValueError(f"conversations[{number}] must have a known 'from' and a string 'value', got "
                             f"{turn!r:.80}")
        messages.append({"role": role, "content": _vision_parts(value, seen)})
    if seen[0] != len(images):
        raise ValueError(f"the row has {seen[0]} {IMAGE_PLACEHOLDER} placeholder(s) but {len(images)} image(s)")
    return {**_vision_kept(row, ("conversations",)), "images": images, "messages": messages}


def map_image_caption(row: dict) -> dict:
    """`image`/`images` + a caption (`caption`, `captions`, `description` or `text`) -> `images` + `messages`
    (user: the images and "Describe this image."; assistant: the caption)."""
    column = next((key for key in CAPTION_COLUMNS + ("text",) if isinstance(row.get(key), str)), None)
    if column is None:
        raise ValueError(f"no caption column ({', '.join(CAPTION_COLUMNS + ('text',))}) with a string")
    images = row_images(row)
    if not images:
        raise ValueError("the row has no image")
    user = [{"type": "image"} for _ in images] + [{"type": "text", "text": CAPTION_PROMPT}]
    return {**_vision_kept(row, (column,)), "images": images,
            "messages": [{"role": "user", "content": user},
                         {"role": "assistant", "content": [{"type": "text", "text": row[column]}]}]}


VISION_MAPPINGS = {"the_cauldron": map_the_cauldron, "llava": map_llava, "image_caption": map_image_caption}


# --- checks --------------------------------------------------------------------------------------------------------


def decode_image(value: Any, base_dir: str | None = None):
    """A PIL image from what a dataset row holds: a PIL image, `{"bytes", "path"}` (datasets' Image feature as
    stored), raw bytes, or a file path (relative paths under `base_dir`). Raises ValueError when it cannot."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(value, Image.Image):
        return value
    data, path = None, None
    if isinstance(value, dict):
        data, path = value.get("bytes"), value.get("path")
        if data is None and path is None and value.get("src"):
            raise ValueError(f"an image URL from the dataset viewer ({str(value['src'])[:60]}...) is not decoded here")
    elif isinstance(value, (bytes, bytearray)):
        data = bytes(value)
    elif isinstance(value, str):
        path = value
    else:
        raise ValueError(f"an image cell holds {type(value).__name__}, expected an image, bytes or a path")
    try:
        if data is not None:
            image = Image.open(io.BytesIO(data))
        else:
            file = Path(path)
            if not file.is_absolute() and base_dir:
                file = Path(base_dir) / file
            if not file.is_file():
                raise ValueError(f"image file {path!r} does not exist (image paths must point to files next to the "
                                 "data; better: store the images in parquet with datasets' Image feature)")
            image = Image.open(file)
        image.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"an image does not decode ({exc})") from None
    return image


def fetch_viewer_images(rows: list[dict], limit: int = VIEWER_IMAGES_FETCHED, timeout: float = 15.0) -> list[dict]:
    """The rows with the dataset viewer's image URLs (cells {"src": "https://...", "height", "width"}) replaced by the
    downloaded bytes, for up to `limit` images; rows without such cells come back as they are. The viewer signs its
    asset URLs, so no token is sent (a URL in a row must never receive the caller's token)."""
    fetched, result = 0, []
    for row in rows:
        column = image_column(row)
        if column is None or fetched >= limit:
            result.append(row)
            continue
        values = row_images(row)
        new_values = []
        for value in values:
            src = value.get("src") if isinstance(value, dict) else None
            if isinstance(src, str) and src.startswith(("https://", "http://")) and fetched < limit \
                    and value.get("bytes") is None:
                try:
                    with urllib.request.urlopen(urllib.request.Request(src), timeout=timeout) as response:
                        data = response.read(MAX_IMAGE_BYTES + 1)
                    if len(data) <= MAX_IMAGE_BYTES:  # larger: left a URL, counted as not decoded
                        value = {"bytes": data, "path": None}
                except (urllib.error.URLError, TimeoutError, ConnectionError, ValueError):
                    pass  # stays a URL: counted as not decoded
                fetched += 1
            new_values.append(value)
        new_row = dict(row)
        new_row[column] = new_values if isinstance(row[column], (list, tuple)) else (new_values or [None])[0]
        result.append(new_row)
    return result


def placeholder_count(messages: list, images: int) -> int:
    """Image placeholders TRL will count in these messages (prepare_multimodal_messages): image parts, plus `images`
    placeholders that TRL inserts before the first user turn whose content is a plain string."""
    count = 0
    inserted = False
    for message in messages or []:
        content = message.get("content") if isinstance(message, dict) else None
        role = message.get("role") if isinstance(message, dict) else None
        if isinstance(content, str):
            if role == "user" and not inserted:
                count += images
                inserted = True
        elif isinstance(content, list) and role != "tool":
            count += sum(1 for part in content if isinstance(part, dict) and part.get("type") == "image"
                         and part.get("image") is None)
    return count


def row_placeholders(row: dict) -> int | None:
    """Image placeholders in a TRL vision row (None for shapes that need a mapping first)."""
    images = len(row_images(row))
    shape = vision_shape(row)
    if shape == "vision_messages":
        return placeholder_count(row["messages"], images)
    if shape in ("vision_prompt_completion", "vision_preference"):
        prompt = row["prompt"]
        return placeholder_count(prompt, images) if isinstance(prompt, list) else prompt.count(IMAGE_PLACEHOLDER)
    if shape == "vision_text":
        return row["text"].count(IMAGE_PLACEHOLDER)
    return None


def check_image_rows(rows: list[dict], base_dir: str | None = None) -> dict:
    """Decode every image of the sample and compare placeholders with images. Returns counts, per-row problems
    (at most five of each kind) and the image sizes seen."""
    decoded, undecodable, mismatched, sizes, per_row = 0, [], [], [], []
    viewer_urls = 0
    for index, row in enumerate(rows):
        images = row_images(row)
        per_row.append(len(images))
        for value in images:
            if isinstance(value, dict) and value.get("src") and value.get("bytes") is None and not value.get("path"):
                viewer_urls += 1
                if value.get("width") and value.get("height"):
                    sizes.append((int(value["height"]), int(value["width"])))
                continue
            try:
                image = decode_image(value, base_dir)
            except ValueError as exc:
                undecodable.append({"row": index, "error": str(exc)})
                continue
            decoded += 1
            sizes.append((image.height, image.width))
        placeholders = row_placeholders(row)
        if placeholders is not None and placeholders != len(images):
            mismatched.append({"row": index, "error": f"{placeholders} image placeholder(s) for {len(images)} "
                                                      "image(s)"})
    return {"images": sum(per_row), "decoded": decoded, "viewer_urls": viewer_urls,
            "images_per_row": {"min": min(per_row, default=0), "max": max(per_row, default=0)},
            "rows_without_images": sum(1 for n in per_row if n == 0),
            "undecodable": undecodable[:5], "undecodable_count": len(undecodable),
            "mismatched": mismatched[:5], "mismatched_count": len(mismatched),
            "sizes": {"min": list(min(sizes, key=lambda s: s[0] * s[1])), "max": list(max(sizes, key=lambda s: s[0]
                                                                                            * s[1]))}
            if sizes else None}


# --- models --------------------------------------------------------------------------------------------------------


def config_sees_images(config: dict | None) -> bool:
    """Whether a model configuration (config.json as a dict) describes a model that takes images."""
    if not config:
        return False
    return bool(config.get("vision_config") or config.get("vision_tower") or config.get("mm_vision_tower")
                or config.get("visual"))


def processor_sees_images(processing_class: Any) -> bool:
    """Whether a loaded processing class handles images (a processor with an image processor; a tokenizer: no)."""
    return getattr(processing_class, "image_processor", None) is not None


def _vision_layer_params(hidden: int, intermediate: int, layers: int) -> int:
    # Per transformer layer: q, k, v, o (h x h + bias each), two MLP matrices (with biases), two norms.
    return layers * (4 * (hidden * hidden + hidden) + 2 * hidden * intermediate + intermediate + hidden + 4 * hidden)


def vision_params_from_config(config: dict) -> dict | None:
    """Approximate parameters of the vision tower and the projector from config.json alone (no weights), or None for
    a text-only config. Standard ViT arithmetic; projectors per family (LLaVA MLP, Idefics3 pixel-shuffle linear,
    Qwen-VL patch merger, Gemma 3 linear)."""
    vision = config.get("vision_config")
    if not isinstance(vision, dict):
        return None
    text = config.get("text_config") or config
    hidden = int(vision.get("hidden_size") or vision.get("embed_dim") or vision.get("width") or 0)
    if not hidden:
        return None
    intermediate = int(vision.get("intermediate_size") or 4 * hidden)
    layers = int(vision.get("num_hidden_layers") or vision.get("depth") or 0)
    patch = int(vision.get("patch_size") or 14)
    channels = int(vision.get("num_channels") or vision.get("in_channels") or 3)
    temporal = int(vision.get("temporal_patch_size") or 1)
    image_size = vision.get("image_size")
    positions = (int(image_size) // patch) ** 2 + 1 if isinstance(image_size, int) else 0
    tower = _vision_layer_params(hidden, intermediate, layers) + channels * temporal * patch * patch * hidden \
        + positions * hidden + 2 * hidden
    text_hidden = int(text.get("hidden_size") or vision.get("out_hidden_size") or hidden)
    model_type = str(config.get("model_type", ""))
    if "qwen" in model_type:
        merge = int(vision.get("spatial_merge_size") or 2)
        merged = hidden * merge * merge
        projector = merged * merged + merged + merged * int(vision.get("out_hidden_size") or text_hidden)
    elif model_type in ("idefics3", "smolvlm"):
        scale = int(config.get("scale_factor") or 1)
        projector = hidden * scale * scale * text_hidden
    elif "gemma3" in model_type:
        projector = hidden * text_hidden + hidden
    else:  # LLaVA-style two-layer MLP
        projector = hidden * text_hidden + text_hidden * text_hidden + 2 * text_hidden
    return {"vision_tower": tower, "projector": projector, "image_size": image_size, "patch_size": patch}


# --- image tokens --------------------------------------------------------------------------------------------------


def _image_processor_config(processor_config: dict) -> dict:
    """The image processor's settings: nested under "image_processor" (processor_config.json of transformers 5) or
    at the top level (preprocessor_config.json)."""
    nested = processor_config.get("image_processor")
    return {**processor_config, **nested} if isinstance(nested, dict) else processor_config


def _longest_edge(value: Any, default: int) -> int:
    if isinstance(value, dict):
        return int(value.get("longest_edge") or value.get("height") or default)
    return int(value or default)


def _qwen_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """Qwen2-VL's smart_resize: both sides multiples of `factor`, the area within [min_pixels, max_pixels]."""
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return h, w


def image_tokens_per_image(processor_config: dict, model_config: dict | None = None, height: int = 512,
                           width: int = 512) -> dict:
    """Image tokens one image of height x width becomes, from the processor's configuration (and the model's, for
    values only it has). Returns {"tokens", "scheme", "tiles"}; scheme: "fixed", "tiles" (Idefics3/SmolVLM image
    splitting) or "dynamic" (Qwen-VL native resolution); "unknown" with tokens None when the family is not known.
    The tokens are the placeholders the language model reads (the vision features), not the wrapper tokens some
    families add around them."""
    model_config = model_config or {}
    image = _image_processor_config(processor_config)
    kind = str(processor_config.get("processor_class") or image.get("image_processor_type") or "")
    model_type = str(model_config.get("model_type", ""))
    vision = model_config.get("vision_config") or {}
    if "Qwen" in kind or "qwen" in model_type:
        patch = int(image.get("patch_size") or vision.get("patch_size") or 14)
        merge = int(image.get("merge_size") or vision.get("spatial_merge_size") or 2)
        size = image.get("size") if isinstance(image.get("size"), dict) else {}
        min_pixels = int(image.get("min_pixels") or size.get("shortest_edge") or 56 * 56)
        max_pixels = int(image.get("max_pixels") or size.get("longest_edge") or 28 * 28 * 1280)
        h, w = _qwen_resize(height, width, patch * merge, min_pixels, max_pixels)
        return {"tokens": (h // (patch * merge)) * (w // (patch * merge)), "scheme": "dynamic", "tiles": 1,
                "resized": [h, w]}
    if "Idefics3" in kind or "SmolVLM" in kind or model_type in ("idefics3", "smolvlm"):
        seq = processor_config.get("image_seq_len")
        if not seq and vision:
            scale = int(model_config.get("scale_factor") or 2)
            seq = (int(vision.get("image_size", 512)) // int(vision.get("patch_size", 16))) ** 2 // (scale * scale)
        seq = int(seq or 169)
        tile = _longest_edge(image.get("max_image_size"), 364)
        tiles = 1
        if image.get("do_image_splitting", True):
            longest = _longest_edge(image.get("size"), 4 * 364)
            scale_to = longest / max(height, width)
            h, w = max(1, int(height * scale_to)), max(1, int(width * scale_to))
            rows, cols = math.ceil(h / tile), math.ceil(w / tile)
            tiles = rows * cols + (1 if rows * cols > 1 else 0)  # the tiles plus a downscaled global image
        return {"tokens": seq * tiles, "scheme": "tiles", "tiles": tiles}
    if "Llava" in kind or model_type == "llava":
        patch = int(processor_config.get("patch_size") or vision.get("patch_size") or 14)
        crop = image.get("crop_size") or {}
        side_h = int(crop.get("height") or vision.get("image_size") or 336)
        side_w = int(crop.get("width") or side_h)
        tokens = (side_h // patch) * (side_w // patch) + int(processor_config.get("num_additional_image_tokens") or 0)
        if (processor_config.get("vision_feature_select_strategy")
                or model_config.get("vision_feature_select_strategy")) == "default":
            tokens -= 1
        return {"tokens": tokens, "scheme": "fixed", "tiles": 1}
    for key in ("image_seq_length", "image_seq_len", "num_image_tokens", "mm_tokens_per_image"):
        value = processor_config.get(key) or model_config.get(key)
        if value:
            return {"tokens": int(value), "scheme": "fixed", "tiles": 1}
    if "gemma3" in model_type or "Gemma3" in kind:
        return {"tokens": 256, "scheme": "fixed", "tiles": 1}
    return {"tokens": None, "scheme": "unknown", "tiles": None}


def measure_vision_row(row: dict, processor: Any) -> dict:
    """Tokens of one TRL vision row as the processor builds them: the whole sequence and the image tokens in it (for
    preference rows, the longer of prompt+chosen and prompt+rejected)."""
    images = [decode_image(value).convert("RGB") for value in row_images(row)]
    shape = vision_shape(row)
    if shape == "vision_messages":
        texts = [processor.apply_chat_template(with_image_parts(row["messages"], len(images)), tokenize=False)]
    elif shape in ("vision_prompt_completion", "vision_preference"):
        keys = ("completion",) if shape == "vision_prompt_completion" else ("chosen", "rejected")
        if isinstance(row["prompt"], list):
            texts = [processor.apply_chat_template(with_image_parts(list(row["prompt"]) + list(row[key]),
                                                                     len(images)), tokenize=False) for key in keys]
        else:
            texts = [row["prompt"] + row[key] for key in keys]
    elif shape == "vision_text":
        texts = [row["text"]]
    else:
        raise ValueError(f"{VISION_SHAPE_TEXT.get(shape or '', shape)} rows need a mapping before they can be measured")
    image_token_id = getattr(processor, "image_token_id", None)
    best = None
    for text in texts:
        encoded = processor(images=images or None, text=[text], add_special_tokens=False)
        ids = encoded["input_ids"][0]
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        image_tokens = sum(1 for token in ids if token == image_token_id) if image_token_id is not None else None
        positions = [i for i, token in enumerate(ids) if token == image_token_id]
        measured = {"tokens": len(ids), "image_tokens": image_tokens,
                    "last_image_token": positions[-1] + 1 if positions else 0}
        if best is None or measured["tokens"] > best["tokens"]:
            best = measured
    return best


def with_image_parts(messages: list, images: int) -> list:
    """Messages in the structured form TRL gives the chat template (string content -> text parts, the images before
    the first user turn), without the None fields a datasets round trip adds to parts."""
    result, inserted = [], False
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            parts = [{"type": "text", "text": content}]
            if message.get("role") == "user" and not inserted:
                parts = [{"type": "image"} for _ in range(images)] + parts
                inserted = True
        else:
            parts = [{key: value for key, value in part.items() if value is not None} for part in content or []]
        result.append({"role": message["role"], "content": parts})
    return result


def vision_token_stats(rows: list[dict], processor: Any, max_length: int | None) -> dict:
    """Token lengths of TRL vision rows, image tokens included, and the rows whose image tokens `max_length` would
    cut (training refuses those)."""
    measured, failures = [], []
    for index, row in enumerate(rows):
        try:
            measured.append(measure_vision_row(row, processor))
        except (ValueError, KeyError, TypeError) as exc:
            failures.append({"row": index, "error": str(exc)[:200]})
    stats: dict[str, Any] = {"rows": len(measured), "failures": failures[:5], "max_length": max_length}
    if measured:
        lengths = sorted(m["tokens"] for m in measured)
        image_tokens = [m["image_tokens"] for m in measured if m["image_tokens"] is not None]
        stats.update(mean=round(sum(lengths) / len(lengths), 1), min=lengths[0], max=lengths[-1],
                     p50=lengths[max(0, math.ceil(0.5 * len(lengths)) - 1)],
                     p90=lengths[max(0, math.ceil(0.9 * len(lengths)) - 1)],
                     p95=lengths[max(0, math.ceil(0.95 * len(lengths)) - 1)],
                     p99=lengths[max(0, math.ceil(0.99 * len(lengths)) - 1)],
                     image_tokens_mean=round(sum(image_tokens) / len(image_tokens), 1) if image_tokens else None,
                     image_tokens_max=max(image_tokens) if image_tokens else None)
        if max_length:
            stats["truncated_share"] = round(sum(1 for n in lengths if n > max_length) / len(lengths), 4)
            stats["image_cut_rows"] = sum(1 for m in measured if m["last_image_token"] > max_length)
    return stats


def max_length_cuts_images(rows: list[dict], processor: Any, max_length: int | None) -> str | None:
    """A message when `max_length` would cut image tokens in any of these rows, else None."""
    if not max_length:
        return None
    measured = [measure_vision_row(row, processor) for row in rows]
    cut = [index for index, m in enumerate(measured) if m["last_image_token"] > max_length]
    if not cut:
        return None
    first = measured[cut[0]]
    longest = max(m["tokens"] for m in measured)
    return (f"--max_length {max_length} cuts the image tokens of {len(cut)} of the first {len(rows)} rows (row "
            f"{cut[0]}: its last image token is at position {first['last_image_token']} of {first['tokens']}), and a "
            "cut image cannot be trained on. Drop --max_length (no truncation, as TRL recommends for vision data), "
            f"or pass --max_length {longest} or more (the longest of those rows).")


# --- verdicts for dataset inspection ----------------------------------------------------------------------------


def analyse_vision(rows: list[dict], processor: Any = None, max_length: int | None = None,
                   base_dir: str | None = None) -> dict:
    """Inspection of sample rows with images, in dataset_report.analyse's report shape plus a "vision" section.

    READY only for a model that can see images (`processor` with an image processor): with a text-only tokenizer, or
    no model named, every method is INCOMPATIBLE and the reason says why. SFT and DPO are the methods train_vlm.py
    runs on images; the others are INCOMPATIBLE for image rows."""
    if processor is not None and not processor_sees_images(processor):
        processor = _vision_processor_of(processor)
    counts: dict[str, int] = {}
    for row in rows:
        shape = vision_shape(row) or "text_only"
        counts[shape] = counts.get(shape, 0) + 1
    shape = max(counts, key=lambda key: counts[key])
    mapping = VISION_SHAPE_MAPPING.get(shape)
    mapped, mapping_failures = rows, []
    if mapping:
        mapped = []
        for index, row in enumerate(rows):
            try:
                mapped.append(VISION_MAPPINGS[mapping](dict(row)))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                mapping_failures.append({"row": index, "error": str(exc)})
    images = check_image_rows(mapped if mapping else rows, base_dir)
    issues = []

    def issue(severity: str, column: str, message: str, problems: list[dict], count: int) -> None:
        issues.append({"severity": severity, "column": column, "message": message, "count": count,
                       "rows": [p["row"] for p in problems[:5]]})

    if images["undecodable_count"]:
        issue("error", "images", f"has images that do not decode ({images['undecodable'][0]['error']})",
              images["undecodable"], images["undecodable_count"])
    if images["mismatched_count"]:
        issue("error", "messages", f"has image placeholders that do not match the images "
              f"({images['mismatched'][0]['error']})", images["mismatched"], images["mismatched_count"])
    if mapping_failures:
        issue("error", "*", f"cannot be converted by mapping {mapping!r} ({mapping_failures[0]['error']})",
              mapping_failures, len(mapping_failures))
    if counts.get("text_only"):
        issue("warning", "images", "is missing (text-only rows among image rows); TRL trains them without images",
              [], counts["text_only"])
    sees = processor is not None and processor_sees_images(processor)
    errors = [item for item in issues if item["severity"] == "error"]
    target = {"vision_preference": "dpo"}.get(shape, "sft")
    methods = {}
    for method in METHODS:
        if processor is None:
            verdict, reasons = "INCOMPATIBLE", ["rows carry images: only a vision-language model can train on "
                                                "them; name one (model_name_or_path) to check the rows with its "
                                                f"processor, then train with {VISION_SCRIPT}"]
        elif not sees:
            verdict, reasons = "INCOMPATIBLE", ["rows carry images, and this model is text-only (its processing "
                                                "class has no image processor), so it cannot see them: use a "
                                                f"vision-language model with {VISION_SCRIPT}, or drop the image "
                                                "column to train on the text alone"]
        elif method not in VISION_METHODS:
            verdict, reasons = "INCOMPATIBLE", [f"{VISION_SCRIPT} trains SFT and DPO on image rows; "
                                                f"{method.upper()} with images is not bundled"]
        elif method != target and not (method == "sft" and shape == "vision_preference"):
            verdict, reasons = "INCOMPATIBLE", [f"{VISION_SHAPE_TEXT.get(shape, shape)} rows do not fit "
                                                f"{method.upper()}"]
        elif method == "sft" and shape == "vision_preference":
            verdict, reasons = "INCOMPATIBLE", ["preference rows with images: train DPO (--method dpo)"]
        elif shape == "vision_unknown":
            verdict, reasons = "INCOMPATIBLE", ["images with no known text columns (messages, prompt/completion, "
                                                "prompt/chosen/rejected, texts, conversations, caption)"]
        elif errors:
            verdict, reasons = "INCOMPATIBLE", ["the format fits, but sample rows have errors (see issues): fix or "
                                                "filter them first"]
        elif mapping:
            verdict, reasons = "NEEDS MAPPING", [f"{VISION_SHAPE_TEXT[shape]} rows become TRL vision messages; "
                                                 f"train with {VISION_SCRIPT} --dataset_mapping {mapping}"]
        else:
            verdict, reasons = "READY", [f"{VISION_SHAPE_TEXT.get(shape, shape)} rows train with {VISION_SCRIPT}"]
        methods[method] = {"verdict": verdict, "mapping": mapping if verdict == "NEEDS MAPPING" else None,
                           "reasons": reasons}
    token_stats = None
    if sees and not errors and shape != "vision_unknown":
        token_stats = dict(vision_token_stats(mapped, processor, max_length), method=target)
    return {
        "kind": shape, "kind_text": VISION_SHAPE_TEXT.get(shape, shape), "conversational": shape in (
            "vision_messages", "the_cauldron", "llava", "image_caption") or None,
        "columns": sorted({column for row in rows for column in row}), "sample_rows": len(rows), "issues": issues,
        "methods": methods, "mappings": {},
        "chat_template": bool(getattr(processor, "chat_template", None)) if processor is not None else None,
        "chat_template_used": "model" if sees and getattr(processor, "chat_template", None) else None,
        "token_stats": token_stats,
        "vision": {"shape": shape, "mapping": mapping, "model_sees_images": sees if processor is not None else None,
                   "script": VISION_SCRIPT, **{key: value for key, value in images.items()}},
    }


def _vision_processor_of(tokenizer: Any) -> Any:
    """The model's own processor when a caller loaded only its tokenizer (AutoTokenizer on a vision-language model
    gives a tokenizer without the image processor); the tokenizer itself for a text-only model."""
    name = getattr(tokenizer, "name_or_path", None)
    if not name:
        return tokenizer
    try:
        from transformers import AutoProcessor

        processor = AutoProcessor.from_pretrained(name)
    except (ImportError, OSError, ValueError, TypeError, KeyError):
        return tokenizer
    return processor if processor_sees_images(processor) else tokenizer


def render_vision(report: dict) -> list[str]:
    """Text lines for the "vision" section of an inspection report."""
    vision = report.get("vision")
    if not vision:
        return []
    sizes = vision.get("sizes")
    lines = [f"  images: {vision['images']} in {report['sample_rows']} rows ({vision['images_per_row']['min']}-"
             f"{vision['images_per_row']['max']} per row), {vision['decoded']} decoded"
             + (f", {vision['viewer_urls']} viewer URLs not decoded" if vision.get("viewer_urls") else "")
             + (f", sizes {sizes['min'][0]}x{sizes['min'][1]} to {sizes['max'][0]}x{sizes['max'][1]}" if sizes
                else "")]
    if vision.get("model_sees_images") is False:
        lines.append("  model: text-only; these rows need a vision-language model")
    stats = report.get("token_stats") or {}
    if stats.get("image_tokens_mean") is not None:
        lines.append(f"  image tokens per row: mean {stats['image_tokens_mean']}, max {stats['image_tokens_max']}")
    if stats.get("image_cut_rows"):
        lines.append(f"  advice: max_length {stats['max_length']} would cut the image tokens of "
                     f"{stats['image_cut_rows']} sample rows: train without --max_length, or with --max_length "
                     f"{stats['max']}")
    return lines


# --- estimation ----------------------------------------------------------------------------------------------------

# The image size the estimate quotes tokens for when the data is not measured (a common photo after resizing).
ESTIMATE_IMAGE_SIDE = 512


def vision_summary(model_config: dict, processor_config: dict | None = None,
                   side: int = ESTIMATE_IMAGE_SIDE) -> dict | None:
    """What an estimate says about a vision-language model: vision tower and projector parameters (config.json
    arithmetic) and the image tokens one side x side image becomes (from the processor's configuration). None for a
    text-only model. Frozen by default in train_vlm.py, the tower adds weights but no gradients, optimizer state or
    stored activations; its image tokens count as sequence tokens of the language model (dataset_inspect measures
    them per row)."""
    params = vision_params_from_config(model_config)
    if params is None:
        return None
    tokens = image_tokens_per_image(processor_config or {}, model_config, side, side)
    return {"vision_tower_params": params["vision_tower"], "projector_params": params["projector"],
            "image_side": side, "image_tokens_per_image": tokens["tokens"], "image_token_scheme": tokens["scheme"],
            "tiles_per_image": tokens["tiles"]}


def vision_summary_text(summary: dict) -> str:
    """One line for an estimate's assumptions."""
    tokens = summary["image_tokens_per_image"]
    scheme = {"tiles": f"{summary['tiles_per_image']} tiles", "dynamic": "native resolution",
              "fixed": "fixed"}.get(summary["image_token_scheme"], "unknown scheme")
    per_image = (f"{tokens} image tokens per {summary['image_side']}x{summary['image_side']} image ({scheme})"
                 if tokens else "image tokens per image unknown for this family")
    def count(n: int) -> str:
        return f"{n / 1e6:.1f}M" if n >= 1e5 else f"{n:,}"

    return (f"vision-language model: vision tower {count(summary['vision_tower_params'])} and projector "
            f"{count(summary['projector_params'])} parameters (frozen by default: weights only); {per_image}, "
            "counted as sequence tokens (dataset_inspect measures them per row)")
