"""Managed background processes: spawn detached with a pid file and a log file, stop by group."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from tillflow.adapters.procfs import (
    STAT_PGRP,
    STAT_STARTTIME,
    STAT_STATE,
    pid_alive,
    proc_stat,
    proc_stats,
)


class StackError(RuntimeError):
    """A problem the user can fix; its message is one line naming the setting that fixes it."""


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def start_ticks(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot): with the pid, the identity of a process,
    since pids are reused."""
    fields = proc_stat(pid)
    return int(fields[STAT_STARTTIME]) if fields is not None else None


def write_pid_file(pid_file: Path, pid: int) -> None:
    pid_file.write_text(f"{pid} {start_ticks(pid) or 0}\n")


def read_pid(pid_file: Path) -> int | None:
    """The live process ``pid_file`` names, or None when it is gone or the pid now names another
    process (its start time differs; a file without one: the process must lead its own process
    group, as every process ``spawn`` starts does). Nothing is signalled on a stale file."""
    try:
        fields = pid_file.read_text().split()
        pid = int(fields[0])
        started = int(fields[1]) if len(fields) > 1 else None
    except (OSError, ValueError, IndexError):
        return None
    if not pid_alive(pid):
        return None
    if started is not None:
        return pid if start_ticks(pid) == started else None
    try:
        return pid if os.getpgid(pid) == pid else None
    except ProcessLookupError:
        return None


@contextlib.contextmanager
def service_lock(run_dir: Path, name: str) -> Iterator[None]:
    """Held while one process checks whether ``name`` runs and starts or stops it: `up`, the
    supervisor and the broker keeper never start the same service twice."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def spawn(
    argv: Sequence[str],
    *,
    pid_file: Path,
    log_file: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start ``argv`` in its own session (so ``stop`` can end its whole process group)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    write_pid_file(pid_file, proc.pid)
    # Kept so that a long-lived parent (the supervisor) can read how its child ended: a Popen
    # dropped while its child runs is reaped by the next Popen, and its exit status lost.
    _CHILDREN[proc.pid] = proc
    return proc.pid


_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def exit_status(pid: int) -> int | None:
    """How a child this process spawned ended (``Popen.returncode``: negative for a signal), or
    None when it still runs or was not spawned here (its parent was another process)."""
    proc = _CHILDREN.get(pid)
    if proc is None or proc.poll() is None:
        return None
    del _CHILDREN[pid]
    return proc.returncode


def describe_exit(code: int | None) -> str:
    """``exit code 1`` / ``killed by SIGKILL`` / ``exit status unknown``."""
    if code is None:
        return "exit status unknown (not started by the supervisor)"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def stop_pid_file(pid_file: Path, timeout: float = 20.0) -> bool:
    """SIGTERM the process group behind ``pid_file``, SIGKILL after ``timeout``. True if stopped."""
    pid = read_pid(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _group_alive(pid):
        time.sleep(0.1)
    if _group_alive(pid):
        _signal_group(pid, signal.SIGKILL)
        time.sleep(0.2)
    pid_file.unlink(missing_ok=True)
    return True


def kill_leftovers(pgid: int) -> bool:
    """SIGKILL what is left of the process group of a leader that died (a scheduler killed with
    SIGKILL leaves its executor workers and log server behind, in its group). Linux never hands
    out a pid still in use as a group id, so ``pgid`` names only that group. True if any was."""
    if not _group_alive(pgid):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _group_alive(pgid: int) -> bool:
    """True while any live (non-zombie) process of the group remains."""
    return any(f[STAT_STATE] != "Z" and int(f[STAT_PGRP]) == pgid for f in proc_stats())


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    log_file: Path | None,
    alive: Callable[[], bool] | None = None,
) -> None:
    """Wait for ``check``; fail at once, with the log's last lines, if ``alive`` says the process
    has exited (a service whose start failed would otherwise be waited for to the timeout)."""
    deadline = time.monotonic() + timeout
    hint = f"; see {log_file}" if log_file else ""
    while time.monotonic() < deadline:
        if check():
            return
        if alive is not None and not alive():
            tail = ""
            if log_file is not None and log_file.exists():
                lines = log_file.read_text(errors="replace").splitlines()[-5:]
                tail = "".join(f"\n    {line}" for line in lines)
            raise StackError(f"{what} exited before it became healthy{hint}{tail}")
        time.sleep(0.25)
    raise StackError(f"{what} did not become healthy within {timeout:.0f}s{hint}")
