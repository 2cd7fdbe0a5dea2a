"""huggingface_hub failures -> UserError text a person can act on, and retries for passing Hub faults.

One table maps an HTTP status (or a huggingface_hub error type) to a message that states what happened and what to do.
Passing faults (5xx, rate limits on reads, connection errors, timeouts) are retried with exponential backoff and jitter;
the sleep and the random source are parameters so tests run without waiting.
"""

import random
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone
from typing import Any, Callable, TypeVar

import httpx2
from huggingface_hub.errors import HfHubHTTPError, JobNotFoundError, LocalTokenNotFoundError, OfflineModeIsEnabled

from hf_trainer.errors import UserError

T = TypeVar("T")


class CallDeadline(TimeoutError):
    """A Hub call that did not finish within its deadline (however the server stalled: connect, headers, body)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no complete answer within {seconds:g} s")
        self.seconds = seconds


def run_within(fn: Callable[[], T], seconds: float | None) -> T:
    """`fn()`, or CallDeadline once `seconds` pass. httpx's timeouts bound each read, not a whole call: a server that
    sends a byte now and then, or a stream that never ends, would hold the caller for ever. `fn` runs in a daemon
    thread, which is left to its own read timeout when the deadline passes (its result is dropped)."""
    if seconds is None:
        return fn()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread as it is
            outcome["error"] = exc

    worker = threading.Thread(target=target, name="hub-call", daemon=True)
    worker.start()
    worker.join(max(0.0, seconds))
    if worker.is_alive():
        raise CallDeadline(seconds)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


# What a Hub answer that is not the API's shape raises while huggingface_hub parses it (malformed JSON, a list
# where an object belongs, a missing field).
UNREADABLE_ANSWER = (ValueError, KeyError, TypeError)

LOGIN_HINT = "Run 'hf auth login' or set HF_TOKEN (create a token at https://huggingface.co/settings/tokens)."
RETRYABLE_STATUS = frozenset({500, 502, 503, 504})


@dataclass(frozen=True)
class Context:
    """What we were doing, for the message: 'submit the job', 'read logs of job X', ..."""

    action: str
    namespace: str | None = None
    job_id: str | None = None
    endpoint: str | None = None
    scheduled_job_id: str | None = None


def _server_text(exc: HfHubHTTPError) -> str:
    text = (exc.server_message or "").strip().rstrip(".")
    return f" The Hub said: {text}." if text else ""


def retry_after_seconds(exc: HfHubHTTPError, now: datetime | None = None) -> int | None:
    """Seconds until a rate limit resets, from Retry-After (seconds or an HTTP date) or the RateLimit header."""
    headers = exc.response.headers if exc.response is not None else {}
    value = headers.get("Retry-After")
    if value:
        value = value.strip()
        if value.isdigit():
            return int(value)
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            now = now or datetime.now(timezone.utc)
            return max(0, int((when - now).total_seconds()))
    from huggingface_hub.utils import parse_ratelimit_headers

    info = parse_ratelimit_headers(headers)
    if info is not None and info.remaining == 0:
        return int(info.reset_in_seconds)
    return None


def _status(exc: HfHubHTTPError) -> int | None:
    return exc.response.status_code if exc.response is not None else None


def from_hub_error(exc: Exception, ctx: Context, attempts: int = 1, *, maybe_sent: bool = False) -> UserError:
    """The table: one actionable message per kind of failure. Unknown kinds keep huggingface_hub's own text.
    `maybe_sent`: a request that changes things was sent and its answer lost (a read timeout on a submit)."""
    where = f" in namespace {ctx.namespace!r}" if ctx.namespace else ""
    tried = f" after {attempts} attempts" if attempts > 1 else ""
    if isinstance(exc, LocalTokenNotFoundError):
        return UserError(f"Not logged in to Hugging Face, so hf-trainer cannot {ctx.action}. {LOGIN_HINT}")
    if isinstance(exc, OfflineModeIsEnabled):
        return UserError(f"Cannot {ctx.action}: HF_HUB_OFFLINE is set. Unset it to reach the Hub, or use the "
                         "local backend (backend 'local').")
    if ctx.scheduled_job_id and isinstance(exc, HfHubHTTPError) and _status(exc) == 404:
        return UserError(
            f"No scheduled job {ctx.scheduled_job_id!r}{where}. List them with hf_jobs operation 'scheduled ps' "
            "and args {\"all\": true}, and check the id and the namespace."
        )
    if isinstance(exc, JobNotFoundError) or (isinstance(exc, HfHubHTTPError) and _status(exc) == 404 and ctx.job_id):
        return UserError(
            f"No job {ctx.job_id!r}{where}. List your jobs with hf_jobs operation 'ps' and args {{\"all\": true}} "
            "(CLI: hf-trainer jobs ps --all), and check the id and the namespace."
        )
    if isinstance(exc, HfHubHTTPError):
        status = _status(exc)
        server = _server_text(exc)
        if status == 401:
            return UserError(f"The Hub refused the token (401 Unauthorized) while trying to {ctx.action}: it is "
                             f"missing, invalid or expired.{server} {LOGIN_HINT}")
        if status == 402:
            return UserError(f"Cannot {ctx.action}{where}: the account has no credits or payment method for Jobs "
                             f"(402 Payment Required).{server} Add one at https://huggingface.co/settings/billing.")
        if status == 403:
            return UserError(
                f"Your token may not {ctx.action}{where} (403 Forbidden).{server} Jobs need a token with write "
                "permission for that namespace: create a 'write' token at https://huggingface.co/settings/tokens, "
                "then 'hf auth login' (or set HF_TOKEN), or pass a namespace you may run jobs in."
            )
        if status == 404:
            return UserError(f"Not found while trying to {ctx.action}{where} (404).{server} Check the id and "
                             "the namespace.")
        if status == 429:
            wait = retry_after_seconds(exc)
            when = f"Retry in {wait} seconds." if wait is not None else "Retry in a minute."
            return UserError(f"The Hub is rate limiting your requests (429 Too Many Requests){tried} while trying "
                             f"to {ctx.action}. {when}")
        if status == 400 or status == 422:
            return UserError(f"The Hub refused the request to {ctx.action} ({status}).{server} Check the "
                             "arguments named there.")
        if status is not None and status >= 500:
            return UserError(
                f"The Hub is unavailable (HTTP {status}){tried} while trying to {ctx.action}.{server} Try again in "
                "a few minutes; see https://status.huggingface.co."
            )
        return UserError(f"The Hub answered HTTP {status} while trying to {ctx.action}.{server}")
    endpoint = f" at {ctx.endpoint}" if ctx.endpoint else ""
    if isinstance(exc, CallDeadline):
        if maybe_sent:
            return UserError(
                f"The Hub{endpoint} gave no answer within {exc.seconds:g} s while trying to {ctx.action}, after the "
                "request was sent: it may have been submitted. Check with hf_jobs operation 'ps' (CLI: hf-trainer "
                "jobs ps) before submitting again, so it does not run twice."
            )
        return UserError(
            f"The Hub{endpoint} gave no complete answer within {exc.seconds:g} s{tried} while trying to "
            f"{ctx.action}. Check the network connection and HF_ENDPOINT, or https://status.huggingface.co, then try "
            "again."
        )
    if isinstance(exc, UNREADABLE_ANSWER) and not isinstance(exc, UserError):
        return UserError(
            f"The Hub{endpoint} sent an answer hf-trainer cannot read while trying to {ctx.action} "
            f"({type(exc).__name__}: {str(exc)[:200]}). Try again; if it persists, check that HF_ENDPOINT points at "
            "the Hugging Face Hub."
        )
    if isinstance(exc, (httpx2.TransportError, TimeoutError)):
        if maybe_sent:
            return UserError(
                f"The Hub{endpoint} did not answer in time while trying to {ctx.action} ({type(exc).__name__}), "
                "after the request was sent: it may have been submitted. Check with hf_jobs operation 'ps' (CLI: "
                "hf-trainer jobs ps) before submitting again, so it does not run twice."
            )
        return UserError(
            f"Could not reach the Hub{endpoint}{tried} while trying to {ctx.action} ({type(exc).__name__}). "
            "Check the network connection and HF_ENDPOINT, then try again."
        )
    return UserError(f"Could not {ctx.action}: {exc}")


def is_retryable(exc: Exception, *, idempotent: bool) -> bool:
    """A passing fault worth another try. A submit is retried only when the request surely never arrived."""
    if isinstance(exc, HfHubHTTPError):
        # A rate-limited read is retried too; a rate-limited submit is reported (the person decides when to resubmit).
        return idempotent and (_status(exc) in RETRYABLE_STATUS or _status(exc) == 429)
    if isinstance(exc, (httpx2.ConnectError, httpx2.ConnectTimeout)):
        return True
    if isinstance(exc, (httpx2.TransportError, TimeoutError)):
        return idempotent
    return False


@dataclass
class Retry:
    """Exponential backoff with full jitter. `sleep` and `rand` are injectable for tests."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    # Deadlines in seconds: one attempt, and the whole call with its retries and pauses.
    attempt_timeout: float | None = 30.0
    total_timeout: float | None = 60.0
    # A rate limit that resets later than this is reported at once ("Retry in N seconds") instead of waited out.
    max_rate_limit_wait: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    rand: Callable[[], float] = random.random

    def delay(self, attempt: int) -> float:
        """The pause after failed attempt number `attempt` (1-based): up to base * 2^(attempt-1), capped."""
        return min(self.max_delay, self.base_delay * 2 ** (attempt - 1)) * (0.5 + 0.5 * self.rand())

    def call(self, fn: Callable[[], T], ctx: Context, *, idempotent: bool = True,
             client_retries: int = 0, attempts: int | None = None, total_timeout: float | None = None) -> T:
        """Run `fn`; retry passing faults; raise a UserError from the table for anything else (or the last fault).
        Every attempt has `attempt_timeout` seconds and the whole call `total_timeout`, pauses included.

        `client_retries`: huggingface_hub already retries this call that many times (its paginated listings use
        http_backoff); we then add none of our own, so a dead Hub is not waited on twice over. `total_timeout`: a
        shorter deadline for this call only.
        """
        attempts = attempts or (1 if client_retries else self.attempts)
        attempt = 0
        limits = [t for t in (self.total_timeout, total_timeout) if t is not None]
        start = time.monotonic()
        end = start + min(limits) if limits else None
        while True:
            attempt += 1
            budget = self.attempt_timeout
            if end is not None:
                left = end - time.monotonic()
                budget = left if budget is None else min(budget, left)
            try:
                return run_within(fn, budget)
            except UNREADABLE_ANSWER as exc:
                raise from_hub_error(exc, ctx, attempts=attempt + client_retries) from None
            except (HfHubHTTPError, LocalTokenNotFoundError, OfflineModeIsEnabled, httpx2.HTTPError,
                    TimeoutError) as exc:
                time_left = end is None or end - time.monotonic() > 0.1
                if attempt < attempts and time_left and is_retryable(exc, idempotent=idempotent):
                    pause = self.delay(attempt)
                    if end is not None:
                        pause = min(pause, max(0.0, end - time.monotonic()))
                    if isinstance(exc, HfHubHTTPError) and _status(exc) == 429:
                        reset = retry_after_seconds(exc)
                        if reset is not None and reset > self.max_rate_limit_wait:
                            raise from_hub_error(exc, ctx, attempts=attempt + client_retries) from None
                        pause = max(pause, float(reset or 0))
                    self.sleep(pause)
                    continue
                # A connection that never opened carried nothing; any other transport failure may have.
                maybe_sent = (not idempotent and isinstance(exc, (httpx2.TransportError, TimeoutError))
                              and not isinstance(exc, (httpx2.ConnectError, httpx2.ConnectTimeout)))
                if isinstance(exc, CallDeadline) and attempt > 1:
                    # The person waited for the whole call, not its last attempt's remainder: say that time.
                    exc = CallDeadline(round(time.monotonic() - start, 1))
                raise from_hub_error(exc, ctx, attempts=attempt + client_retries, maybe_sent=maybe_sent) from None
