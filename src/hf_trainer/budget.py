"""The spend budget: one limit, set by the person, on what all HF Jobs together may cost in a period.

- Where it comes from: `HF_TRAINER_BUDGET_USD` in the environment the CLI or the MCP server starts with (optionally
  `HF_TRAINER_BUDGET_PERIOD`, default '30d', and `HF_TRAINER_BUDGET_START`, an ISO date the periods count from,
  default the first day of the current month), else the config file `budget.json` (0600) under the tool's home that
  `hf-trainer budget set <usd> [--period 30d]` writes, whose periods count from the day it was set. The environment
  wins when both exist.
- Who may change it: the person. No MCP tool writes it (the status operation only reads it). From the command line a
  first budget, or a lower one, is set at once; raising or removing one needs an interactive terminal where the person
  types the new amount, so an agent running shell commands cannot lift it. The MCP server holds the strictest budget
  it has seen since it started (`hold_strictest`), so a job or command that edits or deletes the file cannot lift it
  under a running server either; an environment budget is out of reach of both.
- The check (`check_spend`), one call in the submit pipeline of every route that can spend money: refuse when
  spent + committed + the new job's worst case (timeout x the flavor's price, every run due this period for a schedule)
  exceeds the limit. `force` never passes it. With no budget set it does nothing and asks the Hub nothing.
"""

from __future__ import annotations

import json
import math
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import BaseModel, Field

from hf_trainer import paths
from hf_trainer.errors import UserError
from hf_trainer.ledger import Ledger, Period, build_ledger, cron_runs, money, parse_period, utcnow, worst_case_usd
from hf_trainer.timeouts import HUB_DEFAULT_TIMEOUT_SECONDS

ENV_USD = "HF_TRAINER_BUDGET_USD"
ENV_PERIOD = "HF_TRAINER_BUDGET_PERIOD"
ENV_START = "HF_TRAINER_BUDGET_START"
CONFIG_FILE = "budget.json"
DEFAULT_PERIOD = "30d"
MAX_USD = 1_000_000.0
RAISE_HINT = (f"Only the person can raise it: in their own terminal, `hf-trainer budget set <usd>` (it asks them to "
              f"type the amount), or a higher {ENV_USD} where the server is started; a running MCP server keeps the "
              "lowest budget it has seen until it restarts.")


class Budget(BaseModel):
    """The limit in force and where it came from."""

    limit_usd: float = Field(ge=0, le=MAX_USD)
    period: str = Field(default=DEFAULT_PERIOD, description="The period's length, e.g. '30d'.")
    start: datetime | None = Field(default=None, description="Periods are back-to-back windows counted from here "
                                   "(UTC); None: from the first day of the current month.")
    source: Literal["environment", "config file"]
    where: str = Field(description="The variable or the file that set it.")

    @property
    def schedule(self) -> Period:
        return Period(days=parse_period(self.period), anchor=self.start)

    def render(self) -> str:
        start = f"{self.start:%Y-%m-%d %H:%M} UTC" if self.start else "the first day of the current month"
        return (f"Budget {money(self.limit_usd)} per {self.period}, periods counted from {start} (from {self.where}). "
                "`hf-trainer spend` shows what is spent and left.")


def config_path() -> Path:
    return paths.home() / CONFIG_FILE


def parse_usd(value: str | float | int, what: str = "budget") -> float:
    """A dollar amount from 50, '50', '50.00' or '$50'; UserError quoting anything else."""
    text = str(value).strip().lstrip("$").replace(",", "") if not isinstance(value, bool) else ""
    try:
        usd = float(text)
    except ValueError:
        usd = math.nan
    if not math.isfinite(usd) or not 0 <= usd <= MAX_USD:
        raise UserError(f"{what} {value!r} is not an amount of US dollars from 0 to {MAX_USD:,.0f} (e.g. 50 or "
                        "'$12.50').")
    return round(usd, 2)


def _parse_start(text: str, where: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"{where} {text!r} is not an ISO date such as '2026-12-01' or '2026-12-01T09:00:00Z'.") \
            from None
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


def _from_env(env: dict[str, str] | os._Environ[str]) -> Budget | None:
    raw = env.get(ENV_USD, "").strip()
    if not raw:
        return None
    # A typo must not switch the guard off: every money route refuses until it is fixed.
    limit = parse_usd(raw, ENV_USD)
    period = env.get(ENV_PERIOD, "").strip() or DEFAULT_PERIOD
    parse_period(period)
    start_text = env.get(ENV_START, "").strip()
    start = _parse_start(start_text, ENV_START) if start_text else None
    return Budget(limit_usd=limit, period=period, start=start, source="environment", where=ENV_USD)


def _from_file(path: Path) -> Budget | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Budget(limit_usd=data["limit_usd"], period=data.get("period", DEFAULT_PERIOD),
                      start=_parse_start(str(data["start"]), "start"), source="config file", where=str(path))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError, UserError):
        raise UserError(f"The budget file {path} is damaged. The person can set the budget again with "
                        "`hf-trainer budget set <usd>`.") from None


# A long-running MCP server holds the strictest budget it has seen (hold_strictest): a job or a shell command that
# edits or deletes the file cannot lift the budget under it. Empty and off in the CLI and in tests.
_held: list[Budget] = []
_holding: list[bool] = []


def hold_strictest() -> None:
    """From now on in this process, a budget read later may lower the budget in force, never raise or remove it. The
    MCP server calls this at start; a person who raises the budget restarts the server."""
    _holding[:] = [True]
    load_budget()


def _stricter_or_equal(new: Budget, old: Budget) -> bool:
    return new.limit_usd <= old.limit_usd and parse_period(new.period) >= parse_period(old.period)


def load_budget(env: dict[str, str] | None = None, path: Path | None = None) -> Budget | None:
    """The budget in force: the environment's, else the config file's, else None (no limit); in a server that holds
    the strictest budget, the one it holds when the current one is higher or gone."""
    budget = _from_env(os.environ if env is None else env) or _from_file(path or config_path())
    if not _holding:
        return budget
    if budget is not None and (not _held or _stricter_or_equal(budget, _held[0])):
        _held[:] = [budget]
        return budget
    if not _held:
        return None
    held = _held[0]
    return held.model_copy(update={"where": f"{held.where}, held by this server: a higher or removed budget "
                                            "applies once the server restarts"})


def _write(path: Path, budget: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(budget, handle, indent=1)
    os.chmod(tmp, 0o600)
    tmp.replace(path)


Confirm = Callable[[str], str]


def _confirmed(change: str, expected: str, interactive: bool, confirm: Confirm | None) -> None:
    """Raising or removing a budget: only a person at a terminal, typing `expected`, may do it."""
    if not interactive or confirm is None:
        raise UserError(f"Not changed: {change} needs the person at an interactive terminal (it asks them to type "
                        "the amount). Agents and scripts can lower a budget, never raise or remove it.")
    answer = confirm(f"{change}. Type {expected!r} to confirm: ").strip().lstrip("$")
    if answer != expected.lstrip("$"):
        raise UserError(f"Not changed: the answer {answer!r} is not {expected!r}.")


def set_budget(limit: str | float, period: str = DEFAULT_PERIOD, *, interactive: bool = False,
               confirm: Confirm | None = None, now: datetime | None = None, path: Path | None = None) -> Budget:
    """Write the config-file budget (0600). A higher limit or a shorter period than the file's needs `interactive`
    and a `confirm` answer that repeats the amount; its periods count from the start of today (UTC), or from the old
    budget's start when the period length stays the same."""
    usd = parse_usd(limit)
    days = parse_period(period)
    period = f"{days}d"
    path = path or config_path()
    old = _from_file(path)
    if old is not None and (usd > old.limit_usd or days < parse_period(old.period)):
        _confirmed(f"Raise the budget from {money(old.limit_usd)} per {old.period} to {money(usd)} per {period}",
                   f"{usd:.2f}", interactive, confirm)
    today = (now or utcnow()).astimezone(timezone.utc)
    start = today.replace(hour=0, minute=0, second=0, microsecond=0)
    if old is not None and old.period == period and old.start:
        start = old.start  # same period length: keep counting from the same day
    _write(path, {"limit_usd": usd, "period": period, "start": start.isoformat().replace("+00:00", "Z")})
    budget = _from_file(path)
    assert budget is not None
    return budget


def clear_budget(*, interactive: bool = False, confirm: Confirm | None = None, path: Path | None = None) -> bool:
    """Remove the config-file budget (needs the person at a terminal); False when there was none."""
    path = path or config_path()
    old = _from_file(path)
    if old is None:
        return False
    _confirmed(f"Remove the budget of {money(old.limit_usd)} per {old.period}", "remove", interactive, confirm)
    path.unlink()
    return True


# --- status and the check --------------------------------------------------------------------------------------


class BudgetStatus(BaseModel):
    """The budget against the ledger: what is spent, committed and left in this period."""

    limit_usd: float
    period: str
    period_start: datetime
    period_end: datetime
    source: str
    where: str
    spent_usd: float
    committed_usd: float
    left_usd: float = Field(description="limit - spent - committed (negative when over).")

    def render(self) -> str:
        return (f"Budget {money(self.limit_usd)} per {self.period} ({self.period_start:%Y-%m-%d %H:%M} to "
                f"{self.period_end:%Y-%m-%d %H:%M} UTC, from {self.where}): spent {money(self.spent_usd)}, committed "
                f"{money(self.committed_usd)}, {money(self.left_usd)} left.")


class SpendCheck(BaseModel):
    """A new job against the budget: its worst case and what it leaves."""

    budget: BudgetStatus
    flavor: str
    price_per_hour: float
    timeout_seconds: int
    runs: int = Field(default=1, description="Runs counted: 1, or a schedule's runs due before the period ends.")
    attempts: int = Field(default=1, description="Tries per run (the Hub reruns a failed job up to `attempts` times).")
    worst_case_usd: float
    left_after_usd: float

    @property
    def fits(self) -> bool:
        return self.left_after_usd >= -1e-9

    def job_text(self) -> str:
        runs = f" x {self.runs} runs due this period" if self.runs != 1 else ""
        tries = f" x {self.attempts} attempts" if self.attempts != 1 else ""
        return (f"{money(self.worst_case_usd)} at most ({self.flavor} at {money(self.price_per_hour)}/h for its "
                f"{self.timeout_seconds // 60} min timeout{runs}{tries})")

    def render(self) -> str:
        head = (f"{money(self.budget.limit_usd)} per {self.budget.period} (from {self.budget.where}); spent "
                f"{money(self.budget.spent_usd)}, committed {money(self.budget.committed_usd)}; this job "
                f"{self.job_text()}")
        if self.fits:
            return f"{head}; {money(self.left_after_usd)} left after it."
        return (f"OVER BUDGET: {head}, {money(-self.left_after_usd)} more than is left. Submitting it will be refused "
                "(force does not override the budget): shorten the timeout, pick a cheaper flavor, or ask the person "
                "to raise the budget.")


def status(budget: Budget, ledger: Ledger) -> BudgetStatus:
    left = round(budget.limit_usd - ledger.spent_usd - ledger.committed_usd, 6)
    return BudgetStatus(limit_usd=budget.limit_usd, period=budget.period, period_start=ledger.period_start,
                        period_end=ledger.period_end, source=budget.source, where=budget.where,
                        spent_usd=ledger.spent_usd, committed_usd=ledger.committed_usd, left_usd=left)


class SpendReport(BaseModel):
    """`hf-trainer spend` and the read-only status operation: the ledger and, when one is set, the budget."""

    ledger: Ledger
    budget: BudgetStatus | None = None

    def render(self) -> str:
        head = self.budget.render() if self.budget else (
            f"No budget set: jobs are not limited. The person sets one with `hf-trainer budget set <usd>` or "
            f"{ENV_USD}.")
        return f"{head}\n{self.ledger.render()}"


def spend_report(backend: Any, *, now: datetime | None = None, budget: Budget | None = None) -> SpendReport:
    """The ledger of the current period (the budget's, else 30-day windows) and the budget's status."""
    budget = budget if budget is not None else load_budget()
    period = budget.schedule if budget else Period(days=parse_period(DEFAULT_PERIOD))
    ledger = build_ledger(backend, period=period, now=now)
    return SpendReport(ledger=ledger, budget=status(budget, ledger) if budget else None)


def assess_spend(backend: Any, *, flavor: str | None, timeout_seconds: int | None, schedule: str | None = None,
                 runs: int | None = None, attempts: int | None = None, now: datetime | None = None,
                 action: str = "Not submitted", budget: Budget | None = None) -> SpendCheck | None:
    """A new job (or schedule, or webhook template) against the budget, without refusing: None when no budget is set
    or the job is local (nothing is asked of the Hub then); else its worst case and what it leaves (`fits`)."""
    if getattr(backend, "name", None) != "hub":
        return None  # local jobs cost nothing
    budget = budget if budget is not None else load_budget()
    if budget is None:
        return None
    now = now or utcnow()
    chosen = backend.check_flavor(flavor)
    ledger = build_ledger(backend, period=budget.schedule, now=now)
    state = status(budget, ledger)
    if runs is None:
        try:
            runs = cron_runs(schedule, now, ledger.period_end) if schedule else 1
        except ValueError:
            raise UserError(f"{action}: the budget check cannot count the runs of schedule {schedule!r}. Write it as "
                            "five cron fields (e.g. '0 9 * * 1') or @hourly, @daily, @weekly, @monthly, @yearly.") \
                from None
    timeout = timeout_seconds or HUB_DEFAULT_TIMEOUT_SECONDS
    tries = attempts or 1
    worst = worst_case_usd(chosen.price_per_hour, timeout, runs * tries)
    return SpendCheck(budget=state, flavor=chosen.name, price_per_hour=chosen.price_per_hour,
                      timeout_seconds=timeout, runs=runs, attempts=tries, worst_case_usd=worst,
                      left_after_usd=round(state.left_usd - worst, 6))


def refusal(result: SpendCheck, action: str = "Not submitted") -> str:
    """Why a job over budget is refused: every figure, and who can raise the budget and how."""
    state = result.budget
    return (f"{action}: over budget. This job could cost {result.job_text()}, and the budget of "
            f"{money(state.limit_usd)} per {state.period} ({state.period_start:%Y-%m-%d} to "
            f"{state.period_end:%Y-%m-%d}, from {state.where}) has {money(max(state.left_usd, 0))} left: spent "
            f"{money(state.spent_usd)} + committed {money(state.committed_usd)} (running, queued and scheduled jobs at "
            f"their timeouts) + this job {money(result.worst_case_usd)} = "
            f"{money(state.spent_usd + state.committed_usd + result.worst_case_usd)} > {money(state.limit_usd)}. "
            "force does not override the budget. Shorten the timeout, pick a cheaper flavor, or cancel jobs you no "
            f"longer need (see `hf-trainer spend`). {RAISE_HINT}")


def check_spend(backend: Any, *, flavor: str | None, timeout_seconds: int | None, schedule: str | None = None,
                runs: int | None = None, attempts: int | None = None, now: datetime | None = None,
                action: str = "Not submitted", budget: Budget | None = None) -> SpendCheck | None:
    """The budget check of one new job (or schedule, or webhook template): None when no budget is set or the job is
    local; the SpendCheck when it fits; UserError naming the figures when it does not. Nothing overrides it."""
    result = assess_spend(backend, flavor=flavor, timeout_seconds=timeout_seconds, schedule=schedule, runs=runs,
                          attempts=attempts, now=now, action=action, budget=budget)
    if result is None or result.fits:
        return result
    raise UserError(refusal(result, action))
