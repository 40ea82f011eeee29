"""Processes that fork Airflow tasks import Great Expectations once, so no gate task pays its import
(plugins/airflow_local_settings.py); the others do not pay it at all."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nightshift.core.config import PROJECT_ROOT

pytestmark = pytest.mark.integration
PROBE = ("import sys; sys.argv = {argv!r}; import airflow_local_settings; "
         "print('great_expectations' in sys.modules)")


@pytest.mark.parametrize(("argv", "preloaded"), [
    (["airflow", "scheduler", "--skip-serve-logs"], "True"),
    (["airflow", "celery", "worker", "--concurrency", "2"], "True"),
    (["airflow", "api-server", "-p", "8080"], "False"),
    (["airflow", "dag-processor"], "False"),
    (["airflow", "dags", "list"], "False"),
])
def test_only_the_processes_that_fork_tasks_import_great_expectations(argv, preloaded):
    out = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], cwd=PROJECT_ROOT / "plugins",
                         capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == preloaded


def test_preloading_can_be_turned_off():
    argv = ["airflow", "scheduler"]
    out = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], cwd=PROJECT_ROOT / "plugins",
                         capture_output=True, text=True, timeout=120, check=True,
                         env={"PATH": "/usr/bin:/bin", "NIGHTSHIFT_PRELOAD": "0"})
    assert out.stdout.strip() == "False"
