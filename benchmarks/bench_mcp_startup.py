"""Benchmark (not a test): spawn-to-first-tools/list over stdio, our server beside a minimal MCPServer with one tool.

    .venv/bin/python benchmarks/bench_mcp_startup.py [--rounds 7]

Each round starts a fresh process for each server (alternating which goes first, so neither always meets a warm
page cache), runs initialize + tools/list with the SDK's stdio client and takes the wall time from spawn to the
tools/list answer. Prints every round, the medians and the ratio ours/minimal. Target: within 1.5x.
"""

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

TARGET_RATIO = 1.5
MINIMAL_SERVER = '''
from mcp.server import MCPServer

mcp = MCPServer("minimal")


@mcp.tool()
def echo(text: str) -> str:
    """Echo the text."""
    return text


mcp.run()
'''


async def _time_to_tools(params: StdioServerParameters) -> tuple[float, int]:
    start = time.perf_counter()
    with open(os.devnull, "w", encoding="utf-8") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = await session.list_tools()
                elapsed = time.perf_counter() - start
    return elapsed, len(tools.tools)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="Timed rounds per server (default 7).")
    return parser.parse_args(argv)


def main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        minimal_path = Path(tmp) / "minimal_server.py"
        minimal_path.write_text(MINIMAL_SERVER, encoding="utf-8")
        # A token-free, isolated environment: start-up must not depend on (or touch) the caller's Hub login.
        env = {**os.environ, "HF_TRAINER_HOME": str(Path(tmp) / "home"), "HF_HOME": str(Path(tmp) / "hf")}
        env.pop("HF_TOKEN", None)
        servers = {
            "hf-trainer": StdioServerParameters(command=sys.executable, args=["-m", "hf_trainer.cli", "mcp"], env=env),
            "minimal": StdioServerParameters(command=sys.executable, args=[str(minimal_path)], env=env),
        }
        # One untimed warm-up each: the first start pays for compiling .pyc files.
        for params in servers.values():
            asyncio.run(_time_to_tools(params))
        times: dict[str, list[float]] = {name: [] for name in servers}
        counts: dict[str, int] = {}
        for round_no in range(args.rounds):
            order = list(servers) if round_no % 2 == 0 else list(reversed(servers))
            for name in order:
                elapsed, count = asyncio.run(_time_to_tools(servers[name]))
                times[name].append(elapsed)
                counts[name] = count
            print(f"round {round_no + 1}: " + ", ".join(f"{n} {times[n][-1] * 1000:.0f} ms" for n in servers))
    medians = {name: statistics.median(values) for name, values in times.items()}
    ratio = medians["hf-trainer"] / medians["minimal"]
    for name in servers:
        print(f"{name:>10}: median {medians[name] * 1000:.0f} ms over {args.rounds} rounds ({counts[name]} tools)")
    verdict = "within" if ratio <= TARGET_RATIO else "OVER"
    print(f"ratio hf-trainer/minimal: {ratio:.2f}x ({verdict} the {TARGET_RATIO}x target)")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main(parse_args()))
