"""The skill is true: SKILL.md, AGENTS.md and references/ name only things that exist, and the install manifests work.

Data-driven on purpose: the documents are parsed, and every name found is checked against the real thing: MCP tools
and their input schemas against the server's tools/list, hf_jobs operations and their args against jobs/arguments.py,
`hf-trainer ...` commands and flags against the real argparse tree, `scripts/*.py` flags against each script's
--help, `hf jobs uv run` flags against huggingface_hub's CLI. When a tool, command or flag lands or is renamed, only
the documents change; this file does not.

Conventions the documents follow so that they can be checked:
- MCP tool calls are written as Python calls in ```mcp blocks (or inline code): `hf_jobs(operation="ps", args={...})`.
- Commands are in inline code or in ```bash blocks; `<...>` marks a placeholder.
- Prose names tools as "tool `x`" / "the tools `x`, `y`", operations as "operation `x`" or in a table whose first
  header is "operation".
SKILL.md must also mention every tool the server lists, every hf_jobs operation and every bundled script, so a new
one fails here until it is documented.
"""

import ast
import asyncio
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import REPO_ROOT

SKILL_NAME = "hf-trainer"
DOCS = sorted([REPO_ROOT / "SKILL.md", REPO_ROOT / "AGENTS.md", *(REPO_ROOT / "references").glob("*.md")])
DOC_IDS = [str(p.relative_to(REPO_ROOT)) for p in DOCS]
# Top-level names a backticked path must start with to be checked as a file of this repository (Hub ids such as
# `trl-lib/Capybara` also contain a slash and are not files).
REPO_DIRS = ("scripts/", "references/", "src/", "tests/", "benchmarks/", ".claude-plugin/", ".cursor/")
REPO_FILES = ("SKILL.md", "AGENTS.md", ".mcp.json", "gemini-extension.json", "Makefile", "pyproject.toml",
              "LICENSE.txt")
SHELL_BREAKS = {"|", "||", "&&", ";", ">", ">>", "<", "2>&1", "&"}
STDIO_TIMEOUT_SECONDS = 180
TOKENIZER_WITH = ["--with", "transformers>=5.2", "--with", "jinja2>=3.1"]


# --- reading the documents ----------------------------------------------------------------------------------------

FENCE = re.compile(r"^[ \t]*```([\w-]*)[^\n]*\n(.*?)^[ \t]*```", re.MULTILINE | re.DOTALL)
INLINE = re.compile(r"`([^`\n]+(?:\n[^`\n]+)*)`")


def fenced(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced block."""
    return [(m.group(1).lower(), textwrap.dedent(m.group(2))) for m in FENCE.finditer(text)]


def prose(text: str) -> str:
    return FENCE.sub("", text)


def inline_spans(text: str) -> list[str]:
    """Inline code spans outside fenced blocks, with line breaks inside a span joined."""
    return [re.sub(r"\s*\n\s*", " ", m.group(1)) for m in INLINE.finditer(prose(text))]


def command_lines(text: str) -> list[str]:
    """Shell command lines: inline spans, and logical lines (backslash continuations joined) of shell blocks."""
    lines = inline_spans(text)
    for lang, body in fenced(text):
        if lang in ("bash", "sh", "shell", "console", ""):
            lines += [line for line in re.sub(r"\\\n\s*", " ", body).splitlines() if line.strip()]
    return lines


def mcp_calls(text: str) -> list[ast.Call]:
    """Tool calls in ```mcp blocks (one call per statement) and inline spans shaped like `name(...)`."""
    calls: list[ast.Call] = []
    for lang, body in fenced(text):
        if lang == "mcp":
            for statement in ast.parse(body).body:
                assert isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call), (
                    f"an ```mcp block holds only tool calls; found: {ast.unparse(statement)}")
                calls.append(statement.value)
    for span in inline_spans(text):
        if re.fullmatch(r"[a-z_]+\(.*\)", span):
            node = ast.parse(span, mode="eval").body
            assert isinstance(node, ast.Call)
            calls.append(node)
    return calls


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# --- the real things ---------------------------------------------------------------------------------------------

@cache
def server_tools() -> dict[str, dict]:
    """Tool name -> input JSON schema, from the server's own tools/list (in-process client)."""
    from mcp import Client

    from hf_trainer.server import mcp

    async def go() -> Any:
        async with Client(mcp) as client:
            return await client.list_tools()

    return {tool.name: tool.input_schema for tool in asyncio.run(go()).tools}


@cache
def cli_parser() -> Any:
    from hf_trainer.cli import build_parser

    return build_parser()


def _flags(help_text: str) -> frozenset[str]:
    return frozenset(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", help_text))


@cache
def script_flags(relpath: str) -> frozenset[str]:
    """Options a script (`scripts/x.py`, `benchmarks/x.py`) accepts, read from its --help (instant: heavy imports
    wait for main)."""
    out = subprocess.run([sys.executable, str(REPO_ROOT / relpath), "--help"], capture_output=True,
                         text=True, timeout=60, env={**os.environ, "NO_COLOR": "1"})
    assert out.returncode == 0, f"{relpath} --help failed:\n{out.stderr}"
    return _flags(out.stdout)


@cache
def hf_uv_run_flags() -> frozenset[str]:
    """Options of huggingface_hub's `hf jobs uv run` (the CLI the skill shows for people without ours)."""
    hf = Path(sys.executable).parent / "hf"
    out = subprocess.run([str(hf), "jobs", "uv", "run", "--help"], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"})
    assert out.returncode == 0, out.stderr
    return _flags(out.stdout)


def parser_flags(parser: Any) -> frozenset[str]:
    return frozenset(parser._option_string_actions)


def subcommands(parser: Any) -> dict[str, Any]:
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            return dict(action.choices)
    return {}


@cache
def all_known_flags() -> frozenset[str]:
    """Every flag of our CLI, our scripts and `hf jobs uv run`: a bare `--flag` in the text must be one of them."""
    flags: set[str] = set(hf_uv_run_flags())
    stack = [cli_parser()]
    while stack:
        parser = stack.pop()
        flags |= parser_flags(parser)
        stack += list(subcommands(parser).values())
    for script in (REPO_ROOT / "scripts").glob("*.py"):
        flags |= script_flags(f"scripts/{script.name}")
    return frozenset(flags)


# Other programs whose options the references discuss; their --help is read only when a flag is not ours.
EXTERNAL_HELP = (["accelerate", "launch"], ["trackio"])


@cache
def external_flags(words: tuple[str, ...]) -> frozenset[str]:
    program = Path(sys.executable).parent / words[0]
    out = subprocess.run([str(program), *words[1:], "--help"], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "NO_COLOR": "1"})
    return _flags(out.stdout)


def is_known_flag(flag: str) -> bool:
    """A bare `--flag` in prose: one of ours, else (looked up only then) a benchmark's or a program's we document."""
    if flag in all_known_flags():
        return True
    if any(flag in script_flags(f"benchmarks/{p.name}") for p in sorted((REPO_ROOT / "benchmarks").glob("*.py"))):
        return True
    return any(flag in external_flags(tuple(words)) for words in EXTERNAL_HELP)


# --- checks on commands -------------------------------------------------------------------------------------------

def _words(line: str) -> list[str]:
    line = line.split(" #", 1)[0]
    try:
        return shlex.split(line)
    except ValueError:  # an unbalanced quote in prose: check what splits
        return line.split()


def _script_name(word: str) -> str | None:
    """`scripts/x.py` or `benchmarks/x.py`, also after a placeholder folder (`<skill dir>/scripts/x.py`,
    `${CLAUDE_PLUGIN_ROOT}/scripts/x.py`); `owner/repo/scripts/x.py` is another repository's file."""
    match = re.search(r"(?:^|[>}]/)((?:scripts|benchmarks)/\w+\.py)$", word)
    return match.group(1) if match else None


def check_script_args(relpath: str, words: list[str], where: str) -> list[str]:
    problems = []
    if not (REPO_ROOT / relpath).is_file():
        return [f"{where}: {relpath} does not exist (another repository's file: prefix it with owner/repo)"]
    known = script_flags(relpath)
    for word in words:
        if word in SHELL_BREAKS:
            break
        flag = word.split("=", 1)[0]
        if flag.startswith("--") and flag not in known:
            problems.append(f"{where}: {relpath} has no option {flag}")
    return problems


def check_command(line: str, where: str) -> list[str]:
    """Walk one command line: hf-trainer subcommands and options, hf jobs uv run options, script options."""
    words = _words(line)
    problems: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        # The program, not a project or repo name: first word, after a shell break, or uvx's package argument.
        if word == "hf-trainer" and (i == 0 or words[i - 1] in SHELL_BREAKS or words[i - 2:i - 1] == ["--from"]):
            problems += _walk_cli(words[i + 1:], where)
            return problems
        if words[i:i + 4] == ["hf", "jobs", "uv", "run"]:
            for j in range(i + 4, len(words)):
                if _script_name(words[j]) or words[j].endswith(".py") or words[j].startswith("http"):
                    break
                flag = words[j].split("=", 1)[0]
                if flag.startswith("-") and flag not in hf_uv_run_flags():
                    problems.append(f"{where}: `hf jobs uv run` has no option {flag}")
            i += 4
            continue
        name = _script_name(word)
        if name:
            return problems + check_script_args(name, words[i + 1:], where)
        i += 1
    return problems


def _walk_cli(words: list[str], where: str) -> list[str]:
    parser = cli_parser()
    path = ["hf-trainer"]
    for k, word in enumerate(words):
        if word in SHELL_BREAKS:
            return []
        commands = subcommands(parser)
        if commands and not word.startswith("-"):
            if word not in commands:
                return [f"{where}: `{' '.join(path)}` has no subcommand {word!r} (it has {sorted(commands)})"]
            parser = commands[word]
            path.append(word)
            continue
        name = _script_name(word)
        if name:  # `hf-trainer jobs uv ... scripts/x.py ARGS`: the rest belongs to the script
            return check_script_args(name, words[k + 1:], where)
        flag = word.split("=", 1)[0]
        if flag.startswith("-") and flag not in parser_flags(parser):
            return [f"{where}: `{' '.join(path)}` has no option {flag}"]
    return []  # a bare command group (`hf-trainer jobs`) is how prose names it


# --- the tests ----------------------------------------------------------------------------------------------------

def test_the_skill_passes_the_agent_skills_validator_under_its_own_name(tmp_path: Path) -> None:
    from skills_ref.validator import validate

    copy = tmp_path / SKILL_NAME
    copy.mkdir()
    shutil.copy(REPO_ROOT / "SKILL.md", copy / "SKILL.md")
    shutil.copytree(REPO_ROOT / "references", copy / "references")
    shutil.copytree(REPO_ROOT / "scripts", copy / "scripts")
    assert validate(copy) == []


def test_the_skill_stays_short_and_its_description_names_what_it_is_for() -> None:
    from skills_ref.parser import read_properties

    properties = read_properties(REPO_ROOT)
    assert properties.name == SKILL_NAME
    assert len(properties.description) <= 1024
    assert len(read(REPO_ROOT / "SKILL.md").splitlines()) < 500
    description = properties.description.lower()
    # The triggers the skill must fire on: fine-tuning, HF Jobs, datasets, cost.
    for trigger in ("fine-tune", "hugging face jobs", "dataset", "cost"):
        assert trigger in description, trigger


@pytest.mark.parametrize("doc", DOCS, ids=DOC_IDS)
def test_every_linked_or_backticked_repository_path_exists(doc: Path) -> None:
    text = read(doc)
    missing = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://|#|mailto:", target):
            continue
        if not (doc.parent / target.split("#", 1)[0]).exists():
            missing.append(f"link {target}")
    spans = inline_spans(text) + [word for _, body in fenced(text) for word in body.split()]
    for span in spans:
        span = span.strip().strip(",.;:()\"'").split("::", 1)[0]  # a pytest node id names its file
        if "<" in span or "*" in span or "$" in span or " " in span:
            continue
        if span.startswith(REPO_DIRS) or span in REPO_FILES:
            if not (REPO_ROOT / span).exists():
                missing.append(f"path {span}")
    for name in re.findall(r"(?:^|[^\w./-])scripts/(\w+\.py)", text):
        if not (REPO_ROOT / "scripts" / name).is_file():
            missing.append(f"script scripts/{name}")
    assert not missing, (f"{doc.name} names things that do not exist: {sorted(set(missing))} (a file of another "
                         "repository: write it with its owner/repo prefix, e.g. `huggingface/skills/scripts/x.py`)")


def check_mcp_call(call: ast.Call) -> list[str]:
    """A documented tool call: a real tool, arguments valid against its input schema, hf_jobs operation and args."""
    from hf_trainer.errors import UserError
    from hf_trainer.operations import OPERATIONS, READ_ONLY, normalize_operation
    from hf_trainer.timeouts import parse_timeout

    tools = server_tools()
    source = ast.unparse(call)
    name = call.func.id if isinstance(call.func, ast.Name) else ast.unparse(call.func)
    if name not in tools:
        return [f"{source}: no MCP tool {name!r} (the server has {sorted(tools)})"]
    if call.args:
        return [f"{source}: write tool arguments as keywords"]
    arguments = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
    problems = []
    try:
        jsonschema.validate(arguments, tools[name])
    except jsonschema.ValidationError as exc:
        problems.append(f"{source}: {exc.message}")
    if "operation" in arguments and name in ("hf_jobs", "hf_jobs_status"):
        args = arguments.get("args") or {}
        try:
            operation = normalize_operation(arguments["operation"])
            if "timeout" in args:
                parse_timeout(args["timeout"])
        except UserError as exc:
            return problems + [f"{source}: {exc}"]
        if name == "hf_jobs_status" and operation not in READ_ONLY:
            problems.append(f"{source}: hf_jobs_status cannot run {operation!r} (read-only)")
        extra = set(args) - set(OPERATIONS[operation].accepted)
        if extra:
            problems.append(f"{source}: {operation!r} takes no args {sorted(extra)}")
    return problems


@pytest.mark.parametrize("doc", DOCS, ids=DOC_IDS)
def test_every_mcp_tool_call_names_a_real_tool_and_passes_its_input_schema(doc: Path) -> None:
    problems = [problem for call in mcp_calls(read(doc)) for problem in check_mcp_call(call)]
    assert not problems, "\n".join(problems)


def test_the_checks_catch_wrong_tools_operations_arguments_commands_and_flags() -> None:
    # The checker itself, on a table of wrong names (each must be reported), so a silent parser cannot pass docs.
    calls = mcp_calls('```mcp\n'
                      'hf_jobs(operation="launch", args={"job_id": "1"})\n'      # unknown operation
                      'hf_jobs_status(operation="cancel", args={"job_id": "1"})\n'  # not read-only
                      'nope_tool(a=1)\n'                                        # unknown tool
                      'dataset_inspect(dataset_nam="x")\n'                       # misspelt argument
                      'hf_jobs(operation="ps", args={"bogus": 1})\n'              # unknown args key
                      'hf_jobs(operation="uv", args={"script": "x.py", "timeout": "2hours"})\n'  # bad timeout
                      '```\n')
    assert [bool(check_mcp_call(call)) for call in calls] == [True] * 6
    for line in ("hf-trainer jobz ps",                                   # unknown subcommand
                 "hf-trainer jobs uv --flavour x scripts/train_sft.py",  # unknown CLI option
                 "hf jobs uv run --gpu a10g scripts/train_sft.py",       # unknown hf option
                 "uv run scripts/train_sft.py --max_seq_length 5",       # a removed TRL name
                 "uv run scripts/train_nope.py"):                        # no such script
        assert check_command(line, "case"), line
    assert not is_known_flag("--max_seq_length")


def operation_table_entries(text: str) -> list[str]:
    """First-column entries of Markdown tables whose first header is "operation": the hf_jobs operations a table
    documents."""
    entries: list[str] = []
    in_table = False
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.lstrip().startswith("|") else []
        if not cells:
            in_table = False
        elif cells[0].lower() in ("operation", "operations"):
            in_table = True
        elif in_table and not set(cells[0]) <= set("-: "):
            entries += re.findall(r"`([a-z ]+)`", cells[0])
    return entries


@pytest.mark.parametrize("doc", DOCS, ids=DOC_IDS)
def test_every_tool_and_operation_named_in_prose_exists(doc: Path) -> None:
    from hf_trainer.operations import OPERATIONS

    text = prose(read(doc))
    tools = server_tools()
    named_tools: set[str] = set()
    # "the tools `a`, `b` and `c`", "MCP tool `a`", "`a` tool"
    for group in re.findall(r"\btools?\s+((?:`\w+`(?:,\s*|\s+(?:and|or)\s+)?)+)", text):
        named_tools |= set(re.findall(r"`(\w+)`", group))
    named_tools |= set(re.findall(r"`(\w+)`\s+(?:MCP\s+)?tool\b", text))
    unknown_tools = sorted(named_tools - set(tools))
    named_ops: set[str] = set()
    for group in re.findall(r"\b[Oo]perations?:?\s+((?:`[a-z ]+`(?:,\s*|\s+(?:and|or)\s+)?)+)", text):
        named_ops |= set(re.findall(r"`([a-z ]+)`", group))
    named_ops |= set(operation_table_entries(text))
    unknown_ops = sorted(named_ops - set(OPERATIONS))
    assert not unknown_tools and not unknown_ops, (f"{doc.name}: unknown MCP tools {unknown_tools}, "
                                                   f"unknown hf_jobs operations {unknown_ops}")


@pytest.mark.parametrize("doc", DOCS, ids=DOC_IDS)
def test_every_command_and_flag_exists(doc: Path) -> None:
    problems: list[str] = []
    for line in command_lines(read(doc)):
        problems += check_command(line, doc.name)
    for span in inline_spans(read(doc)):
        words = span.split()
        flag = words[0].split("=", 1)[0] if words else ""
        if flag.startswith("--") and re.fullmatch(r"--[\w-]+", flag) and not is_known_flag(flag):
            problems.append(f"{doc.name}: no script or CLI has the option {flag}")
    assert not problems, "\n".join(sorted(set(problems)))


def test_skill_md_documents_every_mcp_tool_and_every_hf_jobs_operation() -> None:
    from hf_trainer.operations import OPERATIONS

    text = read(REPO_ROOT / "SKILL.md")
    undocumented_tools = [name for name in server_tools() if f"`{name}`" not in text]
    undocumented_ops = [op for op in OPERATIONS if op != "help" and f"`{op}`" not in text]
    assert not undocumented_tools, f"SKILL.md does not mention the MCP tools {undocumented_tools}: add them to " \
                                   "'What you can call' (and the workflow step where they belong)"
    assert not undocumented_ops, f"SKILL.md does not list the hf_jobs operations {undocumented_ops}"


def test_every_entry_of_the_skill_md_tool_list_is_a_real_tool() -> None:
    text = read(REPO_ROOT / "SKILL.md")
    section = text.split("\nMCP tools", 1)[1].split("\n\n", 2)[1]  # the bullet list after the "MCP tools" line
    listed = re.findall(r"^- `(\w+)`", section, re.MULTILINE)
    assert listed and not set(listed) - set(server_tools()), f"not MCP tools: {sorted(set(listed) - set(server_tools()))}"


def test_skill_md_documents_every_bundled_training_script() -> None:
    text = read(REPO_ROOT / "SKILL.md")
    missing = [p.name for p in (REPO_ROOT / "scripts").glob("*.py") if f"scripts/{p.name}" not in text]
    assert not missing, f"SKILL.md does not mention {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=DOC_IDS)
def test_every_code_block_compiles_or_parses(doc: Path) -> None:
    for lang, body in fenced(read(doc)):
        if lang in ("python", "py"):
            compile(body, f"{doc.name} python block", "exec")
        elif lang == "json":
            json.loads(body)
        elif lang == "jsonl":
            for line in body.splitlines():
                if line.strip():
                    json.loads(line)
        elif lang == "toml":
            tomllib.loads(body)
        elif lang == "mcp":
            ast.parse(body)


# --- manifests ----------------------------------------------------------------------------------------------------

def manifest(path: str) -> dict:
    return json.loads(read(REPO_ROOT / path))


def project_version() -> str:
    return tomllib.loads(read(REPO_ROOT / "pyproject.toml"))["project"]["version"]


def test_the_claude_plugin_and_marketplace_point_at_the_skill_and_agree_on_name_and_version() -> None:
    plugin = manifest(".claude-plugin/plugin.json")
    assert plugin["name"] == SKILL_NAME
    assert plugin["version"] == project_version()
    assert (REPO_ROOT / plugin["skills"] / "SKILL.md").is_file()
    market = manifest(".claude-plugin/marketplace.json")
    (entry,) = [p for p in market["plugins"] if p["name"] == SKILL_NAME]
    source = REPO_ROOT / entry["source"]
    assert (source / ".claude-plugin" / "plugin.json").is_file()
    assert entry["version"] == plugin["version"]


@pytest.mark.parametrize("path, root_variable", [
    (".mcp.json", "${CLAUDE_PLUGIN_ROOT}"),           # Claude Code plugin: the plugin's own folder
    ("gemini-extension.json", "${extensionPath}"),   # Gemini CLI extension folder
    (".cursor/mcp.json", "${workspaceFolder}"),      # Cursor, this repository opened as the workspace
])
def test_each_mcp_configuration_starts_our_server_from_its_root_with_the_bundled_scripts(
        path: str, root_variable: str) -> None:
    server = manifest(path)["mcpServers"][SKILL_NAME]
    assert server["command"] == "uvx"
    # Our package from the installed folder, plus a tokenizer stack (no torch) for dataset_inspect's token counts
    # and train's plans: the core install alone cannot load a tokenizer or render a chat template.
    assert server["args"] == ["--from", root_variable, *TOKENIZER_WITH, "hf-trainer", "mcp"]
    assert server["env"]["HF_TRAINER_SCRIPTS"].startswith(root_variable)
    # No literal token may ever sit in a manifest; a reference to the caller's variable is fine.
    assert not re.search(r"hf_[A-Za-z0-9]{20,}", read(REPO_ROOT / path))


def test_the_gemini_extension_names_an_existing_context_file_and_our_version() -> None:
    extension = manifest("gemini-extension.json")
    assert extension["name"] == SKILL_NAME
    assert extension["version"] == project_version()
    assert (REPO_ROOT / extension["contextFileName"]).is_file()


def _uvx() -> str | None:
    """uvx from PATH, else the copy `make` installs off the venv's PATH (.venv/tools/bin)."""
    found = shutil.which("uvx")
    if found:
        return found
    tools = Path(sys.prefix) / "tools" / "bin" / "uvx"
    return str(tools) if tools.is_file() else None


def test_the_mcp_json_command_starts_the_server_and_answers_tools_list_over_stdio(tmp_path: Path) -> None:
    """The exact .mcp.json command, run as Claude Code runs it (the plugin root substituted), through a real stdio
    client. uvx builds the package from the repository and installs the core dependencies from PyPI on first run."""
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    uvx = _uvx()
    if uvx is None:
        pytest.skip("uvx is not installed: `make setup` puts it in .venv/tools/bin (or install uv)")
    server = manifest(".mcp.json")["mcpServers"][SKILL_NAME]
    root = str(REPO_ROOT)
    command = uvx if server["command"] == "uvx" else server["command"]
    args = [a.replace("${CLAUDE_PLUGIN_ROOT}", root) for a in server["args"]]
    env = {**os.environ, **{k: v.replace("${CLAUDE_PLUGIN_ROOT}", root) for k, v in server["env"].items()}}
    # cwd elsewhere, as for an agent working in another project: nothing may depend on the repository being cwd.
    params = StdioServerParameters(command=command, args=args, env=env, cwd=str(tmp_path))

    async def session() -> list[str]:
        async with stdio_client(params) as (read_stream, write_stream):
            async with ClientSession(read_stream, write_stream) as client:
                await client.initialize()
                return [tool.name for tool in (await client.list_tools()).tools]

    async def bounded() -> list[str]:
        return await asyncio.wait_for(session(), STDIO_TIMEOUT_SECONDS)

    names = asyncio.run(bounded())
    assert sorted(names) == sorted(server_tools())
