"""The supervisor of one local job, and the job store it shares with `LocalBackend`.

`LocalBackend` starts `python -m hf_trainer.jobs.local_runner <db> <job_id>` in a new session, so the job outlives the
process that submitted it. The supervisor starts the job's command in its own process group, copies its output to the
job's log file (secret values redacted before they touch the disk), enforces the timeout by killing that whole group,
and records the final stage. Every stage change is a conditional UPDATE on a non-terminal stage, so the supervisor,
`cancel` and the vanished-process check can race without one overwriting another's verdict.

This module stays light (standard library only at import) because it is the first thing every job starts.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

ACTIVE = ("SCHEDULING", "RUNNING")
# Seconds between SIGTERM and SIGKILL when a job is stopped (timeout, cancel).
KILL_GRACE_SECONDS = 5.0
# Space the supervisor holds while the job runs and gives back when the log fills the disk, so the job's record can
# still be written (and read) on a disk the log has just filled.
RESERVE_BYTES = 256 * 1024
RESERVE_NAME = ".disk-reserve"

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    stage TEXT NOT NULL,
    message TEXT,
    command TEXT NOT NULL,
    image TEXT,
    flavor TEXT,
    timeout_seconds INTEGER,
    labels TEXT NOT NULL,
    env TEXT NOT NULL,
    secret_names TEXT NOT NULL,
    cwd TEXT NOT NULL,
    job_dir TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    exit_code INTEGER,
    supervisor_pid INTEGER,
    supervisor_start TEXT,
    child_pid INTEGER,
    child_start TEXT
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_at);
"""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


_initialised: set[str] = set()


def private_file(path: Path) -> Path:
    """Create `path` readable by its owner only (0600), or narrow it if it is ours and wider: job files may hold what
    a job printed. SQLite gives the -wal and -shm files of a database the database file's own mode."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        info = path.stat()
        if info.st_mode & 0o077 and info.st_uid == os.getuid():
            path.chmod(0o600)
    return path


def connect(db_path: Path) -> sqlite3.Connection:
    """A connection with the schema in place. Several processes write: WAL and a generous busy timeout."""
    if str(db_path) not in _initialised:
        private_file(db_path)
    conn = sqlite3.connect(str(db_path), timeout=30, isolation_level=None)
    conn.row_factory = sqlite3.Row
    if str(db_path) not in _initialised:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SCHEMA)
        _initialised.add(str(db_path))
    return conn


@contextmanager
def session(db_path: Path) -> Iterator[sqlite3.Connection]:
    """A connection that is closed afterwards (sqlite3's own context manager only ends the transaction)."""
    with closing(connect(db_path)) as conn:
        yield conn


def fetch(db_path: Path, job_id: str) -> sqlite3.Row | None:
    with session(db_path) as conn:
        return conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()


def update_if_active(db_path: Path, job_id: str, **fields: Any) -> bool:
    """Set `fields` on the job only while it is SCHEDULING or RUNNING; True when it was."""
    names = ", ".join(f"{k} = ?" for k in fields)
    with session(db_path) as conn:
        cur = conn.execute(
            f"UPDATE jobs SET {names} WHERE id = ? AND stage IN (?, ?)", (*fields.values(), job_id, *ACTIVE)
        )
        return cur.rowcount == 1


def finish(db_path: Path, job_id: str, stage: str, message: str | None, exit_code: int | None) -> bool:
    return update_if_active(db_path, job_id, stage=stage, message=message, exit_code=exit_code,
                            finished_at=now_iso())


# --- processes -------------------------------------------------------------------------------------------------


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return "?"


def process_start(pid: int) -> str | None:
    """An identity for a live process: the boot and its start time since boot (Linux /proc), so a reused pid -
    also one reused after a reboot - is told apart from the process we started.

    None when the process is gone or a zombie (it has exited; only its exit status remains). Where /proc is
    missing, "?" for any process that exists: reuse cannot be detected there.
    """
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            stat = f.read()
    except FileNotFoundError:
        return None
    except OSError:
        return _exists_without_proc(pid)
    # The command name (field 2) may hold spaces and parentheses: fields after the last ')' are fixed.
    fields = stat[stat.rfind(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return None
    return f"{_boot_id()}:{fields[19]}"


def _exists_without_proc(pid: int) -> str | None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return "?"
    return "?"


def _proven(identity: str | None) -> bool:
    """A recorded identity that can tell processes apart: a boot id and a start time, both known."""
    if not identity or identity == "?":
        return False
    boot, _, start = identity.rpartition(":")
    return bool(boot) and boot != "?" and start.isdigit()


def is_same_process(pid: int | None, start: str | None) -> bool:
    """True only when pid, boot id and start time are all recorded, all readable now, and all equal: a record with
    a missing identity (tampered, or written where /proc is unreadable) is never taken for a live process, so
    nothing ever signals a process it did not start."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or not _proven(start):
        return False
    current = process_start(pid)
    return _proven(current) and current == start


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in a process group. Falls back to a signal-0 probe without /proc."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="utf-8")
        except OSError:  # exited while we looked
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_group(pgid: int, grace: float = KILL_GRACE_SECONDS, *, sleep: Callable[[float], None] = time.sleep,
               clock: Callable[[], float] = time.monotonic) -> None:
    """SIGTERM the whole group, then SIGKILL whatever is still alive after `grace` seconds."""
    signal_group(pgid, signal.SIGTERM)
    deadline = clock() + grace
    while group_members(pgid) and clock() < deadline:
        sleep(0.05)
    if group_members(pgid):
        signal_group(pgid, signal.SIGKILL)


def describe_exit(returncode: int) -> tuple[str, str, int]:
    """(stage, message, exit_code) for a finished command; signals read as a shell reports them (128 + n)."""
    if returncode == 0:
        return "COMPLETED", "exited with code 0", 0
    if returncode < 0:
        sig = -returncode
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        return "ERROR", f"killed by {name} ({sig})", 128 + sig
    return "ERROR", f"exited with code {returncode}", returncode


# --- redaction -------------------------------------------------------------------------------------------------


def make_redactor(values: list[str]) -> Any:
    """A byte-stream redactor (hf_trainer.redaction.StreamRedactor) for the job's secret values and token: it works on
    the output before it is split into lines, so a multi-line secret (a PEM key) is never written."""
    from hf_trainer.redaction import StreamRedactor  # the runner runs as `-m hf_trainer.jobs.local_runner`

    return StreamRedactor(values)


# --- the supervisor --------------------------------------------------------------------------------------------


class _Supervisor:
    def __init__(self, db_path: Path, job_id: str) -> None:
        self.db_path = db_path
        self.job_id = job_id
        self.child: subprocess.Popen[bytes] | None = None
        self.canceled = False
        self.term_sent_at: float | None = None

    def on_sigterm(self, signum: int, frame: Any) -> None:
        # `cancel` has already recorded CANCELED; stop the job's group and let run() finish normally.
        self.canceled = True
        if self.child is not None:
            signal_group(self.child.pid, signal.SIGTERM)
            self.term_sent_at = self.term_sent_at or time.monotonic()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.on_sigterm)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        row = fetch(self.db_path, self.job_id)
        if row is None or row["stage"] not in ACTIVE or self.canceled:
            return 0
        command = json.loads(row["command"])
        secret_names = json.loads(row["secret_names"])
        log_path = Path(row["job_dir"]) / "log.txt"
        # Every secret the job was given (values only in this process's memory) and the token, if it has one.
        redact = make_redactor([os.environ.get(n, "") for n in secret_names] + [os.environ.get("HF_TOKEN", "")])
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        env["JOB_ID"] = self.job_id
        # Tells scripts they run on this machine, not HF Jobs (e.g. no Trackio Space by default).
        env["HF_TRAINER_BACKEND"] = "local"
        reserve = _hold_reserve(log_path.parent / RESERVE_NAME)
        # Unbuffered: a write that fails (full disk) leaves nothing behind for close() to fail on again.
        with open(log_path, "ab", buffering=0) as log:
            try:
                # A process group of its own: a timeout or cancel kills the job's whole tree, not the supervisor.
                self.child = subprocess.Popen(
                    command, cwd=row["cwd"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT, process_group=0,
                )
            except (OSError, ValueError) as exc:  # ValueError: a NUL in an argument or the environment
                _release(reserve)
                finish(self.db_path, self.job_id, "ERROR",
                       f"could not start {command[0]!r}: {getattr(exc, 'strerror', None) or exc}", None)
                return 0
            if not update_if_active(self.db_path, self.job_id, stage="RUNNING", started_at=now_iso(),
                                    child_pid=self.child.pid, child_start=process_start(self.child.pid)):
                self.canceled = True  # canceled while starting
                signal_group(self.child.pid, signal.SIGKILL)
            copier = _LogCopier(self.child.stdout, log, redact, on_error=lambda: _release(reserve))
            reader = threading.Thread(target=copier.run, daemon=True)
            reader.start()
            stage, message, exit_code = self._wait(row["timeout_seconds"])
            # As when a container ends: whatever the main process left behind goes with it.
            signal_group(self.child.pid, signal.SIGKILL)
            reader.join(timeout=5)
        problem = copier.problem()
        if self.canceled:
            finish(self.db_path, self.job_id, "CANCELED", "; ".join(filter(None, ["canceled by the user", problem])),
                   exit_code)
        else:
            finish(self.db_path, self.job_id, stage, "; ".join(filter(None, [message, problem])), exit_code)
        _release(reserve)
        return 0

    def _wait(self, timeout_seconds: int | None) -> tuple[str, str, int]:
        assert self.child is not None
        started = time.monotonic()
        timed_out = False
        while True:
            try:
                returncode = self.child.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if timeout_seconds and not timed_out and not self.canceled and now - started >= timeout_seconds:
                timed_out = True
                self.term_sent_at = now
                signal_group(self.child.pid, signal.SIGTERM)
            if self.term_sent_at is not None and now - self.term_sent_at >= KILL_GRACE_SECONDS:
                signal_group(self.child.pid, signal.SIGKILL)
        stage, message, exit_code = describe_exit(returncode)
        if timed_out:
            return "ERROR", f"timed out after {timeout_seconds}s (the job's processes were stopped)", exit_code
        return stage, message, exit_code


class _LogCopier:
    """Copies the job's output to its log, redacted as a byte stream (never line by line: a multi-line secret would
    pass). When the log cannot be written (a full disk, a file-size limit) the job goes on: its output is still read,
    so it never blocks on a full pipe, and the failure ends up in the record."""

    CHUNK = 64 * 1024

    def __init__(self, stream: Any, log: Any, redact: Any, on_error: Callable[[], None] = lambda: None) -> None:
        self.stream, self.log, self.redact, self.on_error = stream, log, redact, on_error
        self.written = 0
        self.error: OSError | None = None

    def run(self) -> None:
        while True:
            raw = self.stream.read1(self.CHUNK)
            self._write(self.redact.feed(raw) if raw else self.redact.flush())
            if not raw:
                return

    def _write(self, data: bytes) -> None:
        if self.error is not None or not data:
            return  # drain and drop
        try:
            self.log.write(data)
            self.log.flush()
        except OSError as exc:
            self.error = exc
            self.on_error()
            return
        self.written += len(data)

    def problem(self) -> str | None:
        if self.error is None:
            return None
        return (f"the log could not be written after {self.written} bytes ({self.error.strerror or self.error}); "
                "later output was dropped: free disk space in HF_TRAINER_HOME")


def _hold_reserve(path: Path) -> Path | None:
    """Write RESERVE_BYTES to `path`; None when the disk has not even that much (nothing is held then)."""
    try:
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb", buffering=0) as f:
            f.write(b"\0" * RESERVE_BYTES)
        return path
    except OSError:
        path.unlink(missing_ok=True)
        return None


def _release(path: Path | None) -> None:
    if path is not None:
        try:
            path.unlink(missing_ok=True)
        except OSError:  # the job folder went away: nothing is held any more
            pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m hf_trainer.jobs.local_runner DB_PATH JOB_ID", file=sys.stderr)
        return 2
    return _Supervisor(Path(argv[0]), argv[1]).run()


if __name__ == "__main__":
    sys.exit(main())
