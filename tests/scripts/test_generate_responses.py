"""scripts/generate_responses.py generates over a tiny dataset with the tiny model and writes the expected rows."""

import json

import pytest

from helpers import json_summary, run_script
from hf_trainer.tiny import chat_rows, write_jsonl

FAST = ["--max_new_tokens", "5", "--batch_size", "4", "--json"]


def _read(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_chat_prompts_get_sampled_responses_with_the_chat_template_and_a_card(tiny_model, tmp_path):
    data = write_jsonl(chat_rows(5), tmp_path / "chat.jsonl")
    out = tmp_path / "responses"
    summary = json_summary(run_script(
        "generate_responses.py", "--model_name_or_path", str(tiny_model), "--dataset_name", str(data),
        "--num_generations", "2", "--temperature", "0.9", "--top_p", "0.9", "--output_dir", str(out), *FAST))

    assert summary["engine"] == "transformers" and summary["prompts"] == 5 and summary["rows"] == 10
    rows = _read(out / "data.jsonl")
    assert len(rows) == 10 and [r["generation_index"] for r in rows[:2]] == [0, 1]
    first = rows[0]
    # the prompt is the conversation without its final assistant turn; messages = prompt + the new answer
    assert first["prompt"] == chat_rows(5)[0]["messages"][:-1]
    assert first["messages"][:-1] == first["prompt"]
    assert first["messages"][-1] == {"role": "assistant", "content": first["completion"]}
    assert first["model"] == str(tiny_model)
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "| generated rows | 10 |" in card and "| temperature | 0.9 |" in card and str(tiny_model) in card


def test_text_prompts_greedy_keep_their_columns_and_skip_empty_prompts(tiny_model, tmp_path):
    rows = [{"question": "What is two plus two?", "id": 1}, {"question": "", "id": 2},
            {"question": "Name a fruit.", "id": 3}]
    data = write_jsonl(rows, tmp_path / "q.jsonl")
    out = tmp_path / "out"
    summary = json_summary(run_script(
        "generate_responses.py", "--model_name_or_path", str(tiny_model), "--dataset_name", str(data),
        "--temperature", "0", "--output_dir", str(out), *FAST))

    assert summary["prompts"] == 2 and summary["skipped"] == 1 and summary["prompt_column"] == "question"
    written = _read(out / "data.jsonl")
    assert [r["id"] for r in written] == [1, 3] and [r["prompt"] for r in written] == ["What is two plus two?",
                                                                                      "Name a fruit."]
    assert "messages" not in written[0] and "generation_index" not in written[0]


@pytest.mark.parametrize(
    "args, message",
    [
        # nowhere to put the output
        ([], "Say where the responses go"),
        # pushing needs a repo name
        (["--push_to_hub"], "--push_to_hub needs --hub_dataset_id"),
        # a prompt column that is not there
        (["--output_dir", "x", "--prompt_column", "nope"], "No prompt column"),
        # vLLM asked for on a machine without a CUDA GPU (or without vllm)
        (["--output_dir", "x", "--engine", "vllm"], "--engine vllm needs a CUDA GPU"),
        # identical greedy copies
        (["--output_dir", "x", "--temperature", "0", "--num_generations", "2"], "gives identical copies"),
    ],
)
def test_bad_requests_are_refused_with_the_fix(tiny_model, tmp_path, args, message):
    data = write_jsonl(chat_rows(2), tmp_path / "chat.jsonl")
    result = run_script("generate_responses.py", "--model_name_or_path", str(tiny_model), "--dataset_name",
                        str(data), *args, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_on_hf_jobs_a_run_that_would_lose_its_output_is_refused(tiny_model, tmp_path):
    data = write_jsonl(chat_rows(2), tmp_path / "chat.jsonl")
    result = run_script("generate_responses.py", "--model_name_or_path", str(tiny_model), "--dataset_name",
                        str(data), "--output_dir", str(tmp_path / "out"), env={"JOB_ID": "abc123"})
    assert result.returncode == 2 and "add --push_to_hub" in result.stderr


def test_responses_are_pushed_as_a_private_dataset_with_its_card(fake_hub, tiny_model, tmp_path):
    import yaml

    from conftest import CANARY_TOKEN
    from fakes.fake_hub_repos import add_repo_routes

    repos = add_repo_routes(fake_hub)
    data = write_jsonl(chat_rows(3), tmp_path / "chat.jsonl")
    summary = json_summary(run_script(
        "generate_responses.py", "--model_name_or_path", str(tiny_model), "--dataset_name", str(data),
        "--push_to_hub", "--hub_dataset_id", "alice/tiny-responses", "--temperature", "0", *FAST))

    assert summary["hub_url"] == f"{fake_hub.url}/datasets/alice/tiny-responses"
    repo = repos["alice/tiny-responses"]
    assert repo.repo_type == "dataset" and repo.visibility == "private"
    rows = [json.loads(line) for line in repo.files["data.jsonl"].decode("utf-8").splitlines()]
    assert len(rows) == 3 and all(r["model"] == str(tiny_model) for r in rows)
    card = repo.files["README.md"].decode("utf-8")
    meta = yaml.safe_load(card.split("---", 2)[1])
    assert meta["configs"][0]["data_files"][0]["path"] == "data.jsonl" and "synthetic" in meta["tags"]
    assert "| generated rows | 3 |" in card and CANARY_TOKEN not in card
