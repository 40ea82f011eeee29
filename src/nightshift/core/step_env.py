"""What a runtime step's process may see of its parent's environment: a short list of names, then the step's own
S3 keys. Airflow's workers and a developer's shell hold Airflow's secrets, every role's keys and the admin's;
a TFX node, a scoring child or the warm runtime that forks them gets none of that.

Stdlib only: the Airflow side (hooks), the CLI and the local stack import it.
"""

from __future__ import annotations

from collections.abc import Mapping

_BASE = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "NIGHTSHIFT_HOME", "NIGHTSHIFT_VAR_DIR",
         "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
# The warm runtime's own process: a forked child's /proc/<pid>/environ shows this block whatever the child sets
# later, so it holds nothing secret; each request brings its step's keys.
SERVER_NAMES = (*_BASE, "NIGHTSHIFT_PROFILE", "PYTHONPATH")
# A step's process: where things are, MLMD's location and password (by environment or an owner-only file it
# names; never the run config, the IR or a command line), and where S3 is.
STEP_NAMES = (*_BASE, "NIGHTSHIFT_MLMD_SQLITE", "NIGHTSHIFT_MLMD_MYSQL", "NIGHTSHIFT_MLMD_PASSWORD",
              "NIGHTSHIFT_MLMD_PASSWORD_FILE", "NIGHTSHIFT_PIPELINES_DIR", "NIGHTSHIFT_S3_ENDPOINT",
              "AWS_DEFAULT_REGION", "NIGHTSHIFT_SCORING_INPUT_PREFIXES", "NIGHTSHIFT_SCORING_INPUT_ROOTS",
              "NIGHTSHIFT_PROGRESS_SECONDS")


def server_environment(env: Mapping[str, str]) -> dict[str, str]:
    return {name: env[name] for name in SERVER_NAMES if name in env}


def step_environment(env: Mapping[str, str], s3_keys: tuple[str, str] | None) -> dict[str, str]:
    """The names above from `env`, plus `s3_keys` as the standard AWS variables (none: the step has no key)."""
    step = {name: env[name] for name in STEP_NAMES if name in env}
    if s3_keys is not None:
        step["AWS_ACCESS_KEY_ID"], step["AWS_SECRET_ACCESS_KEY"] = s3_keys
    step["PYTHONUNBUFFERED"] = "1"
    return step
