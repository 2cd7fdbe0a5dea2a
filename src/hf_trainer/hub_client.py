"""The one way this package makes a Hugging Face Hub client: `get_hf_api()`.

huggingface_hub reads HF_ENDPOINT once, at its import, and binds its module-level functions to a client made then;
its shared HTTP client waits forever by default. Every Hub call here (jobs, hardware prices, model sizes, model
cards, webhooks) goes through an explicit `HfApi` from this factory instead: the endpoint read in one place, the
caller's token, and connect/read deadlines installed on huggingface_hub's shared client (public API only).
"""

import os

import httpx2
from huggingface_hub import HfApi, get_session, set_client_factory

from hf_trainer.tokens import caller_token

DEFAULT_ENDPOINT = "https://huggingface.co"
ENDPOINT_ENV = "HF_ENDPOINT"
# A Hub that accepts the connection and never answers would hold an MCP tool call (and the person) forever. These
# bound each connect and read; jobs/hub_errors.Retry's deadlines bound each call as a whole (a server that trickles
# bytes never trips a read timeout). Calls that set their own timeout (log and metric streams) keep it.
HTTP_TIMEOUT = httpx2.Timeout(20.0, connect=5.0)
_installed: list[httpx2.Timeout] = []


def hub_endpoint() -> str:
    """The Hub's base URL: HF_ENDPOINT when set (tests point it at a fake Hub), else huggingface.co."""
    return (os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT).rstrip("/")


def use_http_timeouts(timeout: httpx2.Timeout = HTTP_TIMEOUT) -> None:
    """Give huggingface_hub's shared client `timeout` (once per value; the client is rebuilt on the next call).

    The library's own client carries request hooks (offline mode, request ids): they are taken from it, so the
    bounded client behaves the same in every other way."""
    if _installed and _installed[-1] == timeout:
        return
    hooks = get_session().event_hooks

    def client_with_timeout() -> httpx2.Client:
        return httpx2.Client(event_hooks=hooks, follow_redirects=True, timeout=timeout)

    set_client_factory(client_with_timeout)
    _installed.append(timeout)


def get_hf_api(token: str | None = None, *, anonymous: bool = False) -> HfApi:
    """An HfApi for the configured endpoint with deadlines installed. `token` defaults to the caller's (HF_TOKEN or
    `hf auth login`); `anonymous` sends none (public data such as hardware prices)."""
    use_http_timeouts()
    return HfApi(endpoint=hub_endpoint(), token=None if anonymous else (token or caller_token()))
