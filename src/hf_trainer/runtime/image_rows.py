"""Whether rows carry images, and the text scripts' verdict on them: the little of runtime/vision.py that every
training script needs (the text scripts refuse image rows and name train_vlm.py), kept apart so they do not carry the
whole vision module."""

IMAGE_COLUMNS = ("images", "image")
VISION_METHODS = ("sft", "dpo")
VISION_SCRIPT = "scripts/train_vlm.py"


def image_column(row: dict) -> str | None:
    """The row's image column (`images` or `image`), or None for a text-only row."""
    return next((key for key in IMAGE_COLUMNS if key in row), None)


def rows_have_images(rows: list[dict]) -> bool:
    """Whether sample rows carry images (an `images` or `image` column in any row)."""
    return any(image_column(row) is not None for row in rows)


def text_script_image_verdict(rows: list[dict], method: str) -> dict:
    """The verdict of a text training script (train_sft.py, train_dpo.py, ...) on rows with images: INCOMPATIBLE,
    whatever the model, because those scripts load a tokenizer and train text; train_vlm.py trains them."""
    column = next(column for column in IMAGE_COLUMNS if any(column in row for row in rows))
    where = (f"{VISION_SCRIPT} --method {method}" if method in VISION_METHODS else VISION_SCRIPT)
    return {"verdict": "INCOMPATIBLE", "mapping": None, "reasons": [
        f"the rows carry images (column {column!r}), which a text-only model cannot see and this text script does not "
        f"load: train a vision-language model with {where}, or drop the {column!r} column to train on the text alone"]}
