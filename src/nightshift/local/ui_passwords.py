"""Airflow's UI passwords in a container deployment, written once from the environment.

Airflow's SimpleAuthManager generates a password for every user missing from its passwords file and prints it
to the container's log; a container recreated without that file gets new ones. compose's `airflow-init` runs
this instead: the passwords come from the deployment's secrets, go into the owner-only file Airflow reads
(AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE), and are never printed.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from nightshift.core.private_file import write_private

USERS = ("admin", "viewer")


def env_name(user: str) -> str:
    return f"NIGHTSHIFT_UI_{user.upper()}_PASSWORD"


def main(env: dict[str, str] | None = None) -> int:
    env = dict(os.environ) if env is None else env
    missing = [env_name(u) for u in USERS if not env.get(env_name(u))]
    target = env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
    if missing or not target:
        print("ui_passwords: set " + ", ".join(missing or ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]),
              file=sys.stderr)
        return 2
    write_private(Path(target), json.dumps({u: env[env_name(u)] for u in USERS}))
    print(f"ui_passwords: {len(USERS)} users written to {target} (owner-only)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
