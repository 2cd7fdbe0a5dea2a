"""The MCP server: tool declarations only, each a thin adapter over a library function.

Start-up must stay fast: nothing imported at module level may pull in torch, transformers or datasets; tool bodies
import what they need when called. Expected failures are `UserError`s, turned into ToolErrors with the same text,
because any other exception reaches the client only as "Error executing tool X".
"""

from contextlib import contextmanager
from typing import Iterator

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from hf_trainer.errors import UserError

INSTRUCTIONS = (
    "hf-trainer fine-tunes language models on Hugging Face Jobs or this machine. Workflow: inspect the dataset, "
    "estimate time and cost, show the plan and get the person's go-ahead, submit, report the job id, links and cost."
)

mcp = MCPServer("hf-trainer", instructions=INSTRUCTIONS)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a UserError raised inside a tool into a ToolError the client sees word for word."""
    try:
        yield
    except UserError as exc:
        raise ToolError(str(exc)) from None


# --- tools are declared below, one section per capability ---


def serve(http: bool = False, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Run the server: stdio by default, streamable HTTP with `http=True`."""
    if http:
        mcp.run("streamable-http", host=host, port=port)
    else:
        mcp.run()
