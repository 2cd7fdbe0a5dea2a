"""`hf-trainer jobs ...`: every hf_jobs operation as a command, generated from the operation table (jobs/tool.py).

Each command's options are its args model's fields, spelled as `hf jobs` (huggingface_hub's CLI) spells them:
    hf-trainer jobs uv [--flavor F] [--timeout 2h] [-e K=V] [-s K[=V]] [-l K=V] [--with DEP] [--image I] SCRIPT [ARGS...]
    hf-trainer jobs run [--image I | IMAGE] COMMAND...
    hf-trainer jobs ps [--all] [--stage S] [--label K=V]
    hf-trainer jobs logs ID [--tail N] [--follow] [--timeout 10m]
    hf-trainer jobs inspect ID... | cancel ID | wait ID [--timeout 1h] | diagnose ID | retry ID [--confirm]
    hf-trainer jobs metrics ID | hardware
    hf-trainer jobs scheduled uv|run SCHEDULE ... | ps | inspect|delete|suspend|resume|trigger SID
    hf-trainer jobs webhook create --watched dataset:me/data (--job-id ID | --script S ... | --image I --command ...)
    hf-trainer jobs webhook ps | delete WID
The values go into the same args dict an MCP client sends, through the same model, pipeline and error text
(`run_call`), so the CLI refuses exactly what the hf_jobs tool refuses. Without `--backend`, the Hub is used when a
token is found, else this machine.
"""

import argparse
import os
import shlex
import shutil
import typing
from pathlib import Path
from typing import Any, Callable

from hf_trainer.errors import UserError
from hf_trainer.jobs.base import JobBackend, JobInfo
from hf_trainer.jobs.tool import OPERATIONS, JobsResult, Operation, parse_call, run_call
from hf_trainer.timeouts import format_duration
from hf_trainer.views import present, text_table

Command = Callable[..., argparse.ArgumentParser]

_TABLE_COLUMNS = ("ID", "STAGE", "CREATED", "COMMAND", "FLAVOR")
_COMMAND_WIDTH = 60
# CLI spellings of args fields (the `hf jobs` ones where it has them); other fields are --field_name.
_FLAGS: dict[str, tuple[str, ...]] = {
    "env": ("-e", "--env"), "secrets": ("-s", "--secrets"), "labels": ("-l", "--label"), "volumes": ("-v", "--volume"),
    "with_deps": ("--with",), "all": ("-a", "--all"), "follow": ("-f", "--follow"), "status": ("--stage",),
    "script_args": ("--script-arg",),
}
_METAVARS = {"env": "K=V", "secrets": "K[=V]", "labels": "K=V", "volumes": "hf://...:/PATH", "with_deps": "DEP",
             "job_id": "ID", "scheduled_job_id": "SID", "webhook_id": "WID", "watched": "TYPE:NAME"}
# Fields the CLI does not offer: jobs always run detached.
_HIDDEN = {"detach", "dependencies"}


# --- result views -----------------------------------------------------------------------------------------------


class JobView(JobInfo):
    """A JobInfo that prints itself for people (`--json` prints the plain JobInfo fields)."""

    def render(self) -> str:
        rows = [
            ("id", self.id),
            ("backend", self.backend),
            ("stage", self.stage.value + (f" ({self.message})" if self.message else "")),
            ("command", shlex.join(self.command)),
            ("image", self.image),
            ("flavor", self.flavor),
            ("timeout", format_duration(self.timeout_seconds) if self.timeout_seconds else None),
            ("labels", ", ".join(f"{k}={v}" for k, v in self.labels.items()) or None),
            ("env", ", ".join(f"{k}={v}" for k, v in self.env.items()) or None),
            ("secrets", ", ".join(self.secret_names) or None),
            ("created", _when(self)),
            ("started", self.started_at.strftime("%Y-%m-%d %H:%M:%S") if self.started_at else None),
            ("finished", self.finished_at.strftime("%Y-%m-%d %H:%M:%S") if self.finished_at else None),
            ("exit code", None if self.exit_code is None else str(self.exit_code)),
            ("url", self.url),
        ]
        text = "\n".join(f"{k + ':':<11}{v}" for k, v in rows if v)
        if not self.is_terminal:
            text += (f"\n\nFollow its logs: hf-trainer jobs logs {self.id} --follow --backend {self.backend}"
                     f"\nWait for it:     hf-trainer jobs wait {self.id} --backend {self.backend}")
        return text


class JobViews(list):
    """A list of jobs that prints each in full (`--json` prints a JSON list)."""

    def render(self) -> str:
        if not self:
            return "No jobs. (ps lists unfinished jobs; add --all to see finished ones.)"
        return "\n\n".join(job.render() for job in self)


class JobTable(list):
    """ps output: one line per job."""

    all: bool = False

    def render(self) -> str:
        if not self:
            return "No jobs." + ("" if self.all else " (ps lists unfinished jobs; add --all to see finished ones.)")
        rows = [_TABLE_COLUMNS] + [
            (job.id, job.stage.value, _when(job) or "-", _short_command(job.command), job.flavor or "-")
            for job in self
        ]
        return text_table(rows)


class Printed(dict):
    """A JSON object (`--json`) with its own readable text."""

    def __init__(self, data: dict[str, Any], text: str) -> None:
        super().__init__(data)
        self._text = text

    def render(self) -> str:
        return self._text


def _when(job: JobInfo) -> str | None:
    return job.created_at.strftime("%Y-%m-%d %H:%M:%S") if job.created_at else None


def _short_command(command: list[str]) -> str:
    # Absolute paths (the interpreter, the job's script copy) are noise in a table; their names say enough.
    words = [Path(w).name if os.path.isabs(w) else w for w in command]
    text = shlex.join(words)
    return text if len(text) <= _COMMAND_WIDTH else text[: _COMMAND_WIDTH - 1] + "…"


def _view(job: JobInfo) -> JobView:
    return JobView.model_validate(job.model_dump())


def _for_cli(result: JobsResult, ns: argparse.Namespace) -> Any:
    """The CLI's view of a result: a job, a list or a table for the `hf jobs` commands; the tool's text otherwise."""
    op = result.operation
    if op in ("uv", "run", "cancel", "wait"):
        return _view(result.job)
    if op == "inspect":
        return JobViews(_view(j) for j in result.jobs)
    if op == "ps":
        table = JobTable(_view(j) for j in result.jobs)
        table.all = bool(getattr(ns, "all", False) or getattr(ns, "status", None))
        return table
    if op in ("diagnose", "retry"):
        return Printed(result.diagnosis or {}, result.text)
    return present(result)


# --- from the command line to an args dict ---------------------------------------------------------------------


def _secrets(values: list[str] | None) -> dict[str, str] | None:
    """-s K=V, -s HF_TOKEN (your login) or -s K (its value from your environment), like `hf jobs`."""
    if values is None:
        return None
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not key:
            raise UserError(f"secret {item!r} has no name. Write it as NAME=VALUE.")
        if not sep:
            if key in os.environ:
                value = os.environ[key]
            elif key == "HF_TOKEN":
                value = "$HF_TOKEN"  # the token `hf auth login` stored, resolved by the backend
            else:
                raise UserError(f"secret {key!r} has no value and {key} is not set in this environment. "
                                f"Write it as {key}=VALUE or export {key} first.")
        out[key] = value
    return out


def _split_image(op: str, backend_name: str | None, words: list[str]) -> tuple[str | None, list[str]]:
    """`run [IMAGE] COMMAND...`: the Hub always takes an image first; locally a first word that is no program here
    (e.g. 'python:3.12', 'ubuntu') followed by a command is taken as the image, which local jobs do not use."""
    example = "hf-trainer jobs run python:3.12 python -c \"print('hi')\""
    if not words:
        raise UserError(f"No command given. Example: {example}")
    if backend_name == "hub" or op != "run":
        if len(words) < 2:
            raise UserError(f"Hub jobs need an image and a command; got only {words[0]!r}. Example: {example}")
        return words[0], words[1:]
    first = words[0]
    if len(words) >= 2 and shutil.which(first) is None and not Path(first).exists():
        return first, words[1:]
    return None, words


def _args_dict(op: Operation, ns: argparse.Namespace, backend_name: str | None) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for name in op.args.model_fields:
        value = getattr(ns, name, None)
        if name == "secrets":
            value = _secrets(value)
        if value is None or value == []:
            continue
        args[name] = value
    if op.name in ("run", "scheduled run") and "image" not in args:
        image, command = _split_image(op.name, backend_name, list(args.pop("command", [])))
        args["command"] = command
        if image is not None:
            args["image"] = image
    return args


def _backend(op: Operation, ns: argparse.Namespace) -> JobBackend:
    from hf_trainer.jobs.select import get_backend

    if getattr(ns, "local_python", False):
        if getattr(ns, "backend", None) == "hub":
            raise UserError("--local-python runs a script on this machine; it cannot be combined with --backend hub.")
        from hf_trainer.jobs.local import LocalBackend

        return LocalBackend(use_uv=False)
    if op.name == "hardware":
        # Prices are public: no login needed to look at them.
        from huggingface_hub import HfApi

        from hf_trainer.jobs.hub import DEFAULT_ENDPOINT, HubBackend
        from hf_trainer.tokens import caller_token

        endpoint = (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
        return HubBackend(HfApi(endpoint=endpoint, token=caller_token()))
    return get_backend("hub" if op.hub_only else getattr(ns, "backend", None))


def _backend_name(op: Operation, ns: argparse.Namespace) -> str | None:
    if op.hub_only:
        return "hub"
    if getattr(ns, "local_python", False):
        return "local"
    if getattr(ns, "backend", None):
        return ns.backend
    from hf_trainer.jobs.select import default_backend_name

    return default_backend_name()


def _handler(op: Operation) -> Callable[[argparse.Namespace], Any]:
    def handle(ns: argparse.Namespace) -> Any:
        if getattr(ns, "local_python", False) and getattr(ns, "backend", None) == "hub":
            raise UserError("--local-python runs a script on this machine; it cannot be combined with --backend hub.")
        call = parse_call(op.name, _args_dict(op, ns, _backend_name(op, ns)))  # refused before any backend exists
        backend = _backend(op, ns)
        if op.name == "logs":
            return _stream_logs(call.args, ns, backend)
        result = run_call(call, backend)
        if op.name == "wait":
            # Scripts chain on the exit status: only a COMPLETED job is a success.
            ns.exit_code = 0 if result.job and result.job.stage == "COMPLETED" else 1
        return _for_cli(result, ns)
    return handle


def _stream_logs(args: Any, ns: argparse.Namespace, backend: JobBackend) -> list[str] | None:
    """The CLI prints lines as they come (the tool returns them at the end); all lines unless --tail."""
    from hf_trainer.errors import to_user_error
    from hf_trainer.redaction import Redactor

    redact = Redactor.for_caller()
    tail = args.tail if ns.tail is not None else None
    timeout = args.timeout if ns.timeout is not None else None
    namespace = {"namespace": args.namespace} if args.namespace and backend.name == "hub" else {}
    try:
        lines = (redact(line) for line in backend.logs(args.job_id, tail=tail, follow=args.follow, timeout=timeout,
                                                        **namespace))
        if ns.json:
            return list(lines)
        for line in lines:
            print(line, flush=True)
    except UserError as exc:
        raise to_user_error(exc) from None  # type: ignore[misc]
    return None


# --- registration -----------------------------------------------------------------------------------------------


def add_backend_argument(parser: argparse.ArgumentParser) -> None:
    """`--backend local|hub` (default: hub when a token is found, else local)."""
    parser.add_argument("--backend", choices=["local", "hub"], default=None,
                        help="Where jobs run: 'hub' (Hugging Face Jobs) or 'local' (this machine). "
                             "Default: hub when a token is found, else local.")


def _is_list(annotation: Any) -> bool:
    kinds = [annotation, *typing.get_args(annotation)]
    return any(typing.get_origin(k) in (list, dict) or k in (list, dict) for k in kinds) or \
        any(_is_list(k) for k in typing.get_args(annotation) if typing.get_origin(k) is typing.Annotated)


def _add_field(parser: argparse.ArgumentParser, op: Operation, name: str, field: Any) -> None:
    help_text = (field.description or "").replace("%", "%%")
    base = typing.get_args(field.annotation)[0] if typing.get_origin(field.annotation) is typing.Annotated \
        else field.annotation
    flags = _FLAGS.get(name, ())
    # Both spellings: TRL's underscores (--job_id) and the CLI's hyphens (--job-id).
    if name not in _FLAGS or name == "script_args":
        flags = tuple(dict.fromkeys((*flags, f"--{name}", f"--{name.replace('_', '-')}")))
    kwargs: dict[str, Any] = {"dest": name, "help": help_text, "default": None}
    if base is bool or base == bool | None:
        parser.add_argument(*flags, action="store_true", **kwargs)
        return
    if name in _METAVARS:
        kwargs["metavar"] = _METAVARS[name]
    literal = typing.get_args(typing.get_args(base)[0]) if typing.get_origin(base) is list and \
        typing.get_origin(typing.get_args(base)[0]) is typing.Literal else None
    if literal:
        kwargs["choices"] = list(literal)
    if _is_list(base):
        kwargs["action"] = "append"
    parser.add_argument(*flags, **kwargs)


def _add_operation(sub: Any, command: Command, op: Operation, name: str) -> None:
    parser = command(sub, name, _handler(op), op.summary[0].upper() + op.summary[1:])
    if not op.hub_only:
        add_backend_argument(parser)
    if op.name in ("uv", "retry"):
        parser.add_argument("--local-python", action="store_true",
                            help="Local backend: run the script with this interpreter instead of `uv run` (its "
                                 "dependencies must already be installed).")
    positional = [p.rstrip("*") for p in op.positional]
    if op.name == "run":
        positional = ["command"]  # [IMAGE] COMMAND...: the image may come first or as --image
    if op.name == "scheduled run":
        positional = ["schedule", "command"]  # IMAGE COMMAND...
    for fname, field in op.args.model_fields.items():
        if fname in positional or fname in _HIDDEN:
            continue
        _add_field(parser, op, fname, field)
    for fname in positional:
        field = op.args.model_fields[fname]
        rest = fname == positional[-1] and op.positional[-1].endswith("*")
        metavar = {"command": "[IMAGE] COMMAND ..." if op.name == "run" else "IMAGE COMMAND ..."}.get(
            fname, _METAVARS.get(fname, fname.upper()))
        if rest and fname == "job_id":
            parser.add_argument(fname, nargs="+", metavar=metavar, help=field.description)
        elif rest or fname == "command":
            parser.add_argument(fname, nargs=argparse.REMAINDER, metavar=metavar, help=field.description)
        else:
            parser.add_argument(fname, metavar=metavar, help=field.description)


def register(subparsers: Any, command: Command) -> None:
    """Add `hf-trainer jobs ...`. `command(subparsers, name, handler, help)` is cli.py's `_command`."""
    jobs = subparsers.add_parser("jobs", help="Run and follow jobs on Hugging Face Jobs or this machine.",
                                 description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = jobs.add_subparsers(dest="jobs_command", required=True, metavar="COMMAND")
    groups: dict[str, Any] = {}
    for op in OPERATIONS.values():
        if op.name == "help":
            continue
        if " " in op.name:
            group, name = op.name.split(" ", 1)
            if group not in groups:
                parser = sub.add_parser(group, help=f"{group.capitalize()} commands (Hub only).")
                groups[group] = parser.add_subparsers(dest=f"{group}_command", required=True, metavar="COMMAND")
            _add_operation(groups[group], command, op, name)
        else:
            _add_operation(sub, command, op, op.name)
