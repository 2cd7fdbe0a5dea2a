"""Hardening III, finding 11: model cards said "by [hf-trainer](https://github.com/)", a placeholder link. The
project has no public home recorded (README and pyproject name none), so the card links nothing rather than a
placeholder; this test fails if any generated card, runtime module or script writes a link to a bare host again."""

import re
from pathlib import Path

from conftest import SCRIPTS

from hf_trainer.runtime import results

RUNTIME = Path(results.__file__).parent
BARE_HOST_LINK = re.compile(r"\]\(https?://[^/)\s]+/?\)")  # [text](https://github.com/) and the like


def test_no_runtime_module_or_script_writes_a_placeholder_link() -> None:
    for path in [*RUNTIME.glob("*.py"), *SCRIPTS.glob("*.py")]:
        text = path.read_text(encoding="utf-8")
        assert not BARE_HOST_LINK.search(text), (path.name, BARE_HOST_LINK.search(text).group(0))
