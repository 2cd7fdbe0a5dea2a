"""Every route that can spend money goes through one submit pipeline, from MCP and from the CLI alike.

A table over the routes (uv, run, scheduled uv, scheduled run, retry, rerun, train) x (lint error, warning, clean),
each run through the in-process MCP client and through `hf-trainer`, against the fake Hub. A refused job gets the same
text from both front ends and nothing reaches the Hub; a job with a warning or none is submitted. The dataset
inspector and the estimator are stood in for (jobs/submit.py's hooks), so the estimate a case needs is exact.
"""

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import CANARY_TOKEN
from fakes.fake_hub import FakeHub
from mcp import Client

from hf_trainer.cli import main
from hf_trainer.jobs import submit
from hf_trainer.server import mcp

SUBMITS = r"^/api/(jobs|scheduled-jobs)/alice$"
TRAIN = ["--model_name_or_path", "Qwen/Qwen2.5-0.5B", "--dataset_name", "alice/chat", "--push_to_hub",
         "--hub_model_id", "alice/qwen-chat"]


# --- the stand-ins: an estimate of `hours` on every flavor, a dataset with or without token statistics ---


def _row(flavor: str, hours: float, verdict: str = "fits", memory_gib: float = 10.0) -> SimpleNamespace:
    return SimpleNamespace(flavor=flavor, gpu="A10G", verdict=verdict, changes=[], script_args=[], hours=hours,
                           cost_usd=hours * 1.5, price_per_hour=1.5, memory_gib=memory_gib, memory_available_gib=24.0,
                           within_time_limit=True)


@pytest.fixture
def stand_ins(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """`hours`: the estimate on every flavor; `token_stats`: whether the data's token lengths were measured."""
    state = SimpleNamespace(hours=1.0, token_stats=True)

    def inspector(params: Any) -> Any:
        stats = SimpleNamespace(mean=300.0, rows=50) if state.token_stats else None
        verdict = SimpleNamespace(verdict="READY", reasons=[], mapping=None)
        return SimpleNamespace(methods={m: verdict for m in ("sft", "dpo", "grpo", "reward", "kto")},
                               source=SimpleNamespace(num_rows=1000, num_rows_exact=True), sample_rows=50,
                               token_stats=stats)

    def estimator(request: Any, api: Any = None) -> Any:
        names = request.flavors or ["a10g-large"]
        # 20 GiB of 24 for all weights, 8 with LoRA: an out-of-memory retry has a change that fits
        rows = [_row(name, state.hours, memory_gib=8.0 if request.use_peft else 20.0) for name in names]
        return SimpleNamespace(rows=rows, warnings=[], recommended_flavor=names[0], changes=[], script_args=[])

    monkeypatch.setattr(submit, "inspector", inspector)
    monkeypatch.setattr(submit, "estimator", estimator)
    return state


# --- the two front ends ---


def mcp_call(tool: str, arguments: dict[str, Any]) -> tuple[bool, str]:
    async def go() -> Any:
        async with Client(mcp) as client:
            return await client.call_tool(tool, arguments)

    result = asyncio.run(go())
    text = result.content[0].text
    assert CANARY_TOKEN not in text
    return result.is_error, text.split(": ", 1)[1] if result.is_error and text.startswith("Error executing") else text


def cli_call(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[bool, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert CANARY_TOKEN not in out + err
    assert code in (0, 2), (code, out, err)
    return code == 2, err.removeprefix("error: ").rstrip("\n") if code == 2 else out


def _failed_job(fake_hub: FakeHub) -> str:
    """A training job that ran out of memory: retry plans it again with a smaller batch."""
    job = fake_hub.add_job("ERROR", logs=["torch.OutOfMemoryError: CUDA out of memory."],
                           command=["uv", "run", "/tmp/hf-trainer/train_sft.py", *TRAIN], flavor="a10g-large",
                           timeoutSeconds=1800, dockerImage="ghcr.io/astral-sh/uv:python3.12-bookworm")
    return job["id"]


# Each route: (MCP tool, MCP arguments, CLI argv) for a case, built from the case's script/command and timeout.
def route(name: str, case: str, fake_hub: FakeHub) -> tuple[str, dict[str, Any], list[str]]:
    timeout = "30m" if case == "error" else "4h"  # the estimate is 1 h: 30 minutes is too short
    if name in ("uv", "scheduled uv"):
        args = {"script": "train_sft.py", "script_args": TRAIN, "flavor": "a10g-large", "timeout": timeout,
                "secrets": {"HF_TOKEN": "$HF_TOKEN"}}
        cli = ["--flavor", "a10g-large", "--timeout", timeout, "-s", "HF_TOKEN"]
        if name == "uv":
            return "hf_jobs", {"operation": "uv", "args": args, "backend": "hub"}, \
                ["jobs", "uv", "--backend", "hub", *cli, "train_sft.py", *TRAIN]
        return "hf_jobs", {"operation": "scheduled uv", "args": {**args, "schedule": "@daily"}}, \
            ["jobs", "scheduled", "uv", *cli, "@daily", "train_sft.py", *TRAIN]
    if name in ("run", "scheduled run"):
        # A local path is an error on the Hub; a deprecated argument a warning.
        command = {"error": ["python", "train.py", "--data", "./data.csv"],
                   "warning": ["python", "train.py", "--gradient_checkpointing"],
                   "clean": ["python", "-c", "print(1)"]}[case]
        args = {"image": "python:3.12", "command": command}
        if name == "run":
            return "hf_jobs", {"operation": "run", "args": args, "backend": "hub"}, \
                ["jobs", "run", "--backend", "hub", "python:3.12", *command]
        return "hf_jobs", {"operation": "scheduled run", "args": {**args, "schedule": "@daily"}}, \
            ["jobs", "scheduled", "run", "@daily", "python:3.12", *command]
    if name == "retry":
        # retry sizes its own timeout from the estimate: the error is a timeout the person gives that is too short
        job_id = _failed_job(fake_hub)
        over = {"timeout": timeout} if case == "error" else {}
        return "hf_jobs", {"operation": "retry", "args": {"job_id": job_id, "confirm": True, **over},
                           "backend": "hub"}, \
            ["jobs", "retry", job_id, "--backend", "hub", "--confirm", *(["--timeout", timeout] if over else [])]
    if name == "rerun":
        job_id = _failed_job(fake_hub)
        over = [] if case == "error" else ["--timeout", timeout]
        mcp_args = {"source": job_id, "backend": "hub", "confirm": True, **({"timeout": timeout} if over else {})}
        return "rerun", mcp_args, ["rerun", job_id, "--backend", "hub", "--confirm", *over]
    # train: its own timeout always covers the estimate; the error is a flavor the model does not fit
    request = {"method": "sft", "model_name_or_path": "Qwen/Qwen2.5-0.5B", "dataset_name": "alice/chat",
               "hub_model_id": "alice/qwen-chat", "flavor": "a10g-large", "backend": "hub", "confirm": True}
    return "train", request, \
        ["train", "--method", "sft", "--model_name_or_path", "Qwen/Qwen2.5-0.5B", "--dataset_name", "alice/chat",
         "--hub_model_id", "alice/qwen-chat", "--flavor", "a10g-large", "--backend", "hub", "--confirm"]


ROUTES = ["uv", "scheduled uv", "run", "scheduled run", "retry", "rerun", "train"]


@pytest.mark.parametrize("name", ROUTES)
def test_a_job_with_a_lint_error_is_refused_with_the_same_text_from_mcp_and_the_cli(
        name: str, fake_hub: FakeHub, stand_ins: SimpleNamespace, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    if name in ("retry", "rerun"):
        stand_ins.hours = 3.0  # the failed job's 30-minute timeout cannot hold a 3-hour run
    if name == "train":
        monkeypatch.setattr(submit, "estimator", lambda request, api=None: SimpleNamespace(
            rows=[_row("a10g-large", 1.0, "does not fit")], warnings=[], recommended_flavor=None))
    tool, arguments, argv = route(name, "error", fake_hub)
    refused_mcp, mcp_text = mcp_call(tool, arguments)
    refused_cli, cli_text = cli_call(capsys, argv)
    assert refused_mcp and refused_cli, (mcp_text, cli_text)
    assert mcp_text == cli_text
    assert "preflight found errors" in mcp_text and "ERROR [" in mcp_text
    assert fake_hub.count("POST", SUBMITS) == 0  # nothing reached the Hub


@pytest.mark.parametrize("case", ["warning", "clean"])
@pytest.mark.parametrize("name", ROUTES)
def test_a_job_with_warnings_or_none_is_submitted_from_mcp_and_the_cli(
        name: str, case: str, fake_hub: FakeHub, stand_ins: SimpleNamespace,
        capsys: pytest.CaptureFixture[str]) -> None:
    stand_ins.token_stats = case == "clean"
    if name == "retry":
        stand_ins.hours = 0.2  # the failed job kept the Hub's 30-minute default: a 12-minute run fits it
    tool, arguments, argv = route(name, case, fake_hub)
    refused, text = mcp_call(tool, arguments)
    assert not refused, text
    refused, out = cli_call(capsys, argv)
    assert not refused, out
    assert fake_hub.count("POST", SUBMITS) + fake_hub.count("POST", r"^/api/scheduled-jobs/alice$") >= 2
    if case == "warning" and name not in ("retry", "rerun", "train"):
        assert "WARNING [" in text  # the tool shows what the job was linted with


def test_bundled_training_jobs_on_the_hub_carry_the_variables_that_link_the_model_card_to_the_job(
        fake_hub: FakeHub, stand_ins: SimpleNamespace) -> None:
    stand_ins.hours = 0.2  # within the failed job's 30 minutes, for the retry
    for tool, arguments in [route("uv", "clean", fake_hub)[:2], route("retry", "clean", fake_hub)[:2],
                            route("train", "clean", fake_hub)[:2]]:
        assert not mcp_call(tool, arguments)[0]
    specs = fake_hub.bodies("POST", r"^/api/jobs/alice$")
    assert len(specs) == 3
    for spec in specs:
        assert spec["environment"]["HF_TRAINER_NAMESPACE"] == "alice"
        assert spec["environment"]["HF_TRAINER_FLAVOR"] == "a10g-large"


def test_force_submits_past_errors_but_never_past_a_literal_token(fake_hub: FakeHub,
                                                                  stand_ins: SimpleNamespace) -> None:
    tool, arguments, _ = route("run", "error", fake_hub)
    arguments["args"]["force"] = True
    assert not mcp_call(tool, arguments)[0]
    token = "hf_" + "A" * 34
    leaked = {"operation": "run", "backend": "hub", "args": {"image": "python:3.12", "force": True,
                                                              "command": ["python", "-c", f"print('{token}')"]}}
    refused, text = mcp_call("hf_jobs", leaked)
    assert refused and "force does not override that" in text and token not in text
    assert fake_hub.count("POST", SUBMITS) == 1


@pytest.mark.parametrize("spelling", ["train_sft.py", "scripts/train_sft.py"])
def test_a_bundled_script_named_bare_resolves_from_any_working_directory(
        spelling: str, fake_hub: FakeHub, stand_ins: SimpleNamespace, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no scripts/ here
    args = {"script": spelling, "script_args": TRAIN, "flavor": "a10g-large", "timeout": "4h",
            "secrets": {"HF_TOKEN": "$HF_TOKEN"}}
    refused, text = mcp_call("hf_jobs", {"operation": "uv", "args": args, "backend": "hub"})
    assert not refused, text
    (spec,) = fake_hub.bodies("POST", r"^/api/jobs/alice$")
    assert "train_sft.py" in json.dumps(spec["command"])


def test_a_file_of_that_name_where_the_caller_is_wins_over_the_bundled_one(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert submit.bundled_path("train_sft.py") is not None
    (tmp_path / "train_sft.py").write_text("print('mine')\n", encoding="utf-8")
    assert submit.bundled_path("train_sft.py") is None
    assert submit.bundled_path("other/train_sft.py") is None  # only a bare name or scripts/NAME
