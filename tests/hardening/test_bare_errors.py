"""Issue 21, item 6: every input the red team found answering a bare "Error executing tool X" now gets a named
error through the real MCP server (in-process client), and no refused job leaves a record behind."""

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from hf_trainer.jobs.local import LocalBackend
from hf_trainer.server import mcp


def call(tool: str, arguments: dict[str, Any]) -> tuple[bool, str]:
    async def go() -> Any:
        async with Client(mcp) as client:
            return await client.call_tool(tool, arguments)

    result = asyncio.run(go())
    return bool(result.is_error), "\n".join(getattr(c, "text", "") for c in result.content)


@pytest.fixture
def work(tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "model").symlink_to(tiny_model)
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    (folder / "deep.jsonl").write_text('{"text": ' + "[" * 100_000 + "]" * 100_000 + "}\n", encoding="utf-8")
    (folder / "bigint.jsonl").write_text('{"text": ' + "9" * 5000 + "}\n", encoding="utf-8")
    (folder / "bad.csv").write_bytes(b"text\n\xff\xfe bad\n")
    (folder / "bad.json").write_bytes(b'[{"text": "ok"}, {"text": "\xff\xfe"}]')
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
            for i in range(8)]
    (folder / "chat.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    monkeypatch.chdir(folder)
    monkeypatch.setenv("HF_TRAINER_LOCAL_PYTHON", "/bin/true")
    return folder


LOCAL = {"backend": "local"}
CASES = [
    ("hf_jobs", {"operation": "uv", "args": {"script": "print(1)", "env": {"A=B": "1"}}, **LOCAL}),
    ("hf_jobs", {"operation": "uv", "args": {"script": "print(1)", "env": {"A": "x\x00y"}}, **LOCAL}),
    ("hf_jobs", {"operation": "uv", "args": {"script": "print(1)", "script_args": ["a\x00b"]}, **LOCAL}),
    ("hf_jobs", {"operation": "uv", "args": {"script": "print(1)", "timeout": "9" * 30}, **LOCAL}),
    ("hf_jobs", {"operation": "uv", "args": {"script": "print(1)", "timeout": 1e308}, **LOCAL}),
    ("hf_jobs", {"operation": "uv", "args": {"script": "print(1)", "timeout": "NaN"}, **LOCAL}),
    ("hf_jobs", {"operation": "logs", "args": {"job_id": "a" * 100_000}, **LOCAL}),
    ("train", {"method": "sft", "model_name_or_path": "./model", "dataset_name": "./chat.jsonl",
               "backend": "local", "time_limit": "9" * 40, "confirm": True}),
    ("dataset_inspect", {"dataset_name": "./deep.json"}),
    ("dataset_inspect", {"dataset_name": "./deep.jsonl"}),
    ("dataset_inspect", {"dataset_name": "./bigint.jsonl"}),
    ("dataset_inspect", {"dataset_name": "./bad.csv"}),
    ("dataset_inspect", {"dataset_name": "./bad.json"}),
    ("preflight", {"script_text": "x = " + "+".join(["1"] * 200_000) + "\n"}),
    ("estimate_cost", {"model_name_or_path": "a" * 5000, "num_rows": 1000, "mean_tokens_per_row": 300.0}),
    ("estimate_cost", {"model_name_or_path": "./model", "num_params": 10**300, "num_rows": 1000,
                       "mean_tokens_per_row": 300.0}),
]


@pytest.mark.parametrize("tool, arguments", CASES, ids=[f"{t}-{i}" for i, (t, _) in enumerate(CASES)])
def test_each_input_gets_a_named_error_and_leaves_no_record(work: Path, tool: str, arguments: dict[str, Any]):
    is_error, text = call(tool, arguments)
    assert text.strip() != f"Error executing tool {tool}", f"masked: {tool} {str(arguments)[:200]}"
    if is_error:
        assert len(text) > len(f"Error executing tool {tool}: ") + 20, text
    # A refusal leaves no job record (and no SCHEDULING one that lingers) behind.
    jobs = LocalBackend().ps(all=True)
    assert all(job.stage.value != "SCHEDULING" for job in jobs), jobs
    if tool == "hf_jobs":
        assert jobs == [], jobs


def test_an_unanticipated_exception_still_reaches_the_client_as_a_named_error(monkeypatch) -> None:
    # The server's last line of defence (failures.named_error): never the SDK's bare "Error executing tool".
    import hf_trainer.server as server

    def explode(*args: Any, **kwargs: Any) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(server, "inspect_dataset", explode)
    is_error, text = call("dataset_inspect", {"dataset_name": "x/y"})
    assert is_error and "nested too deeply" in text and "RecursionError" in text


def test_the_cli_names_an_unanticipated_exception_too(monkeypatch, capsys) -> None:
    from hf_trainer import cli

    def explode(*args: Any, **kwargs: Any) -> None:
        raise OverflowError("int too large")

    monkeypatch.setattr("hf_trainer.dataset_inspect.inspect_dataset", explode)
    assert cli.main(["dataset", "inspect", "x/y"]) == 1
    err = capsys.readouterr().err
    assert "too large" in err and "Traceback" not in err
