"""Issue 21, item 11: the MCP HTTP auth token need not appear on a command line (the process list shows those)."""

from pathlib import Path
from typing import Any

import pytest

from hf_trainer import cli
from hf_trainer.errors import UserError
from hf_trainer.tokens import mcp_auth_token
from hf_trainer.server import BearerAuth

TOKEN = "a-long-server-token-from-a-file"


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.delenv("HF_TRAINER_MCP_TOKEN", raising=False)
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(app=app, **kwargs))
    return seen


def test_the_token_is_read_from_a_file_given_by_path(tmp_path: Path, served: dict[str, Any]):
    path = tmp_path / "mcp-token"
    path.write_text(TOKEN + "\n", encoding="utf-8")
    assert cli.main(["mcp", "--http", "--host", "0.0.0.0", "--auth-token-file", str(path)]) == 0
    assert isinstance(served["app"], BearerAuth) and served["app"]._expected == f"Bearer {TOKEN}".encode()


def test_the_token_is_read_from_the_environment(served: dict[str, Any], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_TRAINER_MCP_TOKEN", TOKEN)
    assert cli.main(["mcp", "--http", "--host", "0.0.0.0"]) == 0
    assert isinstance(served["app"], BearerAuth)


def test_a_token_on_the_command_line_still_works_but_warns(served: dict[str, Any],
                                                           capsys: pytest.CaptureFixture[str]):
    assert cli.main(["mcp", "--http", "--host", "0.0.0.0", "--auth-token", TOKEN]) == 0
    err = capsys.readouterr().err
    assert "process list" in err and "--auth-token-file" in err and TOKEN not in err


@pytest.mark.parametrize("content, message", [
    (None, "Cannot read the MCP auth token file"),  # no such file
    ("", "is empty"),
    ("short\n", "too short"),
])
def test_a_missing_empty_or_short_token_file_is_refused_by_name(tmp_path: Path, content, message: str):
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=message) as err:
        mcp_auth_token(None, str(path))
    assert str(path) in str(err.value)


def test_both_forms_at_once_are_refused():
    with pytest.raises(UserError, match="once"):
        mcp_auth_token(TOKEN, "/some/file")
