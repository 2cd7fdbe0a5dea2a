"""What a `script` argument is: inline Python text, a local file, or an http(s) URL.

Every backend and every front end (CLI, MCP tools) accepts the same three forms in one string; this module decides
which one it is, once, and checks the PEP 723 header of the text it can see. hf-mcp-server sent local paths to a
container that could not see them; we read local files here so a backend can ship their text.
"""

import os
import re
import stat
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, Field

from hf_trainer.errors import UserError
from hf_trainer.pep723 import read_metadata

DEFAULT_NAME = "script.py"

# A one-line value that reads as code rather than as a file name: a call, an assignment, a statement keyword.
_CODE_HINT = re.compile(r"[();=]|^\s*(import|from|print|def|class|async|if|for|while|with|raise|assert)\b|^\s*#")
_URL = re.compile(r"^https?://", re.IGNORECASE)


class ScriptSource(BaseModel):
    """A resolved script: where it comes from and, for inline and path kinds, its text."""

    kind: Literal["inline", "path", "url"]
    text: str | None = Field(default=None, description="The script's text (inline and path kinds).")
    path: Path | None = Field(default=None, description="The absolute local file (path kind).")
    url: str | None = Field(default=None, description="The http(s) URL (url kind).")
    name: str = Field(description="A file name for the script, e.g. 'train_sft.py'.")
    metadata: dict[str, Any] | None = Field(default=None, description="The PEP 723 'script' block, None when absent.")


def _url_name(url: str) -> str:
    last = urlparse(url).path.rstrip("/").rsplit("/", 1)[-1]
    return last if last.endswith(".py") else DEFAULT_NAME


def _looks_like_code(value: str) -> bool:
    if "\n" in value:
        return True
    stripped = value.strip()
    # A lone token ending in .py is a file name, even if it holds characters that code would.
    if stripped.endswith(".py") and not any(c.isspace() for c in stripped):
        return False
    return bool(_CODE_HINT.search(stripped))


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long for the file system is not a file
        return False


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


# Kernel and device views: /proc/self/environ holds this process's environment (the caller's token), /dev/zero never
# ends. Never a script, whatever name or link leads there.
_SYSTEM_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))
# A local file is sent as a script only when it looks like one: named .py, or opening with a shebang, or carrying a
# PEP 723 block. Anything else (a .env, a notes file, a key) is refused before its text goes anywhere.
_SCRIPT_SUFFIX = ".py"
_SHEBANG = re.compile(r"\A(\ufeff)?#!")
_PEP723_OPENING = re.compile(r"(?m)^# /// script\s*$")
# A dotenv file: every line that is not blank or a comment is KEY=value (it compiles as Python, secrets and all).
_DOTENV_LINE = re.compile(r"^\s*(export\s+)?[A-Za-z_][A-Za-z0-9_]*=")
_DOTENV_NAME = re.compile(r"(^|\.)env($|\.)|^\.env", re.IGNORECASE)
MAX_SCRIPT_BYTES = 10 * 1024 * 1024
_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def _shown(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 120 else f"{text[:100]}... ({len(value)} characters)"


def _under_system_root(path: Path) -> bool:
    return any(path == root or root in path.parents for root in _SYSTEM_ROOTS)


def _check_file(given: str, path: Path) -> os.stat_result:
    """A script file must be a regular file outside /proc, /sys and /dev (links followed), of a sane size."""
    real = Path(os.path.realpath(path))
    if _under_system_root(path.absolute()) or _under_system_root(real):
        raise UserError(f"The script {_shown(given)} is a system file ({real}), not a script: files under /proc, "
                        "/sys and /dev are never sent as scripts. Pass a .py file, inline Python text or a URL.")
    info = os.stat(real)
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a regular file")
        raise UserError(f"The script {_shown(given)} exists but is {kind}, not a regular file. Pass a .py file, "
                        "inline Python text or an http(s) URL.")
    if info.st_size > MAX_SCRIPT_BYTES:
        raise UserError(f"The script file {_shown(given)} is {info.st_size} bytes, more than the "
                        f"{MAX_SCRIPT_BYTES // 1024 // 1024} MB a script may be. Check that it is the right file.")
    return info


def _looks_like_dotenv(name: str, text: str) -> bool:
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if _DOTENV_NAME.search(name) and not name.lower().endswith(_SCRIPT_SUFFIX):
        return True
    return bool(lines) and all(_DOTENV_LINE.match(line) and " = " not in line for line in lines)


def check_looks_like_script(given: str, name: str, text: str) -> None:
    """A local file goes out as a script only when it looks like one: a .py name, a shebang or a PEP 723 block, and
    not a dotenv file (KEY=value lines compile as Python and would ship their secrets). UserError otherwise."""
    if _looks_like_dotenv(name, text):
        raise UserError(f"The file {_shown(given)} looks like a dotenv file (KEY=value lines), not a script, so it is "
                        "not sent: its values would be stored and shown with the job. Pass the training script (.py), "
                        "and give values as env, or secrets for anything secret.")
    if name.lower().endswith(_SCRIPT_SUFFIX) or _SHEBANG.match(text) or _PEP723_OPENING.search(text):
        return
    raise UserError(f"The file {_shown(given)} does not look like a Python script (no .py name, no '#!' first line, "
                    "no '# /// script' block), so it is not sent. Pass a .py file (or rename it to .py if it is "
                    "one).")


def bundled_copy(text: str | None) -> str | None:
    """The bundled script ('train_sft.py') whose text `text` is, wherever the copy lives; None for any other text.
    A copy at another path is recognised by content, so it is estimated like the bundled script."""
    if not text:
        return None
    from hf_trainer import paths  # the bundled folder is looked up only when asked

    try:
        folder = paths.scripts_dir()
    except UserError:
        return None
    wanted = text.replace("\r\n", "\n").encode("utf-8")
    for candidate in sorted(folder.glob("*.py")):
        try:
            if candidate.stat().st_size == len(wanted) and candidate.read_bytes() == wanted:
                return candidate.name
        except (OSError, UnicodeDecodeError):
            continue
    return None


def refuse_secrets(text: str, where: str) -> None:
    """A script that holds the caller's token (or any Hugging Face token) is never sent: a job's script is stored
    and shown (job folder, job spec). No flag overrides this; pass the token as a secret ("$HF_TOKEN")."""
    from hf_trainer.tokens import caller_token, looks_like_token  # the token lookup imports huggingface_hub

    if looks_like_token(text, caller_token()):
        raise UserError(f"{where} holds a Hugging Face token in plain text, and a job's script is stored and shown. "
                        "Remove it and pass the token as a secret instead: secrets {\"HF_TOKEN\": \"$HF_TOKEN\"}, "
                        "read with os.environ[\"HF_TOKEN\"]. (force does not override this.)")


def _read_file(given: str, path: Path, check_tokens: bool = True) -> ScriptSource:
    try:
        _check_file(given, path)
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"The script file {_shown(given)} cannot be read ({exc.strerror}). Check its permissions.") \
            from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"The script file {_shown(given)} is not UTF-8 text. Save it as UTF-8 Python source.") \
            from None
    check_looks_like_script(given, path.name, text)
    if check_tokens:
        refuse_secrets(text, f"The script file {_shown(given)}")
    metadata = read_metadata(text, where=f"The script {path.name!r}")
    return ScriptSource(kind="path", text=text, path=path.resolve(), name=path.name, metadata=metadata)


def _exists(path: Path) -> bool:
    try:
        return os.path.lexists(path)
    except (OSError, ValueError):
        return False


def resolve_script(script: str, *, check_tokens: bool = True) -> ScriptSource:
    """Decide what `script` is and read what can be read.

    - "http://..." or "https://..." -> url (not fetched here; the backend passes it on)
    - an existing file -> path, read as UTF-8
    - text with a newline, or one line that reads as Python -> inline
    - anything else -> UserError: a file that does not exist

    The PEP 723 header of inline and file scripts is checked; a malformed one raises UserError. A text holding a
    token is refused unless `check_tokens` is False (preflight's lint, which sends nothing and lists it as an error
    beside every other finding).
    """
    if not isinstance(script, str) or not script.strip():
        raise UserError("The script is empty. Pass inline Python text, a path to a .py file, or an http(s) URL.")
    stripped = script.strip()
    if "\n" not in stripped and _URL.match(stripped):
        parsed = urlparse(stripped)
        if not parsed.netloc:
            raise UserError(f"The script URL {stripped!r} has no host. Pass a full URL such as "
                            "'https://huggingface.co/datasets/<user>/<repo>/resolve/main/train.py'.")
        return ScriptSource(kind="url", url=stripped, name=_url_name(stripped))

    if "\n" not in stripped:
        path = Path(os.path.expanduser(stripped)) if "\x00" not in stripped else None
        if path is not None and _is_file(path):
            return _read_file(stripped, path, check_tokens)
        if not _looks_like_code(stripped):
            if path is not None and _is_dir(path):
                raise UserError(f"The script {_shown(stripped)} is a folder, not a file. Pass the .py file inside it.")
            if path is not None and _exists(path):
                _read_file(stripped, path)  # a FIFO, a device, a dangling link...: says which
            where = f" (looked in {path.absolute()})" if path is not None and len(stripped) <= 1000 else ""
            raise UserError(
                f"The script file {_shown(stripped)} does not exist{where}. Check the path, or pass "
                "the script's Python text inline or an http(s) URL."
            )

    if check_tokens:
        refuse_secrets(script, "The inline script")
    metadata = read_metadata(script, where="The inline script")
    return ScriptSource(kind="inline", text=script, name=DEFAULT_NAME, metadata=metadata)
