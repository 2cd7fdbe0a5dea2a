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

# --- dataset_inspect (dataset_inspect.py; stdlib + pydantic only, so importing it keeps start-up fast) ---
from typing import Annotated  # noqa: E402

from mcp.types import ToolAnnotations  # noqa: E402
from pydantic import Field  # noqa: E402

from hf_trainer.dataset_inspect import DatasetInspectInput, DatasetInspection, Method, inspect_dataset  # noqa: E402

_FIELDS = DatasetInspectInput.model_fields


@mcp.tool(annotations=ToolAnnotations(title="Inspect a dataset", read_only_hint=True, open_world_hint=True))
def dataset_inspect(
    dataset_name: Annotated[str, Field(description=_FIELDS["dataset_name"].description, min_length=1)],
    dataset_config: Annotated[str | None, Field(description=_FIELDS["dataset_config"].description)] = None,
    dataset_train_split: Annotated[str | None, Field(description=_FIELDS["dataset_train_split"].description)] = None,
    method: Annotated[Method | None, Field(description=_FIELDS["method"].description)] = None,
    model_name_or_path: Annotated[str | None, Field(description=_FIELDS["model_name_or_path"].description)] = None,
    max_length: Annotated[int | None, Field(description=_FIELDS["max_length"].description, ge=1)] = None,
    sample_size: Annotated[int, Field(description=_FIELDS["sample_size"].description, ge=1, le=2000)] = 100,
) -> DatasetInspection:
    """Check a dataset before training: run this first, before estimating or submitting a job.

    Reads a sample of a Hub dataset (through the dataset viewer, with the user's token, so private and gated ones
    work) or of a local file/folder, detects its format (TRL's language modelling, prompt-only, prompt-completion,
    preference, unpaired preference; ShareGPT, Alpaca, Dolly, question/answer, ...), checks the values (roles,
    order, empty content, types across rows) and returns for SFT, DPO, GRPO, reward and KTO: READY, NEEDS MAPPING or
    INCOMPATIBLE with reasons. For NEEDS MAPPING it names a mapping it has already run on the sample and re-validated:
    pass it to the training script as `--dataset_mapping NAME` (the source is included for reading). With
    model_name_or_path it adds token-length percentiles, the share that max_length truncates, and whether the
    tokenizer has a chat template. Row count x mean tokens gives the token total for cost estimates.
    """
    with user_errors():
        params = DatasetInspectInput(dataset_name=dataset_name, dataset_config=dataset_config,
                                     dataset_train_split=dataset_train_split, method=method,
                                     model_name_or_path=model_name_or_path, max_length=max_length,
                                     sample_size=sample_size)
        return inspect_dataset(params)


def serve(http: bool = False, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Run the server: stdio by default, streamable HTTP with `http=True`."""
    if http:
        mcp.run("streamable-http", host=host, port=port)
    else:
        mcp.run()
