"""PEP 723 inline script metadata: the reference regex of the PEP plus tomllib.

There is no maintained parser library; uv refuses an unclosed block, and so do we.
"""

import re
import tomllib
from typing import Any

from hf_trainer.errors import UserError

# The regex from PEP 723's reference implementation.
_BLOCK = re.compile(r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$")
_OPENING = re.compile(r"(?m)^# /// script\s*$")


def read_metadata(script_text: str, where: str = "the script") -> dict[str, Any] | None:
    """The `script` block as a dict, None when the script has no block.

    Raises UserError for a block that is opened but never closed, appears twice, or holds invalid TOML.
    """
    matches = [m for m in _BLOCK.finditer(script_text) if m.group("type") == "script"]
    if len(matches) > 1:
        raise UserError(f"{where} has {len(matches)} '# /// script' blocks; PEP 723 allows one. Merge them.")
    if not matches:
        opening = _OPENING.search(script_text)
        if opening:
            line = script_text[: opening.start()].count("\n") + 1
            raise UserError(
                f"{where} opens a PEP 723 block at line {line} ('# /// script') but never closes it. "
                "End it with a line that is exactly '# ///'; every line between must start with '#'."
            )
        return None
    match = matches[0]
    content = "".join(
        line[2:] if line.startswith("# ") else line[1:]
        for line in match.group("content").splitlines(keepends=True)
    )
    try:
        return tomllib.loads(content)
    except tomllib.TOMLDecodeError as exc:
        line = script_text[: match.start()].count("\n") + 1
        raise UserError(f"{where} has a PEP 723 block at line {line} that is not valid TOML: {exc}.") from None


def dependencies(script_text: str) -> list[str]:
    """The dependencies a script's header declares ([] when none or no header)."""
    meta = read_metadata(script_text) or {}
    deps = meta.get("dependencies", [])
    return [str(d) for d in deps]
