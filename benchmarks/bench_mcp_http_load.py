"""Benchmark (not a test): a bounded load on the streamable HTTP MCP server, on loopback only.

    .venv/bin/python benchmarks/bench_mcp_http_load.py [--calls 200] [--sessions 20] [--deadline 180] [--json]

Starts `hf-trainer mcp --http --host 127.0.0.1 --auth-token ...` as a separate process in an isolated home (no Hub
token, so jobs tools read the local backend), opens --sessions MCP client sessions with the SDK's streamable HTTP
client, then fires --calls read-only tool calls at once, spread over the sessions: hf_jobs_status help, hf_jobs_status
ps (local backend: SQLite), and preflight of a small script. While they run, it also sends unauthenticated requests,
which must all be refused (401). Reports errors, p50, p99 and max latency per call, and the throughput. Bounded: the
number of calls is fixed, and the whole run is cancelled after --deadline seconds.
"""

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

HOST = "127.0.0.1"  # loopback only, by design: this benchmark never listens elsewhere
SCRIPT = "# /// script\n# dependencies = ['trl>=1.16']\n# ///\nfrom trl import SFTConfig\nprint(SFTConfig)\n"
CALLS = [
    ("hf_jobs_status", {"operation": "help"}),
    ("hf_jobs_status", {"operation": "ps", "args": {"all": True}, "backend": "local"}),
    ("preflight", {"job": {"script_text": SCRIPT, "script_name": "train.py", "backend": "local"}}),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="Tool calls in flight at once (default 200, max 2000).")
    parser.add_argument("--sessions", type=int, default=20, help="Client sessions sharing them (default 20).")
    parser.add_argument("--unauthenticated", type=int, default=20, help="Requests without the token (default 20).")
    parser.add_argument("--deadline", type=float, default=180, help="Give up after this many seconds (default 180).")
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    args = parser.parse_args(argv)
    if not 1 <= args.calls <= 2000 or not 1 <= args.sessions <= args.calls:
        parser.error("--calls must be 1..2000 and --sessions 1..calls")
    return args


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _start_server(home: Path, port: int, token: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(HF_HOME=str(home / "hf"), HF_TRAINER_HOME=str(home / "hf-trainer"), TRACKIO_DIR=str(home / "trackio"),
               HF_HUB_DISABLE_TELEMETRY="1")
    return subprocess.Popen([sys.executable, "-m", "hf_trainer.cli", "mcp", "--http", "--host", HOST, "--port",
                             str(port), "--auth-token", token], env=env, stdout=subprocess.DEVNULL,
                            stderr=open(home / "server-stderr.txt", "w", encoding="utf-8"))


def _wait_until_listening(port: int, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with code {server.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit("the server did not start listening")


async def _one_call(client: ClientSession, name: str, arguments: dict) -> tuple[float, str | None]:
    start = time.perf_counter()
    try:
        result = await client.call_tool(name, arguments)
    except Exception as exc:  # noqa: BLE001 - a benchmark counts every failure, whatever its kind
        return time.perf_counter() - start, f"{type(exc).__name__}: {exc}"
    error = result.content[0].text[:200] if result.is_error else None
    return time.perf_counter() - start, error


async def _unauthenticated(url: str, count: int) -> list[int]:
    async with httpx2.AsyncClient(timeout=30) as http:
        answers = await asyncio.gather(*[http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                                                   headers={"Accept": "application/json, text/event-stream"})
                                         for _ in range(count)])
    return [a.status_code for a in answers]


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc), to tell a busy server from a busy client."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _load(url: str, token: str, args: argparse.Namespace, server_pid: int) -> dict[str, Any]:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"},
                                  timeout=httpx2.Timeout(args.deadline)) as http:
        sessions: list[ClientSession] = []
        async with _Sessions(url, http, args.sessions) as sessions:
            # Unloaded first: each call alone, three times, for the latency one caller sees on an idle server.
            alone = {name_of(c): [(await _one_call(sessions[0], *c))[0] for _ in range(3)] for c in CALLS}
            jobs = [_one_call(sessions[i % len(sessions)], *CALLS[i % len(CALLS)]) for i in range(args.calls)]
            start, server_cpu, client_cpu = time.perf_counter(), _cpu_seconds(server_pid), time.process_time()
            results, refused = await asyncio.gather(asyncio.gather(*jobs), _unauthenticated(url, args.unauthenticated))
            wall = time.perf_counter() - start
            client_cpu = time.process_time() - client_cpu
            server_end = _cpu_seconds(server_pid)
            server_cpu = None if server_cpu is None or server_end is None else server_end - server_cpu
    latencies = sorted(r[0] for r in results)
    errors = [r[1] for r in results if r[1] is not None]
    per_tool = {name_of(c): round(statistics.median(r[0] for i, r in enumerate(results) if i % len(CALLS) == k), 3)
                for k, c in enumerate(CALLS)}

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(round(p / 100 * (len(latencies) - 1))))]

    return {"calls": len(results), "sessions": args.sessions, "errors": len(errors), "error_samples": errors[:3],
            "p50_s": round(statistics.median(latencies), 3), "p99_s": round(pct(99), 3),
            "max_s": round(latencies[-1], 3), "wall_s": round(wall, 2), "calls_per_s": round(len(results) / wall, 1),
            "p50_s_per_tool_under_load": per_tool,
            "server_cpu_s": None if server_cpu is None else round(server_cpu, 2), "client_cpu_s": round(client_cpu, 2),
            "p50_s_per_tool_alone": {k: round(statistics.median(v), 3) for k, v in alone.items()},
            "load_average_1m": round(os.getloadavg()[0], 2),
            "unauthenticated": len(refused), "unauthenticated_refused_401": sum(1 for s in refused if s == 401)}


def name_of(call: tuple[str, dict]) -> str:
    return call[0] + (f" {call[1]['operation']}" if "operation" in call[1] else "")


class _Sessions:
    """N initialized client sessions over one authenticated HTTP client."""

    def __init__(self, url: str, http: httpx2.AsyncClient, count: int) -> None:
        self.url, self.http, self.count = url, http, count
        self._stack: Any = None

    async def __aenter__(self) -> list[ClientSession]:
        from contextlib import AsyncExitStack

        self._stack = AsyncExitStack()
        sessions = []
        for _ in range(self.count):
            read, write = await self._stack.enter_async_context(streamable_http_client(self.url, http_client=self.http))
            session = await self._stack.enter_async_context(ClientSession(read, write))
            await session.initialize()
            sessions.append(session)
        return sessions

    async def __aexit__(self, *exc: Any) -> None:
        await self._stack.aclose()


def main(args: argparse.Namespace) -> int:
    token = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        server = _start_server(Path(tmp), port, token)
        try:
            _wait_until_listening(port, server)
            load = _load(f"http://{HOST}:{port}/mcp", token, args, server.pid)
            figures = asyncio.run(asyncio.wait_for(load, args.deadline))
        finally:
            server.terminate()
            server.wait(timeout=30)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"{figures['calls']} tool calls at once over {figures['sessions']} sessions on {HOST}: "
              f"{figures['errors']} errors, p50 {figures['p50_s']} s, p99 {figures['p99_s']} s, "
              f"max {figures['max_s']} s, "
              f"{figures['calls_per_s']} calls/s ({figures['wall_s']} s)")
        print(f"CPU during the load: server {figures['server_cpu_s']} s, client {figures['client_cpu_s']} s "
              f"(of {figures['wall_s']} s wall, {os.cpu_count()} cores, load average "
              f"{figures['load_average_1m']})")
        print(f"per tool, p50 under load: {figures['p50_s_per_tool_under_load']}; alone: "
              f"{figures['p50_s_per_tool_alone']}")
        print(f"unauthenticated requests refused with 401: {figures['unauthenticated_refused_401']}/"
              f"{figures['unauthenticated']}")
        for sample in figures["error_samples"]:
            print(f"  error: {sample}")
    ok = figures["errors"] == 0 and figures["unauthenticated_refused_401"] == figures["unauthenticated"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(parse_args()))
