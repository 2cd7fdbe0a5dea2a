"""Issue 33: one operation table, one input contract, one error wording, and a plan that is the job it sends."""

import anyio
import pytest
from mcp import Client

from hf_trainer import bundled_scripts
from hf_trainer.cli import main
from hf_trainer.estimate import EstimateRequest
from hf_trainer.jobs import submit
from hf_trainer.jobs.base import JobInfo, Stage, UvJobRequest
from hf_trainer.operations import OPERATIONS
from hf_trainer.preflight import PreflightInput
from hf_trainer.rerun import RerunRequest
from hf_trainer.train import TrainRequest
from hf_trainer.dataset_inspect import DatasetInspectInput


def _tools() -> dict:
    from hf_trainer.server import mcp

    async def listed() -> dict:
        async with Client(mcp) as client:
            return {t.name: t for t in (await client.list_tools()).tools}

    return anyio.run(listed)


def test_every_operation_publishes_its_typed_arguments_in_the_tool_list() -> None:
    tools = _tools()
    for tool, read_only in (("hf_jobs", False), ("hf_jobs_status", True)):
        choices = tools[tool].input_schema["properties"]["args"]["anyOf"]
        by_title = {c.get("title"): c for c in choices if c.get("type") == "object"}
        for name, op in OPERATIONS.items():
            if name == "help" or (read_only and not op.read_only):
                assert f"args for operation {name!r}" not in by_title
                continue
            schema = by_title[f"args for operation {name!r}"]
            # Every field of the operation's model, with its type: nothing hidden behind an open object.
            assert set(schema.get("properties", {})) == set(op.args.model_fields), name
            for field, prop in schema.get("properties", {}).items():
                assert "type" in prop or "anyOf" in prop or "enum" in prop or "const" in prop, (name, field, prop)


@pytest.mark.parametrize("tool, model", [
    ("estimate_cost", EstimateRequest), ("preflight", PreflightInput), ("train", TrainRequest),
    ("dataset_inspect", DatasetInspectInput), ("rerun", RerunRequest),
])
def test_the_other_tools_take_their_models_fields_flat(tool: str, model: type) -> None:
    schema = _tools()[tool].input_schema
    assert set(schema["properties"]) == set(model.model_fields)  # no `request` / `job` wrapper
    required = {name for name, field in model.model_fields.items() if field.is_required()}
    assert set(schema.get("required", [])) == required
    for name, field in model.model_fields.items():
        assert schema["properties"][name].get("description") == field.description, name


def test_the_cli_and_mcp_word_a_bad_value_the_same_way(capsys: pytest.CaptureFixture) -> None:
    from hf_trainer.server import mcp

    async def call() -> str:
        async with Client(mcp) as client:
            result = await client.call_tool("estimate_cost", {"num_params": 7_000_000_000, "num_rows": 10,
                                                               "num_train_epochs": -1.0})
            assert result.is_error
            return result.content[0].text

    mcp_text = anyio.run(call)
    code = main(["estimate", "--num_params", "7e9", "--num_rows", "10", "--num_train_epochs", "-1"])
    cli_text = capsys.readouterr().err.removeprefix("error: ").strip()
    assert code == 2 and cli_text and cli_text in mcp_text
    assert "num_train_epochs -1.0 must be more than 0" in cli_text


def test_bundled_script_facts_come_from_one_registry() -> None:
    assert bundled_scripts.METHOD_SCRIPTS == {"sft": "train_sft.py", "dpo": "train_dpo.py", "grpo": "train_grpo.py",
                                              "reward": "train_reward.py", "kto": "train_kto.py"}
    from hf_trainer.jobs.hub import DISTRIBUTED_SCRIPTS
    from hf_trainer.preflight import BUNDLED_TRAINING

    assert BUNDLED_TRAINING == set(bundled_scripts.TRAINING_SCRIPTS)
    assert DISTRIBUTED_SCRIPTS == {n for n, s in bundled_scripts.SCRIPTS.items() if s.distributed}
    # Every script in scripts/ is registered, and every registered script exists.
    from hf_trainer import paths

    on_disk = {p.name for p in paths.scripts_dir().glob("*.py")}
    assert on_disk == set(bundled_scripts.SCRIPTS)


class RecordingBackend:
    """A local-style backend that records the request it is sent (nothing runs)."""

    name = "local"

    def __init__(self) -> None:
        self.sent: list[UvJobRequest] = []

    def uv(self, request: UvJobRequest) -> JobInfo:
        self.sent.append(request)
        return JobInfo(id="0" * 24, stage=Stage.RUNNING, backend="local", command=["python"])


def test_a_reused_report_approves_only_the_job_it_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = RecordingBackend()
    args = ["--model_name_or_path", "./no-model", "--dataset_name", "./no-data.jsonl", "--output_dir", "out"]
    monkeypatch.setattr(submit, "estimate_training", lambda *a, **k: submit.Estimated())
    report = submit.lint_training("train_sft.py", args, backend, flavor=None, timeout_seconds=600)
    submit.submit_training("train_sft.py", args, backend, flavor=None, timeout_seconds=600, labels={"k": "v"},
                           report=report, force=True)
    (sent,) = backend.sent
    # Field by field: what the plan checked is what was sent (labels aside: they are not linted).
    assert report.checked == submit.checked_fields(sent, "local")
    assert sent.secrets == submit.token_secret(backend) and {"k": "v"}.items() <= sent.labels.items()

    # The same report offered for another job (another timeout) is not reused: that job is checked anew.
    checked: list[object] = []
    real_check = submit.check

    def spy(request: object, *a: object, **k: object) -> object:
        checked.append(request)
        return real_check(request, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(submit, "check", spy)
    submit.submit_training("train_sft.py", args, backend, flavor=None, timeout_seconds=60, labels={}, report=report,
                           force=True)
    assert len(checked) == 1 and submit.checked_fields(backend.sent[-1], "local")["timeout_seconds"] == 60


def test_each_operations_example_passes_the_schema_clients_are_shown() -> None:
    # The published schema admits what the model accepts: timeouts as "2h", env as ["K=v"], a command as a string.
    import jsonschema

    from hf_trainer.operations import inline_refs

    for name, op in OPERATIONS.items():
        schema = inline_refs(op.args.model_json_schema())
        for example in [op.example or {}, *({"uv": [{"script": "x.py", "env": ["A=b"], "timeout": "90m"}],
                                             "run": [{"image": "python:3.12", "command": "python -c 'print(1)'"}],
                                             "wait": [{"job_id": "ab12", "timeout": "30m"}]}.get(name, []))]:
            if not example:
                continue
            jsonschema.validate(example, schema)
            if "<" not in str(example):  # the usage examples carry placeholders such as "<id>"
                op.args.model_validate(example)
