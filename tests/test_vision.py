"""runtime/vision.py: image rows, the named vision mappings, checks, image tokens and the parts of a model."""

import io
import json
from pathlib import Path

import pytest

from hf_trainer.runtime import vision, vision_models
from hf_trainer.runtime.image_rows import rows_have_images
from hf_trainer.tiny import build_model, build_vlm, colour_image, image_rows


@pytest.fixture(scope="module")
def vlms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {family: build_vlm(tmp_path_factory.mktemp(family), family) for family in ("idefics3", "llava")}


def _processor(path: Path):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(path)


@pytest.mark.parametrize("shape, expected", [
    ("messages", "vision_messages"),  # TRL vision: images + messages with image parts
    ("image", "vision_messages"),  # a single image column + string contents
    ("preference", "vision_preference"),  # images + prompt/chosen/rejected
    ("the_cauldron", "the_cauldron"),  # images + texts of user/assistant pairs
    ("llava", "llava"),  # image + conversations with <image>
])
def test_vision_shape_names_each_generated_shape(shape: str, expected: str) -> None:
    assert vision.vision_shape(image_rows(1, shape)[0]) == expected


def test_a_text_row_has_no_vision_shape() -> None:
    assert vision.vision_shape({"messages": [{"role": "user", "content": "hi"}]}) is None
    assert not rows_have_images([{"text": "hello"}])


def test_the_cauldron_mapping_puts_every_image_before_the_first_question() -> None:
    images = [colour_image("red"), colour_image("blue")]
    row = {"images": images, "texts": [{"user": "Q1", "assistant": "A1", "source": "x"},
                                       {"user": "Q2", "assistant": "A2", "source": "x"}], "id": 7}
    mapped = vision.map_the_cauldron(row)
    assert mapped["images"] == images and mapped["id"] == 7 and "texts" not in mapped
    assert [m["role"] for m in mapped["messages"]] == ["user", "assistant", "user", "assistant"]
    assert mapped["messages"][0]["content"] == [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "Q1"}]
    assert mapped["messages"][2]["content"] == [{"type": "text", "text": "Q2"}]
    assert vision.row_placeholders(mapped) == 2


def test_llava_mapping_turns_the_placeholder_into_an_image_part_where_it_stood() -> None:
    row = {"image": colour_image("red"), "conversations": [
        {"from": "human", "value": "Look: <image>\nWhat is it?"}, {"from": "gpt", "value": "Red."}]}
    mapped = vision.map_llava(row)
    assert len(mapped["images"]) == 1 and "image" not in mapped and "conversations" not in mapped
    assert mapped["messages"][0]["content"] == [{"type": "text", "text": "Look: "}, {"type": "image"},
                                                {"type": "text", "text": "What is it?"}]
    assert mapped["messages"][1] == {"role": "assistant", "content": [{"type": "text", "text": "Red."}]}


def test_llava_mapping_refuses_placeholders_that_do_not_match_the_images() -> None:
    row = {"image": colour_image("red"), "conversations": [{"from": "human", "value": "<image><image> Two?"},
                                                           {"from": "gpt", "value": "No."}]}
    with pytest.raises(ValueError, match="2 <image> placeholder"):
        vision.map_llava(row)


def test_image_caption_mapping_asks_for_a_description() -> None:
    mapped = vision.map_image_caption({"image": colour_image("red"), "caption": "A red square."})
    assert mapped["messages"][1]["content"][0]["text"] == "A red square."
    assert mapped["messages"][0]["content"][0] == {"type": "image"}


def test_placeholders_follow_trl_string_content_inserts_images_before_the_first_user_turn() -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What?"},
                {"role": "assistant", "content": "Red."}]
    assert vision.placeholder_count(messages, 2) == 2
    # Structured content: only image parts count; the datasets round trip adds text=None to them.
    parts = [{"role": "user", "content": [{"type": "image", "text": None}, {"type": "text", "text": "Q"}]}]
    assert vision.placeholder_count(parts, 3) == 1


def test_check_image_rows_reports_undecodable_images_and_mismatched_placeholders() -> None:
    good = io.BytesIO()
    colour_image("red", 16).save(good, format="PNG")
    rows = [
        {"images": [{"bytes": good.getvalue(), "path": None}], "messages": [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Q"}]}]},
        {"images": [{"bytes": b"not an image", "path": None}], "messages": [{"role": "user", "content": "Q"}]},
        {"images": [colour_image("red", 16)], "messages": [
            {"role": "user", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "Q"}]}]},
        {"image": "missing/file.png", "messages": [{"role": "user", "content": "Q"}]},
    ]
    found = vision.check_image_rows(rows)
    assert found["decoded"] == 2
    assert [p["row"] for p in found["undecodable"]] == [1, 3]
    assert "does not exist" in found["undecodable"][1]["error"]
    assert found["mismatched"] == [{"row": 2, "error": "2 image placeholder(s) for 1 image(s)"}]
    assert found["sizes"] == {"min": [16, 16], "max": [16, 16]}


@pytest.mark.parametrize("name, kind", [
    ("model.vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.weight", "vision_tower"),  # LLaVA
    ("model.multi_modal_projector.linear_1.weight", "projector"),  # LLaVA
    ("model.connector.modality_projection.proj.weight", "projector"),  # Idefics3 / SmolVLM
    ("model.visual.merger.mlp.0.weight", "projector"),  # Qwen2-VL: the merger sits inside the visual tower
    ("model.visual.blocks.0.attn.qkv.weight", "vision_tower"),  # Qwen2-VL
    ("model.language_model.layers.0.self_attn.q_proj.weight", "language_model"),
    ("lm_head.weight", "language_model"),
])
def test_vision_part_classifies_parameters_across_families(name: str, kind: str) -> None:
    assert vision_models.vision_part(name) == kind


@pytest.mark.parametrize("family", ["idefics3", "llava"])
@pytest.mark.parametrize("height, width", [(64, 64), (64, 40), (20, 30), (100, 30)])
def test_image_tokens_from_the_config_match_what_the_processor_produces(vlms, family, height, width) -> None:
    from PIL import Image

    processor = _processor(vlms[family])
    encoded = processor(images=[Image.new("RGB", (width, height))], text=["<image>"])
    produced = sum(1 for token in encoded["input_ids"][0] if token == processor.image_token_id)
    configs = [json.loads((vlms[family] / name).read_text()) for name in ("processor_config.json", "config.json")]
    assert vision.image_tokens_per_image(*configs, height, width)["tokens"] == produced


@pytest.mark.parametrize("height, width, tokens", [
    (448, 448, 256),  # 448 / 28 = 16 per side
    (224, 448, 128),
    (4000, 4000, 1225),  # capped by max_pixels (28*28*1280): 980 x 980 -> 35 x 35
    (20, 20, 4),  # raised to min_pixels (56*56): 2 x 2
])
def test_qwen_vl_dynamic_resolution_tokens(height: int, width: int, tokens: int) -> None:
    config = {"image_processor": {"image_processor_type": "Qwen2VLImageProcessor", "patch_size": 14, "merge_size": 2,
                                  "min_pixels": 56 * 56, "max_pixels": 28 * 28 * 1280}}
    result = vision.image_tokens_per_image(config, {"model_type": "qwen2_5_vl"}, height, width)
    assert result == {**result, "tokens": tokens, "scheme": "dynamic"}


def test_gemma3_and_unknown_families() -> None:
    assert vision.image_tokens_per_image({"image_seq_length": 256, "processor_class": "Gemma3Processor"},
                                         {"model_type": "gemma3"})["tokens"] == 256
    assert vision.image_tokens_per_image({}, {"model_type": "mystery"})["scheme"] == "unknown"


@pytest.mark.parametrize("family", ["idefics3", "llava"])
def test_parameters_from_config_agree_with_the_loaded_model(vlms, family) -> None:
    from transformers import AutoModelForImageTextToText

    counted = vision_models.count_vision_parameters(AutoModelForImageTextToText.from_pretrained(vlms[family]))
    estimated = vision.vision_params_from_config(json.loads((vlms[family] / "config.json").read_text()))
    assert estimated["projector"] == counted["projector"]
    assert abs(estimated["vision_tower"] - counted["vision_tower"]) <= 0.01 * counted["vision_tower"]
    assert vision.vision_params_from_config({"hidden_size": 64}) is None


def test_inspection_is_ready_only_for_a_model_that_sees_images(vlms, tmp_path: Path) -> None:
    rows = image_rows(4, "messages")
    ready = vision.analyse_vision(rows, _processor(vlms["idefics3"]))
    assert ready["methods"]["sft"]["verdict"] == "READY"
    assert ready["methods"]["dpo"]["verdict"] == "INCOMPATIBLE"
    assert ready["token_stats"]["image_tokens_mean"] == 20  # 2x2 tiles + the global image, 4 tokens each
    from transformers import AutoTokenizer

    text_only = vision.analyse_vision(rows, AutoTokenizer.from_pretrained(build_model(tmp_path / "text")))
    assert {entry["verdict"] for entry in text_only["methods"].values()} == {"INCOMPATIBLE"}
    assert "text-only" in text_only["methods"]["sft"]["reasons"][0]
    unknown = vision.analyse_vision(rows, None)
    assert "only a vision-language model" in unknown["methods"]["sft"]["reasons"][0]


def test_inspection_names_the_mapping_and_counts_image_tokens_after_it(vlms) -> None:
    report = vision.analyse_vision(image_rows(4, "llava"), _processor(vlms["llava"]), max_length=10)
    assert report["methods"]["sft"] == {"verdict": "NEEDS MAPPING", "mapping": "llava",
                                        "reasons": [report["methods"]["sft"]["reasons"][0]]}
    assert report["token_stats"]["image_tokens_max"] == 16
    assert report["token_stats"]["image_cut_rows"] == 4  # the image ends past 10 tokens in every row
    assert any("would cut the image tokens" in line for line in vision.render_vision(report))


def test_inspection_refuses_rows_whose_images_do_not_decode(vlms) -> None:
    rows = image_rows(3, "messages")
    rows[1]["images"] = [{"bytes": b"garbage", "path": None}]
    report = vision.analyse_vision(rows, _processor(vlms["llava"]))
    assert report["methods"]["sft"]["verdict"] == "INCOMPATIBLE"
    assert report["issues"][0]["rows"] == [1] and "do not decode" in report["issues"][0]["message"]


def test_dataset_inspect_reads_image_parquet_and_loads_the_processor(vlms, tmp_path: Path) -> None:
    from hf_trainer.dataset_inspect import DatasetInspectInput, inspect_dataset
    from hf_trainer.tiny import write_image_parquet

    data = write_image_parquet(image_rows(8, "the_cauldron"), tmp_path / "cauldron" / "train.parquet")
    result = inspect_dataset(DatasetInspectInput(dataset_name=str(data.parent),
                                                 model_name_or_path=str(vlms["idefics3"]), sample_size=8))
    assert result.methods["sft"].verdict == "NEEDS MAPPING" and result.methods["sft"].mapping == "the_cauldron"
    assert result.vision["decoded"] == 8 and result.vision["model_sees_images"] is True
    assert result.token_stats.image_tokens_max == 20
    assert "images: 8 in 8 rows" in result.render()


def test_estimate_counts_the_vision_parts_and_reports_image_tokens(vlms, tmp_path: Path) -> None:
    import shutil

    from hf_trainer.estimate import make_request, run_estimate
    from hf_trainer.runtime.estimate_math import fallback_catalog

    # config.json alone (no weights): the arithmetic must add the vision tower and projector to the language model.
    config_only = tmp_path / "config-only"
    config_only.mkdir()
    for name in ("config.json", "processor_config.json"):
        shutil.copy(vlms["idefics3"] / name, config_only / name)
    from transformers import AutoModelForImageTextToText

    exact = sum(p.numel() for p in AutoModelForImageTextToText.from_pretrained(vlms["idefics3"]).parameters())
    result = run_estimate(make_request(model_name_or_path=str(config_only), total_tokens=1e6),
                          catalog=fallback_catalog())
    assert result.model.num_params == exact
    assert result.vision["image_tokens_per_image"] == 20 and result.vision["image_token_scheme"] == "tiles"
    assert any("20 image tokens per 512x512 image" in line for line in result.assumptions)
    text = run_estimate(make_request(model_name_or_path=str(build_model(tmp_path / "text")), total_tokens=1e6),
                        catalog=fallback_catalog())
    assert text.vision is None


def test_viewer_image_urls_are_downloaded_decoded_and_measured(vlms) -> None:
    import http.server
    import threading

    png = io.BytesIO()
    colour_image("blue", 64).save(png, format="PNG")

    class Images(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            assert "Authorization" not in self.headers  # no token goes to an image URL
            self.send_response(200 if self.path.startswith("/assets/") else 404)
            self.end_headers()
            if self.path.startswith("/assets/"):
                self.wfile.write(png.getvalue())

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Images)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        rows = [{"images": [{"src": f"{base}/assets/{i}.png", "height": 64, "width": 64}], "messages": row["messages"]}
                for i, row in enumerate(image_rows(3))]
        rows[2]["images"][0]["src"] = f"{base}/missing.png"
        # A local file's URLs are never fetched (they could point anywhere on the person's network)...
        local = vision.analyse_vision(rows, _processor(vlms["idefics3"]))
        # ...the Hub viewer's are (dataset_inspect fetches them for Hub datasets only).
        report = vision.analyse_vision(vision.fetch_viewer_images(rows), _processor(vlms["idefics3"]))
    finally:
        server.shutdown()
    assert local["vision"]["decoded"] == 0
    assert report["vision"]["decoded"] == 2
    assert report["vision"]["viewer_urls"] == 1  # the 404 stays a URL: counted, not decoded, not measured
    assert report["methods"]["sft"]["verdict"] == "READY"
    assert report["token_stats"]["rows"] == 2 and report["token_stats"]["image_tokens_max"] == 20
