"""A small client of Airflow 3's REST API (v2): trigger DAG runs, follow them, read their XComs.

`make demo` drives the pipeline through this client, so what it shows is what the scheduler does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

TERMINAL = {"success", "failed"}


class AirflowApiError(RuntimeError):
    pass


class AirflowClient:
    def __init__(self, base_url: str, username: str, password: str, timeout: float = 30) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=timeout)
        self._username, self._password = username, password
        self._token: str | None = None

    def close(self) -> None:
        self._http.close()

    def _auth(self) -> dict[str, str]:
        if self._token is None:
            resp = self._http.post(
                "/auth/token", json={"username": self._username, "password": self._password}
            )
            if resp.status_code >= 400:
                raise AirflowApiError(f"login as {self._username} failed: {resp.status_code}")
            self._token = resp.json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self._http.request(method, f"/api/v2{path}", headers=self._auth(), **kwargs)
        if resp.status_code == 401:  # token expired: log in again once
            self._token = None
            resp = self._http.request(method, f"/api/v2{path}", headers=self._auth(), **kwargs)
        if resp.status_code >= 400:
            raise AirflowApiError(f"{method} {path}: {resp.status_code} {resp.text[:300]}")
        return resp.json() if resp.content else None

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> None:
        """Wait until the DAG processor has parsed ``dag_id`` (a fresh stack needs a moment)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._request("GET", f"/dags/{dag_id}")
                return
            except AirflowApiError:
                if time.monotonic() > deadline:
                    raise AirflowApiError(
                        f"DAG {dag_id} not parsed within {timeout:.0f}s"
                    ) from None
                time.sleep(2)

    def unpause(self, dag_id: str) -> None:
        self.set_paused(dag_id, False)

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self._request("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})

    def is_paused(self, dag_id: str) -> bool:
        return bool(self._request("GET", f"/dags/{dag_id}")["is_paused"])

    def trigger(
        self,
        dag_id: str,
        conf: dict[str, Any] | None = None,
        logical_date: str | None = None,
        interval: tuple[str, str] | None = None,
    ) -> str:
        """Trigger a run; ``interval`` sets its data interval (otherwise the timetable infers
        one from ``logical_date``: for a daily CronDataIntervalTimetable, the day *before*)."""
        body: dict[str, Any] = {"logical_date": logical_date, "conf": conf or {}}
        if interval is not None:
            body["data_interval_start"], body["data_interval_end"] = interval
        return str(self._request("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"])

    def run_at(self, dag_id: str, logical_date: str) -> dict[str, Any] | None:
        """The run of ``dag_id`` at ``logical_date`` (unique per DAG), if there is one."""
        params = {"logical_date_gte": logical_date, "logical_date_lte": logical_date}
        runs = self._request("GET", f"/dags/{dag_id}/dagRuns", params=params)["dag_runs"]
        return dict(runs[0]) if runs else None

    def clear_run(self, dag_id: str, run_id: str) -> None:
        """Run every task of an existing run again (its logical date and data interval stay)."""
        body = {"dry_run": False, "only_failed": False}
        self._request("POST", f"/dags/{dag_id}/dagRuns/{run_id}/clear", json=body)

    def run_interval(
        self, dag_id: str, start: str, end: str, conf: dict[str, Any] | None = None
    ) -> str:
        """Run ``dag_id`` for the data interval [start, end) at logical date ``start`` (unique per
        DAG); returns the run id. A finished run at that date is deleted and a new one
        triggered: a cleared run keeps its old conf, and in the daily ELT Cosmos's watcher
        producer skips a second try, so every sensor runs dbt for its own node (a soak drill's
        run built 17 hours of 100 stores that way in 9 minutes; the producer's single build of
        a whole 100-store day takes under 2). A run still queued or running is cleared."""
        existing = self.run_at(dag_id, start)
        if existing is not None:
            run_id = str(existing["dag_run_id"])
            if existing.get("state") not in TERMINAL:
                self.clear_run(dag_id, run_id)  # the API refuses to delete an active run
                return run_id
            self.delete_run(dag_id, run_id)
        return self.trigger(dag_id, conf, start, (start, end))

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self._request("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """The run's task instances as the API gives them (state, start, end, duration, ...)."""
        body = self._request(
            "GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000}
        )
        return list(body["task_instances"])

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        return {ti["task_id"]: str(ti["state"]) for ti in self.task_instances(dag_id, run_id)}

    def set_run_state(self, dag_id: str, run_id: str, state: str) -> None:
        """Mark a run ``success``, ``failed`` or ``queued`` (its unfinished tasks follow)."""
        self._request("PATCH", f"/dags/{dag_id}/dagRuns/{run_id}", json={"state": state})

    def active_runs(self, dag_id: str) -> list[dict[str, Any]]:
        """The runs of ``dag_id`` that are queued or running."""
        params = {"state": ["queued", "running"], "limit": 100}
        return list(self._request("GET", f"/dags/{dag_id}/dagRuns", params=params)["dag_runs"])

    def delete_run(self, dag_id: str, run_id: str) -> None:
        """Delete a finished run (the API refuses a running one)."""
        self._request("DELETE", f"/dags/{dag_id}/dagRuns/{run_id}")

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        return self._request("GET", path, params={"deserialize": True})["value"]

    def asset_events(self, source_dag_id: str, source_run_id: str) -> list[dict[str, Any]]:
        """The asset events a run emitted (its tasks' outlets)."""
        params = {"source_dag_id": source_dag_id, "source_run_id": source_run_id, "limit": 1000}
        return list(self._request("GET", "/assets/events", params=params)["asset_events"])

    def latest_runs(self, dag_id: str, limit: int = 5) -> list[dict[str, Any]]:
        """The newest runs of ``dag_id``, newest first."""
        params = {"order_by": "-run_after", "limit": limit}
        return list(self._request("GET", f"/dags/{dag_id}/dagRuns", params=params)["dag_runs"])

    def wait_for_run(
        self,
        dag_id: str,
        run_id: str,
        timeout: float = 600,
        progress: Callable[[str, dict[str, str]], None] | None = None,
    ) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.run_state(dag_id, run_id)
            if progress is not None:
                progress(state, self.task_states(dag_id, run_id))
            if state in TERMINAL:
                return state
            time.sleep(2)
        raise AirflowApiError(f"{dag_id} run {run_id} did not finish within {timeout:.0f}s")
