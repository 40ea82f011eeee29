"""Airflow's local settings hook: every Airflow process imports this module when it starts (the plugins folder
is on its path).

Task processes are forked, not started afresh: the LocalExecutor's workers fork from the scheduler, and each
task forks from its worker; Celery's pool forks from `airflow celery worker`. Whatever those parents have
imported, every task inherits for free. The contract gate needs Great Expectations, whose import (scipy,
altair, sqlalchemy...) takes about 7 s on these machines: more than the gate's own work on 15k rows, and on
every run's critical path. Imported once in the parent that forks tasks, it is off that path. Other
processes (API server, DAG processor, triggerer, the CLI) do not pay it. NIGHTSHIFT_PRELOAD=0 turns it off.
"""

from __future__ import annotations

import importlib
import os
import sys

PRELOAD = ("great_expectations",)


def forks_tasks(argv: list[str]) -> bool:
    """Is this the process task processes are forked from (`airflow scheduler`, `airflow celery worker`)?"""
    command = [a for a in argv[1:] if not a.startswith("-")][:2]
    return command[:1] == ["scheduler"] or command == ["celery", "worker"]


if forks_tasks(sys.argv) and os.environ.get("NIGHTSHIFT_PRELOAD", "1") != "0":
    for _name in PRELOAD:
        try:
            importlib.import_module(_name)
        except ImportError as exc:  # a speed-up only: the task that needs it reports its own import error
            print(f"nightshift: not preloading {_name}: {exc}", file=sys.stderr)
