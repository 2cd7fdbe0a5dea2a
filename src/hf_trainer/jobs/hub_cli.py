"""Hub-only `hf-trainer jobs` commands: metrics, hardware and scheduled jobs (parity with the hf_jobs MCP tool).

    hf-trainer jobs metrics ID
    hf-trainer jobs hardware
    hf-trainer jobs scheduled run SCHEDULE [options] IMAGE COMMAND...
    hf-trainer jobs scheduled uv SCHEDULE [options] SCRIPT [ARGS...]
    hf-trainer jobs scheduled ps [--all] | inspect SID | delete SID | suspend SID | resume SID | trigger SID

Each handler builds the same `args` dict an MCP client sends and runs it through jobs/arguments.py and jobs/tool.py,
so the CLI and the tool accept and refuse exactly the same things.
"""

import argparse
import os
from typing import Any, Callable

from hf_trainer.errors import UserError
from hf_trainer.jobs.base import UvJobRequest
from hf_trainer.timeouts import ACCEPTED

Command = Callable[..., argparse.ArgumentParser]


def _run_operation(operation: str, args: dict[str, Any]) -> Any:
    from hf_trainer.jobs.arguments import parse_call
    from hf_trainer.jobs.hub import HubBackend
    from hf_trainer.jobs.tool import execute

    if operation == "hardware":
        # Prices are public: no login needed to look at them.
        from huggingface_hub import HfApi

        from hf_trainer.jobs.hub import DEFAULT_ENDPOINT
        from hf_trainer.secrets import caller_token

        endpoint = (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
        backend = HubBackend(HfApi(endpoint=endpoint, token=caller_token()))
    else:
        backend = HubBackend.from_env()
    return execute(parse_call(operation, args), backend)


def _secrets(values: list[str] | None) -> dict[str, str]:
    """-s K=V, -s HF_TOKEN (your login) or -s K (its value from your environment), like `hf jobs`."""
    out: dict[str, str] = {}
    for entry in values or []:
        key, sep, value = entry.partition("=")
        if sep:
            out[key] = value
        elif key == "HF_TOKEN":
            out[key] = "$HF_TOKEN"
        elif key in os.environ:
            out[key] = os.environ[key]
        else:
            raise UserError(f"secret {key!r} has no value and is not set in your environment. Use -s {key}=VALUE.")
    return out


def _submit_args(ns: argparse.Namespace) -> dict[str, Any]:
    args: dict[str, Any] = {"schedule": ns.schedule, "env": ns.env or [], "secrets": _secrets(ns.secrets),
                            "labels": ns.label or [], "volumes": ns.volume or []}
    for key in ("flavor", "timeout", "namespace", "attempts"):
        if getattr(ns, key) is not None:
            args[key] = getattr(ns, key)
    if ns.suspend:
        args["suspend"] = True
    return args


def _scheduled_uv(ns: argparse.Namespace) -> Any:
    args = {**_submit_args(ns), "script": ns.script, "script_args": list(ns.script_args),
            "with_deps": ns.with_ or []}
    if ns.python:
        args["python"] = ns.python
    return _run_operation("scheduled uv", args)


def _scheduled_run(ns: argparse.Namespace) -> Any:
    words = list(ns.command)
    if len(words) < 2:
        raise UserError("scheduled run needs an image and a command, e.g. "
                        "hf-trainer jobs scheduled run @daily python:3.12 python -c \"print(1)\"")
    return _run_operation("scheduled run", {**_submit_args(ns), "image": words[0], "command": words[1:]})


def add_hub_submit_options(parser: argparse.ArgumentParser) -> None:
    """--namespace, -v/--volume and --attempts for `jobs uv` and `jobs run` (Hub only)."""
    parser.add_argument("--namespace", help="Hub: user or organization to run in (default: yours).")
    parser.add_argument("-v", "--volume", action="append", metavar="hf://...:/PATH",
                        help="Hub: mount hf://[TYPE/]SOURCE[/PATH]:/MOUNT_PATH[:ro|:rw] (repeatable).")
    parser.add_argument("--attempts", type=int, help="Hub: tries in all, the first run included (1-10).")


def with_hub_options(request: Any, ns: argparse.Namespace, backend: Any) -> Any:
    """The request as its Hub subclass when --namespace, --volume or --attempts were given (checked like the tool's
    arguments); the request unchanged otherwise."""
    given = {key: getattr(ns, key, None) for key in ("namespace", "volume", "attempts")}
    if not any(value is not None for value in given.values()):
        return request
    if getattr(backend, "name", None) != "hub":
        names = [f"--{k}" for k, v in given.items() if v is not None]
        verb, them = ("applies", "it") if len(names) == 1 else ("apply", "them")
        raise UserError(f"{', '.join(names)} only {verb} to Hugging Face Jobs. Remove {them}, or use --backend hub.")
    from hf_trainer.jobs.arguments import HubCommandJobRequest, HubUvJobRequest, hub_options

    options = hub_options({"namespace": given["namespace"], "volumes": given["volume"],
                            "attempts": given["attempts"]})
    cls = HubUvJobRequest if isinstance(request, UvJobRequest) else HubCommandJobRequest
    return cls(**request.model_dump(), **options)


def _with_namespace(ns: argparse.Namespace, args: dict[str, Any]) -> dict[str, Any]:
    return {**args, "namespace": ns.namespace} if ns.namespace else args


def register_hub_commands(sub: Any, command: Command) -> None:
    """Add the Hub-only commands to `hf-trainer jobs` (`sub` is its subparsers, `command` cli.py's `_command`)."""

    def namespace_option(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--namespace", help="User or organization the jobs belong to (default: yours).")
        return p

    p = namespace_option(command(sub, "metrics", lambda ns: _run_operation(
        "metrics", _with_namespace(ns, {"job_id": ns.job_id})), "CPU/GPU use and memory of a running Hub job."))
    p.add_argument("job_id", metavar="ID")
    command(sub, "hardware", lambda ns: _run_operation("hardware", {}),
            "Hub hardware flavors with specs and $/hour (live, cached for a day).")

    scheduled = sub.add_parser("scheduled", help="Scheduled Hub jobs: run on a CRON schedule.",
                               description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ssub = scheduled.add_subparsers(dest="scheduled_command", required=True, metavar="COMMAND")
    for name, func, help_text in (
        ("uv", _scheduled_uv, "Schedule a uv script (options before SCRIPT; the rest goes to the script)."),
        ("run", _scheduled_run, "Schedule a command in a Docker image: IMAGE COMMAND..."),
    ):
        p = namespace_option(command(ssub, name, func, help_text))
        p.add_argument("schedule", help="@hourly, @daily, @weekly, @monthly, @yearly or CRON such as '0 9 * * 1'.")
        p.add_argument("-e", "--env", action="append", metavar="K=V", help="Environment variable (repeatable).")
        p.add_argument("-s", "--secrets", action="append", metavar="K[=V]",
                       help="Secret (repeatable); HF_TOKEN alone means your login's token.")
        p.add_argument("-l", "--label", action="append", metavar="K=V", help="Label (repeatable).")
        p.add_argument("-v", "--volume", action="append", metavar="hf://...:/PATH",
                       help="Mount hf://[TYPE/]SOURCE[/PATH]:/MOUNT_PATH[:ro|:rw] (repeatable).")
        p.add_argument("--flavor", help="Hardware flavor, e.g. cpu-basic, a10g-large, h200.")
        p.add_argument("--timeout", help=f"Stop each run after this long: {ACCEPTED}.")
        p.add_argument("--attempts", type=int, help="Tries per run, the first included (1-10).")
        p.add_argument("--suspend", action="store_true", help="Create it suspended.")
        if name == "uv":
            p.add_argument("--with", dest="with_", action="append", metavar="DEP", help="Extra dependency.")
            p.add_argument("--python", help="Python version for uv, e.g. 3.12.")
            p.add_argument("script", help="Script: path, inline Python text, or http(s) URL.")
            p.add_argument("script_args", nargs=argparse.REMAINDER, help="Arguments for the script.")
        else:
            p.add_argument("command", nargs=argparse.REMAINDER, metavar="IMAGE COMMAND ...")

    p = namespace_option(command(ssub, "ps", lambda ns: _run_operation(
        "scheduled ps", _with_namespace(ns, {"all": ns.all})), "List scheduled jobs (suspended ones with --all)."))
    p.add_argument("-a", "--all", action="store_true", help="Include suspended scheduled jobs.")
    for action, help_text in (("inspect", "Show a scheduled job."), ("delete", "Delete a scheduled job."),
                              ("suspend", "Pause a scheduled job."), ("resume", "Resume a paused scheduled job."),
                              ("trigger", "Start a run of a scheduled job now.")):
        p = namespace_option(command(ssub, action, lambda ns, op=f"scheduled {action}": _run_operation(
            op, _with_namespace(ns, {"scheduled_job_id": ns.scheduled_job_id})), help_text))
        p.add_argument("scheduled_job_id", metavar="SID")
