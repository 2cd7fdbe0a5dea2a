"""hf-mcp-server's `operation` + `args` shape, parsed into our requests.

Agents used to hf-mcp-server's `hf_jobs` tool send `{"operation": "uv", "args": {"script": ..., "flavor": ...}}`; the
same calls work here. Every refusal names the argument, quotes the value and lists the accepted forms. The Hub-only
options (namespace, volumes, attempts) ride on request subclasses, so the base requests stay backend-neutral.
"""

import difflib
import json
import re
import shlex
from typing import Any, Literal

from pydantic import BaseModel, Field

from hf_trainer.errors import UserError
from hf_trainer.jobs.base import CommandJobRequest, Stage, UvJobRequest
from hf_trainer.timeouts import ACCEPTED as TIMEOUT_FORMS
from hf_trainer.timeouts import parse_timeout

Operation = Literal[
    "help", "run", "uv", "ps", "logs", "inspect", "cancel", "wait", "metrics", "hardware",
    "scheduled run", "scheduled uv", "scheduled ps", "scheduled inspect", "scheduled delete",
    "scheduled suspend", "scheduled resume", "scheduled trigger", "diagnose", "retry",
    "webhook create", "webhook ps", "webhook delete",
]
OPERATIONS: tuple[str, ...] = Operation.__args__  # type: ignore[attr-defined]

DEFAULT_LOG_TAIL = 50
DEFAULT_FOLLOW_SECONDS = 30
DEFAULT_WAIT_SECONDS = 600
MAX_TOOL_WAIT_SECONDS = 3600
SHELL_OPERATORS = frozenset({"|", "||", "&", "&&", ";", ";;", ">", ">>", "<", "<<", "(", ")", ">&", "<&", "|&"})
_LABEL = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_CRON_FIELD = re.compile(r"^[\d*/,\-A-Za-z?LW#]+$")
SCHEDULE_KEYWORDS = ("@annually", "@yearly", "@monthly", "@weekly", "@daily", "@hourly")


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
        "multi-GPU flavors (issue 4 decides when).",
    )


class HubCommandJobRequest(CommandJobRequest, HubOptions):
    """A Docker-image job with the Hub's extras."""


class JobsCall(BaseModel):
    """One parsed `hf_jobs` call."""

    operation: Operation
    uv: HubUvJobRequest | None = None
    run: HubCommandJobRequest | None = None
    job_ids: list[str] = Field(default_factory=list)
    scheduled_job_id: str | None = None
    all: bool = False
    stage: Stage | None = None
    labels: dict[str, str] = Field(default_factory=dict, description="ps label filter.")
    tail: int | None = None
    follow: bool = False
    wait_seconds: int | None = None
    namespace: str | None = None
    schedule: str | None = None
    suspend: bool | None = None
    concurrency: bool | None = None
    force: bool = Field(default=False, description="Submit even when preflight finds errors.")
    confirm: bool = Field(default=False, description="retry: submit the fixed job (after the person agreed).")
    # webhook operations (jobs/webhooks.py)
    webhook_id: str | None = None
    watched: list[str] = Field(default_factory=list, description="TYPE:NAME items a webhook watches.")
    domains: list[Literal["repo", "discussion"]] = Field(default_factory=list)
    webhook_secrets: dict[str, str] = Field(default_factory=dict, description="Secrets of the jobs it starts.")
    webhook_signing_secret: str | None = None
    run_now: bool = False


# Arguments each operation accepts; aliases map hf CLI / hf-mcp-server spellings onto ours.
_RUN_KEYS = {"image", "command", "flavor", "env", "secrets", "labels", "timeout", "namespace", "volumes", "attempts",
             "detach", "force"}
_UV_KEYS = {"script", "script_args", "with_deps", "dependencies", "python", "image", "flavor", "env", "secrets",
            "labels", "timeout", "namespace", "volumes", "attempts", "detach", "launcher", "force"}
_SCHEDULE_KEYS = {"schedule", "suspend", "concurrency"}
_ID = {"job_id", "namespace"}
_SID = {"scheduled_job_id", "namespace"}
ACCEPTED_KEYS: dict[str, set[str]] = {
    "help": {"help"},
    "run": _RUN_KEYS,
    "uv": _UV_KEYS,
    "ps": {"all", "status", "stage", "labels", "label", "namespace"},
    "logs": {"job_id", "tail", "follow", "timeout", "namespace"},
    "inspect": _ID,
    "cancel": _ID,
    "wait": {"job_id", "timeout", "namespace"},
    "metrics": _ID,
    "hardware": set(),
    "scheduled run": _RUN_KEYS | _SCHEDULE_KEYS,
    "scheduled uv": _UV_KEYS | _SCHEDULE_KEYS,
    "scheduled ps": {"all", "namespace"},
    "scheduled inspect": _SID,
    "scheduled delete": _SID,
    "scheduled suspend": _SID,
    "scheduled resume": _SID,
    "scheduled trigger": _SID,
    "diagnose": _ID,
    "retry": _ID | {"confirm", "force"},
    "webhook create": {"watched", "job_id", "domains", "secret", "run_now"} | _UV_KEYS | _RUN_KEYS,
    "webhook ps": set(),
    "webhook delete": {"webhook_id"},
}


def _did_you_mean(value: str, choices: list[str] | tuple[str, ...] | set[str]) -> str:
    close = difflib.get_close_matches(value, sorted(choices), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def normalize_operation(operation: str | None) -> str:
    """'scheduled_run', 'Scheduled-Run' and 'scheduled run' are the same operation; None means help."""
    if operation is None or not str(operation).strip():
        return "help"
    op = re.sub(r"[\s_\-]+", " ", str(operation).strip().lower())
    if op not in OPERATIONS:
        raise UserError(f"operation {operation!r} is not known.{_did_you_mean(op, OPERATIONS)} Operations: "
                        f"{', '.join(OPERATIONS)}.")
    return op


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


def _string_map(value: Any, name: str, *, check_labels: bool = False) -> dict[str, str]:
    forms = f"Pass {name} as an object {{\"KEY\": \"value\"}} or a list [\"KEY=value\"]."
    if value is None:
        return {}
    items: dict[str, Any] = {}
    if isinstance(value, dict):
        items = dict(value)
    elif isinstance(value, list):
        for entry in value:
            if not isinstance(entry, str) or "=" not in entry:
                raise UserError(f"{name} entry {entry!r} is not KEY=value. {forms}")
            key, _, val = entry.partition("=")
            items[key] = val
    else:
        raise UserError(f"{name} {value!r} is not a mapping. {forms}")
    out: dict[str, str] = {}
    for key, val in items.items():
        if not isinstance(key, str) or not key.strip():
            raise UserError(f"{name} has an empty key. {forms}")
        if isinstance(val, bool):
            val = str(val).lower()
        elif isinstance(val, (int, float)):
            val = str(val)
        if not isinstance(val, str):
            raise UserError(f"{name} {key!r} has the value {val!r}; values must be strings. {forms}")
        if check_labels and not (_LABEL.match(key) and (val == "" or _LABEL.match(val))):
            raise UserError(f"label {key!r}={val!r} is not allowed: keys and values use only letters, digits, '-' "
                            "and '_' (at most 100 characters).")
        out[key] = val
    return out


def _string_list(value: Any, name: str, example: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
        return [str(v) for v in value]
    raise UserError(f"{name} {value!r} must be a list of strings, e.g. {example}.")


def parse_volumes(value: Any) -> list[str]:
    """hf://[TYPE/]SOURCE[@REV][/PATH]:/MOUNT_PATH[:ro|:rw] strings, checked with huggingface_hub's own parser."""
    # huggingface_hub.utils pulls in its HTTP stack; only volume checks need it.
    from huggingface_hub.errors import HfUriError
    from huggingface_hub.utils import parse_hf_mount

    volumes = _string_list(value, "volumes", "[\"hf://datasets/org/data:/data:ro\"]")
    for spec in volumes:
        try:
            parse_hf_mount(spec)
        except HfUriError as exc:
            raise UserError(
                f"volume {spec!r} is not a Hub mount ({exc.msg}). Use hf://[TYPE/]SOURCE[/PATH]:/MOUNT_PATH[:ro|:rw] "
                "with TYPE models, datasets, spaces or buckets, e.g. 'hf://datasets/org/data:/data:ro' or "
                "'hf://buckets/me/out:/outputs'."
            ) from None
    return volumes


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise UserError(f"{name} {value!r} must be true or false.")


def _positive_int(value: Any, name: str, *, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit():
        raise UserError(f"{name} {value!r} must be a positive whole number, e.g. 100.")
    number = int(value)
    if number < 1 or (maximum is not None and number > maximum):
        limit = f" between 1 and {maximum}" if maximum else " of at least 1"
        raise UserError(f"{name} {value!r} must be a whole number{limit}.")
    return number


def _timeout(value: Any, name: str = "timeout") -> int | None:
    if value is None:
        return None
    try:
        return parse_timeout(value)
    except UserError:
        raise UserError(f"{name} {value!r} is not a duration. Use {TIMEOUT_FORMS}.") from None


def _job_ids(args: dict[str, Any], op: str) -> list[str]:
    value = args.get("job_id")
    if isinstance(value, str) and value.strip():
        return [value.strip()]
    if op == "inspect" and isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
        return [v.strip() for v in value]
    forms = "a job id string, or a list of ids" if op == "inspect" else "a job id string"
    raise UserError(f"{op} needs job_id ({forms}); got {value!r}. Find ids with operation 'ps' and args "
                    "{\"all\": true}.")


def _schedule(value: Any) -> str:
    forms = (f"one of {', '.join(SCHEDULE_KEYWORDS)} or a 5-field CRON expression such as '0 9 * * 1' "
             "(09:00 every Monday)")
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"schedule {value!r} is missing. Use {forms}.")
    text = value.strip()
    if text.startswith("@"):
        if text.lower() not in SCHEDULE_KEYWORDS:
            raise UserError(f"schedule {value!r} is not known.{_did_you_mean(text.lower(), SCHEDULE_KEYWORDS)} "
                            f"Use {forms}.")
        return text.lower()
    fields = text.split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
        raise UserError(f"schedule {value!r} is not a CRON expression. Use {forms}.")
    return text


def hub_options(args: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {"volumes": parse_volumes(args.get("volumes"))}
    if args.get("attempts") is not None:
        options["attempts"] = _positive_int(args["attempts"], "attempts", maximum=10)
    if args.get("namespace") is not None:
        options["namespace"] = _namespace(args["namespace"])
    return options


def _namespace(value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", value.strip()):
        raise UserError(f"namespace {value!r} is not a user or organization name, e.g. 'my-org'.")
    return value.strip()


def _flavor(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"flavor {value!r} must be a hardware name such as 'cpu-basic', 'a10g-large' or 'h200'. "
                        "List them with operation 'hardware'.")
    return value.strip().lower()


def _common_submit(args: dict[str, Any]) -> dict[str, Any]:
    return {
        "env": _string_map(args.get("env"), "env"),
        "secrets": _string_map(args.get("secrets"), "secrets"),
        "labels": _string_map(args.get("labels"), "labels", check_labels=True),
        "flavor": _flavor(args.get("flavor")),
        "timeout_seconds": _timeout(args.get("timeout")),
        **hub_options(args),
    }


def _uv_request(args: dict[str, Any]) -> HubUvJobRequest:
    script = args.get("script")
    if not isinstance(script, str) or not script.strip():
        raise UserError(f"uv needs script: inline Python text, a local .py path or an http(s) URL; got {script!r}.")
    deps = _string_list(args.get("with_deps"), "with_deps", "[\"trl>=1.16\", \"peft\"]")
    deps += _string_list(args.get("dependencies"), "dependencies", "[\"trl>=1.16\", \"peft\"]")
    python = args.get("python")
    if python is not None and (not isinstance(python, (str, float, int)) or isinstance(python, bool)
                               or not re.match(r"^\d+(\.\d+){0,2}$", str(python).strip())):
        raise UserError(f"python {python!r} must be a version such as '3.12'.")
    image = args.get("image")
    if image is not None and (not isinstance(image, str) or not image.strip()):
        raise UserError(f"image {image!r} must be a Docker image name with uv installed.")
    return HubUvJobRequest(
        script=script,
        script_args=_string_list(args.get("script_args"), "script_args", "[\"--max_steps\", \"10\"]"),
        dependencies=deps,
        python=str(python).strip() if python is not None else None,
        image=image,
        launcher=_string_list(args.get("launcher"), "launcher", "[\"accelerate\", \"launch\"]"),
        **_common_submit(args),
    )


def _run_request(args: dict[str, Any]) -> HubCommandJobRequest:
    image = args.get("image")
    if not isinstance(image, str) or not image.strip():
        raise UserError(f"run needs image: a Docker image such as 'python:3.12' or 'hf.co/spaces/user/space'; "
                        f"got {image!r}.")
    if args.get("command") is None:
        raise UserError("run needs command: a list of words such as [\"python\", \"-c\", \"print(1)\"].")
    return HubCommandJobRequest(image=image.strip(), command=parse_command(args["command"]), **_common_submit(args))


def parse_call(operation: str | None, args: dict[str, Any] | str | None) -> JobsCall:
    """Check `args` against `operation` and build the request. UserError names the bad argument and its forms."""
    if isinstance(args, str):
        # Some clients send nested objects as JSON text.
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError:
            raise UserError(f"args {args!r} is not a JSON object. Pass an object, e.g. {{\"job_id\": \"...\"}}.") \
                from None
    if args is not None and not isinstance(args, dict):
        raise UserError(f"args {args!r} must be an object, e.g. {{\"job_id\": \"...\"}}.")
    args = dict(args or {})
    if args.get("help") is True:
        return JobsCall(operation="help")
    op = normalize_operation(operation)
    accepted = ACCEPTED_KEYS[op]
    if "repo" in args and op in ("uv", "scheduled uv"):
        # hf-mcp-server stored scripts in a repo; here they travel inline with the job.
        raise UserError(f"{op} does not take 'repo': the script is shipped inline with the job, nothing is uploaded. "
                        "Remove 'repo'.")
    for key in args:
        if key not in accepted:
            listed = ", ".join(sorted(accepted)) or "none"
            raise UserError(f"{op} does not take the argument {key!r}.{_did_you_mean(key, accepted)} It accepts: "
                            f"{listed}.")
    if args.get("detach") is not None:
        # Jobs always run detached here; 'wait' or 'logs' with follow replaces detach=false.
        _bool(args["detach"], "detach")
    call: dict[str, Any] = {"operation": op}
    if "namespace" in args and args["namespace"] is not None:
        call["namespace"] = _namespace(args["namespace"])
    if op in ("uv", "scheduled uv"):
        call["uv"] = _uv_request(args)
    elif op in ("run", "scheduled run"):
        call["run"] = _run_request(args)
    if op.startswith("scheduled ") and op.split(" ", 1)[1] in ("run", "uv"):
        call["schedule"] = _schedule(args.get("schedule"))
        if args.get("suspend") is not None:
            call["suspend"] = _bool(args["suspend"], "suspend")
        if args.get("concurrency") is not None:
            call["concurrency"] = _bool(args["concurrency"], "concurrency")
    if op in ("logs", "inspect", "cancel", "wait", "metrics", "diagnose", "retry"):
        call["job_ids"] = _job_ids(args, op)
    for flag in ("force", "confirm"):
        if args.get(flag) is not None:
            call[flag] = _bool(args[flag], flag)
    if op in ("scheduled inspect", "scheduled delete", "scheduled suspend", "scheduled resume", "scheduled trigger"):
        sid = args.get("scheduled_job_id")
        if not isinstance(sid, str) or not sid.strip():
            raise UserError(f"{op} needs scheduled_job_id (a string); got {sid!r}. Find ids with operation "
                            "'scheduled ps'.")
        call["scheduled_job_id"] = sid.strip()
    if op in ("ps", "scheduled ps") and args.get("all") is not None:
        call["all"] = _bool(args["all"], "all")
    if op == "ps":
        status = args.get("status", args.get("stage"))
        if status is not None:
            name = str(status).strip().upper()
            if name not in Stage.__members__:
                raise UserError(f"status {status!r} is not a job stage.{_did_you_mean(name, Stage.__members__)} "
                                f"Stages: {', '.join(Stage.__members__)}.")
            call["stage"] = Stage(name)
            call["all"] = True
        call["labels"] = {**_string_map(args.get("labels"), "labels"), **_string_map(args.get("label"), "label")}
    if op == "logs":
        call["tail"] = (_positive_int(args["tail"], "tail", maximum=100_000) if args.get("tail") is not None
                        else DEFAULT_LOG_TAIL)
        call["follow"] = _bool(args.get("follow", False), "follow")
        if call["follow"]:
            call["wait_seconds"] = min(_timeout(args.get("timeout")) or DEFAULT_FOLLOW_SECONDS, MAX_TOOL_WAIT_SECONDS)
        elif args.get("timeout") is not None:
            raise UserError("logs takes timeout only with follow=true (how long to keep streaming).")
    if op.startswith("webhook "):
        call.update(_webhook_args(op, args))
    if op == "wait":
        call["wait_seconds"] = min(_timeout(args.get("timeout")) or DEFAULT_WAIT_SECONDS, MAX_TOOL_WAIT_SECONDS)
    return JobsCall(**call)


def _webhook_args(op: str, args: dict[str, Any]) -> dict[str, Any]:
    """webhook create: watched + (job_id, or a uv/run job used as the template); webhook delete: webhook_id."""
    if op == "webhook delete":
        wid = args.get("webhook_id")
        if not isinstance(wid, str) or not wid.strip():
            raise UserError(f"webhook delete needs webhook_id (a string); got {wid!r}. Find ids with operation "
                            "'webhook ps'.")
        return {"webhook_id": wid.strip()}
    if op != "webhook create":
        return {}
    out: dict[str, Any] = {"watched": _string_list(args.get("watched"), "watched", "[\"dataset:alice/my-data\"]")}
    domains = _string_list(args.get("domains"), "domains", "[\"repo\"]")
    for domain in domains:
        if domain not in ("repo", "discussion"):
            raise UserError(f"domain {domain!r} is not 'repo' (commits, settings) or 'discussion'.")
    out["domains"] = domains
    sources = [key for key in ("job_id", "script", "command") if args.get(key) is not None]
    if len(sources) != 1:
        raise UserError("webhook create needs one job to start on each event: job_id (an existing job, e.g. the "
                        "training run to repeat), or script (+ script_args, flavor, ...) as for 'uv', or image + "
                        f"command as for 'run'; got {', '.join(sources) or 'none'}.")
    if sources[0] == "job_id":
        out["job_ids"] = _job_ids(args, "webhook create")
        out["webhook_secrets"] = _string_map(args.get("secrets"), "secrets")
    elif sources[0] == "script":
        out["uv"] = _uv_request(args)
    else:
        out["run"] = _run_request(args)
    if args.get("secret") is not None:
        if not isinstance(args["secret"], str) or not args["secret"].strip():
            raise UserError("secret (the webhook's signing secret) must be a non-empty string.")
        out["webhook_signing_secret"] = args["secret"]
    if args.get("run_now") is not None:
        out["run_now"] = _bool(args["run_now"], "run_now")
    return out
