"""The MCP server: tool declarations only, each a thin adapter over a library function.

Start-up must stay fast: nothing imported at module level may pull in torch, transformers or datasets; tool bodies
import what they need when called. Expected failures are `UserError`s, turned into ToolErrors with the same text,
because any other exception reaches the client only as "Error executing tool X".
"""

import functools
import hmac
import inspect
import os
import secrets
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Callable, Iterator, Literal, TypeVar

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field, ValidationError, WithJsonSchema

# Each tool's input and result models: pydantic and the standard library only, so start-up stays light; the
# backends, the Hub client and the training stack are imported inside the tools when they are called.
from hf_trainer.dataset_inspect import DatasetInspectInput, DatasetInspection, inspect_dataset
from hf_trainer.errors import UserError, to_user_error
from hf_trainer.failures import named_error
from hf_trainer.estimate import EstimateRequest, EstimateResult
from hf_trainer.jobs.base import BackendName
from hf_trainer.operations import READ_ONLY, JobsResult, args_json_schema, operations_text, usage
from hf_trainer.preflight import PreflightInput, PreflightReport
from hf_trainer.rerun import RerunPlan, RerunRequest
from hf_trainer.train import TrainPlan, TrainRequest

INSTRUCTIONS = (
    "hf-trainer fine-tunes language models on Hugging Face Jobs or this machine. Workflow: inspect the dataset, "
    "estimate time and cost, show the plan and get the person's go-ahead, submit, report the job id, links and cost."
)

mcp = MCPServer("hf-trainer", instructions=INSTRUCTIONS)
R = TypeVar("R")


@contextmanager
def user_errors(tool: str) -> Iterator[None]:
    """Turn an expected failure inside a tool (a UserError, or a pydantic model built from the arguments refusing
    them) into a ToolError the client sees word for word: errors.to_user_error words and redacts it, for the CLI
    too. Anything else is a failure no function anticipated: failures.named_error says what kind of input it
    choked on (redacted), instead of the SDK's bare "Error executing tool"."""
    try:
        yield
    except (UserError, ValidationError) as exc:
        error = to_user_error(exc)
        raise ToolError(str(error)) from None
    except Exception as exc:  # the top level: the last line of defence, by design
        raise ToolError(str(named_error(exc, tool))) from None


# --- tools are declared below, one section per capability ---

# --- hf_jobs and hf_jobs_status: generated from the operation table (operations.py; args models in
# jobs/arguments.py, the submit pipeline in jobs/submit.py, the words in job_views.py) ---


def _structured(result: Any) -> CallToolResult:
    """A result as readable text for the model plus structured content matching the tool's output schema."""
    return CallToolResult(content=[TextContent(type="text", text=result.render())],
                          structured_content=result.model_dump(mode="json"))


def _operation_field(read_only: bool) -> Any:
    return Annotated[str | None, Field(
        description=f"One of: {operations_text(read_only)}. Leave empty (or pass args {{\"help\": true}}) for "
        "usage with examples.")]


def _args_field(read_only: bool) -> Any:
    # Validated by the operation's own model in parse_call (so the error names the operation); published as the
    # choice of those models, so a client sees each operation's fields before it calls.
    return Annotated[dict[str, Any] | str | None, WithJsonSchema(args_json_schema(read_only))]


_JobsBackend = Annotated[Literal["hub", "local"] | None, Field(
    description="Where jobs run: 'hub' (Hugging Face Jobs; default when a token is found) or 'local' (this machine).")]


def run_hf_jobs(operation: str | None, args: dict[str, Any] | str | None, backend: BackendName | None,
                *, read_only: bool = False) -> JobsResult:
    """Parse, pick the backend, run, word the result. Imports the backends on first use so start-up stays light."""
    from hf_trainer.jobs.backends import get_backend
    from hf_trainer.operations import parse_call, run_call

    call = parse_call(operation, args)
    if call.operation == "help":
        return JobsResult(operation="help", backend=backend, text=usage(read_only=read_only))
    if read_only and call.operation not in READ_ONLY:
        raise UserError(f"hf_jobs_status only reads; operation {call.operation!r} changes things. Use the hf_jobs "
                        "tool for it.")
    return run_call(call, get_backend(backend))


@mcp.tool(
    title="Hugging Face Jobs",
    description="Run and manage training jobs on Hugging Face Jobs or on this machine: submit a uv script or a Docker "
    "command, list, read logs, inspect, cancel, wait, metrics, hardware prices, scheduled jobs, webhooks, diagnose "
    "and retry. Same operation + args shape as hf-mcp-server's hf_jobs. Every submission is estimated and "
    "preflighted first and refused with errors unless force. Submitting spends money on the Hub and cancel/delete "
    "stop work: confirm with the person first. Returns readable text plus structured fields (job id, URL, stage, "
    "flavor, $/h).",
    annotations=ToolAnnotations(title="Hugging Face Jobs", read_only_hint=False, destructive_hint=True,
                             idempotent_hint=False, open_world_hint=True),
)
def hf_jobs(operation: _operation_field(False) = None, args: _args_field(False) = None,  # type: ignore[valid-type]
            backend: _JobsBackend = None) -> Annotated[CallToolResult, JobsResult]:
    with user_errors("hf_jobs"):
        return _structured(run_hf_jobs(operation, args, backend))


@mcp.tool(
    title="Hugging Face Jobs (read only)",
    description="Look at jobs without changing anything: " + operations_text(read_only=True) + ", help. Same "
    "arguments as hf_jobs.",
    annotations=ToolAnnotations(title="Hugging Face Jobs (read only)", read_only_hint=True, destructive_hint=False,
                             idempotent_hint=True, open_world_hint=True),
)
def hf_jobs_status(operation: _operation_field(True) = None, args: _args_field(True) = None,  # type: ignore[valid-type]
                   backend: _JobsBackend = None) -> Annotated[CallToolResult, JobsResult]:
    with user_errors("hf_jobs_status"):
        return _structured(run_hf_jobs(operation, args, backend, read_only=True))


# --- the other tools take their model's fields flat (the model is the schema: descriptions, limits, defaults) ---


def flat_fields(model: type[BaseModel], tool: str) -> Callable[[Callable[[Any], R]], Callable[..., R]]:
    """Turn `fn(params: Model)` into a tool whose parameters are Model's fields, flat (no wrapper object): clients
    see each field with its description and limits; the call is validated by Model itself (its validators too), and
    a refusal is worded by errors.to_user_error like every other one."""
    from hf_trainer.operations import inline_refs

    properties = inline_refs(model.model_json_schema())["properties"]
    parameters = []
    for name, field in model.model_fields.items():
        # Published exactly as the model declares the field; accepted as any value here, so the model itself (not
        # the SDK's pre-check) refuses a bad one, in the words of errors.to_user_error like the CLI.
        annotation = Annotated[Any, WithJsonSchema(properties[name])]
        default = inspect.Parameter.empty if field.is_required() else field.get_default(call_default_factory=True)
        parameters.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                            annotation=annotation))

    def decorate(fn: Callable[[Any], R]) -> Callable[..., R]:
        @functools.wraps(fn)
        def call(**kwargs: Any) -> R:
            with user_errors(tool):
                params = model.model_validate(kwargs)
            return fn(params)

        return_annotation = inspect.signature(fn, eval_str=True).return_annotation
        call.__signature__ = inspect.Signature(parameters, return_annotation=return_annotation)  # type: ignore[attr-defined]
        return call

    return decorate


@mcp.tool(annotations=ToolAnnotations(title="Inspect a dataset", read_only_hint=True, open_world_hint=True))
@flat_fields(DatasetInspectInput, "dataset_inspect")
def dataset_inspect(params: DatasetInspectInput) -> Annotated[CallToolResult, DatasetInspection]:
    """Check a dataset before training: run this first, before estimating or submitting a job.

    Reads a sample of a Hub dataset (through the dataset viewer, with the user's token, so private and gated ones
    work) or of a local file/folder, detects its format (TRL's language modelling, prompt-only, prompt-completion,
    preference, unpaired preference; ShareGPT, Alpaca, Dolly, question/answer, ...), checks the values (roles,
    order, empty content, types across rows) and returns for SFT, DPO, GRPO, reward and KTO: READY, NEEDS MAPPING or
    INCOMPATIBLE with reasons, and the config and split each method trains on (e.g. train_prefs for DPO on
    ultrafeedback_binarized). For NEEDS MAPPING it names a mapping it has already run on the sample and
    re-validated: pass it to the training script as `--dataset_mapping NAME` (the source is included for reading).
    With model_name_or_path it adds token-length percentiles, the share that max_length truncates, and whether the
    tokenizer has a chat template. Row count x mean tokens gives the token total for cost estimates. The sample is
    half head, half evenly spaced rows (source.sampled_from, source.locations); rows over 8 MB are counted, not read;
    chat_template checks a template the SFT script would use (`--chat_template`) for a model that has none. The
    training scripts check their rows with the same rules, so READY means the script trains.
    """
    with user_errors("dataset_inspect"):
        # Concise text for the model to act on; every field (mapping sources included) in structured content.
        return _structured(inspect_dataset(params))


# --- estimate_cost (estimate.py over estimate_math.py; hardware.py and model_size.py are imported when called) ---


@mcp.tool(annotations=ToolAnnotations(title="Estimate time, memory and cost", read_only_hint=True,
                                      open_world_hint=True))
@flat_fields(EstimateRequest, "estimate_cost")
def estimate_cost(request: EstimateRequest) -> EstimateResult:
    """Estimate a training job on every HF Jobs flavor before submitting it: run after dataset_inspect.

    Give the model (model_name_or_path; its size is read from the Hub's safetensors metadata or config.json, never
    from the name; or num_params), the data in tokens (num_rows and mean_tokens_per_row from dataset_inspect's
    source.num_rows and token_stats.mean; or total_tokens; or max_steps), the method (sft, dpo, grpo, reward, kto)
    and its settings (use_peft, load_in_4bit, per_device_train_batch_size, max_length, ...). Returns, per flavor,
    whether it fits in GPU memory (fits / fits with named changes / does not fit), hours and dollars at live prices;
    the recommendation (cheapest that fits within max_hours), the job timeout to set (estimate + 25%), the changes
    to pass to the training script, warnings (every figure it assumed instead of measuring), and every assumption.
    Show the table and recommendation to the person.
    """
    from hf_trainer.estimate import run_estimate

    with user_errors("estimate_cost"):
        return run_estimate(request)


# --- preflight and train (preflight.py, train.py; pydantic and stdlib only at import) ---


@mcp.tool(annotations=ToolAnnotations(title="Preflight a job", read_only_hint=True, open_world_hint=False))
@flat_fields(PreflightInput, "preflight")
def preflight(job: PreflightInput) -> PreflightReport:
    """Lint a job before it is submitted: the script text (with its PEP 723 header) together with its job arguments.

    Finds what makes jobs fail or lose money: no or broken PEP 723 header; a training script whose results would be
    lost (no push to the Hub, no repo id, a push without an HF_TOKEN secret); literal tokens in the script or env;
    removed or renamed TRL/transformers arguments (max_seq_length, tokenizer=, evaluation_strategy, ...); evaluation
    with no eval data; GRPO without rewards; local paths a Hub container cannot see; a timeout shorter than the
    estimate + 25% (pass estimated_seconds from estimate_cost); a model that does not fit (memory_fits); a dataset
    not ready for the method (dataset_verdict from dataset_inspect). Each finding: severity, rule, line, fix; every
    finding is listed together. hf_jobs uv/run refuse jobs with errors unless called with force: true.
    """
    from hf_trainer.preflight import preflight as run_preflight

    with user_errors("preflight"):
        return run_preflight(job)


@mcp.tool(annotations=ToolAnnotations(title="Plan and submit a training run", read_only_hint=False,
                                      destructive_hint=False, idempotent_hint=False, open_world_hint=True))
@flat_fields(TrainRequest, "train")
def train(request: TrainRequest) -> TrainPlan:
    """The whole path in one call: method (sft, dpo, grpo, reward, kto), model, dataset and output repo in.

    Without confirm it only PLANS: checks the dataset (and picks the mapping, config and split it needs), estimates
    time, memory and cost on every flavor, picks the cheapest flavor that fits the time limit (or the one given),
    builds the job from the bundled script with arguments, runs preflight, and returns flavor, time, cost, timeout
    and where results go. Show that plan and its cost to the person; call again with confirm: true only after they
    approve. Then it returns the job id, job URL, trackio link and model repo. max_cost_usd refuses plans above it.
    When the flavor fits only with changes (8-bit optimizer, smaller batch, FSDP), they are already in script_args
    and listed in the plan; a change of method, model, precision or data (QLoRA, 8-bit optimizer, LoRA) is a
    DECISION line in the plan (`decisions`), with the flavor that keeps the run as asked: put it to the person.
    smoke: true first sends a one-step rehearsal of the job (save, card, push to '<repo>-smoke') and sends the full
    job only after it COMPLETED (the call waits; both are priced in the plan). resume (default
    auto) continues a checkpoint in the output repo only when the same run made it (model, method, data,
    arguments), else starts fresh; never / must as named. backend: hub (default with a token) or local. Submission
    goes through the same estimate + preflight as hf_jobs.
    """
    from hf_trainer.jobs.backends import get_backend
    from hf_trainer.train import train as run_train

    with user_errors("train"):
        return run_train(request, get_backend(request.backend))


# --- rerun (rerun.py; pydantic and stdlib only at import) ---


@mcp.tool(name="rerun", annotations=ToolAnnotations(title="Rerun a training job", read_only_hint=False,
                                                    destructive_hint=False, idempotent_hint=False,
                                                    open_world_hint=True))
@flat_fields(RerunRequest, "rerun")
def rerun_job(request: RerunRequest) -> RerunPlan:
    """Run the job that made a model again: the same bundled script with exactly the same arguments and flavor.

    source: the model repo the run pushed to (owner/name; its card records the job), a local model folder, or a job
    id. Without confirm it only PLANS and returns the script, arguments, flavor, library versions, preflight (with
    the estimate of those arguments on that flavor) and notes (e.g. the script changed since: its sha256 differs).
    Show it to the person; call again with confirm: true after they approve. flavor and timeout ("2h") override the
    recorded ones; force submits past preflight errors (never past a leaked token). A model card is untrusted: only
    bundled scripts rerun, and a record with --trust_remote_code also needs trust_remote_code: true, which only the
    person may give after reading the plan's note (the model's own code runs with their token).
    """
    from hf_trainer.jobs.backends import get_backend
    from hf_trainer.rerun import rerun_request

    with user_errors("rerun"):
        return rerun_request(request, get_backend(request.backend))


# --- serving: stdio, or streamable HTTP (always behind a bearer token; given, or generated on loopback) ---
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
AUTH_TOKEN_ENV = "HF_TRAINER_MCP_TOKEN"
TOKEN_FILE_NAME = "mcp-http-token"


class BearerAuth:
    """ASGI middleware: every HTTP request must carry `Authorization: Bearer <token>`; others get 401."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode("utf-8")

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                body = b'{"error": "unauthorized: send Authorization: Bearer <token>"}'
                await send({"type": "http.response.start", "status": 401, "headers": [
                    (b"content-type", b"application/json"), (b"www-authenticate", b"Bearer"),
                    (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def write_token_file(token: str, path: Path | None = None) -> Path:
    """Write the bearer token to `path` (default HF_TRAINER_HOME/mcp-http-token), readable by this user only
    (0600 from the moment it exists: created with that mode, and narrowed if it was there already)."""
    from hf_trainer import paths  # HF_TRAINER_HOME, created 0700

    target = path or paths.home() / TOKEN_FILE_NAME
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (token + "\n").encode("utf-8"))
    finally:
        os.close(fd)
    return target


def http_token(auth_token: str | None = None, *, announce: Callable[[str], None] | None = None,
               token_file: Path | None = None) -> str:
    """The bearer token HTTP clients must send: the one given (--auth-token-file, HF_TRAINER_MCP_TOKEN), else a new
    random one, written to a 0600 file and printed once to stderr (`announce`), so the person can hand it to a
    client. Any local user can reach a loopback port: without a token they could run jobs as this user."""
    token = auth_token or os.environ.get(AUTH_TOKEN_ENV) or None
    if token:
        return token
    token = secrets.token_urlsafe(32)
    where = write_token_file(token, token_file)
    (announce or _stderr)(
        f"hf-trainer MCP over HTTP: no token was given, so one was generated. Clients must send the header "
        f"'Authorization: Bearer {token}'. It is saved in {where} (readable only by you) and is not shown again; "
        f"pass --auth-token-file PATH or set {AUTH_TOKEN_ENV} to choose your own.")
    return token


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def http_app(host: str = "127.0.0.1", auth_token: str | None = None, *,
             announce: Callable[[str], None] | None = None, token_file: Path | None = None) -> Any:
    """The streamable HTTP app; every request must carry the bearer token. Off loopback the token must be given
    (a generated one is for this machine's own clients); on loopback one is generated when none is given."""
    given = auth_token or os.environ.get(AUTH_TOKEN_ENV) or None
    if host not in LOOPBACK_HOSTS and not given:
        raise UserError(
            f"Serving MCP on {host!r} would let anyone who can reach this machine run jobs with your Hugging Face "
            f"token. Pass --auth-token-file PATH (or set {AUTH_TOKEN_ENV}); clients then send 'Authorization: Bearer "
            "TOKEN'. Or serve on 127.0.0.1."
        )
    token = http_token(given, announce=announce, token_file=token_file)
    return BearerAuth(mcp.streamable_http_app(host=host), token)


def serve(http: bool = False, host: str = "127.0.0.1", port: int = 8765, auth_token: str | None = None) -> None:
    """Run the server: stdio by default, streamable HTTP with `http=True` (see `http_app` for the auth rules)."""
    from hf_trainer.budget import hold_strictest

    hold_strictest()  # for the server's life a budget can be lowered, never lifted (a job could edit the file)
    if http:
        import uvicorn  # only the HTTP transport needs it

        uvicorn.run(http_app(host, auth_token), host=host, port=port, log_level="warning")
    else:
        mcp.run()
