"""The streamable HTTP transport's guarantees (tests/test_server_stdio.py has the first two; these fill the gaps):
127.0.0.1 by default; any other address refused without a bearer token; with a token, every request without it (any
method, any near-miss of the header) refused before the MCP app sees it; a real MCP client with the token works; and on
loopback without a token, requests from a rebound host name or a foreign web page are refused (DNS rebinding)."""

import asyncio
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
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


def test_the_cli_serves_http_on_127_0_0_1_by_default_without_requiring_a_token(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.delenv("HF_TRAINER_MCP_TOKEN", raising=False)
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(app=app, **kwargs))
    assert cli.main(["mcp", "--http"]) == 0
    assert seen["host"] == "127.0.0.1" and not isinstance(seen["app"], BearerAuth)
    assert cli.main(["mcp", "--http", "--host", "0.0.0.0", "--auth-token", TOKEN]) == 0
    assert seen["host"] == "0.0.0.0" and isinstance(seen["app"], BearerAuth)


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
def test_on_loopback_without_a_token_requests_from_other_sites_are_refused(headers: dict[str, str],
                                                                           expected: int) -> None:
    with serving(http_app("127.0.0.1")) as url:
        assert status(url, "POST", headers) == expected
