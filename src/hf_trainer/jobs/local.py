"""The local job backend: the HF Jobs lifecycle (submit, ps, logs, inspect, cancel, wait) as processes on this machine.

Each job gets a folder under `HF_TRAINER_HOME/jobs/<id>/` (the script copy, `log.txt`, `supervisor.log`) and a row in
`HF_TRAINER_HOME/jobs.db` (SQLite), so records survive the process that made them. A job runs under a detached
supervisor (jobs/local_runner.py) in its own session: it outlives its submitter, its timeout is enforced even when no
one is watching, and cancel stops its whole process tree.

Secret values travel only in the supervisor's environment: the store keeps their names, and the supervisor redacts
their values (and the caller's token) from the log before writing it.
"""

import errno
import functools
import getpass
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from secrets import token_hex
from typing import Any, Callable, Iterator, TypeVar

from hf_trainer import paths
from hf_trainer.errors import UserError
from hf_trainer.jobs import local_runner as store
from hf_trainer.jobs.base import (
    MAX_LOG_ANSWER_CHARS,
    MAX_LOG_LINE_CHARS,
    TERMINAL_STAGES,
    BackendName,
    CommandJobRequest,
    JobInfo,
    Stage,
    UvJobRequest,
)
from hf_trainer.jobs.script_source import resolve_script
from hf_trainer.redaction import Redactor
from hf_trainer.tokens import caller_token, prepare_env_and_secrets
from hf_trainer.timeouts import check_timeout_seconds, format_duration

# HF_TRAINER_LOCAL_PYTHON=current runs uv scripts with this interpreter instead of `uv run` (uv would resolve a CUDA
# torch on machines like the test machine); any other value is the path of an interpreter to use.
LOCAL_PYTHON_ENV = "HF_TRAINER_LOCAL_PYTHON"
# A submitted job whose supervisor never recorded its pid within this long did not start.
_START_GRACE = timedelta(seconds=60)
_FOLLOW_POLL_SECONDS = 0.2
# Reading logs: one line shows at most MAX_LINE_CHARS characters, one answer at most MAX_ANSWER_CHARS, and no answer
# reads more than MAX_SCAN_BYTES of the file (a 300 MB log with a progress bar and no newline included).
MAX_LINE_CHARS = MAX_LOG_LINE_CHARS
MAX_LINE_BYTES = 4 * MAX_LINE_CHARS
MAX_ANSWER_CHARS = MAX_LOG_ANSWER_CHARS
MAX_SCAN_BYTES = 16 * 1024 * 1024
_READ_BLOCK = 256 * 1024
_FOLLOW_READ_BYTES = 1024 * 1024
_URL_FETCH_TIMEOUT = 60
# Local ids are 24 hex characters; a longer "id" is no id (and a prefix search for it is refused by SQLite).
MAX_JOB_ID_LENGTH = 64

# What a local job inherits from the process that submits it (a CLI, an MCP server): the basics of a shell, locale,
# caches, interpreters and accelerators. Nothing else: the server's HF_TOKEN (a job gets it only when asked, as a
# secret), its MCP auth token and any other credential in its environment stay with it.
_INHERITED = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP",
    "PYTHONPATH", "PYTHONHOME", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PYTHONIOENCODING", "PYTHONUTF8",
    "VIRTUAL_ENV", "CONDA_PREFIX", "HF_HOME", "HF_ENDPOINT", "HF_HUB_CACHE", "HF_DATASETS_CACHE", "HF_XET_CACHE",
    "TRANSFORMERS_CACHE", "HF_TRAINER_HOME", "HF_TRAINER_SCRIPTS", LOCAL_PYTHON_ENV, "SSL_CERT_FILE",
    "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy",
    "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "TOKENIZERS_PARALLELISM",
    "CUDA_VISIBLE_DEVICES", "CUDA_HOME", "LD_LIBRARY_PATH", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
})
_INHERITED_PREFIXES = ("LC_", "XDG_", "UV_", "HF_", "TRANSFORMERS_", "TRACKIO_", "PYTORCH_", "TORCH", "NVIDIA_",
                       "ACCELERATE_", "NCCL_", "PIP_")
# Names that hold credentials even under an inherited prefix (UV_INDEX_..._PASSWORD, HF_HUB_..._TOKEN).
_CREDENTIAL_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|API_?KEY|AUTH|_KEY$", re.I)


def job_base_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every local job starts from (before its own env and secrets)."""
    environ = dict(os.environ if environ is None else environ)
    return {k: v for k, v in environ.items()
            if (k in _INHERITED or k.startswith(_INHERITED_PREFIXES)) and not _CREDENTIAL_NAME.search(k)}


# Failures of the disk under HF_TRAINER_HOME, as opposed to bugs: full, over quota, too large, read-only, broken.
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO})
_F = TypeVar("_F", bound=Callable[..., Any])


def _reports_disk_errors(method: _F) -> _F:
    """A full (or read-only) disk under the job store becomes a UserError that says so, not a crash of the tool."""

    @functools.wraps(method)
    def wrapper(self: "LocalBackend", *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.OperationalError as exc:  # "database or disk is full", "disk I/O error", "database is locked"
            raise UserError(f"The local job store {self.db_path} cannot be used ({exc}). If the disk is full, free "
                            "space there (or set HF_TRAINER_HOME to a folder with room), then try again.") from None
        except OSError as exc:
            if exc.errno not in _DISK_ERRNOS:
                raise
            raise UserError(f"Cannot write the local job files under {self.home} ({exc.strerror}). Free disk space "
                            "there (or set HF_TRAINER_HOME to a folder with room), then try again.") from None

    return wrapper  # type: ignore[return-value]


def _unknown_job(job_id: str) -> UserError:
    return UserError(f"No local job with id {_short(job_id)}. "
                     "List local jobs with `hf-trainer jobs ps --all --backend local`.")


def _check_timeout(timeout_seconds: int | None) -> None:
    # Requests refuse it already (pydantic); this guards requests built without validation.
    check_timeout_seconds(timeout_seconds)


def _check_text(what: str, values: list[str]) -> None:
    """A NUL cannot travel in a command line: refuse it before anything is created (it crashed the supervisor)."""
    for value in values:
        if not isinstance(value, str):
            raise UserError(f"{what} {value!r} must be text. Quote it.")
        if "\x00" in value:
            raise UserError(f"{what} {_short(value)} holds a NUL character (\\x00), which a command line cannot carry. "
                            "Remove it.")


def _short(value: str, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 20]}... ({len(value)} characters)"


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:  # it ended between the check and the signal: nothing left to stop
        pass


def _display(raw: bytes) -> str:
    """One log line (bytes, without its newline) as shown: decoded, progress-bar redraws collapsed, and cut at
    MAX_LINE_CHARS with a note saying so."""
    text = _as_displayed(raw.decode("utf-8", errors="replace").rstrip("\r"))
    if len(text) > MAX_LINE_CHARS:
        text = f"{text[:MAX_LINE_CHARS]} [hf-trainer: line cut, {len(raw)} bytes in all]"
    return text


def _read_last_lines(path: Path, end: int, tail: int | None, *, keep_partial: bool) -> tuple[list[str], int]:
    """The last `tail` lines (None: as many as the answer allows) of the first `end` bytes of `path`, read backwards
    in blocks: at most MAX_SCAN_BYTES are read and MAX_ANSWER_CHARS returned, and a note line says what was left out.
    A carriage return starts a redraw of its line (a progress bar): only the last draw is shown, as in a terminal.
    `keep_partial`: show a last line that has no newline yet (else it is left for a follower, which starts reading at
    the returned offset)."""
    if end <= 0 or tail == 0:
        return [], end
    wanted = tail if tail is not None else MAX_ANSWER_CHARS  # a line has at least one character
    buffer = b""
    position = end
    newlines = 0
    with open(path, "rb") as f:
        while position > 0 and newlines <= wanted and len(buffer) < MAX_SCAN_BYTES:
            step = min(_READ_BLOCK, position)
            position -= step
            f.seek(position)
            block = f.read(step)
            newlines += block.count(b"\n")
            buffer = block + buffer
            if tail is None and len(buffer) > 2 * MAX_ANSWER_CHARS:
                break
    parts = buffer.split(b"\n")
    partial = parts.pop()  # after the last newline: b"" when the log ends with one
    offset = end
    if partial and not keep_partial:
        offset = end - len(partial)
    elif partial:
        parts.append(partial)
    cut_start = position > 0  # the first part's beginning was not read
    if cut_start and len(parts) > 1:
        parts = parts[1:]
    picked: list[str] = []
    size = 0
    for raw in reversed(parts):
        if tail is not None and len(picked) >= tail:
            break
        line = _display(raw)
        if size + len(line) > MAX_ANSWER_CHARS and picked:
            cut_start = True
            break
        picked.append(line)
        size += len(line) + 1
    picked.reverse()
    if cut_start and (tail is None or len(picked) < tail):
        picked.insert(0, f"[hf-trainer: earlier output not shown (the log is {end / 1e6:.1f} MB; answers hold at most "
                         f"{MAX_ANSWER_CHARS // 1000}k characters): ask for fewer lines with tail, or read {path}]")
    return picked, offset


def _as_displayed(line: str) -> str:
    """A line as a terminal shows it: progress bars redraw with carriage returns, and only the last draw stays."""
    if "\r" not in line:
        return line
    drawn = [part for part in line.split("\r") if part.strip()]
    return drawn[-1] if drawn else ""


def _write_private(path: Path, text: str) -> None:
    """Write a job file readable by its owner only (0600)."""
    with open(store.private_file(path), "w", encoding="utf-8") as f:
        f.write(text)


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _owner() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER in some containers
        return None



def _fetched(db_path: Path, job_id: str) -> sqlite3.Row:
    """The row of a job this backend has just read or written (rows are never deleted while it runs)."""
    row = store.fetch(db_path, job_id)
    if row is None:
        raise _unknown_job(job_id)
    return row

class LocalBackend:
    """Jobs as local processes, recorded durably. Implements `hf_trainer.jobs.base.JobBackend`."""

    name: BackendName = "local"

    def __init__(
        self,
        home: Path | None = None,
        use_uv: bool | None = None,
        *,
        python: str | None = None,
        cwd: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`use_uv`: True runs uv scripts with `uv run`, False with `python` (default: this interpreter), None
        decides: HF_TRAINER_LOCAL_PYTHON set -> that interpreter; else uv when it is on PATH. `cwd`: where job
        commands run (default: the submitter's working folder, so relative paths in arguments mean what they say)."""
        self.home = paths.private_dir(Path(home)) if home is not None else paths.home()
        self.jobs_dir = self.home / "jobs"
        self.db_path = self.home / "jobs.db"
        self.use_uv = use_uv
        self.python = python
        self.cwd = cwd
        self._clock = clock
        self._sleep = sleep

    # --- submit ---------------------------------------------------------------------------------------------

    @_reports_disk_errors
    def uv(self, request: UvJobRequest) -> JobInfo:
        _check_timeout(request.timeout_seconds)
        _check_text("script argument", list(request.script_args))
        _check_text("dependency", list(request.dependencies))
        _check_text("python", [request.python] if request.python else [])
        source = resolve_script(request.script)
        env, secrets = self._env_and_secrets(request.env, request.secrets)
        # Everything that can be refused is decided before the job's folder exists.
        uv = self._uv_executable()
        python = None if uv else self._interpreter()
        text = source.text
        if source.kind == "url" and not uv:
            text = self._download(source.url)
        job_id, job_dir = self._new_job_dir()
        notes: list[str] = []
        if text is None:
            script_ref = str(source.url)  # uv fetches URLs itself
        else:
            script_ref = str(job_dir / source.name)
            _write_private(Path(script_ref), text)
        if uv:
            command = [uv, "run"]
            for dep in request.dependencies:
                command += ["--with", dep]
            if request.python:
                command += ["--python", request.python]
            command += [script_ref, *request.script_args]
        else:
            assert python is not None
            command = [python, script_ref, *request.script_args]
            skipped = [*request.dependencies, *((source.metadata or {}).get("dependencies") or [])]
            if skipped:
                notes.append(f"running with {python} instead of uv: dependencies are not installed "
                             f"({', '.join(map(str, skipped))}); they must already be importable")
            if request.python:
                notes.append(f"python {request.python!r} is ignored: running with {python}")
        if request.flavor:
            notes.append(f"flavor {request.flavor!r} is ignored: the job runs on this machine")
        return self._submit(job_id, job_dir, "uv", command, None, request.flavor, request.timeout_seconds,
                            request.labels, env, secrets, notes)

    @_reports_disk_errors
    def run(self, request: CommandJobRequest) -> JobInfo:
        _check_timeout(request.timeout_seconds)
        _check_text("command part", list(request.command))
        env, secrets = self._env_and_secrets(request.env, request.secrets)
        if shutil.which(request.command[0]) is None and not Path(request.command[0]).is_file():
            raise UserError(f"The command {request.command[0]!r} was not found on this machine (PATH). Local jobs "
                            "run commands directly, not in a Docker image: install it or give its full path.")
        job_id, job_dir = self._new_job_dir()
        notes = []
        if request.image:
            notes.append(f"image {request.image!r} is not used: local jobs run the command on this machine")
        if request.flavor:
            notes.append(f"flavor {request.flavor!r} is ignored: the job runs on this machine")
        return self._submit(job_id, job_dir, "run", list(request.command), request.image, request.flavor,
                            request.timeout_seconds, request.labels, env, secrets, notes)

    def _env_and_secrets(self, env: dict[str, str], secrets: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        token = caller_token() if any(v.strip() in ("$HF_TOKEN", "${HF_TOKEN}") for v in
                                      [*env.values(), *secrets.values()]) else os.environ.get("HF_TOKEN")
        return prepare_env_and_secrets(env, secrets, token)

    def _uv_executable(self) -> str | None:
        if self.use_uv is False:
            return None
        if self.use_uv is None and (self.python or os.environ.get(LOCAL_PYTHON_ENV)):
            return None
        uv = shutil.which("uv")
        if uv is None and self.use_uv:
            raise UserError("uv was not found on PATH. Install it (https://docs.astral.sh/uv/) or run the script "
                            "with the current interpreter (--local-python, or HF_TRAINER_LOCAL_PYTHON=current).")
        return uv

    def _interpreter(self) -> str:
        choice = self.python or os.environ.get(LOCAL_PYTHON_ENV) or "current"
        if choice == "current":
            return sys.executable
        if shutil.which(choice) is None:
            raise UserError(f"The interpreter {choice!r} (from {LOCAL_PYTHON_ENV} or --local-python) was not found. "
                            "Give the path of a python executable, or 'current' for this one.")
        return choice

    def _download(self, url: str | None) -> str:
        assert url is not None
        try:
            with urllib.request.urlopen(url, timeout=_URL_FETCH_TIMEOUT) as response:
                body: bytes = response.read()
                return body.decode("utf-8")
        except urllib.error.HTTPError as exc:
            raise UserError(f"Downloading the script {url!r} failed with HTTP {exc.code}. Check the URL.") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise UserError(f"Downloading the script {url!r} failed ({reason}). Check the URL and the network, or "
                            "download it and pass the file.") from None
        except UnicodeDecodeError:
            raise UserError(f"The script at {url!r} is not UTF-8 text. Check that the URL serves the raw .py file.") \
                from None

    def _new_job_dir(self) -> tuple[str, Path]:
        job_id = token_hex(12)
        paths.private_dir(self.jobs_dir)
        job_dir = self.jobs_dir / job_id
        job_dir.mkdir(mode=0o700)
        return job_id, job_dir

    def _submit(self, job_id: str, job_dir: Path, kind: str, command: list[str], image: str | None,
                flavor: str | None, timeout_seconds: int | None, labels: dict[str, str], env: dict[str, str],
                secrets: dict[str, str], notes: list[str]) -> JobInfo:
        log_path = job_dir / "log.txt"
        try:
            _write_private(log_path, "".join(f"[hf-trainer] note: {n}\n" for n in notes))
            with store.session(self.db_path) as conn:
                conn.execute(
                    "INSERT INTO jobs (id, kind, stage, command, image, flavor, timeout_seconds, labels, env, "
                    "secret_names, cwd, job_dir, created_at) VALUES (?, ?, 'SCHEDULING', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (job_id, kind, json.dumps(command), image, flavor, timeout_seconds, json.dumps(labels),
                     json.dumps(env), json.dumps(sorted(secrets)), str(self.cwd or Path.cwd()), str(job_dir),
                     store.now_iso()),
                )
        except BaseException:
            shutil.rmtree(job_dir, ignore_errors=True)  # a refused job leaves no folder behind
            raise
        # A clean environment plus what was asked: the server's own (its token, the MCP auth token, ...) stays here.
        process_env = {**job_base_env(), **env, **secrets}
        with open(store.private_file(job_dir / "supervisor.log"), "ab") as supervisor_log:
            try:
                # A new session: the job survives its submitter (a closed terminal, an exiting CLI or MCP server).
                process = subprocess.Popen(
                    [sys.executable, "-m", "hf_trainer.jobs.local_runner", str(self.db_path), job_id],
                    cwd=job_dir, env=process_env, stdin=subprocess.DEVNULL, stdout=supervisor_log,
                    stderr=subprocess.STDOUT, start_new_session=True,
                )
            except (OSError, ValueError) as exc:  # ValueError: an environment the OS cannot take
                store.finish(self.db_path, job_id, "ERROR", f"could not start the job supervisor: {exc}", None)
                return self.inspect(job_id)
        # Reap the supervisor when it ends while this process lives (a long-running MCP server), so no zombie stays.
        threading.Thread(target=process.wait, daemon=True).start()
        store.update_if_active(self.db_path, job_id, supervisor_pid=process.pid,
                               supervisor_start=store.process_start(process.pid))
        return self.inspect(job_id)

    # --- read -----------------------------------------------------------------------------------------------

    def _row(self, job_id: str) -> sqlite3.Row:
        if not isinstance(job_id, str) or not job_id.strip():
            raise UserError("A job id is required. List local jobs with `hf-trainer jobs ps --all --backend local`.")
        job_id = job_id.strip()
        if len(job_id) > MAX_JOB_ID_LENGTH or "\x00" in job_id:
            raise _unknown_job(job_id)  # no id is that long (SQLite's LIKE refused it as "too complex")
        with store.session(self.db_path) as conn:
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None and len(job_id) >= 4:
                # A unique prefix is enough, as with git hashes.
                matches = conn.execute("SELECT * FROM jobs WHERE id LIKE ? ESCAPE '\\'",
                                       (job_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",)
                                       ).fetchall()
                if len(matches) > 1:
                    ids = ", ".join(m["id"] for m in matches[:5])
                    raise UserError(f"Job id prefix {job_id!r} matches {len(matches)} local jobs ({ids}). "
                                    "Give more characters of the id.")
                row = matches[0] if matches else None
        if row is None:
            raise _unknown_job(job_id)
        return self._reconcile(row)

    def _reconcile(self, row: sqlite3.Row) -> sqlite3.Row:
        """A job recorded as running whose supervisor is gone (reboot, SIGKILL) becomes ERROR, never stays RUNNING."""
        if row["stage"] not in store.ACTIVE:
            return row
        pid = row["supervisor_pid"]
        if pid is None:
            created = _parse_time(row["created_at"])
            if created and datetime.now(timezone.utc) - created < _START_GRACE:
                return row  # still being submitted
            reason = "the job's supervisor never started. Look at supervisor.log in the job folder, then submit again."
        elif store.is_same_process(pid, row["supervisor_start"]):
            return row
        else:
            reason = (f"the job's supervisor process (pid {pid}) is gone: the machine restarted or the process was "
                      "killed. Its processes were stopped; read its logs, then submit it again.")
            supervisor_log = Path(row["job_dir"]) / "supervisor.log"
            if supervisor_log.is_file() and supervisor_log.stat().st_size:
                reason += f" The supervisor's own output is in {supervisor_log}."
        # The command may have outlived its supervisor (SIGKILL of the supervisor only): stop it, then record why.
        if store.is_same_process(row["child_pid"], row["child_start"]):
            store.stop_group(row["child_pid"], grace=1.0)
        store.finish(self.db_path, row["id"], "ERROR", reason, None)
        return _fetched(self.db_path, row["id"])

    def _info(self, row: sqlite3.Row) -> JobInfo:
        return JobInfo(
            id=row["id"],
            backend="local",
            stage=Stage(row["stage"]),
            message=row["message"],
            command=json.loads(row["command"]),
            image=row["image"],
            flavor=row["flavor"],
            timeout_seconds=row["timeout_seconds"],
            labels=json.loads(row["labels"]),
            env=json.loads(row["env"]),
            secret_names=json.loads(row["secret_names"]),
            created_at=_parse_time(row["created_at"]),
            started_at=_parse_time(row["started_at"]),
            finished_at=_parse_time(row["finished_at"]),
            exit_code=row["exit_code"],
            owner=_owner(),
            url=(Path(row["job_dir"]) / "log.txt").as_uri(),
        )

    @_reports_disk_errors
    def inspect(self, job_id: str) -> JobInfo:
        return self._info(self._row(job_id))

    @_reports_disk_errors
    def ps(self, *, all: bool = False, stage: Stage | None = None,
           labels: dict[str, str] | None = None) -> list[JobInfo]:
        with store.session(self.db_path) as conn:
            rows = conn.execute("SELECT * FROM jobs ORDER BY created_at DESC, rowid DESC").fetchall()
        jobs = []
        for row in rows:
            info = self._info(self._reconcile(row))
            if stage is not None and info.stage != Stage(stage):
                continue
            if stage is None and not all and info.is_terminal:
                continue
            if labels and any(info.labels.get(k) != v for k, v in labels.items()):
                continue
            jobs.append(info)
        return jobs

    @_reports_disk_errors
    def logs(self, job_id: str, *, tail: int | None = None, follow: bool = False,
             timeout: float | None = None) -> Iterator[str]:
        """Log lines (the caller's token redacted). `follow` streams new lines until the job ends or `timeout`
        seconds pass. Arguments are checked before the first line, so errors surface on call, not on iteration."""
        if tail is not None and (isinstance(tail, bool) or tail < 0):
            raise UserError(f"tail {tail!r} must be a whole number of lines, 0 or more.")
        if timeout is not None and timeout <= 0:
            raise UserError(f"timeout {timeout!r} must be positive (seconds).")
        row = self._row(job_id)
        return self._log_lines(row, tail, follow, timeout)

    def _log_lines(self, row: sqlite3.Row, tail: int | None, follow: bool, timeout: float | None) -> Iterator[str]:
        redactor = Redactor([caller_token()])
        log_path = Path(row["job_dir"]) / "log.txt"
        active = follow and row["stage"] in store.ACTIVE
        try:
            size = log_path.stat().st_size
        except FileNotFoundError:
            size = 0
        # The backlog is read from the end: a 300 MB log answers `tail: 1` at once, in bounded memory and text.
        lines, offset = _read_last_lines(log_path, size, tail, keep_partial=not active)
        for line in lines:
            yield redactor(line)
        if not active:
            return
        deadline = None if timeout is None else self._clock() + timeout
        pending = b""
        while True:
            ended = self._reconcile(_fetched(self.db_path, row["id"]))["stage"] not in store.ACTIVE
            with open(log_path, "rb") as f:
                f.seek(offset)
                chunk = f.read(_FOLLOW_READ_BYTES)
            offset += len(chunk)
            pending += chunk
            *complete_lines, pending = pending.split(b"\n")
            if len(pending) > MAX_LINE_BYTES:  # a line that never ends: show what came, go on with the rest
                complete_lines.append(pending)
                pending = b""
            for raw in complete_lines:
                yield redactor(_display(raw))
            if len(chunk) == _FOLLOW_READ_BYTES:
                continue  # more is waiting: read on before sleeping
            if ended:
                if pending:
                    yield redactor(_display(pending))
                return
            if deadline is not None and self._clock() >= deadline:
                return
            self._sleep(_FOLLOW_POLL_SECONDS)

    # --- control --------------------------------------------------------------------------------------------

    @_reports_disk_errors
    def cancel(self, job_id: str) -> JobInfo:
        """Stop the job's whole process tree and record CANCELED. A finished job is returned unchanged."""
        row = self._row(job_id)
        if row["stage"] not in store.ACTIVE:
            return self._info(row)
        store.finish(self.db_path, row["id"], "CANCELED", "canceled by the user", None)
        supervisor = row["supervisor_pid"]
        if store.is_same_process(supervisor, row["supervisor_start"]):
            _signal(supervisor, signal.SIGTERM)
        # The child pid may have been recorded after `row` was read.
        row = _fetched(self.db_path, row["id"])
        if store.is_same_process(row["child_pid"], row["child_start"]):
            store.stop_group(row["child_pid"], clock=self._clock, sleep=self._sleep)
        deadline = self._clock() + store.KILL_GRACE_SECONDS
        while store.is_same_process(supervisor, row["supervisor_start"]) and self._clock() < deadline:
            self._sleep(0.05)
        if store.is_same_process(supervisor, row["supervisor_start"]):
            _signal(supervisor, signal.SIGKILL)
        return self.inspect(row["id"])

    @_reports_disk_errors
    def wait(self, job_id: str, *, timeout: float | None = None, poll_interval: float = 1.0) -> JobInfo:
        """Block until the job is COMPLETED, ERROR or CANCELED; a failed job is returned, not raised."""
        if timeout is not None and timeout <= 0:
            raise UserError(f"timeout {timeout!r} must be positive (seconds).")
        if poll_interval <= 0:
            raise UserError(f"poll interval {poll_interval!r} must be positive (seconds).")
        deadline = None if timeout is None else self._clock() + timeout
        while True:
            info = self.inspect(job_id)
            if info.stage in TERMINAL_STAGES:
                return info
            now = self._clock()
            if deadline is not None and now >= deadline:
                raise UserError(
                    f"Job {info.id} is still {info.stage.value} after {format_duration(timeout or 0)}. Follow it "
                    f"with `hf-trainer jobs logs {info.id} --follow`, wait longer (--timeout), or cancel it."
                )
            self._sleep(poll_interval if deadline is None else max(0.0, min(poll_interval, deadline - now)))
