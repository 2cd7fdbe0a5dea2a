"""`hf-trainer jobs ...`: submit and follow jobs on Hugging Face Jobs (`--backend hub`) or here (`--backend local`).

The arguments follow `hf jobs` (huggingface_hub's CLI) so people and agents used to it succeed:
    hf-trainer jobs uv [--flavor F] [--timeout 2h] [-e K=V] [-s K[=V]] [-l K=V] [--with DEP] SCRIPT [ARGS...]
    hf-trainer jobs run [IMAGE] COMMAND...
    hf-trainer jobs ps [--all] [--stage S] [--label K=V]
    hf-trainer jobs logs ID [--tail N] [--follow] [--timeout 10m]
    hf-trainer jobs inspect ID... | cancel ID | wait ID [--timeout 1h]
Every handler is a thin adapter over a `JobBackend` (jobs/base.py); without `--backend`, the Hub is used when a token
is found, else this machine.
"""

import argparse
import os
import shlex
import shutil
from pathlib import Path
from typing import Any, Callable

from hf_trainer.errors import UserError
from hf_trainer.jobs.base import CommandJobRequest, JobBackend, JobInfo, Stage, UvJobRequest
from hf_trainer.jobs.hub_cli import add_hub_submit_options, with_hub_options  # argparse + pydantic only
from hf_trainer.jobs.tool import text_table  # pydantic only
from hf_trainer.timeouts import ACCEPTED, format_duration, parse_timeout

Command = Callable[..., argparse.ArgumentParser]

_TABLE_COLUMNS = ("ID", "STAGE", "CREATED", "COMMAND", "FLAVOR")
_COMMAND_WIDTH = 60


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
    """A list of jobs that prints as a compact table (`--json` prints a JSON list)."""

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


def _when(job: JobInfo) -> str | None:
    return job.created_at.strftime("%Y-%m-%d %H:%M:%S") if job.created_at else None


def _short_command(command: list[str]) -> str:
    # Absolute paths (the interpreter, the job's script copy) are noise in a table; their names say enough.
    words = [Path(w).name if os.path.isabs(w) else w for w in command]
    text = shlex.join(words)
    return text if len(text) <= _COMMAND_WIDTH else text[: _COMMAND_WIDTH - 1] + "…"


def _view(job: JobInfo) -> JobView:
    return JobView.model_validate(job.model_dump())


# --- argument parsing -------------------------------------------------------------------------------------------


def _pairs(values: list[str] | None, what: str, *, allow_bare: bool = False) -> dict[str, str]:
    """K=V pairs from repeated options; with `allow_bare`, a lone K takes its value from this environment."""
    result: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not key:
            raise UserError(f"{what} {item!r} has no name. Write it as NAME=VALUE.")
        if not sep:
            if not allow_bare:
                raise UserError(f"{what} {item!r} has no value. Write it as {key}=VALUE.")
            if key in os.environ:
                value = os.environ[key]
            elif key == "HF_TOKEN":
                value = "$HF_TOKEN"  # the token `hf auth login` stored, resolved by the backend
            else:
                raise UserError(f"{what} {key!r} has no value and {key} is not set in this environment. "
                                f"Write it as {key}=VALUE or export {key} first.")
        result[key] = value
    return result


def _labels(values: list[str] | None) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in values or []:
        key, _, value = item.partition("=")
        if not key.strip():
            raise UserError(f"label {item!r} has no name. Write it as NAME=VALUE (or NAME).")
        result[key.strip()] = value
    return result


def _timeout(value: str | None) -> int | None:
    return None if value is None else parse_timeout(value)


def _stage(value: str | None) -> Stage | None:
    if value is None:
        return None
    try:
        return Stage(value.upper())
    except ValueError:
        raise UserError(f"stage {value!r} is not a job stage. Use one of: "
                        f"{', '.join(s.value for s in Stage)}.") from None


def _backend(args: argparse.Namespace) -> JobBackend:
    from hf_trainer.jobs.select import get_backend

    if getattr(args, "local_python", False):
        if args.backend == "hub":
            raise UserError("--local-python runs a script on this machine; it cannot be combined with --backend hub.")
        from hf_trainer.jobs.local import LocalBackend

        return LocalBackend(use_uv=False)
    return get_backend(args.backend)


# --- handlers ---------------------------------------------------------------------------------------------------


def _uv(args: argparse.Namespace) -> JobView:
    backend = _backend(args)
    request = UvJobRequest(
        script=args.script,
        script_args=list(args.script_args),
        dependencies=list(args.with_ or []),
        python=args.python,
        env=_pairs(args.env, "env"),
        secrets=_pairs(args.secrets, "secret", allow_bare=True),
        labels=_labels(args.label),
        flavor=args.flavor,
        timeout_seconds=_timeout(args.timeout),
    )
    return _view(backend.uv(with_hub_options(request, args, backend)))


def _split_image(backend: JobBackend, words: list[str]) -> tuple[str | None, list[str]]:
    """`run [IMAGE] COMMAND...`: the Hub always takes an image first; locally a first word that is no program here
    (e.g. 'python:3.12', 'ubuntu') followed by a command is taken as the image, which local jobs do not use."""
    if not words:
        raise UserError("No command given. Example: hf-trainer jobs run python:3.12 python -c \"print('hi')\"")
    if backend.name == "hub":
        if len(words) < 2:
            raise UserError(f"Hub jobs need an image and a command; got only {words[0]!r}. "
                            "Example: hf-trainer jobs run python:3.12 python -c \"print('hi')\"")
        return words[0], words[1:]
    first = words[0]
    if len(words) >= 2 and shutil.which(first) is None and not Path(first).exists():
        return first, words[1:]
    return None, words


def _run(args: argparse.Namespace) -> JobView:
    backend = _backend(args)
    words = list(args.command)
    image, command = (args.image, words) if args.image else _split_image(backend, words)
    if not command:
        raise UserError("No command given after the image. Example: hf-trainer jobs run python:3.12 python -V")
    request = CommandJobRequest(
        command=command,
        image=image,
        env=_pairs(args.env, "env"),
        secrets=_pairs(args.secrets, "secret", allow_bare=True),
        labels=_labels(args.label),
        flavor=args.flavor,
        timeout_seconds=_timeout(args.timeout),
    )
    return _view(backend.run(with_hub_options(request, args, backend)))


def _ps(args: argparse.Namespace) -> JobTable:
    jobs = _backend(args).ps(all=args.all, stage=_stage(args.stage), labels=_pairs(args.label, "label") or None)
    table = JobTable(_view(j) for j in jobs)
    table.all = args.all
    return table


def _logs(args: argparse.Namespace) -> list[str] | None:
    if args.tail is not None and args.tail < 0:
        raise UserError(f"--tail {args.tail} must be 0 or more lines.")
    lines = _backend(args).logs(args.job_id, tail=args.tail, follow=args.follow, timeout=_timeout(args.timeout))
    if args.json:
        return list(lines)
    for line in lines:
        print(line, flush=True)
    return None


def _inspect(args: argparse.Namespace) -> JobViews:
    backend = _backend(args)
    return JobViews(_view(backend.inspect(job_id)) for job_id in args.job_ids)


def _cancel(args: argparse.Namespace) -> JobView:
    return _view(_backend(args).cancel(args.job_id))


def _wait(args: argparse.Namespace) -> JobView:
    job = _backend(args).wait(args.job_id, timeout=_timeout(args.timeout), poll_interval=args.poll_interval)
    # Scripts chain on the exit status: only a COMPLETED job is a success.
    args.exit_code = 0 if job.stage == "COMPLETED" else 1
    return _view(job)


def _diagnose(args: argparse.Namespace) -> Any:
    from hf_trainer.train import retry_job  # diagnosis and resubmission live with the training workflow

    return retry_job(_backend(args), args.job_id)


def _retry(args: argparse.Namespace) -> Any:
    from hf_trainer.train import retry_job

    return retry_job(_backend(args), args.job_id, confirm=args.confirm, force=args.force)


# --- registration -----------------------------------------------------------------------------------------------


def add_backend_argument(parser: argparse.ArgumentParser) -> None:
    """`--backend local|hub` (default: hub when a token is found, else local). For every jobs subcommand."""
    parser.add_argument("--backend", choices=["local", "hub"], default=None,
                        help="Where jobs run: 'hub' (Hugging Face Jobs) or 'local' (this machine). "
                             "Default: hub when a token is found, else local.")


def _add_submit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-e", "--env", action="append", metavar="K=V", help="Environment variable (repeatable).")
    parser.add_argument("-s", "--secrets", action="append", metavar="K[=V]",
                        help="Secret environment variable (repeatable); a bare K takes its value from your "
                             "environment, and HF_TOKEN from your login. Secret values are never shown.")
    parser.add_argument("-l", "--label", action="append", metavar="K=V", help="Label (repeatable).")
    parser.add_argument("--flavor", help="Hardware flavor on the Hub, e.g. cpu-basic, a10g-large, h200.")
    parser.add_argument("--timeout", help=f"Stop the job after this long: {ACCEPTED}.")
    add_hub_submit_options(parser)


def register(subparsers: Any, command: Command) -> None:
    """Add `hf-trainer jobs ...`. `command(subparsers, name, handler, help)` is cli.py's `_command`."""
    jobs = subparsers.add_parser("jobs", help="Run and follow jobs on Hugging Face Jobs or this machine.",
                                 description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = jobs.add_subparsers(dest="jobs_command", required=True, metavar="COMMAND")

    p = command(sub, "uv", _uv, "Run a Python script (a file, inline text or an http(s) URL; a PEP 723 header "
                "declares its dependencies) with uv. Options go before SCRIPT; everything after it goes to the script.")
    add_backend_argument(p)
    _add_submit_arguments(p)
    p.add_argument("--with", dest="with_", action="append", metavar="DEP", help="Extra dependency (repeatable).")
    p.add_argument("--python", help="Python version for uv, e.g. 3.12.")
    p.add_argument("--local-python", action="store_true",
                   help="Local backend: run the script with this interpreter instead of `uv run` "
                        "(its dependencies must already be installed).")
    p.add_argument("script", help="Script: path, inline Python text, or http(s) URL.")
    p.add_argument("script_args", nargs=argparse.REMAINDER, help="Arguments for the script.")

    p = command(sub, "run", _run, "Run a command: in a Docker image on the Hub; as a process on this machine "
                "locally (the image is then not used). Options go before the command.")
    add_backend_argument(p)
    _add_submit_arguments(p)
    p.add_argument("--image", help="Docker image (instead of giving it as the first word).")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="[IMAGE] COMMAND ...",
                   help="The image (Hub) and the command with its arguments.")

    p = command(sub, "ps", _ps, "List jobs, newest first: unfinished ones, or all with --all.")
    add_backend_argument(p)
    p.add_argument("-a", "--all", action="store_true", help="Include finished jobs.")
    p.add_argument("--stage", help="Only jobs in this stage (SCHEDULING, RUNNING, COMPLETED, ERROR, CANCELED).")
    p.add_argument("--label", action="append", metavar="K=V", help="Only jobs with this label (repeatable).")

    p = command(sub, "logs", _logs, "Print a job's logs; --follow streams them until the job ends.")
    add_backend_argument(p)
    p.add_argument("job_id", metavar="ID")
    p.add_argument("--tail", type=int, help="Only the last N lines.")
    p.add_argument("-f", "--follow", action="store_true", help="Keep printing new lines until the job ends.")
    p.add_argument("--timeout", help=f"With --follow, stop after this long: {ACCEPTED}.")

    p = command(sub, "inspect", _inspect, "Show one or more jobs in full: stage and its cause, command, timings.")
    add_backend_argument(p)
    p.add_argument("job_ids", nargs="+", metavar="ID")

    p = command(sub, "cancel", _cancel, "Cancel a job (its whole process tree stops).")
    add_backend_argument(p)
    p.add_argument("job_id", metavar="ID")

    p = command(sub, "wait", _wait, "Wait until a job is COMPLETED, ERROR or CANCELED, and show it.")
    add_backend_argument(p)
    p.add_argument("job_id", metavar="ID")
    p.add_argument("--timeout", help=f"Give up after this long: {ACCEPTED}.")
    p.add_argument("--poll-interval", type=float, default=2.0, help="Seconds between checks (default 2).")

    p = command(sub, "diagnose", _diagnose, "Say why a finished job failed (out of memory, timeout, 401/403, data "
                "format, no CUDA, NaN or flat loss, push failure, dependency resolution) and the one change that "
                "fixes it.")
    add_backend_argument(p)
    p.add_argument("job_id", metavar="ID")

    p = command(sub, "retry", _retry, "Plan a failed job again with the fix diagnose names (bundled scripts); "
                "--confirm submits it.")
    add_backend_argument(p)
    p.add_argument("job_id", metavar="ID")
    p.add_argument("--confirm", action="store_true", help="Submit the fixed job (after the person agreed).")
    p.add_argument("--force", action="store_true", help="Submit even when preflight finds errors.")
    p.add_argument("--local-python", action="store_true", help="Local backend: run with this interpreter, not uv.")

    # Hub-only commands (metrics, hardware, scheduled ...) are registered below, on `sub`, with
    # `command(sub, name, handler, help)` and `add_backend_argument(p)` where a backend choice applies.
    from hf_trainer.jobs.hub_cli import register_hub_commands  # argparse only; the Hub stack loads on use

    register_hub_commands(sub, command)
