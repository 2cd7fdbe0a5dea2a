"""The streamable HTTP transport's guarantees (tests/test_server_stdio.py has the first two; these fill the gaps):
127.0.0.1 by default; any other address refused without a bearer token; with a token, every request without it (any
method, any near-miss of the header) refused before the MCP app sees it; a real MCP client with the token works; on
loopback without a given token one is generated (0600 file, printed once), since any local user can reach a loopback
port (Hardening III, finding 7); and requests from a rebound host name or a foreign web page are refused (DNS
rebinding)."""

import asyncio
import json
import socket
import stat
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from hf_trainer import cli
from hf_trainer.errors import UserError
from hf_trainer.server import BearerAuth, http_app

TOKEN = "a-long-server-token-0123456789"
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """The app on a free loopback port, in a thread; yields the /mcp URL."""
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def status(url: str, method: str = "POST", headers: dict[str, str] | None = None) -> int:
    data = json.dumps(INITIALIZE).encode() if method == "POST" else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/json", "Accept": "application/json, text/event-stream", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_cli_serves_http_on_127_0_0_1_by_default_behind_a_generated_token(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.delenv("HF_TRAINER_MCP_TOKEN", raising=False)
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(app=app, **kwargs))
    assert cli.main(["mcp", "--http"]) == 0
    assert seen["host"] == "127.0.0.1" and isinstance(seen["app"], BearerAuth)
    assert capsys.readouterr().err.count("Authorization: Bearer ") == 1  # printed once
    assert cli.main(["mcp", "--http", "--host", "0.0.0.0", "--auth-token", TOKEN]) == 0
    assert seen["host"] == "0.0.0.0" and isinstance(seen["app"], BearerAuth)


def test_on_loopback_without_a_token_one_is_generated_saved_0600_and_printed_once(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The attack: another local user posts to the loopback port and runs jobs as the server's owner.
    monkeypatch.delenv("HF_TRAINER_MCP_TOKEN", raising=False)
    said: list[str] = []
    saved = tmp_path / "token"
    saved.write_text("old\n", encoding="utf-8")
    saved.chmod(0o644)  # a wider file already there is narrowed
    app = http_app("127.0.0.1", announce=said.append, token_file=saved)
    token = saved.read_text(encoding="utf-8").strip()
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600 and len(token) >= 32
    assert len(said) == 1 and f"Authorization: Bearer {token}" in said[0] and str(saved) in said[0]
    with serving(app) as url:
        assert status(url) == 401  # the other local user, without the token
        assert status(url, headers={"Authorization": "Bearer "}) == 401
        assert status(url, headers={"Authorization": f"Bearer {token}"}) == 200
    again = http_app("127.0.0.1", announce=said.append, token_file=saved)  # a new start: a new token
    assert again is not None and saved.read_text(encoding="utf-8").strip() != token


def test_the_default_token_file_lives_in_the_private_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HF_TRAINER_MCP_TOKEN", raising=False)
    monkeypatch.setenv("HF_TRAINER_HOME", str(tmp_path / "home"))
    said: list[str] = []
    http_app("127.0.0.1", announce=said.append)
    saved = tmp_path / "home" / "mcp-http-token"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600 and stat.S_IMODE(saved.parent.stat().st_mode) == 0o700
    assert saved.read_text(encoding="utf-8").strip() in said[0]


@pytest.mark.parametrize("host", [
    "0.0.0.0",  # every IPv4 interface
    "::",  # every IPv6 interface
    "192.168.1.20",  # a LAN address
    "example.com",  # a name that resolves elsewhere
    "127.0.0.2",  # loopback range, but not one of the names we treat as loopback: refused, to be safe
    "LOCALHOST",  # spelled differently: refused, to be safe
])
def test_any_address_but_loopback_needs_a_token(host: str, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("HF_TRAINER_MCP_TOKEN", raising=False)
    with pytest.raises(UserError, match=rf"Serving MCP on {host!r}.*--auth-token-file PATH"):
        http_app(host)
    assert cli.main(["mcp", "--http", "--host", host]) == 2
    assert "--auth-token-file PATH" in capsys.readouterr().err


@pytest.mark.parametrize(("method", "headers"), [
    ("POST", {}),  # no header
    ("GET", {}),  # the SSE stream
    ("DELETE", {}),  # session termination
    ("POST", {"Authorization": f"Basic {TOKEN}"}),  # another scheme
    ("POST", {"Authorization": f"bearer {TOKEN}"}),  # scheme spelled in lower case
    ("POST", {"Authorization": f"Bearer {TOKEN}x"}),  # a longer token
    ("POST", {"Authorization": f"Bearer {TOKEN[:-1]}"}),  # a prefix of the token
    ("POST", {"Authorization": "Bearer "}),  # empty
    ("POST", {"Authorization": f"Bearer  {TOKEN}"}),  # extra space
    ("POST", {"X-Authorization": f"Bearer {TOKEN}"}),  # the wrong header
])
def test_with_a_token_every_request_without_it_is_refused(method: str, headers: dict[str, str]) -> None:
    with serving(http_app("0.0.0.0", auth_token=TOKEN)) as url:
        assert status(url, method, headers) == 401


def test_a_real_mcp_client_with_the_token_lists_and_calls_tools() -> None:
    async def session(url: str) -> tuple[list[str], str]:
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as http:
            async with streamable_http_client(url, http_client=http) as (read, write):
                async with ClientSession(read, write) as client:
                    await client.initialize()
                    tools = await client.list_tools()
                    result = await client.call_tool("hf_jobs_status", {"operation": "help"})
                    return [t.name for t in tools.tools], result.content[0].text

    with serving(http_app("127.0.0.1", auth_token=TOKEN)) as url:
        names, text = asyncio.run(session(url))
    assert {"hf_jobs", "hf_jobs_status", "train", "preflight"} <= set(names)
    assert "Operations and args" in text


@pytest.mark.parametrize(("headers", "expected"), [
    ({}, 200),  # the local client
    ({"Host": "evil.example:8765"}, 421),  # a DNS-rebound name pointing at 127.0.0.1
    ({"Origin": "http://evil.example"}, 403),  # a web page on another site posting to localhost
    ({"Origin": "http://localhost:3000"}, 200),  # a local web client (the Inspector's UI)
])
def test_on_loopback_requests_from_other_sites_are_refused_even_with_the_token(headers: dict[str, str],
                                                                               expected: int) -> None:
    with serving(http_app("127.0.0.1", auth_token=TOKEN)) as url:
        assert status(url, "POST", {"Authorization": f"Bearer {TOKEN}", **headers}) == expected
