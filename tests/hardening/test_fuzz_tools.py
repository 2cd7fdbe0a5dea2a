"""Every MCP tool's arguments fuzzed with hypothesis through the in-process MCP client.

What must hold for any input: no masked crash (a result that is only "Error executing tool X": the SDK's text for an
exception we did not anticipate, whose message it withholds), no traceback text, no token in any result, and every
refusal names what it refuses (an argument's name or the value given). Bounded: a fixed number of examples per tool and
a deadline per example, so the module stays under a minute on 2 cores.

The Hub is the fake Hub, the dataset viewer a fake viewer with no datasets, local jobs run /bin/true (PATH is emptied so
no command a fuzzer can spell runs here), and the working folder is an empty temporary one.
"""

import asyncio
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import CANARY_TOKEN
from fakes.fake_dataset_viewer import fake_viewer  # noqa: F401  (fixture)
from fakes.fake_hub import FakeHub
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from hf_trainer.redaction import Redactor
from hf_trainer.server import mcp

# Figures for the report: calls made per tool and masked crashes seen (the test fails on the first one, unless
# HF_TRAINER_FUZZ_COUNT is set: then they are counted and reported at the end, for a long counting run).
TRIED: dict[str, int] = {}
MASKED: dict[str, int] = {}
COUNT_ONLY = bool(os.environ.get("HF_TRAINER_FUZZ_COUNT"))
# The Hub API paths a tool call may reach (issue 21: an id must never steer a request elsewhere).
ALLOWED_HUB_PATH = re.compile(
    r"^/api/(whoami-v2|jobs/hardware|jobs/[^/?#]+(/[^/?#]+(/(cancel|logs|metrics|duplicate))?)?"
    r"|scheduled-jobs/[^/?#]+(/[^/?#]+(/(suspend|resume|run))?)?|settings/webhooks(/[^/?#]+)?"
    r"|models/[^?#]+|datasets/[^?#]+)$")

FUZZ = settings(max_examples=int(os.environ.get("HF_TRAINER_FUZZ_EXAMPLES", "120")), deadline=None,
                derandomize=not os.environ.get("HF_TRAINER_FUZZ_RANDOM"),
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# --- value strategies: plausible values, hostile text and wrong types, mixed ---
HOSTILE_TEXT = st.sampled_from([
    "", " ", "\n", "'", '"', "`id`", "$(id)", "${HF_TOKEN}", "$HF_TOKEN", "a;b", "a && b", "|", "\\", "\x00",
    "../../etc/passwd", "/", ".", "~", "~0", "~no-such-user/x.py", "nul\x00byte", "é" * 3, "🙂", "x" * 5000, "-1",
    "0", "1e309", "NaN",
    "--help", "-", "a=b", "{\"json\": 1}", "null", "true", "hf_" + "A" * 34,
])
TEXT = st.one_of(HOSTILE_TEXT, st.text(max_size=40))
# Issue 21: ids that would leave their URL path segment (dot segments, '?', '#', encoded slashes), and secrets with
# newlines (a PEM key), which were written in clear line by line.
HOSTILE_IDS = st.one_of(st.sampled_from([
    "../../../api/repos/create?x=", "../../../api/repos/delete?", "..", ".", "./x", "a/../../b", "abc#frag",
    "id?stage=RUNNING", "a%2F..%2F..%2Fapi%2Fwhoami-v2", "%2e%2e", "..%2F..%2F", "a" * 100_000, "0" * 24 + "/..",
]), st.builds(lambda parts: "/".join(parts), st.lists(st.sampled_from(["..", ".", "api", "repos", "x?y", "z#w",
                                                                          "%2F"]), min_size=1, max_size=6)))
MULTILINE_SECRET = ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"
                    "BKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n-----END PRIVATE KEY-----\n")
NUMBER = st.one_of(st.integers(min_value=-2**70, max_value=2**70),
                   st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([0, -1, 1, 2**63, 1e308]))
SCALAR = st.one_of(st.none(), st.booleans(), NUMBER, TEXT)
JUNK = st.recursive(SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                     st.dictionaries(TEXT, inner, max_size=3)), max_leaves=6)


def typed_hostile(plausible: list[Any]) -> st.SearchStrategy[Any]:
    """Hostile values of the field's own type, so they pass the schema and reach our code."""
    kinds = {type(v) for v in plausible}
    options: list[st.SearchStrategy[Any]] = []
    if str in kinds:
        options.append(TEXT)
    if int in kinds:
        options.append(st.one_of(st.integers(min_value=-2**70, max_value=2**70), st.sampled_from([0, -1, 2**63])))
    if float in kinds:
        options.append(st.floats(allow_nan=False, allow_infinity=False))
    if list in kinds:
        options.append(st.lists(TEXT, max_size=4))
    if dict in kinds:
        options.append(st.dictionaries(TEXT, TEXT, max_size=3))
    return st.one_of(options) if options else JUNK


# Fields whose schema is a fixed set of words (free text would never pass it), and model ids: a tokenizer load of an
# unknown Hub id goes to huggingface.co whatever HF_ENDPOINT says now (transformers read it at import) and waits out
# its retries, about 45 s a call here.
CHOICES = {"method", "backend", "dataset_verdict", "model_name_or_path"}


ID_FIELDS = {"job_id", "scheduled_job_id", "webhook_id", "namespace"}


def field_value(name: str, plausible: list[Any], typed: bool) -> st.SearchStrategy[Any]:
    """A field's value. typed: mostly a plausible one, else hostile text where the field is text (so it passes the
    schema and reaches our code); untyped: also hostile values of its type and junk of any type. Id fields also get
    ids built to leave their URL path segment."""
    good = st.sampled_from(plausible)
    if name in ID_FIELDS:
        good = st.one_of(good, HOSTILE_IDS)
    if typed:
        if name not in CHOICES and all(isinstance(v, str) for v in plausible):
            return st.one_of(good, good, good, TEXT)
        return good
    return st.one_of(good, typed_hostile(plausible), JUNK)


def arguments(fields: dict[str, list[Any]], required: tuple[str, ...] = ()) -> st.SearchStrategy[dict[str, Any]]:
    """Some of the fields (the required ones always), each fuzzed, sometimes plus an argument the tool does not take.
    Three in four calls are well typed (the schema passes them on to our code), one in four is junk."""
    def chosen(typed: bool) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries(
            {name: field_value(name, fields[name], typed) for name in required},
            optional={name: field_value(name, v, typed) for name, v in fields.items() if name not in required})

    extra = st.dictionaries(TEXT, JUNK, min_size=1, max_size=1)
    return st.one_of(chosen(True), chosen(True), chosen(True),
                     st.tuples(chosen(False), extra).map(lambda t: {**t[1], **t[0]}))


OPERATIONS = ["uv", "run", "ps", "logs", "inspect", "cancel", "wait", "metrics", "hardware", "help", "diagnose",
              "retry", "scheduled run", "scheduled uv", "scheduled ps", "scheduled inspect", "scheduled delete",
              "scheduled suspend", "scheduled resume", "scheduled trigger", "webhook ps", "webhook delete",
              "Scheduled_PS", "bogus", None]
JOB_ARGS = {
    "script": ["print('hi')\n", "train.py", "https://example.invalid/x.py", "/nonexistent/x.py"],
    "script_args": [["--max_steps", "1"], ["$(id)", "`id`", "a'b"], "--x"],
    "command": [["python", "-c", "print(1)"], "echo hi", "echo hi | tee x", ["sh", "-c", "exit 3"], []],
    "image": ["python:3.12", "hf.co/spaces/user/space", ""],
    "flavor": ["cpu-basic", "a10g-large", "h200", "a10g-larg", "h100"],
    "timeout": ["2h", "90", 3600, "2hours", "0", -5, "1.5h", "5x"],
    "env": [{"A": "1"}, {"HF_TOKEN": "$HF_TOKEN"}, {"TOKEN": CANARY_TOKEN}, ["A=1"], "A=1"],
    "secrets": [{"HF_TOKEN": "$HF_TOKEN"}, {"HF_TOKEN": "${HF_TOKEN}"}, {"X": CANARY_TOKEN}, ["X"],
                {"SSH_KEY": MULTILINE_SECRET}, {"A": "line one\nline two\r\n", "B=C": "x"}],
    "labels": [{"project": "sft"}, {"bad key": "v"}, ["k=v"]],
    "volumes": [["hf://datasets/org/data:/data:ro"], ["/local:/data"], "hf://x"],
    "attempts": [1, 3, 11, 0, "2"],
    "namespace": ["alice", "my-org", "bad ns", "", "../../api", "alice/..", "a?b"],
    "job_id": ["abc", ["a", "b"], "", "0" * 24, "../../../api/repos/create?x=", "..", "a%2F..", "x#y"],
    "scheduled_job_id": ["abc", "", "../../../api/repos/delete?", "..", "a?b#c"],
    "webhook_id": ["abc", "../../../api/settings", "..", "a?b"],
    "schedule": ["@daily", "0 9 * * 1", "@sometimes", "* *"],
    "tail": [10, 0, -1, "5", 10**9],
    "follow": [True, False, "true", "yes"],
    "all": [True, "false", 1],
    "status": ["RUNNING", "error", "done"],
    "labels_filter": [{"k": "v"}],
    "force": [False, "true"],
    "confirm": [False],
    "help": [True, False],
    "with_deps": [["trl>=1.16"], "peft"],
    "python": ["3.12", 3.12, "three"],
    "detach": [True, "no"],
    "launcher": [["accelerate", "launch"]],
}
# alice/chat is in the fake viewer, data.jsonl and model/ in the working folder; the others do not exist.
DATASET_NAMES = ["alice/chat", "alice/chat", "./data.jsonl", "data.jsonl", "nobody/nothing", "data.csv", "../..",
                 "~nobody", "~0", ".", "a/b/c"]
MODELS = ["./model", "./model", "model", "nobody/nothing", "gpt2", "./nothing", "~0"]
# dataset_inspect and train load the tokenizer: only local folders (see CHOICES for why not Hub ids).
LOCAL_MODELS = ["./model", "./model", "model", "./nothing", "~0"]
INSPECT_ARGS = {
    "dataset_name": DATASET_NAMES, "dataset_config": ["default", ""], "dataset_train_split": ["train", "nope"],
    "method": ["sft", "dpo", "grpo", "reward", "kto"], "model_name_or_path": LOCAL_MODELS,
    "max_length": [512, 8, 1_048_576, 1_048_577], "sample_size": [1, 100, 2000],
}
ESTIMATE_FIELDS = {
    "model_name_or_path": MODELS, "num_params": [500_000_000, 7_000_000_000, 10**15],
    "method": ["sft", "dpo", "grpo", "reward", "kto", "sft"], "num_rows": [1000, 10**12],
    "mean_tokens_per_row": [300.0], "total_tokens": [10**6, 10**13], "max_steps": [100],
    "num_train_epochs": [1, 3.5, 1000], "max_length": [1024, 16, 2**20], "per_device_train_batch_size": [1, 8],
    "gradient_accumulation_steps": [1, 4096], "activation_checkpointing": [True], "use_peft": [True, False],
    "lora_r": [16], "lora_target_modules": ["all-linear", ""], "load_in_4bit": [True], "optim": ["adamw_torch"],
    "precompute_ref_log_probs": [True], "beta": [0.1], "num_generations": [8, 3], "max_completion_length":
    [256], "use_vllm": [True], "push_to_hub": [True], "flavors": [["a10g-large"], ["nope"], []],
    "max_hours": [1.0], "local": [True, False], "dataset_name": DATASET_NAMES, "dataset_config": ["x"],
    "dataset_train_split": ["train"],
}
PREFLIGHT_FIELDS = {
    "script_text": ["# /// script\n# dependencies = ['trl']\n# ///\nprint(1)\n", "print(1)", "# /// script\n",
                    f"token = '{CANARY_TOKEN}'\n", "from trl import SFTConfig\nSFTConfig(max_seq_length=1)\n"],
    "script_name": ["train.py", "", "../x.py"], "script_args": [["--push_to_hub"], ["--output_dir", "/tmp/x"], []],
    "env": [{"HF_TOKEN": CANARY_TOKEN}, {}], "secrets": [{"HF_TOKEN": "$HF_TOKEN"}, {}],
    "backend": ["hub", "local"], "flavor": ["a10g-large", "nope"], "timeout_seconds": [60, 3600],
    "estimated_seconds": [3600.0, -1.0], "memory_fits": [True, False], "memory_detail": ["x"],
    "dataset_verdict": ["READY", "NEEDS MAPPING", "INCOMPATIBLE"], "dataset_reasons": [["x"], []],
    "suggested_mapping": ["sharegpt_to_messages", "nope"],
}
TRAIN_FIELDS = {
    "method": ["sft", "dpo", "grpo", "reward", "kto", "sft"], "model_name_or_path": LOCAL_MODELS,
    "dataset_name": DATASET_NAMES, "hub_model_id": ["alice/out", "alice/out", "bad id", ""], "output_dir": ["out", "/"],
    "backend": ["local", "local", "hub"], "flavor": ["a10g-large", "nope"], "max_cost_usd": [1.0],
    "time_limit": ["2h", "2hours", "0"], "dataset_config": ["x"], "dataset_train_split": ["train"],
    "dataset_mapping": ["sharegpt_to_messages", "nope"], "num_train_epochs": [1], "max_steps": [1],
    "learning_rate": [2e-5], "per_device_train_batch_size": [1], "gradient_accumulation_steps": [1],
    "max_length": [512, 16], "use_peft": [True], "lora_r": [8], "load_in_4bit": [True],
    "reward_funcs": [["accuracy"], ["nope"]], "extra_args": [["--seed", "1"], ["$(id)"]],
    "hub_private_repo": [True], "confirm": [False], "force": [True, False],
}


@pytest.fixture
def sandbox(fake_hub: FakeHub, fake_viewer: Any, tiny_model: Path, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    """The fakes in place, a working folder with a tiny model and a chat dataset, no command on PATH, local uv jobs
    run /bin/true."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "model").symlink_to(tiny_model)
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
            for i in range(20)]
    (work / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    fake_viewer.add("alice/chat", rows)
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(work))  # '~' is then this folder, not the real home
    monkeypatch.setenv("HF_TRAINER_DATASETS_SERVER", fake_viewer.url)
    monkeypatch.setenv("HF_TRAINER_LOCAL_PYTHON", "/bin/true")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    fake_hub.add_job("RUNNING", logs=["step 1", f"token {CANARY_TOKEN}"])
    return fake_hub


def call(tool: str, arguments: dict[str, Any]) -> tuple[bool, str, Any]:
    async def go() -> Any:
        async with Client(mcp) as client:
            return await client.call_tool(tool, arguments)

    started = time.monotonic()
    result = asyncio.run(go())
    TRIED[tool] = TRIED.get(tool, 0) + 1
    if os.environ.get("HF_TRAINER_FUZZ_LOG"):
        with open(os.environ["HF_TRAINER_FUZZ_LOG"], "a", encoding="utf-8") as log:
            log.write(json.dumps({"tool": tool, "args": arguments, "error": result.is_error,
                                  "s": round(time.monotonic() - started, 2),
                                  "text": "\n".join(getattr(c, "text", "") for c in result.content)[:300]},
                                 default=repr) + "\n")
    text = "\n".join(getattr(c, "text", "") for c in result.content)
    return bool(result.is_error), text, result.structured_content


def _mentions(text: str, arguments: dict[str, Any], known: set[str]) -> bool:
    """The refusal names what it refuses: an argument's name (given at any depth, or a missing one the tool knows),
    or a value given."""
    names: list[str] = sorted(known)
    values: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                names.append(str(key))
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif node is not None:
            values.append(str(node))

    walk(arguments)
    lowered = text.lower()
    # A token-shaped value is redacted wherever it appears: quoted as '***', which still names it.
    redacted = "'***'" in text and any(Redactor()(v) != v for v in values)
    return redacted or any(n and n.lower() in lowered for n in names) or any(
        (v.strip() and v[:40] in text) or repr(v)[:40] in text for v in values)


KNOWN = {
    "hf_jobs": {"operation", "args", "backend", *JOB_ARGS},
    "dataset_inspect": set(INSPECT_ARGS),
    "estimate_cost": set(ESTIMATE_FIELDS),
    "preflight": set(PREFLIGHT_FIELDS),
    "train": set(TRAIN_FIELDS),
}
KNOWN["hf_jobs_status"] = KNOWN["hf_jobs"]


def check(tool: str, arguments: dict[str, Any]) -> None:
    is_error, text, structured = call(tool, arguments)
    shown = text + json.dumps(structured, default=str)
    assert CANARY_TOKEN not in shown, (tool, arguments)
    assert "Traceback (most recent call last)" not in shown, (tool, arguments, text)
    if is_error:
        # The SDK's whole text for a crash it masks; ours always says more after the colon.
        if text.strip() == f"Error executing tool {tool}":
            MASKED[tool] = MASKED.get(tool, 0) + 1
            if COUNT_ONLY:
                return
        assert text.strip() != f"Error executing tool {tool}", f"masked crash: {tool} {arguments!r}"
        assert text.startswith(f"Error executing tool {tool}: ") and len(text) > len(tool) + 32, text
        assert _mentions(text.split(": ", 1)[1], arguments, KNOWN[tool]), (text, arguments)


def jobs_call() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={
        "operation": st.one_of(st.sampled_from(OPERATIONS), st.sampled_from(OPERATIONS), TEXT),
        "args": st.one_of(*[arguments(JOB_ARGS)] * 4, JUNK, TEXT),
        "backend": st.one_of(*[st.sampled_from(["hub", "local", None])] * 4, JUNK)})


def check_hub_paths(hub: FakeHub, arguments: dict[str, Any]) -> None:
    for request in hub.requests:
        path = request.path
        assert ALLOWED_HUB_PATH.match(path) and ".." not in path.split("/"), (path, arguments)
    hub.requests.clear()


@FUZZ
@given(arguments=jobs_call())
def test_hf_jobs_survives_any_arguments(sandbox: FakeHub, arguments: dict[str, Any]) -> None:
    check("hf_jobs", arguments)
    check_hub_paths(sandbox, arguments)


@FUZZ
@given(arguments=jobs_call())
def test_hf_jobs_status_survives_any_arguments(sandbox: FakeHub, arguments: dict[str, Any]) -> None:
    check("hf_jobs_status", arguments)
    check_hub_paths(sandbox, arguments)


@FUZZ
@given(arguments=arguments(INSPECT_ARGS, ("dataset_name",)))
def test_dataset_inspect_survives_any_arguments(sandbox: FakeHub, arguments: dict[str, Any]) -> None:
    check("dataset_inspect", arguments)


@FUZZ
@given(request=st.one_of(*[arguments(ESTIMATE_FIELDS, ("model_name_or_path", "num_rows", "mean_tokens_per_row"))] * 3,
                         arguments(ESTIMATE_FIELDS)))
def test_estimate_cost_survives_any_arguments(sandbox: FakeHub, request: Any) -> None:
    check("estimate_cost", request)


@FUZZ
@given(job=st.one_of(arguments(PREFLIGHT_FIELDS, ("script_text",)), arguments(PREFLIGHT_FIELDS)))
def test_preflight_survives_any_arguments(sandbox: FakeHub, job: Any) -> None:
    check("preflight", job)


@FUZZ
@given(request=st.one_of(
    *[arguments(TRAIN_FIELDS, ("method", "model_name_or_path", "dataset_name", "backend", "hub_model_id"))] * 3,
    arguments(TRAIN_FIELDS, ("method", "model_name_or_path", "dataset_name"))))
def test_train_survives_any_arguments(sandbox: FakeHub, request: Any) -> None:
    check("train", request)


def test_zz_report_how_many_inputs_were_tried(capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print(f"\nfuzzed MCP tool calls: {sum(TRIED.values())} {json.dumps(TRIED)}; masked errors "
              f"('Error executing tool X' and nothing more): {sum(MASKED.values())} {json.dumps(MASKED)}")
