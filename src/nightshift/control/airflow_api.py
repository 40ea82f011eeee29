"""A small client of Airflow 3's REST API (/api/v2): what the UI's trigger form and grid do.

Used by `make demo`, the CLI (`trigger`, `labels land`, `models report`) and the end-to-end tests, so all drive
Airflow exactly as a person would. Written by hand rather than on the official `apache-airflow-client`
(3.3.2 resolves against our lock, adding only itself): the token step of the simple auth manager
(`/auth/token`) is outside that generated client either way, and what remains here is one `request()` and nine
calls of a few lines each, whose errors name what was asked (`AirflowApiError`); the generated models would add
a translation layer to every caller without removing code.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

TERMINAL = {"success", "failed"}


class AirflowApiError(RuntimeError):
    def __init__(self, status: int, body: str, what: str):
        super().__init__(f"{what}: HTTP {status}: {body[:2000]}")
        self.status = status
        self.body = body


@dataclass
class AirflowClient:
    base_url: str
    username: str
    password: str = field(repr=False)  # never in a traceback, a log line or a test report
    timeout: float = 30.0

    def __post_init__(self) -> None:
        self.session = requests.Session()
        self.session.trust_env = False  # loopback only; never through a proxy
        self._token: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str], username: str = "admin") -> AirflowClient:
        passwords = json.loads(Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]).read_text())
        return cls(f"http://127.0.0.1:{env['AIRFLOW__API__PORT']}", username, passwords[username])

    def _auth(self) -> dict[str, str]:
        if self._token is None:
            resp = self.session.post(f"{self.base_url}/auth/token", timeout=self.timeout,
                                     json={"username": self.username, "password": self.password})
            if resp.status_code not in (200, 201):
                raise AirflowApiError(resp.status_code, resp.text, "login")
            self._token = resp.json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}

    def request(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        resp = self.session.request(method, f"{self.base_url}/api/v2{path}", headers=self._auth(),
                                    timeout=self.timeout, **kwargs)
        if resp.status_code >= 400:
            raise AirflowApiError(resp.status_code, resp.text, what)
        return resp.json() if resp.content else None

    def wait_for_dag(self, dag_id: str, timeout: float = 180.0) -> dict[str, Any]:
        """Wait until the DAG processor has parsed `dag_id` (a fresh stack needs a few seconds)."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                return self.request("GET", f"/dags/{dag_id}", f"get DAG {dag_id}")
            except AirflowApiError as exc:
                last = exc
                time.sleep(2)
        raise TimeoutError(f"DAG {dag_id} not parsed within {timeout:.0f}s: {last}")

    def unpause(self, dag_id: str) -> None:
        self.request("PATCH", f"/dags/{dag_id}", f"unpause {dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict[str, Any], logical_date: str | None = None,
                run_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"conf": conf, "logical_date": logical_date}
        if run_id:
            body["dag_run_id"] = run_id
        return self.request("POST", f"/dags/{dag_id}/dagRuns", f"trigger {dag_id}", json=body)

    def asset_event(self, uri: str, extra: dict[str, Any]) -> dict[str, Any]:
        """Record that an Asset was updated outside Airflow (as a task's outlet would): DAGs scheduled on it run."""
        # Airflow stores an s3:// asset URI without its trailing slash.
        found = self.request("GET", "/assets", f"find asset {uri}",
                             params={"uri_pattern": uri.rstrip("/"), "limit": 100})
        ids = [a["id"] for a in found.get("assets", []) if a["uri"].rstrip("/") == uri.rstrip("/")]
        if not ids:
            raise AirflowApiError(404, f"no asset with URI {uri}; no DAG is scheduled on it yet", "asset event")
        return self.request("POST", "/assets/events", f"asset event for {uri}",
                            json={"asset_id": ids[0], "extra": extra})

    def started_run(self, dag_id: str, within: float, poll: float = 3.0) -> str | None:
        """The run the scheduler starts once a paused DAG is unpaused (its latest interval: catchup stops only the
        older ones), if one is queued or running within `within` seconds; None otherwise."""
        deadline = time.monotonic() + within
        while True:
            runs = self.request("GET", f"/dags/{dag_id}/dagRuns", "list runs",
                                params={"order_by": "-run_after", "limit": 5})["dag_runs"]
            active = [r for r in runs if r["state"] in ("queued", "running")]
            if active:
                return str(active[0]["dag_run_id"])
            if time.monotonic() >= deadline:
                return None
            time.sleep(poll)

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}", f"get run {run_id}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        data = self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", "list task instances",
                            params={"limit": 100})
        return data["task_instances"]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        """One XCom of a task instance (its return value by default), as JSON; None when there is none."""
        import json

        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        try:
            value = self.request("GET", path, f"read XCom {key!r} of {task_id}", params={"deserialize": "true",
                                                                                   "stringify": "false"})["value"]
        except AirflowApiError as exc:
            if exc.status == 404:
                return None
            raise
        return json.loads(value) if isinstance(value, str) else value

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        data = self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
                            f"log of {task_id}", params={"full_content": "true"})
        content = data.get("content", "")
        if isinstance(content, list):
            return "\n".join(c.get("event", "") if isinstance(c, dict) else str(c) for c in content)
        return str(content)

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 1800.0, poll: float = 5.0,
                     on_change: Any = None) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen: dict[str, str] = {}
        while time.monotonic() < deadline:
            run = self.run(dag_id, run_id)
            if on_change is not None:
                for ti in self.task_instances(dag_id, run_id):
                    state = ti.get("state") or "none"
                    if seen.get(ti["task_id"]) != state:
                        seen[ti["task_id"]] = state
                        on_change(ti["task_id"], state)
            if run["state"] in TERMINAL:
                return run
            time.sleep(poll)
        raise TimeoutError(f"run {run_id} of {dag_id} did not finish within {timeout:.0f}s")
