"""The serving view against the oracle while dbt builds: sampled every second, during runs that
succeed and during one that fails part way.

The serving view must equal the oracle at every moment, not only after a good run: a reader
between two statements of a build, or after a run that stopped half way, gets the same totals.
:func:`rebuild_watched` builds each UTC day again (one ``dbt build`` per day, as the daily runs
do), after a run that fails after its facts (a test on them is made to fail, so every mart
after them is skipped), while a thread compares the serving view with the oracle's sums.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from tillflow.jobs.elt.reconcile import compare

#: A dbt var that makes the facts' unknown-item test fail: any share is above it.
FAILING_VARS = {"unknown_item_share_max": "-1"}
SERVING_RELATION = dict(compare.RELATIONS)["serving"]


@dataclass
class WatchReport:
    samples: int = 0
    differing: list[tuple[float, int]] = field(default_factory=list)  # (second, differences)
    errors: list[str] = field(default_factory=list)
    runs: list[tuple[str, bool, float]] = field(default_factory=list)  # (day, ok, seconds)
    first_difference: list[Any] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.samples > 0 and not self.differing and not self.errors


class Sampler:
    """Calls ``probe`` every ``every`` seconds in a thread while the block runs. ``probe``
    returns what differs from the expected (empty: exact); a query that fails (a view missing)
    is an error. Both are kept in ``report``."""

    def __init__(self, probe: Callable[[], Sequence[Any]], every: float = 1.0) -> None:
        self.probe, self.every = probe, every
        self.report = WatchReport()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="serving-sampler", daemon=True)
        self._t0 = time.monotonic()

    def _sample(self) -> None:
        try:
            diffs = self.probe()
        except Exception as exc:  # a missing view or a failed query is what this looks for
            self.report.errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
            return
        self.report.samples += 1
        if diffs:
            self.report.differing.append((round(time.monotonic() - self._t0, 1), len(diffs)))
            if not self.report.first_difference:
                self.report.first_difference = list(diffs[:5])

    def _run(self) -> None:
        while True:
            started = time.monotonic()
            self._sample()
            if self._stop.wait(max(0.0, self.every - (time.monotonic() - started))):
                return

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=120)


def serving_probe(
    dsn: str, expected: dict[compare.Key, compare.Sums], days: Sequence[str]
) -> Callable[[], list[compare.Difference]]:
    """The serving view's differences from the oracle's sums on ``days``, read now."""

    def probe() -> list[compare.Difference]:
        actual = compare.read_sums(dsn, SERVING_RELATION, days[0], days[-1])
        return compare.differences("serving", expected, actual, set(days))

    return probe


def has_serving_view(dsn: str) -> bool:
    import psycopg

    with psycopg.connect(dsn) as conn:
        row = conn.execute("select to_regclass(%s)", (SERVING_RELATION,)).fetchone()
    return row is not None and row[0] is not None


def build_once(dsn: str, first: date, last: date) -> None:
    """One build of the UTC days ``first`` .. ``last`` (nothing to watch before a first one)."""
    from tillflow.jobs.elt import dbt, late_days

    dbt.build_interval(dsn, late_days.midnight(first), late_days.midnight(last) + timedelta(days=1))


def rebuild_watched(
    dsn: str,
    expected: dict[compare.Key, compare.Sums],
    compared_days: Sequence[str],
    build_days: Sequence[date],
    every: float = 1.0,
    say: Callable[[str], None] = print,
) -> WatchReport:
    """A failing run of the busiest of ``build_days`` (by the oracle's scans), then a good run
    of each, watched. A run fails part way only where its facts have rows to test."""
    from tillflow.jobs.elt import dbt, late_days

    scans: dict[str, int] = {}
    for (_, iso_day), sums in expected.items():
        scans[iso_day] = scans.get(iso_day, 0) + sums[0]
    fail_day = max(build_days, key=lambda d: scans.get(d.isoformat(), 0))
    with Sampler(serving_probe(dsn, expected, compared_days), every) as watch:
        first = late_days.midnight(fail_day)
        variables = {
            **dbt.interval_vars(first, first + timedelta(days=1)),
            "arrivals_through": late_days.arrival_cutoff(dsn).isoformat(),
            **FAILING_VARS,
        }
        failed = dbt.run_dbt(["build"], dsn, variables, check=False)
        if failed.ok:
            raise RuntimeError("the run made to fail part way succeeded: nothing was tested")
        watch.report.runs.append((f"{fail_day} (failed part way)", False, failed.seconds))
        say(f"reconcile: run of {fail_day} failed part way as meant ({failed.seconds:.0f}s)")
        for day in build_days:
            start = late_days.midnight(day)
            run = dbt.build_interval(dsn, start, start + timedelta(days=1))
            watch.report.runs.append((day.isoformat(), True, run.seconds))
            say(
                f"reconcile: built {day} ({run.seconds:.0f}s); serving sampled "
                f"{watch.report.samples} times, {len(watch.report.differing)} differing"
            )
    return watch.report
