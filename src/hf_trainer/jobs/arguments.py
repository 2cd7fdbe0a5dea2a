"""The arguments of every `hf_jobs` operation, one pydantic model each (hf-mcp-server's `operation` + `args` shape).

Agents used to hf-mcp-server's `hf_jobs` tool send `{"operation": "uv", "args": {"script": ..., "flavor": ...}}`; the
same calls work here, and `hf-trainer jobs ...` builds the same dicts. The models are the one place arguments are
checked: field types and limits refuse bad values, the shared annotated types below parse the forms people write
(timeouts like "2h", env as {"K": "v"} or ["K=v"], a command as a string). Ids are checked against the formats the Hub
issues before they go anywhere near a URL. `errors.validation_error` turns pydantic's complaints into one UserError
that names the argument, quotes the value and gives the accepted forms.
"""

import re
import shlex
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from hf_trainer.errors import UserError
from hf_trainer.jobs.base import CommandJobRequest, Stage, UvJobRequest
from hf_trainer.timeouts import ACCEPTED as TIMEOUT_FORMS
from hf_trainer.timeouts import parse_timeout

DEFAULT_LOG_TAIL = 50
DEFAULT_FOLLOW_SECONDS = 30
DEFAULT_WAIT_SECONDS = 600
MAX_TOOL_WAIT_SECONDS = 3600
SHELL_OPERATORS = frozenset({"|", "||", "&", "&&", ";", ";;", ">", ">>", "<", "<<", "(", ")", ">&", "<&", "|&"})
SCHEDULE_KEYWORDS = ("@annually", "@yearly", "@monthly", "@weekly", "@daily", "@hourly")
_LABEL = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_CRON_FIELD = re.compile(r"^[\d*/,\-A-Za-z?LW#]+$")
# The Hub issues job, scheduled-job and webhook ids as hex strings (24 characters today, e.g. 6751a2c3e4f5a6b7c8d9e0f1);
# the local backend uses the same form and accepts a unique prefix. Anything else ('/', '.', '?', '#', '%', spaces)
# could move a request to another Hub API path, so it never leaves this module.
_HEX_ID = re.compile(r"^[0-9a-fA-F]{1,64}$")
_NAMESPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,95}$")
_PYTHON = re.compile(r"^\d+(\.\d+){0,2}$")


# --- value parsers: each raises ValueError with the accepted forms (pydantic adds the argument and the value) ---


def _id_of(what: str, finder: str) -> Any:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not _HEX_ID.match(value.strip()):
            raise ValueError(f"is not a {what} id: ids are hexadecimal, e.g. 6751a2c3e4f5a6b7c8d9e0f1 (24 "
                             f"characters), with no '/', '.', '?', '#' or '%'. Find ids with {finder}")
        return value.strip().lower()
    return check


def _timeout(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        raise ValueError(f"is not a duration. Use {TIMEOUT_FORMS}")
    try:
        seconds = parse_timeout(value)
    except (UserError, OverflowError, ValueError):
        raise ValueError(f"is not a duration. Use {TIMEOUT_FORMS}") from None
    if seconds > 7 * 86400:
        raise ValueError("is longer than 7 days, the longest job this tool submits. Use e.g. '2h' or '1d'")
    return seconds


def parse_command(value: Any, name: str = "command") -> list[str]:
    """A command as a list of words, or a string split like a POSIX shell would; shell operators refused."""
    hint = (f"Pass {name} as a list of words, e.g. [\"python\", \"-c\", \"print(1)\"]; for pipes, redirections or "
            f"several commands use [\"bash\", \"-c\", \"cmd1 && cmd2 | tee out.txt\"].")
    if isinstance(value, list):
        if not value or not all(isinstance(w, (str, int, float)) and not isinstance(w, bool) for w in value):
            raise UserError(f"{name} {value!r} must be a non-empty list of strings. {hint}")
        return [str(w) for w in value]
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"{name} {value!r} must be a non-empty list of strings or a string. {hint}")
    try:
        lexer = shlex.shlex(value, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens = list(lexer)
        words = shlex.split(value)
    except ValueError as exc:
        raise UserError(f"{name} {value!r} cannot be split into words ({exc}). {hint}") from None
    operators = [t for t in tokens if t in SHELL_OPERATORS]
    if operators:
        raise UserError(f"{name} {value!r} uses the shell operator {operators[0]!r}, but the command runs without a "
                        f"shell. {hint}")
    return words


def _command(value: Any) -> list[str]:
    try:
        return parse_command(value)
    except UserError as exc:
        raise ValueError(str(exc).split(" ", 2)[-1] if str(exc).startswith("command ") else str(exc)) from None


def _string_map(check_labels: bool = False) -> Any:
    forms = "Pass it as an object {\"KEY\": \"value\"} or a list [\"KEY=value\"]"

    def parse(value: Any) -> dict[str, str]:
        if value is None:
            return {}
        items: dict[Any, Any] = {}
        if isinstance(value, dict):
            items = dict(value)
        elif isinstance(value, list):
            for entry in value:
                if not isinstance(entry, str) or "=" not in entry:
                    raise ValueError(f"has the entry {entry!r}, which is not KEY=value. {forms}")
                key, _, val = entry.partition("=")
                items[key] = val
        else:
            raise ValueError(f"is not a mapping. {forms}")
        out: dict[str, str] = {}
        for key, val in items.items():
            if not isinstance(key, str) or not key.strip():
                raise ValueError(f"has an empty key. {forms}")
            if isinstance(val, bool):
                val = str(val).lower()
            elif isinstance(val, (int, float)):
                val = str(val)
            if not isinstance(val, str):
                raise ValueError(f"has {key!r} = {val!r}; values must be strings. {forms}")
            if check_labels and not (_LABEL.match(key) and (val == "" or _LABEL.match(val))):
                raise ValueError(f"has {key!r}={val!r}: label keys and values use only letters, digits, '-' and "
                                 "'_' (at most 100 characters)")
            out[key] = val
        return out
    return parse


def _string_list(example: str) -> Any:
    def parse(value: Any) -> list[str]:
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool)
                                           for v in value):
            return [str(v) for v in value]
        raise ValueError(f"must be a list of strings, e.g. {example}")
    return parse


def parse_volumes(value: Any) -> list[str]:
    """hf://[TYPE/]SOURCE[@REV][/PATH]:/MOUNT_PATH[:ro|:rw] strings, checked with huggingface_hub's own parser."""
    # huggingface_hub.utils pulls in its HTTP stack; only volume checks need it.
    from huggingface_hub.errors import HfUriError
    from huggingface_hub.utils import parse_hf_mount

    volumes = _string_list("[\"hf://datasets/org/data:/data:ro\"]")(value)
    for spec in volumes:
        try:
            parse_hf_mount(spec)
        except HfUriError as exc:
            raise ValueError(
                f"has {spec!r}, which is not a Hub mount ({exc.msg}). Use hf://[TYPE/]SOURCE[/PATH]:/MOUNT_PATH[:ro|:rw] "
                "with TYPE models, datasets, spaces or buckets, e.g. 'hf://datasets/org/data:/data:ro' or "
                "'hf://buckets/me/out:/outputs'") from None
    return volumes


def _schedule(value: Any) -> str:
    forms = (f"one of {', '.join(SCHEDULE_KEYWORDS)} or a 5-field CRON expression such as '0 9 * * 1' "
             "(09:00 every Monday)")
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"is missing. Use {forms}")
    text = value.strip()
    if text.startswith("@"):
        if text.lower() not in SCHEDULE_KEYWORDS:
            raise ValueError(f"is not known. Use {forms}")
        return text.lower()
    fields = text.split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
        raise ValueError(f"is not a CRON expression. Use {forms}")
    return text


def _namespace(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _NAMESPACE.match(value.strip()):
        raise ValueError("is not a user or organization name (letters, digits, '-' and '_'), e.g. 'my-org'")
    return value.strip()


def _flavor(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.match(r"^[a-z0-9][a-z0-9-]{0,63}$", value.strip().lower()):
        raise ValueError("must be a hardware name such as 'cpu-basic', 'a10g-large' or 'h200'. List them with "
                         "operation 'hardware'")
    return value.strip().lower()


def _python(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or not _PYTHON.match(str(value).strip()):
        raise ValueError("must be a version such as '3.12'")
    return str(value).strip()


def _stage(value: Any) -> Stage | None:
    if value is None:
        return None
    name = str(value).strip().upper()
    if name not in Stage.__members__:
        raise ValueError(f"is not a job stage. Stages: {', '.join(Stage.__members__)}")
    return Stage(name)


def _non_empty(what: str) -> Any:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"must be {what}")
        return value
    return check


# Each parser accepts more forms than its result type (a timeout as "2h", env as ["K=v"]): `json_schema_input_type`
# publishes the forms it accepts, so the schema clients read from the tool list admits exactly what the model does.
JobId = Annotated[str, BeforeValidator(_id_of("job", "operation 'ps' and args {\"all\": true}"))]
ScheduledJobId = Annotated[str, BeforeValidator(_id_of("scheduled job", "operation 'scheduled ps'"))]
WebhookId = Annotated[str, BeforeValidator(_id_of("webhook", "operation 'webhook ps'"))]
Timeout = Annotated[int | None, BeforeValidator(_timeout, json_schema_input_type=int | str | None)]
StringMap = Annotated[dict[str, str], BeforeValidator(_string_map(), json_schema_input_type=dict[str, str | int | float | bool] | list[str])]
Labels = Annotated[dict[str, str], BeforeValidator(_string_map(check_labels=True), json_schema_input_type=dict[str, str | int | float | bool] | list[str])]
Namespace = Annotated[str | None, BeforeValidator(_namespace)]
Flavor = Annotated[str | None, BeforeValidator(_flavor)]
Words = Annotated[list[str], BeforeValidator(_string_list("[\"--max_steps\", \"10\"]"), json_schema_input_type=list[str | int | float] | str | None)]
Deps = Annotated[list[str], BeforeValidator(_string_list("[\"trl>=1.16\", \"peft\"]"), json_schema_input_type=list[str | int | float] | str | None)]
Volumes = Annotated[list[str], BeforeValidator(parse_volumes, json_schema_input_type=list[str] | str | None)]
Command = Annotated[list[str], BeforeValidator(_command, json_schema_input_type=list[str | int | float] | str)]
Schedule = Annotated[str, BeforeValidator(_schedule)]
Python = Annotated[str | None, BeforeValidator(_python, json_schema_input_type=str | int | float | None)]
StageName = Annotated[Stage | None, BeforeValidator(_stage, json_schema_input_type=str | None)]
Script = Annotated[str, AfterValidator(_non_empty("inline Python text, a local .py path, a bundled script name "
                                                  "such as 'train_sft.py', or an http(s) URL"))]
Image = Annotated[str, AfterValidator(_non_empty("a Docker image such as 'python:3.12' or 'hf.co/spaces/user/space'"))]


# --- the requests the backends take (Hub-only options ride on subclasses, so the base requests stay neutral) ---


class HubOptions(BaseModel):
    """Options only HF Jobs understands."""

    namespace: str | None = Field(default=None, description="User or organization to run in (default: yours).")
    volumes: list[str] = Field(default_factory=list, description="hf://[TYPE/]SOURCE[/PATH]:/MOUNT[:ro|:rw] mounts.")
    attempts: int | None = Field(default=None, ge=1, le=10, description="Tries in all, the first run included.")


class HubUvJobRequest(UvJobRequest, HubOptions):
    """A uv job with the Hub's extras."""

    image: str | None = Field(default=None,
                              description="Image with uv (default ghcr.io/astral-sh/uv:python3.12-bookworm).")
    launcher: list[str] = Field(
        default_factory=list,
        description="Words put between 'uv run [options]' and the script, e.g. an 'accelerate launch' prefix for "
        "multi-GPU flavors.",
    )


class HubCommandJobRequest(CommandJobRequest, HubOptions):
    """A Docker-image job with the Hub's extras."""


# --- the args models, one per operation ---


class Args(BaseModel):
    """Base of every operation's args: unknown keys are refused (errors.validation_error names the close ones)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    # Other spellings of an argument (hf CLI / hf-mcp-server) -> ours; merged before validation.
    ALIASES: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not cls.ALIASES:
            return data
        data = dict(data)
        for alias, name in cls.ALIASES.items():
            if alias in data:
                value = data.pop(alias)
                if name in data and isinstance(data[name], list) and isinstance(value, list):
                    data[name] = [*data[name], *value]
                elif name in data and isinstance(data[name], dict) and isinstance(value, dict):
                    data[name] = {**data[name], **value}
                elif name not in data:
                    data[name] = value
        return data


class NoArgs(Args):
    pass


class SubmitArgs(Args):
    """What every job submission takes (uv, run and their scheduled forms)."""

    flavor: Flavor = Field(None, description="Hardware flavor, e.g. cpu-basic (the Hub's default), a10g-large, h200; "
                           "see operation 'hardware'.")
    timeout: Timeout = Field(None, description="Stop the job after this long: seconds, or a number with s, m, h or d "
                             "('90m', '2h'). Default 30m on the Hub.")
    env: StringMap = Field(default_factory=dict, description="Environment variables {\"K\": \"v\"} (never tokens).")
    secrets: StringMap = Field(default_factory=dict, description="Secret environment variables; \"$HF_TOKEN\" "
                               "becomes your token, sent encrypted.")
    labels: Labels = Field(default_factory=dict, description="Labels {\"k\": \"v\"}.")
    namespace: Namespace = Field(None, description="Hub: user or organization to run in (default: yours).")
    volumes: Volumes = Field(default_factory=list, description="Hub: mounts hf://[TYPE/]SOURCE[/PATH]:/MOUNT[:ro|:rw].")
    attempts: int | None = Field(None, ge=1, le=10, description="Hub: tries in all, the first run included.")
    detach: bool | None = Field(None, description="Accepted for hf-mcp-server compatibility: jobs always run "
                                "detached (follow with 'logs' or 'wait').")
    force: bool = Field(False, description="Submit even when preflight finds errors (never a leaked secret, nor a "
                        "model or dataset the job cannot read: missing, gated, or without the config/split asked).")

    def _common(self) -> dict[str, Any]:
        return {"env": self.env, "secrets": self.secrets, "labels": self.labels, "flavor": self.flavor,
                "timeout_seconds": self.timeout, "namespace": self.namespace, "volumes": self.volumes,
                "attempts": self.attempts}


class UvArgs(SubmitArgs):
    ALIASES: ClassVar[dict[str, str]] = {"dependencies": "with_deps"}

    script: Script = Field(description="The script: inline Python text, a local .py path (read and shipped inline), "
                           "a bundled script by name such as 'train_sft.py', or an http(s) URL.")
    script_args: Words = Field(default_factory=list, description="Arguments for the script.")
    with_deps: Deps = Field(default_factory=list, description="Extra dependencies beyond the PEP 723 header.")
    python: Python = Field(None, description="Python version for uv, e.g. '3.12'.")
    image: str | None = Field(None, description="Image with uv (default ghcr.io/astral-sh/uv:python3.12-bookworm).")
    launcher: Words = Field(default_factory=list, description="Words between 'uv run' and the script, e.g. "
                            "[\"accelerate\", \"launch\"].")

    def request(self) -> HubUvJobRequest:
        return HubUvJobRequest(script=self.script, script_args=self.script_args, dependencies=self.with_deps,
                               python=self.python, image=self.image, launcher=self.launcher, **self._common())


class RunArgs(SubmitArgs):
    image: Image | None = Field(None, description="Docker image, e.g. 'python:3.12' or 'hf.co/spaces/user/space' "
                                "(required on the Hub; local jobs run on this machine and do not use one).")
    command: Command = Field(description="The command: a list of words, or a string split like a shell would "
                             "(without one: use [\"bash\", \"-c\", \"a && b\"] for pipes and lists).")

    def request(self) -> HubCommandJobRequest:
        return HubCommandJobRequest(image=self.image.strip() if self.image else None, command=self.command,
                                    **self._common())


class ScheduleArgs(BaseModel):
    schedule: Schedule = Field(description="@hourly, @daily, @weekly, @monthly, @yearly or CRON such as '0 9 * * 1'.")
    suspend: bool | None = Field(None, description="Create it suspended.")
    concurrency: bool | None = Field(None, description="Allow a run to start while the previous one still runs.")


class ScheduledUvArgs(UvArgs, ScheduleArgs):
    pass


class ScheduledRunArgs(RunArgs, ScheduleArgs):
    pass


class PsArgs(Args):
    ALIASES: ClassVar[dict[str, str]] = {"stage": "status", "label": "labels"}

    all: bool = Field(False, description="Include finished jobs.")
    status: StageName = Field(None, description="Only jobs in this stage (SCHEDULING, RUNNING, COMPLETED, ERROR, "
                              "CANCELED); implies all.")
    labels: StringMap = Field(default_factory=dict, description="Only jobs with these labels.")
    namespace: Namespace = Field(None, description="Hub: whose jobs (default: yours).")


class JobArgs(Args):
    job_id: JobId = Field(description="The job's id (from 'ps').")
    namespace: Namespace = Field(None, description="Hub: the job's owner (default: you).")


class InspectArgs(Args):
    job_id: JobId | list[JobId] = Field(description="A job id, or a list of ids.")
    namespace: Namespace = Field(None, description="Hub: the jobs' owner (default: you).")

    @property
    def job_ids(self) -> list[str]:
        return self.job_id if isinstance(self.job_id, list) else [self.job_id]


class LogsArgs(JobArgs):
    tail: int = Field(DEFAULT_LOG_TAIL, ge=1, le=100_000, description="Only the last N lines (default 50).")
    follow: bool = Field(False, description="Stream new lines until the job ends or timeout passes.")
    timeout: Timeout = Field(None, description="With follow: stop streaming after this long (default 30s, at most "
                             "1h).")

    @model_validator(mode="after")
    def _timeout_needs_follow(self) -> "LogsArgs":
        if self.timeout is not None and not self.follow:
            raise ValueError("logs takes timeout only with follow=true (how long to keep streaming)")
        return self

    @property
    def wait_seconds(self) -> int:
        return min(self.timeout or DEFAULT_FOLLOW_SECONDS, MAX_TOOL_WAIT_SECONDS)


class WaitArgs(JobArgs):
    timeout: Timeout = Field(None, description="Give up after this long (default 10m, at most 1h).")
    poll_interval: float | None = Field(None, ge=0.05, le=60, description="Seconds between checks (default 5 on the "
                                        "Hub, 1 locally).")

    @property
    def wait_seconds(self) -> int:
        return min(self.timeout or DEFAULT_WAIT_SECONDS, MAX_TOOL_WAIT_SECONDS)


class RetryArgs(JobArgs):
    confirm: bool = Field(False, description="Submit the fixed job (after the person agreed).")
    force: bool = Field(False, description="Submit even when preflight finds errors (never a leaked secret, nor a "
                        "model or dataset the job cannot read: missing, gated, or without the config/split asked).")
    flavor: Flavor = Field(None, description="Run the retry on this flavor (default: the failed job's, or the "
                           "cheapest that fits when the change needs more memory).")
    timeout: Timeout = Field(None, description="The retry's timeout (default: the failed job's, extended to cover "
                             "the work left by the estimate).")


class ScheduledPsArgs(Args):
    all: bool = Field(False, description="Include suspended scheduled jobs.")
    namespace: Namespace = Field(None, description="Whose scheduled jobs (default: yours).")


class ScheduledIdArgs(Args):
    scheduled_job_id: ScheduledJobId = Field(description="The scheduled job's id (from 'scheduled ps').")
    namespace: Namespace = Field(None, description="The scheduled job's owner (default: you).")


class WebhookCreateArgs(SubmitArgs):
    """watched + one job to start on each event: job_id, or a uv job (script ...), or a command job (image+command)."""

    ALIASES: ClassVar[dict[str, str]] = {"dependencies": "with_deps"}

    watched: Words = Field(description="TYPE:NAME items to watch, e.g. [\"dataset:alice/my-data\"] (types dataset, "
                           "model, space, bucket, user, org).")
    domains: list[Literal["repo", "discussion"]] = Field(default_factory=list, description="Events: repo (commits, "
                                                         "settings; the default) and/or discussion.")
    secret: str | None = Field(None, min_length=1, description="The webhook's signing secret (default: random).")
    run_now: bool = Field(False, description="Keep the template job running now (default: cancelled at once).")
    job_id: JobId | None = Field(None, description="An existing job to repeat on each event.")
    script: str | None = Field(None, description="Or a script, as for 'uv' (script_args, with_deps, python, "
                               "launcher too).")
    script_args: Words = Field(default_factory=list, description="The script's arguments.")
    with_deps: Deps = Field(default_factory=list, description="Extra dependencies.")
    python: Python = Field(None, description="Python version for uv.")
    launcher: Words = Field(default_factory=list, description="Words between 'uv run' and the script.")
    image: str | None = Field(None, description="Docker image: with command, as for 'run'; with script, the uv image.")
    command: Command | None = Field(None, description="Or a command, as for 'run'.")

    @model_validator(mode="after")
    def _one_source(self) -> "WebhookCreateArgs":
        sources = [key for key in ("job_id", "script", "command") if getattr(self, key) is not None]
        if len(sources) != 1:
            raise ValueError("webhook create needs one job to start on each event: job_id (an existing job, e.g. "
                             "the training run to repeat), or script (+ script_args, flavor, ...) as for 'uv', or "
                             f"image + command as for 'run'; got {', '.join(sources) or 'none'}")
        if self.command is not None and not self.image:
            raise ValueError("webhook create with command needs image, as for 'run'")
        return self

    def request(self) -> HubUvJobRequest | HubCommandJobRequest | None:
        if self.script is not None:
            return HubUvJobRequest(script=self.script, script_args=self.script_args, dependencies=self.with_deps,
                                   python=self.python, image=self.image, launcher=self.launcher, **self._common())
        if self.command is not None:
            return HubCommandJobRequest(image=str(self.image).strip(), command=self.command, **self._common())
        return None


class WebhookDeleteArgs(Args):
    webhook_id: WebhookId = Field(description="The webhook's id (from 'webhook ps').")
