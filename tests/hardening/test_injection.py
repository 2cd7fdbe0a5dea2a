"""User values travel only as arguments or JSON, never spliced into code or shell strings.

Hostile values (quotes, $(...), backticks, ;, &&, |, >, newlines, globs, ~, $VARS, NUL-free unicode) go through every
place a user value reaches a command: the Hub's `bash -c` wrapper for uv jobs (run here with bash and a stand-in uv
that prints the argv it got), Hub command jobs, the local backend (uv scripts and commands), the train tool's script
arguments (file names, output folder, extra arguments, prompts in the data) and dataset mapping names. Each test checks
that the program got exactly the values given, and that the marker file a shell would create never appears.
"""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CANARY_TOKEN
from fakes.fake_hub import FakeHub
from huggingface_hub import HfApi

from hf_trainer.errors import UserError
from hf_trainer.jobs import hub as hub_module
from hf_trainer.operations import parse_call
from hf_trainer.jobs.base import Stage, UvJobRequest
from hf_trainer.jobs.hub import SCRIPT_ENV, HubBackend, shipped_script
from hf_trainer.jobs.hub_errors import Retry
from hf_trainer.jobs.local import LocalBackend
from hf_trainer.tiny import chat_rows, write_jsonl
from hf_trainer.train import TrainRequest, train

MARK = "PWNED"  # a shell that ran any of the values below would create this file in the working folder
HOSTILE = [
    "it's", 'say "hi"', f"$(touch {MARK})", f"`touch {MARK}`", "${HOME}", f"a;touch {MARK}", f"a && touch {MARK}",
    f"a | tee {MARK}", f"> {MARK}", "line1\nline2", f"--flag=$(touch {MARK})", "\\", "'\"'\"'", "é 🙂", "", " ",
    "*", "~", "$HF_TOKEN", "-", "--", "%s %n", "\t",
]
ARGV_PRINTER = "import json, sys\nprint(json.dumps(sys.argv[1:]))\n"


def no_mark(*folders: Path) -> bool:
    return not any((folder / MARK).exists() for folder in folders)


@pytest.fixture
def hub_backend(fake_hub: FakeHub) -> HubBackend:
    return HubBackend(HfApi(endpoint=fake_hub.url, token=CANARY_TOKEN), retry=Retry(sleep=lambda s: None))


def _stand_in_uv(tmp_path: Path) -> Path:
    """A `uv` that prints the arguments it was given, as JSON, then runs nothing."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    uv = bin_dir / "uv"
    uv.write_text(f"#!/bin/sh\nexec {sys.executable} -c 'import json, sys; print(json.dumps(sys.argv[1:]))' \"$@\"\n",
                  encoding="utf-8")
    uv.chmod(uv.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def test_hub_uv_jobs_pass_hostile_arguments_dependencies_and_names_through_bash_intact(
        fake_hub: FakeHub, hub_backend: HubBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setattr(hub_module, "SCRIPT_DIR", str(tmp_path / "job"))
    script_file = work / f"x'$(touch {MARK})`id`.py"  # a hostile file name becomes a safe one in the container
    script_file.write_text(ARGV_PRINTER, encoding="utf-8")
    deps = [f"rich; $(touch {MARK})", "trl>=1.16 `id`"]
    call = parse_call("uv", {"script": str(script_file), "script_args": HOSTILE, "with_deps": deps,
                             "env": {"NOTE": f"$(touch {MARK})"}, "launcher": ["accelerate", f"$(touch {MARK})"]})
    hub_backend.uv(call.uv)
    spec = fake_hub.bodies("POST", r"^/api/jobs/[^/]+$")[0]
    assert spec["command"][:2] == ["bash", "-c"] and spec["environment"]["NOTE"] == f"$(touch {MARK})"

    env = {**os.environ, **spec["environment"], "PATH": f"{_stand_in_uv(tmp_path)}:{os.environ['PATH']}"}
    out = subprocess.run(spec["command"], env=env, cwd=work, capture_output=True, text=True, timeout=60, check=True)
    target = str(tmp_path / "job" / "x___touch_PWNED__id_.py")
    assert json.loads(out.stdout) == ["run", "--with", deps[0], "--with", deps[1], "accelerate",
                                      f"$(touch {MARK})", target, *HOSTILE]
    assert Path(target).read_text(encoding="utf-8") == ARGV_PRINTER
    assert no_mark(work, tmp_path, tmp_path / "job")


def test_hub_command_jobs_send_the_words_as_a_list_and_a_string_command_is_split_without_a_shell(
        fake_hub: FakeHub, hub_backend: HubBackend) -> None:
    command = ["python", "-c", ARGV_PRINTER, *HOSTILE]
    hub_backend.run(parse_call("run", {"image": "python:3.12", "command": command}).run)
    hub_backend.run(parse_call("run", {"image": "python:3.12", "command": f"echo '$(touch {MARK})' \"`id`\""}).run)
    first, second = fake_hub.bodies("POST", r"^/api/jobs/[^/]+$")
    assert first["command"] == ["python", "-c", ARGV_PRINTER, *HOSTILE]
    assert second["command"] == ["echo", f"$(touch {MARK})", "`id`"]
    assert SCRIPT_ENV not in first["environment"]


@pytest.mark.parametrize(("command", "words"), [
    (f"echo hi; touch {MARK}", None),  # a command list: refused
    (f"echo hi && touch {MARK}", None),  # an and-list: refused
    (f"echo hi | tee {MARK}", None),  # a pipe: refused
    (f"echo hi > {MARK}", None),  # a redirection: refused
    (f"echo hi\ntouch {MARK}", ["echo", "hi", "touch", MARK]),  # a newline is only a space here: echo prints it all
    (f"echo $(touch {MARK})", None),  # a command substitution: refused (its parenthesis is an operator)
    (f"echo '$(touch {MARK})'", ["echo", f"$(touch {MARK})"]),  # quoted: one literal word, nothing expands it
])
def test_a_string_command_with_shell_syntax_is_refused_or_kept_literal(command: str, words: list[str] | None) -> None:
    if words is None:
        with pytest.raises(UserError, match=r"runs without a shell.*\[\"bash\", \"-c\""):
            parse_call("run", {"image": "python:3.12", "command": command})
    else:
        assert parse_call("run", {"image": "python:3.12", "command": command}).run.command == words


def test_local_uv_jobs_and_commands_get_hostile_arguments_exactly(tmp_path: Path) -> None:
    backend = LocalBackend(use_uv=False, cwd=tmp_path)
    uv_job = backend.uv(UvJobRequest(script=ARGV_PRINTER, script_args=HOSTILE, env={"NOTE": f"$(touch {MARK})"}))
    run_job = backend.run(parse_call("run", {"image": "x", "command": [sys.executable, "-c", ARGV_PRINTER,
                                                                        *HOSTILE]}).run)
    for job in (uv_job, run_job):
        done = backend.wait(job.id, timeout=60, poll_interval=0.1)
        assert done.stage is Stage.COMPLETED, list(backend.logs(job.id))
        assert json.loads(list(backend.logs(job.id))[-1]) == HOSTILE
    assert no_mark(tmp_path, Path(backend.jobs_dir / uv_job.id))


def test_train_passes_hostile_file_names_output_folder_prompts_and_extra_args_as_separate_arguments(
        tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rows = chat_rows(8)
    for row in rows:  # prompts that would break code generated from them
        row["messages"][0]["content"] = f"'''\"\"\" $(touch {MARK}) `id` {{0}} %s \\n" + row["messages"][0]["content"]
    data = write_jsonl(rows, tmp_path / f"data '$(touch {MARK})' `id`.jsonl")
    output_dir = tmp_path / f"out $(touch {MARK}); `id`"
    request = TrainRequest(method="sft", model_name_or_path=str(tiny_model), dataset_name=str(data),
                           output_dir=str(output_dir), max_steps=1, max_length=128, per_device_train_batch_size=4,
                           backend="local", extra_args=["--run_name", f"r $(touch {MARK})", "--report_to", "none"],
                           confirm=True)
    backend = LocalBackend(use_uv=False)
    plan = train(request, backend)
    args = plan.script_args
    assert args[args.index("--dataset_name") + 1] == str(data)
    assert args[args.index("--output_dir") + 1] == str(output_dir)
    assert args[-4:] == ["--run_name", f"r $(touch {MARK})", "--report_to", "none"]  # extra_args last, as given

    done = backend.wait(plan.job.id, timeout=300, poll_interval=0.2)
    assert done.stage is Stage.COMPLETED, "\n".join(backend.logs(plan.job.id, tail=30))
    assert (output_dir / "adapter_model.safetensors").is_file()
    assert no_mark(tmp_path, output_dir, Path.cwd())


@pytest.mark.parametrize("name", [
    "sharegpt; import os",  # code after a name
    "__import__('os').system('touch PWNED')",  # an expression
    "../../etc/passwd",  # a path
    "sharegpt\nmessages",  # two names
])
def test_a_dataset_mapping_is_only_ever_a_known_name(tiny_model: Path, tmp_path: Path, name: str) -> None:
    data = write_jsonl(chat_rows(8), tmp_path / "chat.jsonl")
    request = TrainRequest(method="sft", model_name_or_path=str(tiny_model), dataset_name=str(data),
                           dataset_mapping=name, backend="local", confirm=True)
    backend = LocalBackend(use_uv=False)
    with pytest.raises(UserError, match=r"is not a known mapping.*Known: sharegpt, ") as err:
        train(request, backend)
    assert repr(name)[:20] in str(err.value) or name[:20] in str(err.value)
    assert backend.ps(all=True) == [] and no_mark(tmp_path)


def test_hostile_column_names_are_reported_as_data_not_run(tmp_path: Path) -> None:
    from hf_trainer.dataset_inspect import DatasetInspectInput, inspect_dataset

    rows = [{f"$(touch {MARK})": "x", "`id`": 1, "a'b": [1], "messages": r["messages"]} for r in chat_rows(6)]
    data = write_jsonl(rows, tmp_path / "odd.jsonl")
    report = inspect_dataset(DatasetInspectInput(dataset_name=str(data)))
    assert f"$(touch {MARK})" in json.dumps(report.model_dump(mode="json"))
    assert no_mark(tmp_path, Path.cwd())


def test_the_inline_script_travels_as_base64_data_never_as_shell_text(fake_hub: FakeHub,
                                                                      hub_backend: HubBackend) -> None:
    script = f"print('$(touch {MARK})')\n# `id` ' \" \\\n"
    hub_backend.uv(UvJobRequest(script=script))
    spec = fake_hub.bodies("POST", r"^/api/jobs/[^/]+$")[0]
    assert "touch" not in spec["command"][2]
    assert shipped_script(spec["environment"]).decode("utf-8") == script



@pytest.mark.parametrize("name", [
    "Qwen/Qwen2.5-0.5B",  # a Hub id: written as it is
    "/data/models/base",  # a plain path: as it is
    "/data/my model: v2",  # ': ' would make a second key
    "base\nlicense: other",  # a newline would add metadata
    "x\n---\n# not the card",  # would end the header early
    "null",  # a YAML word
    "1.5",  # a number
    "~/models/base",  # ~ alone is null in YAML
    "é 🙂 'quoted' \"double\"",  # unicode and quotes
    "tab\there \\ back\x00slash\u2028",  # control and separator characters, a backslash
])
def test_model_card_metadata_holds_a_hostile_model_or_dataset_name_as_one_value(name: str) -> None:
    import yaml

    from hf_trainer.runtime.results import yaml_scalar

    header = f"---\nbase_model: {yaml_scalar(name)}\ndatasets:\n- {yaml_scalar(name)}\nlibrary_name: peft\n---\n"
    meta = yaml.safe_load(header.split("---\n")[1])
    assert meta == {"base_model": name, "datasets": [name], "library_name": "peft"}
