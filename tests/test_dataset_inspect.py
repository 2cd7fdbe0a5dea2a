"""dataset_inspect: formats and verdicts, value checks, local files of every kind, the Hub through a fake dataset
viewer, token statistics, the MCP tool and the CLI, and a returned mapping that really trains."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import CANARY_TOKEN, SCRIPTS
from fakes.fake_dataset_viewer import fake_viewer  # noqa: F401 - a fixture, used by name
from hf_trainer.runtime import dataset_formats, dataset_report, mappings
from hf_trainer.dataset_inspect import DatasetInspectInput, DatasetInspection, inspect_dataset
from hf_trainer.errors import UserError
from hf_trainer.tiny import chat_rows, write_jsonl

R, N, X = "READY", "NEEDS MAPPING", "INCOMPATIBLE"
USER = {"role": "user", "content": "What colour is the sky?"}
ASSISTANT = {"role": "assistant", "content": "The sky is blue."}
OTHER = {"role": "assistant", "content": "Green."}


def _analyse(rows: list[dict], **kwargs) -> dict:
    return dataset_report.analyse(rows, mappings.MAPPINGS, mapping_source=mappings.mapping_source, **kwargs)


def _inspect(dataset_name: str | Path, **kwargs) -> DatasetInspection:
    viewer_url = kwargs.pop("viewer_url", None)
    token = kwargs.pop("token", None)
    return inspect_dataset(DatasetInspectInput(dataset_name=str(dataset_name), **kwargs), viewer_url=viewer_url,
                           token=token)


# (row, kind, conversational, verdicts for sft dpo grpo reward kto, mappings named for sft and grpo)
TABLE = [
    # TRL language modelling, standard: SFT only; GRPO has no prompts.
    ({"text": "The sky is blue."}, "language_modeling", False, (R, X, X, X, X), (None, None)),
    # Conversational language modelling: SFT; GRPO once the last answer is cut off.
    ({"messages": [USER, ASSISTANT]}, "language_modeling", True, (R, X, N, X, X), (None, "messages_prompt_only")),
    # Prompt-only: GRPO's format; nothing to imitate for SFT.
    ({"prompt": "What colour is the sky?"}, "prompt_only", False, (X, X, R, X, X), (None, None)),
    ({"prompt": [USER]}, "prompt_only", True, (X, X, R, X, X), (None, None)),
    # Prompt-completion, both flavours: SFT; GRPO reads the prompt.
    ({"prompt": "Q?", "completion": " A."}, "prompt_completion", False, (R, X, R, X, X), (None, None)),
    ({"prompt": [USER], "completion": [ASSISTANT]}, "prompt_completion", True, (R, X, R, X, X), (None, None)),
    # Explicit preference: DPO, reward, KTO (which unpairs); SFT on the chosen answers via a mapping.
    ({"prompt": "Q?", "chosen": " A.", "rejected": " B."}, "preference", False, (N, R, R, R, R),
     ("chosen_as_completion", None)),
    ({"prompt": [USER], "chosen": [ASSISTANT], "rejected": [OTHER]}, "preference", True, (N, R, R, R, R),
     ("chosen_as_completion", None)),
    # Implicit prompt: the same, but no separate prompt for GRPO.
    ({"chosen": [USER, ASSISTANT], "rejected": [USER, OTHER]}, "implicit_preference", True, (N, R, X, R, R),
     ("chosen_as_completion", None)),
    ({"chosen": "Q? A.", "rejected": "Q? B."}, "implicit_preference", False, (N, R, X, R, R),
     ("chosen_as_completion", None)),
    # Unpaired preference: KTO; SFT would imitate the bad answers.
    ({"prompt": "Q?", "completion": " A.", "label": True}, "unpaired_preference", False, (X, X, R, X, R),
     (None, None)),
    ({"prompt": [USER], "completion": [ASSISTANT], "label": False}, "unpaired_preference", True, (X, X, R, X, R),
     (None, None)),
    # ShareGPT: messages for SFT, a prompt for GRPO.
    ({"conversations": [{"from": "human", "value": "Q?"}, {"from": "gpt", "value": "A."}]}, "sharegpt", None,
     (N, X, N, X, X), ("sharegpt", "sharegpt_prompt_only")),
    # Alpaca, Dolly, question/answer: a conversation for SFT, a prompt (answer kept) for GRPO.
    ({"instruction": "Add.", "input": "2+2", "output": "4"}, "alpaca", None, (N, X, N, X, X),
     ("alpaca", "alpaca_prompt_only")),
    ({"instruction": "Say hi.", "context": "", "response": "Hi.", "category": "open_qa"}, "dolly", None,
     (N, X, N, X, X), ("dolly", "dolly_prompt_only")),
    ({"question": "2+2?", "answer": "4"}, "question_answer", None, (N, X, N, X, X),
     ("question_answer", "question_answer_prompt_only")),
    # prompt/response: a conversation for SFT; GRPO reads the prompt as it is.
    ({"prompt": "Q?", "response": "A."}, "prompt_response", None, (N, X, R, X, X), ("prompt_response", None)),
    # Foreign preference columns: a mapping for DPO, reward, KTO and GRPO; SFT is pointed at the others.
    ({"prompt": "Q?", "chosen_response": "A.", "rejected_response": "B."}, "preference_columns", None,
     (X, N, N, N, N), (None, "preference_columns")),
    # Nothing recognisable.
    ({"id": 1, "body": "x"}, "unknown", None, (X, X, X, X, X), (None, None)),
]


@pytest.mark.parametrize(("row", "kind", "conversational", "expected", "named"), TABLE)
def test_each_shape_gets_its_kind_and_a_verdict_per_method(row, kind, conversational, expected, named) -> None:
    report = _analyse([row, dict(row), dict(row)])

    assert (report["kind"], report["conversational"]) == (kind, conversational)
    got = tuple(report["methods"][m]["verdict"] for m in dataset_formats.METHODS)
    assert got == expected, report["methods"]
    assert (report["methods"]["sft"]["mapping"], report["methods"]["grpo"]["mapping"]) == named
    for method in dataset_formats.METHODS:
        assert report["methods"][method]["reasons"], method  # every verdict says why


@pytest.mark.parametrize(("row", "kind", "conversational", "expected", "named"),
                         [case for case in TABLE if N in case[3]])
def test_every_named_mapping_was_run_on_the_sample_and_revalidated(row, kind, conversational, expected,
                                                                   named) -> None:
    report = _analyse([row, dict(row)])

    for method in dataset_formats.METHODS:
        name = report["methods"][method]["mapping"]
        if name is None:
            continue
        check = report["mappings"][name]
        assert check["validated"] and check["rows_checked"] == 2 and check["failures"] == []
        assert check["kind"] in dataset_formats.TRL_KINDS
        # The returned source, run on its own, gives the row the check saw.
        namespace: dict = {}
        exec(check["source"], namespace)  # noqa: S102 - our own mapping source
        assert namespace["map_row"](dict(row)) == check["example_after"]
        # And the mapped row is READY for the method that named the mapping.
        after = _analyse([check["example_after"]])
        assert after["methods"][method]["verdict"] == R, (method, after["methods"][method])


# (rows, severity, column, message fragment)
VALUE_PROBLEMS = [
    # None content would crash the chat template in the middle of a job.
    ([{"messages": [USER, {"role": "assistant", "content": None}]}], "error", "messages",
     "has an assistant message without content (None)"),
    ([{"messages": [USER, {"role": "assistant", "content": "  "}]}], "error", "messages",
     "has an assistant message with empty content"),
    ([{"messages": [{"role": "human", "content": "Q"}, ASSISTANT]}], "error", "messages", "unknown role 'human'"),
    ([{"messages": [USER, ASSISTANT, USER]}], "warning", "messages", "ends with a user message"),
    ([{"messages": [USER, USER, ASSISTANT]}], "warning", "messages", "two user messages in a row"),
    ([{"messages": [USER, ASSISTANT, {"role": "system", "content": "late"}, ASSISTANT]}], "warning", "messages",
     "a system message after the first position"),
    ([{"messages": [USER]}], "error", "messages", "has no assistant message"),
    # ShareGPT turns under the name `messages`: said plainly, with the way out.
    ([{"messages": [{"from": "human", "value": "Q"}]}], "error", "messages", "holds ShareGPT turns (from/value)"),
    ([{"messages": [ASSISTANT]}], "warning", "messages", "starts with an assistant message"),
    ([{"prompt": [USER], "completion": [USER]}], "error", "completion", "answer starts with a user message"),
    ([{"prompt": [USER, ASSISTANT], "completion": [ASSISTANT]}], "warning", "prompt",
     "prompt ends with an assistant message"),
    ([{"prompt": [USER], "completion": "A."}], "error", "completion", "is a string while other fields"),
    ([{"text": None}], "error", "text", "is None"),
    ([{"text": ""}], "error", "text", "is an empty string"),
    ([{"prompt": "Q", "chosen": "A", "rejected": "A"}], "warning", "chosen", "chosen and rejected are identical"),
    # KTO casts labels to booleans: 0/1 work (a warning), other values are wrong.
    ([{"prompt": "Q", "completion": "A", "label": 1}], "warning", "label", "is 0/1 rather than true/false"),
    ([{"prompt": "Q", "completion": "A", "label": "good"}], "error", "label", "is 'good' (str), expected true or"),
    # A column that changes type across rows breaks Arrow when the job loads the data.
    ([{"text": "a", "score": 1}, {"text": "b", "score": "high"}], "error", "score", "changes type across rows"),
    ([{"text": "a", "source": "x"}, {"text": "b"}], "warning", "source", "is missing from some rows"),
    # A row of another format among the rest.
    ([{"text": "a"}, {"text": "b"}, {"prompt": "c"}], "error", "*", "row is prompt-only, unlike the rest"),
]


@pytest.mark.parametrize(("rows", "severity", "column", "fragment"), VALUE_PROBLEMS)
def test_values_are_checked_not_only_column_names(rows, severity, column, fragment) -> None:
    issues = _analyse(rows)["issues"]

    assert any(i["severity"] == severity and i["column"] == column and fragment in i["message"] for i in issues), \
        issues


def test_errors_in_the_values_turn_ready_into_incompatible_with_the_rows_named() -> None:
    rows = [{"messages": [USER, ASSISTANT]}] * 3 + [{"messages": [USER, {"role": "assistant", "content": None}]}]
    report = _analyse(rows)

    assert report["methods"]["sft"]["verdict"] == X
    assert report["methods"]["sft"]["reasons"] == [
        "the format fits (language modelling rows train as they are), but sample rows have errors (messages has an "
        "assistant message without content (None), e.g. rows 3; see issues): fix or filter them first"]
    issue = report["issues"][0]
    assert issue["rows"] == [3] and issue["count"] == 1


def test_a_mapping_that_fails_on_a_sample_row_is_not_offered() -> None:
    rows = [{"conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]}] * 2
    rows.append({"conversations": [{"from": "narrator", "value": "Once"}]})
    report = _analyse(rows)

    assert report["methods"]["sft"] ["verdict"] == X and report["methods"]["sft"]["mapping"] is None
    assert "but it failed on 1 of 3 sample rows (row 2: conversations[0] has unknown speaker 'narrator'" in \
        report["methods"]["sft"]["reasons"][-1]
    assert report["mappings"]["sharegpt"]["validated"] is False


def test_clean_conversations_have_no_issues() -> None:
    assert _analyse(chat_rows(20))["issues"] == []


# --- local files -------------------------------------------------------------------------------------------------


def _write(path: Path, rows: list[dict], fmt: str) -> Path:
    if fmt == "jsonl":
        return write_jsonl(rows, path)
    if fmt == "json":
        path.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    elif fmt == "json_object":
        path.write_text(json.dumps({"version": 1, "data": rows}), encoding="utf-8")
    elif fmt == "csv":
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=50)
    elif fmt == "arrow":
        import pyarrow as pa

        table = pa.Table.from_pylist(rows)
        with pa.ipc.new_file(str(path), table.schema) as writer:
            writer.write_table(table, max_chunksize=40)
    elif fmt == "save_to_disk":
        import datasets

        datasets.Dataset.from_list(rows).save_to_disk(str(path))
    return path


ALPACA = [{"instruction": f"Add {i} and 2.", "input": "", "output": str(i + 2)} for i in range(150)]
FILES = [
    # (format, file name, rows, exact count expected)
    ("jsonl", "data.jsonl", chat_rows(150), False),
    ("json", "data.json", chat_rows(150), False),
    ("json_object", "data.json", chat_rows(150), True),
    ("csv", "alpaca.csv", ALPACA, False),
    ("parquet", "data.parquet", chat_rows(150), True),
    ("arrow", "data.arrow", chat_rows(150), True),
    # A datasets.save_to_disk folder: an arrow stream plus metadata json files that are not rows.
    ("save_to_disk", "saved", chat_rows(150), True),
]


@pytest.mark.parametrize(("fmt", "name", "rows", "exact"), FILES)
def test_local_files_of_every_format_are_sampled_and_counted(tmp_path, fmt, name, rows, exact) -> None:
    path = _write(tmp_path / name, rows, fmt)
    result = _inspect(path, sample_size=30)

    assert result.sample_rows == 30
    assert result.source.kind == "local" and result.source.num_rows_exact is exact
    if exact:
        assert result.source.num_rows == 150
    else:
        assert 100 <= result.source.num_rows <= 220  # estimated from the bytes per sampled row
    expected = "alpaca" if fmt == "csv" else "language_modeling"
    assert result.kind == expected
    assert result.methods["sft"].verdict == (N if fmt == "csv" else R)


def test_a_folder_with_train_and_test_files_inspects_the_requested_split(tmp_path) -> None:
    write_jsonl(chat_rows(10), tmp_path / "data" / "train.jsonl")
    write_jsonl([{"prompt": "Q?"}] * 4, tmp_path / "data" / "test.jsonl")

    assert _inspect(tmp_path / "data").kind == "language_modeling"  # train by default
    test = _inspect(tmp_path / "data", dataset_train_split="test")
    assert test.kind == "prompt_only" and test.source.num_rows == 4
    with pytest.raises(UserError, match="No file for split 'validation'.*test.jsonl"):
        _inspect(tmp_path / "data", dataset_train_split="validation")


def test_a_malformed_jsonl_line_is_reported_with_its_number(tmp_path) -> None:
    path = tmp_path / "broken.jsonl"
    lines = [json.dumps(row) for row in chat_rows(6)]
    lines.insert(4, '{"messages": [{"role": "user", "content": "unterminated}')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with pytest.raises(UserError, match=r"Line 5 of .*broken.jsonl is not valid JSON .*Fix or remove that line"):
        _inspect(path)


def test_a_jsonl_line_that_is_not_an_object_is_reported_with_its_number(tmp_path) -> None:
    path = tmp_path / "list.jsonl"
    path.write_text('{"text": "a"}\n\n["b"]\n', encoding="utf-8")

    with pytest.raises(UserError, match=r"Line 3 of .* is a JSON list, not an object"):
        _inspect(path)


def test_only_the_sample_is_read_so_a_bad_line_far_down_does_not_matter(tmp_path) -> None:
    path = tmp_path / "big.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for row in chat_rows(5000):
            handle.write(json.dumps(row) + "\n")
        handle.write("this line is not json\n")

    result = _inspect(path, sample_size=50)
    assert result.sample_rows == 50 and not result.source.num_rows_exact
    assert 4000 <= result.source.num_rows <= 6500


@pytest.mark.parametrize(("content", "message"), [
    # An empty file has no rows.
    ("", "has no rows to inspect"),
    # Blank lines only: still nothing.
    ("\n\n", "has no rows to inspect"),
])
def test_an_empty_local_file_is_refused(tmp_path, content, message) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=message):
        _inspect(path)


def test_a_missing_local_path_and_an_unknown_extension_are_refused(tmp_path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        _inspect(tmp_path / "nope.jsonl")
    odd = tmp_path / "data.xlsx"
    odd.write_text("x", encoding="utf-8")
    with pytest.raises(UserError, match="not a dataset file this tool reads"):
        _inspect(odd)


# --- the Hub through the dataset viewer --------------------------------------------------------------------------


def test_a_hub_dataset_is_sampled_through_the_viewer_with_its_size_and_splits(fake_viewer) -> None:
    fake_viewer.add("alice/chat", splits={"default": {"train": chat_rows(250), "test": chat_rows(7)}})

    result = _inspect("alice/chat", viewer_url=fake_viewer.url, sample_size=120)

    assert result.source.kind == "hub" and (result.source.config, result.source.split) == ("default", "train")
    assert result.source.splits == ["train", "test"] and result.source.num_rows == 250
    assert result.sample_rows == 120  # 60 from the head, 60 from five evenly spaced offsets (one /rows each)
    pages = [(r["query"].get("offset"), r["query"].get("length")) for r in fake_viewer.requests if r["path"] == "/rows"]
    assert pages == [("0", "60"), ("60", "12"), ("98", "12"), ("136", "12"), ("174", "12"), ("212", "12")]
    assert result.source.locations[60] == "row 61" and result.source.locations[-1] == "row 224"
    assert "60 rows from 5 evenly spaced offsets" in result.source.sampled_from
    assert result.methods["sft"].verdict == R
    assert "alice/chat [default/train], 250 rows: language modelling, conversational" in result.render()


def test_the_callers_token_is_sent_so_a_private_dataset_can_be_read(fake_viewer, monkeypatch) -> None:
    fake_viewer.add("alice/private", [{"prompt": "Q?", "chosen_response": "A", "rejected_response": "B"}] * 3,
                    private=True)

    result = _inspect("alice/private", viewer_url=fake_viewer.url)  # HF_TOKEN (the canary) is the caller's

    assert result.kind == "preference_columns" and result.methods["dpo"].mapping == "preference_columns"
    assert {r["token"] for r in fake_viewer.requests} == {CANARY_TOKEN}
    assert CANARY_TOKEN not in result.model_dump_json() and CANARY_TOKEN not in result.render()


def test_a_private_dataset_without_a_token_says_to_log_in(fake_viewer, monkeypatch) -> None:
    fake_viewer.add("alice/private", chat_rows(3), private=True)
    monkeypatch.delenv("HF_TOKEN")

    with pytest.raises(UserError, match=r"refused 'alice/private' \(401: .*private or gated. Log in with 'hf auth "
                                        r"login'"):
        _inspect("alice/private", viewer_url=fake_viewer.url)


def test_a_refused_token_is_named_without_being_shown(fake_viewer) -> None:
    fake_viewer.add("alice/private", chat_rows(3), private=True)

    with pytest.raises(UserError, match="Your token was refused") as caught:
        _inspect("alice/private", viewer_url=fake_viewer.url, token="hf_wrong_token_value")
    assert "hf_wrong_token_value" not in str(caught.value)


def test_an_unknown_hub_dataset_is_a_404_with_the_next_step(fake_viewer) -> None:
    with pytest.raises(UserError, match=r"Dataset 'alice/nope' was not found by the dataset viewer at http://127"
                                        r".*Check the id"):
        _inspect("alice/nope", viewer_url=fake_viewer.url)


def test_an_empty_hub_split_is_refused_with_the_other_splits(fake_viewer) -> None:
    fake_viewer.add("alice/empty", splits={"default": {"train": [], "test": chat_rows(2)}})

    with pytest.raises(UserError, match=r"Split 'train' of alice/empty has no rows.*\(train, test\)"):
        _inspect("alice/empty", viewer_url=fake_viewer.url)


def test_an_unknown_split_or_config_lists_what_exists(fake_viewer) -> None:
    fake_viewer.add("alice/multi", splits={"en": {"train": chat_rows(2)}, "fr": {"train": chat_rows(2)}})

    assert _inspect("alice/multi", viewer_url=fake_viewer.url).source.config == "en"  # no "default": the first
    with pytest.raises(UserError, match="has no config 'de'; its configs: en, fr"):
        _inspect("alice/multi", viewer_url=fake_viewer.url, dataset_config="de")
    with pytest.raises(UserError, match="has no split 'validation'; its splits: train"):
        _inspect("alice/multi", viewer_url=fake_viewer.url, dataset_train_split="validation")


def test_without_a_parquet_export_the_first_rows_are_used(fake_viewer) -> None:
    fake_viewer.add("alice/noparquet", chat_rows(5), rows_unsupported=True)

    result = _inspect("alice/noparquet", viewer_url=fake_viewer.url)
    assert result.sample_rows == 5
    assert [r["path"] for r in fake_viewer.requests][:3] == ["/splits", "/rows", "/first-rows"]


def test_a_dataset_the_viewer_cannot_serve_points_to_a_local_copy(fake_viewer) -> None:
    fake_viewer.add("alice/scripted", chat_rows(2))
    fake_viewer.handle = lambda endpoint, query, token: (500, {"error": "The dataset viewer is not available."},
                                                         "UnexpectedError")

    with pytest.raises(UserError, match=r"could not serve 'alice/scripted' \(500\): The dataset viewer is not "
                                        r"available\. .*hf download alice/scripted --repo-type dataset"):
        _inspect("alice/scripted", viewer_url=fake_viewer.url)


def test_an_unreachable_viewer_is_a_user_error() -> None:
    with pytest.raises(UserError, match="Could not reach the dataset viewer at http://127.0.0.1:9"):
        _inspect("alice/chat", viewer_url="http://127.0.0.1:9")


# --- tokens ------------------------------------------------------------------------------------------------------


def test_token_lengths_of_the_formatted_rows_and_the_truncated_share(tiny_model, tmp_path) -> None:
    from transformers import AutoTokenizer

    path = write_jsonl(chat_rows(40), tmp_path / "chat.jsonl")
    result = _inspect(path, model_name_or_path=str(tiny_model), max_length=30)

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    lengths = sorted(len(tokenizer.apply_chat_template(row["messages"], tokenize=True, return_dict=True)["input_ids"])
                     for row in chat_rows(40))
    stats = result.token_stats
    assert result.chat_template is True and stats.method == "sft" and stats.rows == 40
    assert (stats.min, stats.max) == (lengths[0], lengths[-1])
    assert stats.mean == pytest.approx(sum(lengths) / len(lengths), abs=0.05)
    assert stats.p50 == lengths[19] and stats.p95 == lengths[37]
    assert stats.truncated_share == pytest.approx(sum(n > 30 for n in lengths) / 40)
    assert result.total_tokens(num_train_epochs=2) == round(40 * stats.mean * 2)
    assert "tokens per row (SFT format): mean" in result.render()
    assert f"--max_length {stats.p99} keeps 99% of the sample whole" in result.render()


def test_token_lengths_are_measured_after_the_mapping(tiny_model, tmp_path) -> None:
    rows = [{"instruction": "What is two plus two?", "input": "", "output": "Two plus two is four."}] * 5
    result = _inspect(write_jsonl(rows, tmp_path / "a.jsonl"), model_name_or_path=str(tiny_model), method="grpo")

    assert result.token_stats.method == "grpo" and result.token_stats.rows == 5
    # GRPO formats only the prompt (with the generation prompt), so it is shorter than the SFT text.
    sft = _inspect(tmp_path / "a.jsonl", model_name_or_path=str(tiny_model), method="sft").token_stats
    assert result.token_stats.max < sft.max


def test_a_tokenizer_without_a_chat_template_is_an_error_for_conversations(tiny_model, tmp_path) -> None:
    import shutil

    plain = tmp_path / "plain"
    shutil.copytree(tiny_model, plain)
    config = json.loads((plain / "tokenizer_config.json").read_text(encoding="utf-8"))
    config.pop("chat_template", None)
    (plain / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    (plain / "chat_template.jinja").unlink(missing_ok=True)

    result = _inspect(write_jsonl(chat_rows(4), tmp_path / "c.jsonl"), model_name_or_path=str(plain))
    assert result.chat_template is False and result.token_stats is None
    assert "the tokenizer has no chat template" in result.issues[0].message
    assert "tokenizer chat template: NO" in result.render()


def test_an_unloadable_tokenizer_is_a_user_error(tmp_path) -> None:
    path = write_jsonl(chat_rows(2), tmp_path / "c.jsonl")
    with pytest.raises(UserError, match="Could not load a tokenizer from"):
        _inspect(path, model_name_or_path=str(tmp_path / "no-model"))


# --- MCP tool and CLI --------------------------------------------------------------------------------------------


def test_the_mcp_tool_returns_structured_verdicts_and_user_errors_as_text(tmp_path) -> None:
    import asyncio

    from mcp import Client

    from hf_trainer.server import mcp

    path = write_jsonl([{"question": "2+2?", "answer": "4"}] * 3, tmp_path / "qa.jsonl")

    async def session() -> None:
        async with Client(mcp) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            assert tools["dataset_inspect"].annotations.read_only_hint is True
            result = await client.call_tool("dataset_inspect", {"dataset_name": str(path)})
            assert not result.is_error
            assert result.structured_content["methods"]["sft"]["mapping"] == "question_answer"
            assert "SFT    NEEDS MAPPING -> --dataset_mapping question_answer" in result.content[0].text
            assert tools["dataset_inspect"].output_schema["properties"]["methods"]
            failed = await client.call_tool("dataset_inspect", {"dataset_name": str(tmp_path / "missing.jsonl")})
            assert failed.is_error and "does not exist" in failed.content[0].text

    asyncio.run(session())


def test_the_cli_prints_text_or_json_and_exits_2_on_user_errors(tmp_path) -> None:
    path = write_jsonl(chat_rows(5), tmp_path / "c.jsonl")
    cli = [sys.executable, "-m", "hf_trainer.cli", "dataset", "inspect"]

    text = subprocess.run([*cli, str(path)], capture_output=True, text=True, check=True).stdout
    assert "SFT    READY" in text
    data = json.loads(subprocess.run([*cli, str(path), "--json"], capture_output=True, text=True, check=True).stdout)
    assert data["methods"]["sft"]["verdict"] == R and data["source"]["num_rows"] == 5
    bad = subprocess.run([*cli, str(tmp_path / "nope.jsonl")], capture_output=True, text=True)
    assert bad.returncode == 2 and "does not exist" in bad.stderr and "Traceback" not in bad.stderr


# --- a returned mapping really trains ---------------------------------------------------------------------------


@pytest.mark.slow
def test_the_returned_sharegpt_mapping_trains_two_steps_with_train_sft(tiny_model, tmp_path) -> None:
    rows = [{"conversations": [{"from": "human", "value": row["messages"][-2]["content"]},
                               {"from": "gpt", "value": row["messages"][-1]["content"]}]} for row in chat_rows(24)]
    path = write_jsonl(rows, tmp_path / "sharegpt.jsonl")
    result = _inspect(path)
    mapping = result.methods["sft"].mapping
    assert mapping == "sharegpt" and result.mappings[mapping].validated

    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, str(SCRIPTS / "train_sft.py"), "--model_name_or_path", str(tiny_model),
         "--dataset_name", str(path), "--dataset_mapping", mapping, "--output_dir", str(out), "--max_steps", "2",
         "--report_to", "none", "--max_length", "64", "--per_device_train_batch_size", "4", "--json"],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert (out / "model.safetensors").is_file()


# --- scripts/inspect_dataset.py ---------------------------------------------------------------------------------

SCRIPT = SCRIPTS / "inspect_dataset.py"


def _script(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, **(env or {})))


def test_the_script_has_a_pep723_header_and_instant_help() -> None:
    from hf_trainer.pep723 import dependencies

    deps = dependencies(SCRIPT.read_text(encoding="utf-8"))
    assert any(dep.startswith("pyarrow>=") for dep in deps) and not any(dep.startswith("torch") for dep in deps)
    run = _script("--help")
    assert run.returncode == 0
    assert "dataset_name" in run.stdout


def test_the_script_gives_the_same_verdicts_as_the_library_for_a_private_hub_dataset(fake_viewer) -> None:
    rows = [{"instruction": f"Add {i} and 2.", "input": "", "output": str(i + 2)} for i in range(30)]
    fake_viewer.add("alice/alpaca", rows, private=True)

    run = _script("alice/alpaca", "--json", "--viewer_url", fake_viewer.url)  # HF_TOKEN is inherited

    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    library = _inspect("alice/alpaca", viewer_url=fake_viewer.url).model_dump(mode="json")
    assert report["methods"] == library["methods"] and report["kind"] == "alpaca"
    assert report["mappings"]["alpaca"]["source"] == library["mappings"]["alpaca"]["source"]
    assert report["source"]["num_rows"] == 30
    assert CANARY_TOKEN not in run.stdout + run.stderr


def test_the_script_reports_a_malformed_line_and_exits_2(tmp_path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "a"}\n{"text": \n', encoding="utf-8")

    run = _script(str(path))
    assert run.returncode == 2 and "Line 2 of" in run.stderr and "Traceback" not in run.stderr


def test_the_script_refuses_a_private_dataset_without_a_token(fake_viewer) -> None:
    fake_viewer.add("alice/private", chat_rows(2), private=True)

    run = _script("alice/private", "--viewer_url", fake_viewer.url, env={"HF_TOKEN": ""})
    assert run.returncode == 2 and "Log in with 'hf auth login'" in run.stderr


def test_examples_in_the_result_are_short_and_json_safe_even_with_binary_columns(tmp_path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Audio bytes (images make the rows a vision dataset, tested in test_vision).
    rows = [{"question": "Q" * 5000, "answer": "A", "audio": {"bytes": b"RIFF" * 100, "path": None}}] * 3
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "vqa.parquet")

    result = _inspect(tmp_path / "vqa.parquet")
    example = result.mappings["question_answer"].example_before
    assert example["audio"]["bytes"] == "<400 bytes>"
    assert example["question"].endswith("... (5000 characters)") and len(example["question"]) < 400
    json.loads(result.model_dump_json())  # the MCP client receives this as structured content


def _pairs(n: int = 16) -> list[dict]:
    rows = chat_rows(n)
    return [{"prompt": row["messages"][-2]["content"], "chosen_response": row["messages"][-1]["content"],
             "rejected_response": "I do not know."} for row in rows]


def _questions(n: int = 8) -> list[dict]:
    return [{"question": f"What is {i} plus {i}?", "answer": str(2 * i)} for i in range(n)]


# (script, method, rows, the mapping inspection must name, extra script arguments)
OTHER_METHODS = [
    # Foreign preference columns -> conversational preference rows for DPO and KTO (which unpairs them); reward
    # reads the same rows as DPO, so it is left out to keep the suite short.
    ("train_dpo.py", "dpo", _pairs(), "preference_columns", []),
    ("train_kto.py", "kto", _pairs(), "preference_columns", []),
    # question/answer -> a prompt for GRPO; the kept `answer` column feeds the accuracy reward.
    ("train_grpo.py", "grpo", _questions(), "question_answer_prompt_only",
     ["--reward_funcs", "accuracy", "--num_generations", "4", "--max_completion_length", "8"]),
]


@pytest.mark.slow
@pytest.mark.parametrize(("script", "method", "rows", "mapping", "extra"), OTHER_METHODS)
def test_the_returned_mapping_trains_two_steps_with_each_methods_script(tiny_model, tmp_path, script, method, rows,
                                                                        mapping, extra) -> None:
    if not (SCRIPTS / script).is_file():
        pytest.skip(f"scripts/{script} is not written yet")
    path = write_jsonl(rows, tmp_path / "data.jsonl")
    result = _inspect(path)
    assert result.methods[method].verdict == N and result.methods[method].mapping == mapping
    assert result.mappings[mapping].validated

    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, str(SCRIPTS / script), "--model_name_or_path", str(tiny_model), "--dataset_name", str(path),
         "--dataset_mapping", mapping, "--output_dir", str(out), "--max_steps", "2", "--report_to", "none",
         "--max_length", "64", "--per_device_train_batch_size", "4", "--gradient_accumulation_steps", "1",
         "--eval_split_size", "0", "--json", *extra],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert json.loads(run.stdout.strip().splitlines()[-1])["steps"] == 2


# --- robustness --------------------------------------------------------------------------------------------------

_KEYS = st.sampled_from(["text", "messages", "prompt", "completion", "chosen", "rejected", "label", "conversations",
                         "instruction", "input", "output", "context", "response", "question", "answer",
                         "chosen_response", "rejected_response", "system", "role", "content", "from", "value"])
_LEAF = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
_VALUES = st.recursive(_LEAF, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3),
                       max_leaves=8)
_ROWS = st.lists(st.dictionaries(_KEYS, _VALUES, min_size=1, max_size=4), min_size=1, max_size=4)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_ROWS)
def test_any_rows_get_a_report_never_an_exception(rows) -> None:
    report = _analyse(rows)

    DatasetInspection.model_validate({"source": {"dataset_name": "x", "kind": "local"}, **report})
    for method, entry in report["methods"].items():
        assert entry["verdict"] in (R, N, X), method
        if entry["verdict"] == N:
            assert report["mappings"][entry["mapping"]]["validated"], method
    json.dumps(report["issues"])


def test_a_row_with_the_same_problem_twice_counts_once() -> None:
    empty = {"role": "assistant", "content": ""}
    issues = _analyse([{"messages": [USER, empty, USER, empty]}])["issues"]

    issue = next(i for i in issues if "empty content" in i["message"])
    assert (issue["count"], issue["rows"]) == (1, [0])


def test_without_transformers_token_statistics_fail_with_a_clear_error(monkeypatch):
    import builtins

    from hf_trainer.dataset_inspect import load_tokenizer
    from hf_trainer.errors import UserError

    real_import = builtins.__import__

    def no_transformers(name, *args, **kwargs):
        if name == "transformers":
            raise ImportError("No module named 'transformers'", name="transformers")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_transformers)
    with pytest.raises(UserError, match=r"tokenizer.*transformers is not installed.*hf-trainer\[train\]"):
        load_tokenizer("Qwen/Qwen2.5-0.5B", None)
