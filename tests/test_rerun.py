"""hf-trainer rerun: the job recorded in a model card (or a job's record) is planned and submitted again, exactly."""

import argparse
import sys
from pathlib import Path

import pytest
import yaml
from huggingface_hub import HfApi

from conftest import CANARY_TOKEN, SCRIPTS
from fakes.fake_hub import FakeHub, Request, Response
from hf_trainer.runtime import results
from hf_trainer.cli import main as cli_main
from hf_trainer.diagnose import script_args_from_command
from hf_trainer.errors import UserError
from hf_trainer.jobs.hub import HubBackend
from hf_trainer.rerun import parse_card, rerun

ARGS = ["--model_name_or_path", "Qwen/Qwen2.5-0.5B", "--dataset_name", "trl-lib/Capybara", "--use_peft",
        "--learning_rate", "1e-4", "--max_steps", "100", "--push_to_hub", "--hub_model_id", "alice/qwen-sft",
        "--run_name", "has spaces and 'quotes'", "--json"]


def _card(monkeypatch: pytest.MonkeyPatch, script: Path, args: list[str], flavor: str | None = "a10g-large") -> str:
    """The card runtime/results.py writes for a run of `script args` (as the training script itself would)."""
    monkeypatch.setattr(sys, "argv", [str(script), *args])
    if flavor:
        monkeypatch.setenv("HF_TRAINER_FLAVOR", flavor)
    parsed = argparse.Namespace(num_train_epochs=1.0, max_steps=100, per_device_train_batch_size=4,
                                gradient_accumulation_steps=4, max_length=2048, lr_scheduler_type="cosine", seed=42,
                                use_peft=False, model_name_or_path="Qwen/Qwen2.5-0.5B", dataset_name="trl-lib/Capybara",
                                hub_model_id="alice/qwen-sft", push_to_hub=True)
    result = {"output_dir": "/tmp/out", "steps": 100, "first_loss": 2.0, "last_loss": 1.0, "runtime_seconds": 60.0,
              "learning_rate": 1e-4, "recorded_job": results.recorded_job("sft")}
    return results.model_card(parsed, "sft", result, {})


def _serve_card(hub: FakeHub, repo: str, card: str) -> None:
    """GET /api/models/{repo}: the Hub returns the card's YAML front matter as cardData."""
    front = yaml.safe_load(card.split("---", 2)[1])

    @hub.route("GET", r"/api/models/(?P<repo>[^/]+/[^/]+)")
    def model_info(req: Request) -> dict | Response:
        if req.groups["repo"] != repo:
            return Response(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound",
                                                                      "X-Error-Message": "Repository not found"})
        return {"id": repo, "modelId": repo, "sha": "0" * 40, "private": True, "tags": [], "cardData": front}


@pytest.fixture
def backend(fake_hub: FakeHub) -> HubBackend:
    return HubBackend(HfApi(endpoint=fake_hub.url, token=CANARY_TOKEN))


def test_a_rerun_from_the_model_repo_submits_the_recorded_arguments_exactly(fake_hub, backend, monkeypatch):
    _serve_card(fake_hub, "alice/qwen-sft", _card(monkeypatch, SCRIPTS / "train_sft.py", ARGS))

    plan = rerun("alice/qwen-sft", backend)
    assert not plan.submitted and plan.script == "train_sft.py" and plan.script_args == ARGS
    assert plan.flavor == "a10g-large" and not plan.script_changed
    assert fake_hub.count("POST", r"^/api/jobs/") == 0  # planning submits nothing

    done = rerun("alice/qwen-sft", backend, confirm=True)
    assert done.submitted and done.job.flavor == "a10g-large" and done.job.labels["rerun-of"] == "alice--qwen-sft"
    assert script_args_from_command(done.job.command) == ARGS
    assert done.job.secret_names == ["HF_TOKEN"]

    # and the submitted job itself can be rerun from its id, with the same arguments again
    again = rerun(done.job.id, backend, confirm=True)
    assert again.source_kind == "job" and script_args_from_command(again.job.command) == ARGS
    assert again.job.flavor == "a10g-large"


def test_a_changed_script_is_named_in_the_plan(fake_hub, backend, monkeypatch, tmp_path):
    old = tmp_path / "train_sft.py"
    old.write_text((SCRIPTS / "train_sft.py").read_text(encoding="utf-8") + "\n# an older version\n",
                   encoding="utf-8")
    _serve_card(fake_hub, "alice/qwen-sft", _card(monkeypatch, old, ARGS))

    plan = rerun("https://huggingface.co/alice/qwen-sft", backend)
    assert plan.script_changed and "changed since the recorded run" in plan.render()


def test_a_local_model_folder_reruns_from_its_readme(backend, monkeypatch, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "README.md").write_text(_card(monkeypatch, SCRIPTS / "train_sft.py", ARGS, flavor=None),
                                      encoding="utf-8")
    assert parse_card((folder / "README.md").read_text(encoding="utf-8"))["arguments"] == ARGS
    plan = rerun(str(folder), backend)
    assert plan.source_kind == "folder" and plan.script_args == ARGS
    assert any("no flavor was recorded" in note for note in plan.notes)


@pytest.mark.parametrize(
    "source, message",
    [
        # a repo whose card has no record
        ("alice/other", "has no recorded hf-trainer job"),
        # a repo that does not exist
        ("alice/missing", "was not found"),
        # something that is none of the three
        ("a b/c/d", "neither a model repo"),
    ],
)
def test_sources_that_cannot_be_rerun_are_refused_with_the_fix(fake_hub, backend, source, message):
    _serve_card(fake_hub, "alice/other", "---\nlicense: mit\n---\n# other\n")
    with pytest.raises(UserError, match=message):
        rerun(source, backend)


def test_the_cli_plans_a_rerun_and_prints_the_arguments(fake_hub, monkeypatch, capsys):
    _serve_card(fake_hub, "alice/qwen-sft", _card(monkeypatch, SCRIPTS / "train_sft.py", ARGS))
    assert cli_main(["rerun", "alice/qwen-sft", "--backend", "hub"]) == 0
    out = capsys.readouterr().out
    assert "Rerun of alice/qwen-sft" in out and "--hub_model_id alice/qwen-sft" in out and "--confirm" in out
    assert CANARY_TOKEN not in out


def test_a_real_local_training_job_reruns_from_its_job_id_and_its_output_folder(tiny_model, tmp_path):
    from hf_trainer.jobs.base import Stage, UvJobRequest
    from hf_trainer.jobs.local import LocalBackend
    from hf_trainer.tiny import chat_rows, write_jsonl

    local = LocalBackend(use_uv=False)
    data = write_jsonl(chat_rows(16), tmp_path / "chat.jsonl")
    args = ["--model_name_or_path", str(tiny_model), "--dataset_name", str(data), "--output_dir",
            str(tmp_path / "model"), "--max_steps", "2", "--max_length", "64", "--per_device_train_batch_size", "4",
            "--gradient_accumulation_steps", "1", "--report_to", "none", "--json"]
    job = local.uv(UvJobRequest(script=str(SCRIPTS / "train_sft.py"), script_args=args))
    assert local.wait(job.id, timeout=300, poll_interval=0.2).stage == Stage.COMPLETED

    from_job = rerun(job.id, local)
    from_folder = rerun(str(tmp_path / "model"), local)
    assert from_job.script_args == args and from_folder.script_args == args
    assert from_folder.recorded.script_sha256  # (whether it changed since is the changed-script test's business)
    assert from_folder.recorded.libraries["transformers"]


def test_the_rerun_mcp_tool_plans_without_submitting(fake_hub, monkeypatch):
    import asyncio

    from mcp import Client

    from hf_trainer.server import mcp

    _serve_card(fake_hub, "alice/qwen-sft", _card(monkeypatch, SCRIPTS / "train_sft.py", ARGS))

    async def go():
        async with Client(mcp) as client:
            return await client.call_tool("rerun", {"source": "alice/qwen-sft", "backend": "hub"})

    result = asyncio.run(go())
    assert not result.is_error, result.content[0].text
    assert result.structured_content["script_args"] == ARGS and result.structured_content["submitted"] is False
    assert fake_hub.count("POST", r"^/api/jobs/") == 0 and CANARY_TOKEN not in result.content[0].text


@pytest.mark.parametrize(
    "runtime, timeout",
    [
        # a short run: at least 30 minutes
        (100, 1800),
        # twice 1000 s, rounded up to whole half-hours
        (1000, 3600),
        # twice 2 h
        (7200, 14400),
    ],
)
def test_without_a_recorded_timeout_the_hub_rerun_gets_twice_the_recorded_duration(
        fake_hub, backend, monkeypatch, runtime, timeout):
    card = _card(monkeypatch, SCRIPTS / "train_sft.py", ARGS).replace(
        '"libraries":', f'"runtime_seconds": {runtime}, "libraries":', 1)
    _serve_card(fake_hub, "alice/qwen-sft", card)
    plan = rerun("alice/qwen-sft", backend)
    assert plan.timeout_seconds == timeout and any("twice the recorded run" in note for note in plan.notes)
    assert rerun("alice/qwen-sft", backend, timeout_seconds=600).timeout_seconds == 600  # an explicit one wins
