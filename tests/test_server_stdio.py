"""The MCP server as a separate process: stdio end to end, an independent client (MCP Inspector CLI), start-up
imports, and the HTTP transport's bearer-token rule."""

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from conftest import CANARY_TOKEN
from fakes.fake_hub import FakeHub
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from hf_trainer.errors import UserError

HEAVY = ("torch", "transformers", "datasets", "trl", "peft")
SERVER_ARGS = ["-m", "hf_trainer.cli", "mcp"]
INSPECTOR = "@modelcontextprotocol/inspector@0.15.0"
# npm's codes for "the package could not be downloaded": the Inspector is then unavailable, not failing.
NPM_FETCH_ERRORS = ("ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "ECONNREFUSED", "ECONNRESET", "E404")


def test_importing_the_server_imports_no_training_library() -> None:
    code = ("import sys, hf_trainer.server; "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def test_a_stdio_session_lists_tools_and_submits_a_job_without_heavy_imports(fake_hub: FakeHub,
                                                                             tmp_path: Path) -> None:
    # -X importtime writes every import of the server process to stderr: the proof that initialize, tools/list and
    # a Hub call never load the training stack.
    params = StdioServerParameters(command=sys.executable, args=["-X", "importtime", *SERVER_ARGS],
                                   env=dict(os.environ))
    errlog_path = tmp_path / "server-stderr.txt"

    async def session() -> tuple[list[str], Any, Any]:
        with errlog_path.open("w", encoding="utf-8") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write) as client:
                    await client.initialize()
                    tools = await client.list_tools()
                    submitted = await client.call_tool("hf_jobs", {"operation": "uv", "args": {
                        "script": "print('hello')\n", "secrets": {"HF_TOKEN": "$HF_TOKEN"}}})
                    listed = await client.call_tool("hf_jobs_status", {"operation": "ps"})
                    return [t.name for t in tools.tools], submitted, listed

    names, submitted, listed = asyncio.run(session())
    assert {"hf_jobs", "hf_jobs_status"} <= set(names)
    assert not submitted.is_error, submitted.content[0].text
    job_id = submitted.structured_content["job"]["id"]
    assert job_id in fake_hub.jobs
    assert job_id in listed.content[0].text
    for result in (submitted, listed):
        assert CANARY_TOKEN not in result.content[0].text + json.dumps(result.structured_content)
    imported = {line.split("|")[-1].strip() for line in errlog_path.read_text(encoding="utf-8").splitlines()
                if line.startswith("import time:")}
    assert "hf_trainer.server" in imported
    assert not [m for m in HEAVY if m in imported]


@pytest.mark.skipif(shutil.which("npx") is None, reason="npx (Node.js) is not installed: the MCP Inspector CLI runs "
                    "with npx")
def test_the_mcp_inspector_cli_lists_the_tools_and_calls_one(fake_hub: FakeHub) -> None:
    env_args: list[str] = []
    for key in ("HF_TOKEN", "HF_ENDPOINT", "HF_HOME", "HF_TRAINER_HOME", "TRACKIO_DIR", "HF_HUB_DISABLE_TELEMETRY"):
        env_args += ["-e", f"{key}={os.environ[key]}"]
    base = ["npx", "-y", INSPECTOR, "--cli", *env_args, sys.executable, *SERVER_ARGS]

    listed = subprocess.run([*base, "--method", "tools/list"], capture_output=True, text=True, timeout=240)
    if listed.returncode != 0 and any(code in listed.stderr for code in NPM_FETCH_ERRORS):
        pytest.skip(f"npx could not fetch {INSPECTOR} from the npm registry: {listed.stderr[-300:]}")
    assert listed.returncode == 0, listed.stderr[-2000:]
    tools = {t["name"]: t for t in json.loads(listed.stdout)["tools"]}
    assert tools["hf_jobs_status"]["annotations"]["readOnlyHint"] is True

    fake_hub.add_job("RUNNING")
    called = subprocess.run([*base, "--method", "tools/call", "--tool-name", "hf_jobs_status",
                             "--tool-arg", "operation=ps"], capture_output=True, text=True, timeout=240)
    assert called.returncode == 0, called.stderr[-2000:]
    result = json.loads(called.stdout)
    assert not result.get("isError"), result  # the Inspector exits 0 even for a tool error
    assert result["structuredContent"]["jobs"][0]["stage"] == "RUNNING"
    assert result["content"][0]["text"].startswith("ID")
    assert CANARY_TOKEN not in called.stdout
    assert fake_hub.count("GET", r"^/api/jobs/alice$") == 1


# --- HTTP transport ---


def test_serving_off_loopback_without_a_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from hf_trainer.server import http_app

    monkeypatch.delenv("HF_TRAINER_MCP_TOKEN", raising=False)
    with pytest.raises(UserError, match=r"Serving MCP on '0.0.0.0'.*--auth-token-file PATH"):
        http_app("0.0.0.0")
    monkeypatch.setenv("HF_TRAINER_MCP_TOKEN", "a-long-server-token")
    assert http_app("0.0.0.0") is not None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _post(url: str, headers: dict[str, str]) -> int:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "Accept": "application/json, text/event-stream", **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_http_requests_without_the_bearer_token_are_refused() -> None:
    import uvicorn

    from hf_trainer.server import http_app

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(http_app("127.0.0.1", auth_token="a-long-server-token"),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/mcp"
        assert _post(url, {}) == 401  # no token
        assert _post(url, {"Authorization": "Bearer wrong"}) == 401  # wrong token
        assert _post(url, {"Authorization": "Bearer a-long-server-token"}) == 200  # initialize accepted
    finally:
        server.should_exit = True
        thread.join(timeout=10)
