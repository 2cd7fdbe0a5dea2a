"""The `hf-trainer` command: thin adapters over the library, the same functions the MCP server uses.

Each capability registers its subcommands in one `_add_*` function below; a handler takes the parsed arguments and
returns a pydantic model (or a list of them), printed as JSON with `--json` or as text otherwise.
Heavy libraries are imported inside handlers, never here, so `hf-trainer --help` is instant.
"""

import argparse
import json
import sys
from typing import Any, Callable, Sequence

from pydantic import BaseModel, ValidationError

from hf_trainer.cli_options import add_model_options, given_values
from hf_trainer.errors import UserError, to_user_error

Handler = Callable[[argparse.Namespace], Any]


def _emit(result: Any, as_json: bool) -> None:
    """Print a handler's result: JSON for machines, the model's own text (`render()`) or JSON for people."""
    if result is None:
        return
    if as_json:
        if isinstance(result, BaseModel):
            print(result.model_dump_json())
        elif isinstance(result, list):
            print(json.dumps([r.model_dump(mode="json") if isinstance(r, BaseModel) else r for r in result]))
        else:
            print(json.dumps(result))
        return
    if hasattr(result, "render"):
        print(result.render())
    elif isinstance(result, BaseModel):
        print(result.model_dump_json(indent=2))
    elif isinstance(result, str):
        print(result)
    else:
        print(json.dumps(result, indent=2, default=str))


def _command(subparsers: Any, name: str, handler: Handler, help: str) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(name, help=help, description=help)
    parser.add_argument("--json", action="store_true", help="Print the result as JSON.")
    parser.set_defaults(handler=handler)
    return parser


# --- jobs commands (jobs/local.py, jobs/hub.py) ---
def _add_jobs(subparsers: Any) -> None:
    from hf_trainer import cli_jobs

    cli_jobs.register(subparsers, _command)


# --- demo ---
def _demo(args: argparse.Namespace) -> Any:
    from hf_trainer.demo import run_demo

    return run_demo(max_steps=args.max_steps, progress=not args.json)


def _add_demo(subparsers: Any) -> None:
    parser = _command(subparsers, "demo", _demo, "Train a tiny model on a tiny chat dataset locally (no account, "
                      "no GPU, no network) through the local job backend, and summarise the result.")
    parser.add_argument("--max_steps", type=int, default=30, help="Optimiser steps (default 30).")


# --- mcp server ---
def _mcp(args: argparse.Namespace) -> None:
    from hf_trainer.tokens import mcp_auth_token
    from hf_trainer.server import serve

    serve(http=args.http, host=args.host, port=args.port,
          auth_token=mcp_auth_token(args.auth_token, args.auth_token_file))


def _add_mcp(subparsers: Any) -> None:
    parser = subparsers.add_parser("mcp", help="Start the MCP server (stdio by default).")
    parser.add_argument("--http", action="store_true", help="Serve streamable HTTP instead of stdio.")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP address (default 127.0.0.1).")
    parser.add_argument("--port", type=int, default=8765, help="HTTP port (default 8765).")
    parser.add_argument("--auth-token-file", default=None, help="File whose first line is the bearer token HTTP "
                        "clients must send (required when --host is not a loopback address; default "
                        "$HF_TRAINER_MCP_TOKEN, else on loopback a new token, saved to HF_TRAINER_HOME/mcp-http-token "
                        "(0600) and printed once).")
    parser.add_argument("--auth-token", default=None, help="The token itself (discouraged: other users see it in "
                        "the process list; use --auth-token-file or HF_TRAINER_MCP_TOKEN).")
    parser.set_defaults(handler=_mcp, json=False)


# --- dataset inspect (dataset_inspect.py) ---
def _dataset_inspect(args: argparse.Namespace) -> Any:
    from hf_trainer.dataset_inspect import DatasetInspectInput, inspect_dataset

    params = DatasetInspectInput.model_validate(given_values(args, DatasetInspectInput))
    return inspect_dataset(params, viewer_url=args.viewer_url)


def _add_dataset(subparsers: Any) -> None:
    from hf_trainer.dataset_inspect import DatasetInspectInput  # pydantic only: keeps --help fast

    group = subparsers.add_parser("dataset", help="Dataset commands (inspect).")
    commands = group.add_subparsers(dest="dataset_command", required=True)
    parser = _command(commands, "inspect", _dataset_inspect, "Check a Hub or local dataset before training: its "
                      "format, a READY / NEEDS MAPPING / INCOMPATIBLE verdict for SFT, DPO, GRPO, reward and KTO, the "
                      "config and split each method trains on, a validated --dataset_mapping, and token lengths with "
                      "--model_name_or_path.")
    parser.add_argument("dataset_name", help=DatasetInspectInput.model_fields["dataset_name"].description)
    add_model_options(parser, DatasetInspectInput, positional=("dataset_name",))
    parser.add_argument("--viewer_url", "--viewer-url", default=None, help="Dataset viewer API base URL (default: "
                        "$HF_TRAINER_DATASETS_SERVER or https://datasets-server.huggingface.co).")


# --- estimate and hardware (estimate.py, hardware.py) ---
def _estimate(args: argparse.Namespace) -> Any:
    from hf_trainer.estimate import EstimateRequest, run_estimate

    return run_estimate(EstimateRequest.model_validate(given_values(args, EstimateRequest)))


def _hardware(args: argparse.Namespace) -> Any:
    from hf_trainer.hardware import catalog_result, load_catalog

    return catalog_result(load_catalog(refresh=args.refresh))


def _add_estimate(subparsers: Any) -> None:
    from hf_trainer.estimate import EstimateRequest  # pydantic only: keeps --help fast

    parser = _command(subparsers, "estimate", _estimate, "Estimate time, memory and cost of a training job on every "
                      "HF Jobs flavor, and recommend the cheapest that fits within --max_hours.")
    add_model_options(parser, EstimateRequest)
    hardware = _command(subparsers, "hardware", _hardware, "List HF Jobs hardware flavors with prices and GPU "
                        "datasheet figures (live from the Hub, cached for a day, else a dated fallback table).")
    hardware.add_argument("--refresh", action="store_true", help="Ignore the cache and ask the Hub now.")


# --- preflight and train (preflight.py, train.py) ---
def _preflight(args: argparse.Namespace) -> Any:
    from hf_trainer.jobs.script_source import resolve_script
    from hf_trainer.preflight import PreflightInput, preflight
    from hf_trainer.timeouts import parse_timeout

    from hf_trainer.jobs.submit import bundled_path

    bundled = bundled_path(args.script)  # a bundled script by name, from any folder
    source = resolve_script(str(bundled) if bundled else args.script, check_tokens=False)  # listed as a finding
    secrets = dict(item.split("=", 1) if "=" in item else (item, "$" + item) for item in args.secrets)
    env = dict(_key_value(item, "--env") for item in args.env)
    report = preflight(PreflightInput(
        script_text=source.text or "", script_name=source.name, script_args=args.script_args, env=env,
        secrets=secrets, backend=args.backend, flavor=args.flavor,
        timeout_seconds=parse_timeout(args.timeout) if args.timeout else None))
    args.exit_code = 0 if report.ok else 1
    return report


def _key_value(item: str, option: str) -> tuple[str, str]:
    if "=" not in item:
        raise UserError(f"{option} {item!r} must look like KEY=VALUE.")
    key, value = item.split("=", 1)
    return key, value


def _train(args: argparse.Namespace) -> Any:
    from hf_trainer.jobs.backends import get_backend
    from hf_trainer.train import TrainRequest, train

    request = TrainRequest.model_validate(given_values(args, TrainRequest))
    backend = get_backend(request.backend)
    if request.backend == "local" or backend.name == "local":
        from hf_trainer.jobs.local import LocalBackend

        backend = LocalBackend(use_uv=False if args.local_python else None)
    return train(request, backend)


def _add_train(subparsers: Any) -> None:
    parser = _command(subparsers, "preflight", _preflight, "Lint a job before submitting it: the script with its "
                      "arguments, secrets, flavor and timeout. Exit status 1 when it finds errors.")
    parser.add_argument("--backend", choices=["hub", "local"], default="hub")
    parser.add_argument("--flavor", default=None)
    parser.add_argument("--timeout", default=None, help="e.g. 2h, 90m, 5400")
    parser.add_argument("-e", "--env", action="append", default=[], metavar="K=V")
    parser.add_argument("-s", "--secrets", action="append", default=[], metavar="K[=V]",
                        help="Secret names (values are never shown), e.g. -s HF_TOKEN.")
    parser.add_argument("script", help="Script path, URL or inline text.")
    parser.add_argument("script_args", nargs=argparse.REMAINDER, help="The script's arguments.")

    from hf_trainer.train import TrainRequest  # pydantic only: keeps --help fast

    parser = _command(subparsers, "train", _train, "Plan a training run (dataset check, estimate, flavor, job, "
                      "preflight) and show it; --confirm submits it.")
    add_model_options(parser, TrainRequest, required=("method", "model_name_or_path", "dataset_name"))
    parser.add_argument("--local-python", action="store_true", help="Local backend: run with this interpreter, "
                        "not uv.")


# --- rerun (rerun.py) ---
def _rerun(args: argparse.Namespace) -> Any:
    from hf_trainer.jobs.backends import get_backend
    from hf_trainer.rerun import RerunRequest, rerun_request

    request = RerunRequest.model_validate(given_values(args, RerunRequest))
    return rerun_request(request, get_backend(request.backend))


def _add_rerun(subparsers: Any) -> None:
    from hf_trainer.rerun import RerunRequest  # pydantic and stdlib only: keeps --help fast

    parser = _command(subparsers, "rerun", _rerun, "Plan the job that made a model again (same script, arguments, "
                      "flavor), read from its model card or its job record; --confirm submits it.")
    parser.add_argument("source", help=RerunRequest.model_fields["source"].description)
    add_model_options(parser, RerunRequest, positional=("source",))


# --- the spend budget and the ledger (budget.py, ledger.py): the person's commands; no MCP tool writes the budget ---
def _budget_set(args: argparse.Namespace) -> Any:
    from hf_trainer import budget

    # Raising needs a person at a terminal (stdin a tty) who types the amount; lowering does not.
    result = budget.set_budget(args.usd, args.period, interactive=sys.stdin.isatty(), confirm=input)
    in_force = budget.load_budget()
    if in_force is not None and in_force.source == "environment":
        return f"Saved {result.render()}\nNote: {budget.ENV_USD} is set, and it wins over the file while it is."
    return result


def _budget_show(args: argparse.Namespace) -> Any:
    from hf_trainer import budget

    return budget.load_budget() or (f"No budget set: jobs are not limited. Set one with `hf-trainer budget set "
                                    f"<usd> [--period 30d]` or {budget.ENV_USD}.")


def _budget_clear(args: argparse.Namespace) -> Any:
    from hf_trainer import budget

    removed = budget.clear_budget(interactive=sys.stdin.isatty(), confirm=input)
    return "Budget removed." if removed else f"No budget file at {budget.config_path()}: nothing to remove."


def _spend(args: argparse.Namespace) -> Any:
    from hf_trainer import budget
    from hf_trainer.jobs.backends import get_backend

    return budget.spend_report(get_backend(args.backend))


def _add_budget(subparsers: Any) -> None:
    group = subparsers.add_parser("budget", help="The spend budget for all HF Jobs together (set by you; no MCP tool "
                                  "can change it).")
    commands = group.add_subparsers(dest="budget_command", required=True)
    parser = _command(commands, "set", _budget_set, "Set the budget: at most USD per period for all Hub jobs "
                      "together (a 0600 file under HF_TRAINER_HOME). Raising it asks you to type the amount, so only "
                      "a person at a terminal can.")
    parser.add_argument("usd", help="US dollars per period, e.g. 50.")
    parser.add_argument("--period", default="30d", help="Period length in days, e.g. 7d (default 30d).")
    _command(commands, "show", _budget_show, "Show the budget in force and where it is set.")
    _command(commands, "clear", _budget_clear, "Remove the budget file (asks you to confirm at a terminal).")
    parser = _command(subparsers, "spend", _spend, "What each Hub job cost this period (flavor, minutes, cost, "
                      "model repo), what running and scheduled jobs may still cost, and the budget left.")
    parser.add_argument("--backend", choices=["hub", "local"], default=None, help="Default: hub with a token.")


_REGISTRARS = [_add_jobs, _add_demo, _add_mcp, _add_dataset, _add_estimate, _add_train, _add_rerun, _add_budget]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hf-trainer", description="Fine-tune language models on Hugging Face "
                                     "Jobs or this machine.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for register in _REGISTRARS:
        register(subparsers)
    return parser


def _reader_went_away() -> int:
    """`hf-trainer ... | head`: the reader closed the pipe. Stop quietly, as a command killed by SIGPIPE does (141);
    stdout goes to /dev/null so the interpreter's final flush cannot raise again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (a test's capture): nothing left to flush there
        pass
    return 141


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _emit(args.handler(args), getattr(args, "json", False))
        sys.stdout.flush()  # a closed pipe is met here, inside the handling below, not at interpreter exit
    except (UserError, ValidationError) as exc:
        # The same words (and the same redaction) as the MCP tools: errors.to_user_error makes both.
        print(f"error: {to_user_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _reader_went_away()
    except Exception as exc:  # the top level: what no function anticipated still gets a named, redacted error
        from hf_trainer.failures import named_error

        print(f"error: {named_error(exc, 'hf-trainer ' + str(getattr(args, 'command', '') or ''))}", file=sys.stderr)
        return 1
    # A handler sets args.exit_code when its result is a failure to report, not an error (a job that ended ERROR,
    # a preflight with errors): the output is printed in full and the status still says so.
    return getattr(args, "exit_code", 0)


if __name__ == "__main__":
    sys.exit(main())
