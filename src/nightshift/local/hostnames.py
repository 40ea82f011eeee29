"""Airflow's `hostname_callable` for the multi-process profile.

Several Celery workers on one machine share its host name; with the worker's name in front, each task
instance records which worker ran it (Airflow shows it in the UI and the REST API)."""

from __future__ import annotations

import os
import socket


def worker_hostname() -> str:
    host = socket.getfqdn()
    name = os.environ.get("NIGHTSHIFT_WORKER_NAME")
    return f"{name}.{host}" if name else host
