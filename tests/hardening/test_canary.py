"""The canary token (HF_TOKEN for every test) through a real local training run driven by the MCP server, and through
the Hub backend: it must appear in no tool result, no log, no job record and no generated file.

The local run: `train` with confirm on the local backend (the bundled train_sft.py on a tiny model, trackio on,
checkpoints saved), a uv job that prints the token and a secret and then dies with the token in its exception, and the
read tools on both. Afterwards every file under the test's folder (job records in SQLite and its WAL, logs, the model,
checkpoints, training_args.bin, trainer_state.json, the model card, trackio's database, caches) is read as bytes and
searched for the token, and for its base64 form.
"""

import asyncio
import base64
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from conftest import CANARY_TOKEN
from fakes.fake_hub import FakeHub
from mcp import Client

from hf_trainer.server import mcp
from hf_trainer.tiny import chat_rows, write_jsonl

SECRET = "s3cr3t-Value-For-The-Canary-Test-0987654321"
NEEDLES = [CANARY_TOKEN.encode(), base64.b64encode(CANARY_TOKEN.encode()), SECRET.encode(),
           CANARY_TOKEN.encode("utf-16-le")]


def tool(name: str, arguments: dict[str, Any]) -> tuple[bool, str, dict]:
    """(is_error, text and structured content together, structured content)."""
    async def go() -> Any:
        async with Client(mcp) as client:
            return await client.call_tool(name, arguments)

    result = asyncio.run(go())
    text = "\n".join(getattr(c, "text", "") for c in result.content)
    return bool(result.is_error), text + "\n" + json.dumps(result.structured_content), result.structured_content or {}


def leaks(root: Path) -> tuple[list[str], int]:
    """Files under root holding a needle, and how many files were read."""
    found, scanned = [], 0
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            scanned += 1
            data = path.read_bytes()
            found += [f"{path.relative_to(root)}: {needle[:12]!r}" for needle in NEEDLES if needle in data]
    return found, scanned


def test_a_local_training_run_through_the_mcp_server_leaks_the_token_nowhere(
        tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # the server's own log records (the SDK logs every call and every failure)
    # The job runs with this interpreter (uv would resolve a CUDA torch here); HF_TOKEN is the canary (conftest).
    monkeypatch.setenv("HF_TRAINER_LOCAL_PYTHON", "current")
    monkeypatch.chdir(tmp_path)
    data = write_jsonl(chat_rows(24), tmp_path / "chat.jsonl")
    outputs: list[str] = []

    is_error, text, data = tool("train", {
        "method": "sft", "model_name_or_path": str(tiny_model), "dataset_name": str(data), "backend": "local",
        "output_dir": str(tmp_path / "model"), "max_steps": 4, "max_length": 128, "per_device_train_batch_size": 4,
        "extra_args": ["--save_steps", "2", "--logging_steps", "1"], "confirm": True})
    outputs.append(text)
    assert not is_error, text
    job_id = data["job"]["id"]

    # A job that prints the token and a secret, then fails with the token in its exception.
    script = ("import os\nprint('token', os.environ['HF_TOKEN'])\nprint('secret', os.environ['MY_SECRET'])\n"
              "raise RuntimeError('bad token ' + os.environ['HF_TOKEN'])\n")
    is_error, text, data = tool("hf_jobs", {"operation": "uv", "backend": "local", "args": {
        "script": script, "secrets": {"MY_SECRET": SECRET, "HF_TOKEN": "$HF_TOKEN"}}})
    outputs.append(text)
    assert not is_error, text
    leaky_id = data["job"]["id"]

    for jid in (job_id, leaky_id):
        for operation, args in (("wait", {"job_id": jid, "timeout": "5m"}), ("logs", {"job_id": jid, "tail": 500}),
                                ("inspect", {"job_id": jid}), ("diagnose", {"job_id": jid}), ("ps", {"all": True})):
            is_error, text, _ = tool("hf_jobs_status", {"operation": operation, "args": args, "backend": "local"})
            outputs.append(text)
            assert not is_error or operation == "diagnose", text
    assert '"stage": "COMPLETED"' in outputs[2], outputs[2]
    # The CLI shows the same jobs: its output and errors are outputs too.
    from hf_trainer import cli

    for argv in (["jobs", "logs", leaky_id, "--backend", "local"], ["jobs", "inspect", leaky_id, "--backend", "local"],
                 ["jobs", "ps", "--all", "--backend", "local"],
                 ["jobs", "inspect", CANARY_TOKEN, "--backend", "local"]):
        cli.main(argv)
        captured = capsys.readouterr()
        outputs.append(captured.out + captured.err)
    assert "token ***" in outputs[-4]
    leaky_logs = outputs[8]
    assert "token ***" in leaky_logs and "secret ***" in leaky_logs and "bad token ***" in leaky_logs

    assert (tmp_path / "model" / "checkpoint-2" / "trainer_state.json").is_file()
    assert list((tmp_path / "home" / "trackio").glob("*.db")), "trackio wrote no database"
    assert not [o for o in outputs if any(n.decode("latin-1") in o for n in NEEDLES[:3])]
    assert CANARY_TOKEN not in caplog.text and SECRET not in caplog.text
    found, scanned = leaks(tmp_path)
    assert found == [], found
    (tmp_path / "planted.bin").write_bytes(b"\x00" + CANARY_TOKEN.encode() + b"\x00")
    assert leaks(tmp_path)[0] == [f"planted.bin: {NEEDLES[0][:12]!r}"]  # the scan does find a leak
    assert scanned > 20
    with capsys.disabled():
        print(f"\ncanary: {len(outputs)} tool results and {scanned} files scanned, 0 leaks")


def test_on_the_hub_the_token_travels_only_as_a_bearer_header_and_a_job_secret(fake_hub: FakeHub) -> None:
    outputs = []
    job_id = ""
    for operation, args in (
            ("uv", {"script": "print(1)\n", "secrets": {"HF_TOKEN": "$HF_TOKEN", "MY_SECRET": SECRET},
                    "env": {"PLAIN": "1"}}),
            ("run", {"image": "python:3.12", "command": ["python", "-c", "print(1)"],
                     "secrets": {"HF_TOKEN": "${HF_TOKEN}"}}),
            ("ps", {"all": True}), ("hardware", {})):
        is_error, text, data = tool("hf_jobs", {"operation": operation, "args": args, "backend": "hub"})
        outputs.append(text)
        assert not is_error, text
        job_id = job_id or data["job"]["id"]
    fake_hub.logs[job_id] = [f"token {CANARY_TOKEN}", f"secret {SECRET}"]
    for operation in ("logs", "inspect"):
        arguments = {"operation": operation, "args": {"job_id": job_id}, "backend": "hub"}
        outputs.append(tool("hf_jobs_status", arguments)[1])
    assert "token ***" in outputs[4] and "secret ***" in outputs[4]
    assert not [o for o in outputs if CANARY_TOKEN in o or SECRET in o]

    for request in fake_hub.requests:
        body = json.dumps(request.body)
        headers = {k: v for k, v in request.headers.items() if k != "authorization"}
        assert CANARY_TOKEN not in request.path + json.dumps(request.query) + json.dumps(headers)
        if CANARY_TOKEN in body or SECRET in body:
            # Only inside the job spec's secrets, which the Hub stores encrypted.
            spec = dict(request.body)
            secrets = spec.pop("secrets")
            assert CANARY_TOKEN not in json.dumps(spec) and SECRET not in json.dumps(spec)
            assert set(secrets.values()) <= {CANARY_TOKEN, SECRET}
