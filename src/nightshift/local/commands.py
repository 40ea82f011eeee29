"""What each long-running process of the stack runs: the local stack starts these, docker-compose.yaml runs the
same (tests/integration/test_compose_file.py holds the two together)."""

from __future__ import annotations


def airflow_commands(api_host: str, api_port: int) -> dict[str, list[str]]:
    """Airflow's long-running processes (arguments after `airflow`); docker-compose.yaml runs the same."""
    return {
        "api-server": ["api-server", "-H", api_host, "-p", str(api_port), "-w", "1"],
        "scheduler": ["scheduler", "--skip-serve-logs"],
        "dag-processor": ["dag-processor"],
        # Log servers bind every interface (airflow/utils/serve_logs): none is started; logs are files shared
        # with the API server.
        "triggerer": ["triggerer", "--skip-serve-logs"],
    }


def celery_worker_command(name: str) -> list[str]:
    """One Celery worker; its log files are shared with the API server (same folder), not served over HTTP."""
    return ["celery", "worker", "--concurrency", "2", "--celery-hostname", f"{name}@%h", "--skip-serve-logs"]
