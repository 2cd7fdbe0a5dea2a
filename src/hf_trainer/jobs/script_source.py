"""What a `script` argument is: inline Python text, a local file, or an http(s) URL.

Every backend and every front end (CLI, MCP tools) accepts the same three forms in one string; this module decides
which one it is, once, and checks the PEP 723 header of the text it can see. hf-mcp-server sent local paths to a
container that could not see them; we read local files here so a backend can ship their text.
"""

import os
import re
from pathlib import Path
from typing import Literal
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
    metadata: dict | None = Field(default=None, description="The PEP 723 'script' block, None when absent.")


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


def _read_file(given: str, path: Path) -> ScriptSource:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"The script file {given!r} is not UTF-8 text. Save it as UTF-8 Python source.") from None
    except OSError as exc:
        raise UserError(f"The script file {given!r} cannot be read ({exc.strerror}). Check its permissions.") from None
    metadata = read_metadata(text, where=f"The script {path.name!r}")
    return ScriptSource(kind="path", text=text, path=path.resolve(), name=path.name, metadata=metadata)


def resolve_script(script: str) -> ScriptSource:
    """Decide what `script` is and read what can be read.

    - "http://..." or "https://..." -> url (not fetched here; the backend passes it on)
    - an existing file -> path, read as UTF-8
    - text with a newline, or one line that reads as Python -> inline
    - anything else -> UserError: a file that does not exist

    The PEP 723 header of inline and file scripts is checked; a malformed one raises UserError.
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
        path = Path(os.path.expanduser(stripped))  # Path.expanduser raises for an unknown ~user
        if _is_file(path):
            return _read_file(stripped, path)
        if not _looks_like_code(stripped):
            if _is_dir(path):
                raise UserError(f"The script {stripped!r} is a folder, not a file. Pass the .py file inside it.")
            raise UserError(
                f"The script file {stripped!r} does not exist (looked in {path.absolute()}). Check the path, or pass "
                "the script's Python text inline or an http(s) URL."
            )

    metadata = read_metadata(script, where="The inline script")
    return ScriptSource(kind="inline", text=script, name=DEFAULT_NAME, metadata=metadata)
