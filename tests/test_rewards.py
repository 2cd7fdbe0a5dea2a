"""GRPO reward functions (hf_trainer.runtime.rewards): tolerant answer matching, format and length rewards, reward files."""

from pathlib import Path

import pytest

from hf_trainer.runtime.rewards import (
    REWARD_NAMES,
    accuracy,
    answers_match,
    build_reward_funcs,
    extract_answer,
    load_reward_file,
    make_length_penalty,
    parse_number,
    reference_answer,
    think_format,
)


@pytest.mark.parametrize(
    "predicted, reference, expected",
    [
        ("0.5", "1/2", True),  # decimal vs slash fraction
        ("\\frac{1}{2}", "0.5", True),  # LaTeX fraction vs decimal
        ("\\boxed{0.5}", "\\frac12", True),  # boxed vs brace-less \frac
        ("\\dfrac{3}{4}", "0.75", True),  # \dfrac is \frac
        ("-\\frac{3}{4}", "-0.75", True),  # signs survive
        ("\u22123", "-3", True),  # a unicode minus sign
        ("1,234", "1234", True),  # thousands separators
        ("1,234.5", "1234.5", True),  # separators with decimals
        ("12 apples", "12", True),  # trailing words/units
        ("5 cm", "5", True),  # trailing unit
        ("50%", "50", True),  # percent sign
        ("$12", "12", True),  # currency sign
        ("12.", "12", True),  # a full stop after the number
        ("$\\frac{1}{3}$", "0.3333333333", True),  # inline math, within tolerance
        ("3", "4", False),  # different numbers
        ("0.5", "0.51", False),  # close is not equal
        ("12", "twelve", False),  # a number never equals a word
        ("\\text{Paris}", "paris", True),  # text answers: LaTeX, case
        ("x + 1", "x+1", True),  # text answers: spaces do not matter
        ("Paris", "London", False),  # different text
        (None, "1", False),  # no prediction
        ("", "", False),  # nothing equals nothing
    ],
)
def test_answers_match_compares_numbers_and_latex_tolerantly(predicted, reference, expected):
    assert answers_match(predicted, reference) is expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("so the result is \\boxed{\\frac{3}{4}}.", "\\frac{3}{4}"),  # last boxed, nested braces kept
        ("\\boxed{1} then \\boxed{2}", "2"),  # the last box wins
        ("The answer is 42.", "42."),  # 'the answer is' phrase
        ("Final answer: 7", "7"),  # 'final answer:' phrase
        ("work... #### 1,000", "1,000"),  # GSM8K style
        ("<answer> 8 </answer>", "8"),  # answer tags
        ("<think>maybe 3</think> 7", "7"),  # numbers inside the reasoning do not count
        ("first 5 then 6", "6"),  # fallback: the last number
        ("no numbers here", None),  # nothing answer-like
        ("\\boxed{unbalanced", None),  # an unbalanced box is not trusted
    ],
)
def test_extract_answer_finds_the_final_answer(text, expected):
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("\\frac{1}{2}", 0.5),  # LaTeX fraction
        ("1/0", None),  # division by zero is no number
        ("2.5e3", 2500.0),  # scientific notation
        ("abc", None),  # not a number
        (7, 7.0),  # already a number
        ("1 2 3", None),  # several numbers are not one
    ],
)
def test_parse_number_reads_one_number_or_none(text, expected):
    assert parse_number(text) == expected


@pytest.mark.parametrize(
    "reference, expected",
    [
        ("Natalia sold 48/2 = 24 clips.\n#### 72", "72"),  # GSM8K solution
        ("the area is \\boxed{\\pi}", "\\pi"),  # MATH solution
        (72, "72"),  # a numeric column
        ("  5 ", "5"),  # a plain answer
    ],
)
def test_reference_answer_reads_gsm8k_and_math_solutions(reference, expected):
    assert reference_answer(reference) == expected


def test_accuracy_scores_plain_and_conversational_completions_against_the_answer_column():
    completions = [
        "The answer is 72",  # right, standard completion
        [{"role": "assistant", "content": "<think>36*2</think> \\boxed{72}"}],  # right, conversational
        "I think it is 71",  # wrong
        "anything",  # no reference for this row
    ]
    answers = ["... #### 72", "72", "72", None]
    assert accuracy(completions, answer=answers) == [1.0, 1.0, 0.0, None]


def test_accuracy_without_an_answer_column_says_which_column_it_needs():
    with pytest.raises(ValueError, match="needs an 'answer' column"):
        accuracy(["1"])


@pytest.mark.parametrize(
    "completion, expected",
    [
        ("<think>reasoning</think> answer", 1.0),  # the format
        ("<think>\nline one\nline two\n</think>\n\\boxed{3}", 1.0),  # multi-line reasoning
        ("reasoning</think> answer", 1.0),  # the template opened the think block in the prompt
        ("<think>reasoning</think>", 0.0),  # no answer after the reasoning
        ("<think>a</think><think>b</think> c", 0.0),  # two think blocks
        ("just an answer", 0.0),  # no reasoning
        ([{"role": "assistant", "content": "<think>r</think> a"}], 1.0),  # conversational completion
    ],
)
def test_think_format_rewards_reasoning_then_an_answer(completion, expected):
    assert think_format([completion]) == [expected]


def test_length_penalty_is_zero_up_to_the_target_and_falls_to_minus_one_at_twice_it():
    penalty = make_length_penalty(target_tokens=10)
    rewards = penalty(["a"] * 4, completion_ids=[[0] * 5, [0] * 10, [0] * 15, [0] * 40])
    assert rewards == [0.0, 0.0, -0.5, -1.0]
    assert penalty.__name__ == "length_penalty"  # TRL logs rewards under the function's name


def test_length_penalty_refuses_a_target_that_is_not_positive():
    with pytest.raises(ValueError, match="must be a positive number"):
        make_length_penalty(0)


def test_build_reward_funcs_returns_one_function_per_name_and_names_the_known_ones_otherwise():
    funcs = build_reward_funcs(["accuracy", "format", "length_penalty"], length_target=8)
    assert [f.__name__ for f in funcs] == ["accuracy", "think_format", "length_penalty"]
    with pytest.raises(ValueError) as error:
        build_reward_funcs(["correctness"])
    assert "'correctness'" in str(error.value) and all(name in str(error.value) for name in REWARD_NAMES)


@pytest.mark.parametrize(
    "source, names",
    [
        # functions named *_reward / reward_* are collected; helpers are not
        ("def helper(x):\n    return x\n\ndef short_reward(completions, **kw):\n    return [1.0] * len(completions)\n\n"
         "def reward_len(completions, **kw):\n    return [0.0] * len(completions)\n", ["short_reward", "reward_len"]),
        # an explicit REWARD_FUNCS list wins, whatever the names
        ("def a(completions, **kw):\n    return [1.0]\n\ndef b_reward(completions, **kw):\n    return [0.0]\n\n"
         "REWARD_FUNCS = [a]\n", ["a"]),
    ],
)
def test_load_reward_file_collects_reward_functions(tmp_path: Path, source, names):
    path = tmp_path / "my_rewards.py"
    path.write_text(source, encoding="utf-8")
    assert [f.__name__ for f in load_reward_file(path)] == names


@pytest.mark.parametrize(
    "source, message",
    [
        ("def helper(x):\n    return x\n", "defines no reward functions"),  # nothing named like a reward
        ("def broken(:\n", "syntax error at line 1"),  # a syntax error, reported with its line
        ("REWARD_FUNCS = []\n", "non-empty list of functions"),  # an empty explicit list
    ],
)
def test_load_reward_file_explains_what_is_wrong_with_a_file(tmp_path: Path, source, message):
    path = tmp_path / "bad_rewards.py"
    path.write_text(source, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_reward_file(path)


def test_load_reward_file_names_a_missing_file(tmp_path: Path):
    with pytest.raises(ValueError, match="does not exist"):
        load_reward_file(tmp_path / "nope.py")


def test_rewards_module_imports_only_the_standard_library():
    # It is inlined into a PEP 723 script and reused by evaluation: no third-party import may creep in.
    import ast
    import sys

    import hf_trainer.runtime.rewards as module

    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)
