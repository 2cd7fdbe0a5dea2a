"""`hf-trainer jobs ...`: every hf_jobs operation as a command, generated from the operation table (operations.py).

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
import shutil
from pathlib import Path
from typing import Any, Callable

from hf_trainer.cli_options import add_field
from hf_trainer.errors import UserError
from hf_trainer.jobs.base import JobBackend
from hf_trainer.operations import OPERATIONS, Operation, parse_call, run_call

# cli.py's `_command(subparsers, name, handler, help)`: makes a subcommand parser with --json.
MakeCommand = Callable[..., argparse.ArgumentParser]

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
    from hf_trainer.jobs.backends import get_backend

    if getattr(ns, "local_python", False):
        if getattr(ns, "backend", None) == "hub":
            raise UserError("--local-python runs a script on this machine; it cannot be combined with --backend hub.")
        from hf_trainer.jobs.local import LocalBackend

        return LocalBackend(use_uv=False)
    if op.name == "hardware":
        # Prices are public: no login needed to look at them.
        from hf_trainer.hub_client import get_hf_api
        from hf_trainer.jobs.hub import HubBackend

        return HubBackend(get_hf_api())
    return get_backend("hub" if op.hub_only else getattr(ns, "backend", None))


def _backend_name(op: Operation, ns: argparse.Namespace) -> str | None:
    if op.hub_only:
        return "hub"
    if getattr(ns, "local_python", False):
        return "local"
    if getattr(ns, "backend", None):
        return ns.backend
    from hf_trainer.jobs.backends import default_backend_name

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
        return op.cli(result, bool(getattr(ns, "all", False) or getattr(ns, "status", None)))
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
        raise to_user_error(exc) from None
    return None


# --- registration -----------------------------------------------------------------------------------------------


def add_backend_argument(parser: argparse.ArgumentParser) -> None:
    """`--backend local|hub` (default: hub when a token is found, else local)."""
    parser.add_argument("--backend", choices=["local", "hub"], default=None,
                        help="Where jobs run: 'hub' (Hugging Face Jobs) or 'local' (this machine). "
                             "Default: hub when a token is found, else local.")


def _add_operation(sub: Any, command: MakeCommand, op: Operation, name: str) -> None:
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
        # The jobs commands spell options as `hf jobs` does: one value per occurrence (`--with a --with b`).
        add_field(parser, fname, field, flags=_FLAGS.get(fname, ()), metavar=_METAVARS.get(fname), repeat=True)
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


def register(subparsers: Any, command: MakeCommand) -> None:
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
