"""The stack's supervisor: restarts a managed service that dies, with backoff, and says so.

`tillflow up` starts it last (service ``supervisor``). Every ``interval`` seconds it looks at each
service `up` brought up (a ``run/<name>.wanted`` marker: `down` removes it, so a service stopped on
purpose stays stopped):

- a dead process is started again after a backoff that doubles with each restart that did not
  stay up for ``STABLE_AFTER`` seconds (1 s, 2 s, 4 s ... at most ``MAX_BACKOFF``); services
  restart in the stack's phase order, and not while an earlier phase is unhealthy (CDC waits for
  PostgreSQL);
- a live process unhealthy for longer than its ``restart_unhealthy_after`` (the platform's own
  consumers: a stuck consumer whose heartbeat still beats is unhealthy) is stopped and started.

What it did goes to ``run/supervisor.json`` (restarts, last exit reason and when, the next try),
which `tillflow status` shows. The supervisor itself is not supervised: on a server, run
`tillflow supervise` under systemd or the like.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tillflow.runtime import process
from tillflow.runtime.broker_keeper import BrokerKeeper
from tillflow.runtime.services import Service

log = logging.getLogger("tillflow.supervisor")

#: A restarted service that stays up this long resets its backoff.
STABLE_AFTER = 60.0
MAX_BACKOFF = 60.0
STATE_FILE = "supervisor.json"


def backoff(failures: int) -> float:
    """Seconds to wait before restart number ``failures`` in a row (1, 2, 4 ... MAX_BACKOFF)."""
    return 0.0 if failures <= 0 else min(2.0 ** (failures - 1), MAX_BACKOFF)


def wanted_marker(run_dir: Path, name: str) -> Path:
    return run_dir / f"{name}.wanted"


def mark_wanted(run_dir: Path, name: str, wanted: bool) -> None:
    marker = wanted_marker(run_dir, name)
    if wanted:
        run_dir.mkdir(parents=True, exist_ok=True)
        marker.write_text(f"{time.time():.0f}\n")
    else:
        marker.unlink(missing_ok=True)


@dataclass
class Record:
    """What the supervisor knows of one service."""

    restarts: int = 0
    failures: int = 0  # restarts in a row that did not stay up STABLE_AFTER seconds
    last_exit: str | None = None
    last_exit_at: float | None = None
    last_restart_at: float | None = None
    next_try_at: float | None = None
    last_error: str | None = None  # why the last restart attempt failed
    pid: int | None = None
    restarted: bool = False  # started by the supervisor, not healthy since
    up_since: float | None = None
    unhealthy_since: float | None = None


@dataclass
class Supervisor:
    services: Sequence[Service]
    run_dir: Path
    clock: Callable[[], float] = time.time
    records: dict[str, Record] = field(default_factory=dict)
    #: Keeps the local broker within its memory budget (None: an external broker, or tests).
    keeper: BrokerKeeper | None = None

    def record(self, name: str) -> Record:
        return self.records.setdefault(name, Record())

    #: The stack's services as they are now (the registry grows with `tillflow run`: the chain
    #: and the continuous ingestion); None: ``services`` as given.
    registry: Callable[[], Sequence[Service]] | None = None

    def supervised(self) -> list[Service]:
        if self.registry is not None:
            known = {s.name for s in self.services}
            fresh = [s for s in self.registry() if s.name not in known]
            if fresh:
                self.services = [*self.services, *fresh]
        return [
            s
            for s in self.services
            if not s.external and wanted_marker(self.run_dir, s.name).exists()
        ]

    def tick(self) -> None:
        """One look at every supervised service; restarts what is due."""
        blocked_from: int | None = None  # the first phase with a service not (yet) healthy
        paused = self.keeper.paused if self.keeper is not None else set()
        try:
            for service in sorted(self.supervised(), key=lambda s: s.phase):
                if service.name in paused or (
                    blocked_from is not None and service.phase > blocked_from
                ):
                    continue  # the keeper stopped it for a recycle / an earlier phase is down
                try:
                    ok = self._look(service)
                except Exception:  # one service's failure must not stop the look at the rest
                    log.exception("%s: look failed", service.name)
                    ok = False
                if not ok and blocked_from is None:
                    blocked_from = service.phase
            if self.keeper is not None:
                names = [s.name for s in self.supervised()]
                try:
                    if blocked_from is None:  # the whole stack is healthy
                        self.keeper.tick(names)
                    else:  # no recycle now; but ingestion down is when its lag grows fastest
                        self.keeper.tick_lag(names)
                except Exception:
                    log.exception("broker keeper failed; it tries again at the next look")
        finally:
            self.save()

    def _look(self, service: Service) -> bool:
        """Check one service, restart it when due; True when it is up and healthy."""
        rec = self.record(service.name)
        now = self.clock()
        pid = service.pid()
        if pid is not None:
            if rec.pid != pid:  # started anew (by `up` or the broker keeper)
                if rec.pid is not None:
                    process.exit_status(rec.pid)  # reap it, had this process started it
                rec.pid, rec.up_since, rec.unhealthy_since = pid, now, None
            if service.healthy():
                rec.unhealthy_since = None
                if rec.restarted:  # first healthy look since the supervisor started it
                    service.on_ready()  # raises: tried again at the next look
                    rec.restarted = False
                if rec.failures and rec.up_since is not None and now - rec.up_since > STABLE_AFTER:
                    rec.failures = 0
                return True
            if rec.up_since is not None and now - rec.up_since < service.health_timeout:
                return False  # still starting
            rec.unhealthy_since = rec.unhealthy_since or now
            limit = service.restart_unhealthy_after
            if limit is None or now - rec.unhealthy_since < limit:
                return False
            reason = f"unhealthy for {now - rec.unhealthy_since:.0f}s; stopped"
            log.warning("%s: %s", service.name, reason)
            with process.service_lock(self.run_dir, service.name):
                service.stop()
            process.exit_status(pid)  # reap it, had this process started it
            self._died(service, rec, reason, now)
        elif rec.pid is not None or rec.next_try_at is None:
            # Gone since the last look (or found gone at the supervisor's first look).
            code = process.exit_status(rec.pid) if rec.pid is not None else None
            reason = self._reason(service, code)
            if rec.pid is not None and process.kill_leftovers(rec.pid):
                reason += "; its leftover child processes killed"
            self._died(service, rec, reason, now)
        if rec.next_try_at is not None and now >= rec.next_try_at:
            self._restart(service, rec, now)
        return False

    def _reason(self, service: Service, code: int | None) -> str:
        reason = process.describe_exit(code)
        last = last_log_line(service.log_file)
        return f"{reason}; last log line: {last}" if last else reason

    def _died(self, service: Service, rec: Record, reason: str, now: float) -> None:
        stable = rec.up_since is not None and now - rec.up_since > STABLE_AFTER
        rec.failures = 1 if stable else rec.failures + 1
        rec.last_exit, rec.last_exit_at = reason, now
        rec.pid = rec.up_since = rec.unhealthy_since = None
        rec.next_try_at = now + backoff(rec.failures)
        log.warning("%s died (%s); restart in %.0fs", service.name, reason, rec.next_try_at - now)

    def _restart(self, service: Service, rec: Record, now: float) -> None:
        try:
            with process.service_lock(self.run_dir, service.name):
                if service.pid() is not None:  # `up` started it meanwhile
                    rec.next_try_at = None
                    return
                # `down` may have stopped wanting it since this look began (it drops the marker
                # under this lock): a restart now would outlive the `down` that stopped it.
                if not wanted_marker(self.run_dir, service.name).exists():
                    rec.next_try_at = None
                    log.info("%s: no longer wanted (`down`); not restarted", service.name)
                    return
                service.preflight()
                service.start()
        except Exception as exc:  # a failed start is one more failure: try again later
            rec.failures += 1
            rec.last_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            rec.next_try_at = now + backoff(rec.failures)
            log.warning("%s: restart failed (%s)", service.name, rec.last_error)
            return
        rec.restarts += 1
        rec.restarted = True
        rec.last_restart_at = now
        rec.next_try_at = rec.last_error = None
        rec.pid, rec.up_since = service.pid(), now
        log.info("%s restarted (restart %d, pid %s)", service.name, rec.restarts, rec.pid)

    def save(self) -> None:
        body = {
            "ts": self.clock(),
            "pid": os.getpid(),
            "services": {name: asdict(rec) for name, rec in self.records.items()},
            "broker": self.keeper.last if self.keeper is not None else None,
        }
        tmp = self.run_dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(body, indent=1))
        tmp.replace(self.run_dir / STATE_FILE)


def last_log_line(path: Path, limit: int = 160) -> str | None:
    """The last non-empty line of a log (read from its end), shortened to ``limit``."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            lines = [ln.strip() for ln in f.read().decode(errors="replace").splitlines()]
    except OSError:
        return None
    lines = [ln for ln in lines if ln]
    if not lines:
        return None
    last = lines[-1]
    return last if len(last) <= limit else last[: limit - 1] + "…"


def read_state(run_dir: Path) -> dict[str, Any]:
    """``run/supervisor.json`` as written by the running supervisor ({} when there is none)."""
    try:
        body: dict[str, Any] = json.loads((run_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return body


def run(supervisor: Supervisor, interval: float, stop: threading.Event | None = None) -> None:
    """Tick every ``interval`` seconds until SIGTERM/SIGINT (or ``stop``)."""
    stop = stop or threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info("supervising every %.1fs: %s", interval, [s.name for s in supervisor.supervised()])
    if supervisor.keeper is not None:
        threading.Thread(
            target=supervisor.keeper.watch, args=(stop,), name="broker-watch", daemon=True
        ).start()
        threading.Thread(
            target=supervisor.keeper.note, args=(stop,), name="broker-notes", daemon=True
        ).start()
        threading.Thread(
            target=supervisor.keeper.depth_watch, args=(stop,), name="broker-depth", daemon=True
        ).start()
    try:
        while not stop.is_set():
            try:
                supervisor.tick()
            except Exception:  # one bad look must not end the supervision of the rest
                log.exception("supervisor tick failed")
            stop.wait(interval)
    finally:
        if supervisor.keeper is not None:
            supervisor.keeper.release()  # no producer waits for a keeper that is gone
    log.info("supervisor stopped")
