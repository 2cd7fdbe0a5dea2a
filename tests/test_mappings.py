"""The named row mappings: what each produces, how each refuses bad rows, and that their returned source runs alone."""

import ast

import pytest

from hf_trainer.runtime.mappings import MAPPINGS, map_row, mapping_source

USER = {"role": "user", "content": "Q"}
ASSISTANT = {"role": "assistant", "content": "A"}
OTHER = {"role": "assistant", "content": "B"}

CASES = [
    # ShareGPT speakers become chat roles; extra columns survive, the consumed one does not.
    ("sharegpt", {"conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}], "id": 7},
     {"id": 7, "messages": [USER, ASSISTANT]}),
    # A `system` column becomes the first message.
    ("sharegpt", {"conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}], "system": "S"},
     {"messages": [{"role": "system", "content": "S"}, USER, ASSISTANT]}),
    # `conversations` that already use role/content are accepted too.
    ("sharegpt", {"conversations": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]},
     {"messages": [USER, ASSISTANT]}),
    # GRPO from ShareGPT: the final assistant turn is dropped.
    ("sharegpt_prompt_only", {"conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]},
     {"prompt": [USER]}),
    ("messages_prompt_only", {"messages": [USER, ASSISTANT]}, {"prompt": [USER]}),
    # Alpaca: the input is appended to the instruction after a blank line.
    ("alpaca", {"instruction": "Q", "input": "ctx", "output": "A"},
     {"messages": [{"role": "user", "content": "Q\n\nctx"}, ASSISTANT]}),
    # An empty input adds nothing.
    ("alpaca", {"instruction": "Q", "input": "", "output": "A"}, {"messages": [USER, ASSISTANT]}),
    ("alpaca_prompt_completion", {"instruction": "Q", "output": "A"}, {"prompt": [USER], "completion": [ASSISTANT]}),
    # GRPO from Alpaca keeps `output` for reward functions.
    ("alpaca_prompt_only", {"instruction": "Q", "input": None, "output": "A"}, {"prompt": [USER], "output": "A"}),
    ("dolly", {"instruction": "Q", "context": "", "response": "A", "category": "qa"},
     {"messages": [USER, ASSISTANT], "category": "qa"}),
    ("dolly_prompt_only", {"instruction": "Q", "context": "c", "response": "A"},
     {"prompt": [{"role": "user", "content": "Q\n\nc"}], "response": "A"}),
    ("question_answer", {"question": "Q", "answer": "A"}, {"messages": [USER, ASSISTANT]}),
    # GRPO from question/answer keeps `answer` for reward functions.
    ("question_answer_prompt_only", {"question": "Q", "answer": "A"}, {"prompt": [USER], "answer": "A"}),
    ("prompt_response", {"prompt": "Q", "response": "A"}, {"messages": [USER, ASSISTANT]}),
    ("text_prompt_completion", {"prompt": "Q", "completion": "A"}, {"prompt": [USER], "completion": [ASSISTANT]}),
    ("text_prompt_only", {"prompt": "Q"}, {"prompt": [USER]}),
    # Foreign preference columns become a conversational preference row.
    ("preference_columns", {"prompt": "Q", "chosen_response": "A", "rejected_response": "B"},
     {"prompt": [USER], "chosen": [ASSISTANT], "rejected": [{"role": "assistant", "content": "B"}]}),
    # `question` serves as the prompt when there is no `prompt` column.
    ("preference_columns", {"question": "Q", "response_chosen": "A", "response_rejected": "B", "score": 1},
     {"prompt": [USER], "chosen": [ASSISTANT], "rejected": [{"role": "assistant", "content": "B"}], "score": 1}),
    # SFT from preference data: the chosen answer is the completion.
    ("chosen_as_completion", {"prompt": "Q", "chosen": "A", "rejected": "B"}, {"prompt": "Q", "completion": "A"}),
    # Implicit prompt: the chosen conversation is the whole example.
    ("chosen_as_completion", {"chosen": [USER, ASSISTANT], "rejected": [USER]}, {"messages": [USER, ASSISTANT]}),
    # ultrafeedback_binarized: the string prompt gives way to the turns chosen and rejected share.
    ("chosen_as_completion", {"prompt": "Q", "chosen": [USER, ASSISTANT], "rejected": [USER, OTHER]},
     {"prompt": [USER], "completion": [ASSISTANT]}),
    # The same rows for DPO: trl.data_utils.extract_prompt's split; ids and scores stay, messages go.
    ("extract_prompt", {"prompt": "Q", "chosen": [USER, ASSISTANT], "rejected": [USER, OTHER], "prompt_id": "p",
                        "messages": [USER, ASSISTANT], "score_chosen": 8.0},
     {"prompt": [USER], "chosen": [ASSISTANT], "rejected": [OTHER], "prompt_id": "p", "score_chosen": 8.0}),
    # Answers that share no turn: the string prompt becomes the user turn.
    ("extract_prompt", {"prompt": "Q", "chosen": [ASSISTANT], "rejected": [OTHER]},
     {"prompt": [USER], "chosen": [ASSISTANT], "rejected": [OTHER]}),
]


@pytest.mark.parametrize(("name", "row", "expected"), CASES)
def test_each_mapping_turns_its_shape_into_the_trl_row(name: str, row: dict, expected: dict) -> None:
    assert map_row(name, row) == expected


@pytest.mark.parametrize(("name", "row", "expected"), CASES)
def test_the_returned_source_runs_on_its_own_and_gives_the_same_row(name: str, row: dict, expected: dict) -> None:
    namespace: dict = {}
    exec(mapping_source(name), namespace)  # noqa: S102 - executing our own generated source is the point
    assert namespace["map_row"](row) == expected
    assert namespace[name](row) == expected


def test_every_mapping_source_imports_nothing() -> None:
    for name in MAPPINGS:
        tree = ast.parse(mapping_source(name))
        imports = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
        assert imports == [], name


def test_every_mapping_is_covered_by_a_case() -> None:
    assert {name for name, _, _ in CASES} == set(MAPPINGS)


BAD_ROWS = [
    # An unknown ShareGPT speaker is refused, not guessed.
    ("sharegpt", {"conversations": [{"from": "narrator", "value": "x"}]}, "unknown speaker 'narrator'"),
    # None text would reach the chat template and crash the job later.
    ("sharegpt", {"conversations": [{"from": "human", "value": None}]}, "conversations[0] has no text"),
    ("sharegpt", {"conversations": "hi"}, "must be a list of turns"),
    ("sharegpt", {"conversations": [{"speaker": "human"}]}, "conversations[0] must be a dict"),
    ("alpaca", {"instruction": "Q"}, "row has no 'output' column"),
    ("alpaca", {"instruction": None, "output": "A"}, "column 'instruction' is None"),
    ("question_answer", {"question": 3, "answer": "A"}, "column 'question' holds int"),
    ("messages_prompt_only", {"messages": [ASSISTANT]}, "no message before the final assistant reply"),
    ("preference_columns", {"prompt": "Q", "good": "A"}, "no chosen/rejected column pair"),
    ("preference_columns", {"chosen_response": "A", "rejected_response": "B"}, "no prompt column"),
    ("chosen_as_completion", {"prompt": "Q", "chosen": "", "rejected": "B"}, "'chosen' is missing or empty"),
    # Nothing to prefer: identical conversations.
    ("extract_prompt", {"chosen": [USER, ASSISTANT], "rejected": [USER, ASSISTANT]}, "nothing to prefer"),
    ("extract_prompt", {"prompt": "Q", "chosen": "A", "rejected": "B"}, "must be a list of"),
]


@pytest.mark.parametrize(("name", "row", "message"), BAD_ROWS)
def test_a_row_that_cannot_be_converted_faithfully_raises_value_error(name: str, row: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        map_row(name, row)


def test_an_unknown_mapping_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="Unknown dataset mapping 'shargpt'. Known mappings: alpaca, "):
        map_row("shargpt", {})
    with pytest.raises(ValueError, match="sharegpt"):
        mapping_source("nope")
