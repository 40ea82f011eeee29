"""The local store's S3 identities kept in step with the pipelines folder.

`make up` writes them before SeaweedFS starts. A pipeline added while the store runs (`nightshift new`, or a
spec copied in) needs its pusher's identity before its first publish: `sync` rewrites the owner-only
configuration in one rename and sends SIGHUP, on which SeaweedFS reloads `-s3.config` without a restart.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Mapping
from pathlib import Path

from nightshift.control.s3_roles import PUSHER_SEED_VAR, pipeline_pushes, pusher_identities, seaweed_identities
from nightshift.core.config import load_settings
from nightshift.core.private_file import write_private
from nightshift.local import pidfile

CONFIG_NAME = "s3-identities.json"
PUSHER_PREFIX = "pusher-"


def config_path(var_dir: Path) -> Path:
    return var_dir / "seaweedfs" / CONFIG_NAME


def identities(env: Mapping[str, str]) -> dict:
    """Everything the store should know: the admin, the roles, one pusher per pipeline found now."""
    admin = (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
    return seaweed_identities(admin, env, pipeline_pushes(load_settings(dict(env)).pipelines_dir))


def sync(env: Mapping[str, str]) -> list[str] | None:
    """Add (or update) the pusher identity of every pipeline in the pipelines folder to the running store; the
    pipelines synced, or None when no store of this checkout runs (it learns them at its next start) or no seed
    is set. Identities of pipelines not in this folder are kept: another stack may share the store with a
    folder of its own (a removed pipeline's identity goes at the store's next start)."""
    settings = load_settings(dict(env))
    pid = pidfile.running(settings.var_dir / "run" / "seaweedfs.pid")
    seed = env.get(PUSHER_SEED_VAR)
    path = config_path(settings.var_dir)
    if pid is None or not seed or not path.exists():
        return None
    current = json.loads(path.read_text())
    pushes = pipeline_pushes(settings.pipelines_dir)
    synced = pusher_identities(pushes, seed)
    names = {identity["name"] for identity in synced}
    kept = [i for i in current.get("identities", []) if i.get("name") not in names]
    wanted = {**current, "identities": kept + synced}
    if wanted != current:
        write_private(path, json.dumps(wanted, indent=2))
        os.kill(pid, signal.SIGHUP)  # the door passes it to weed (nightshift.local.s3_door)
    return sorted(pushes)
