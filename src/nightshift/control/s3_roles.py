"""Least privilege in object storage: which identity each part of nightshift uses, and what it may do.

    publisher   nightly and rollback DAGs, the pusher, `models promote/rollback/prune/report`:
                reads the raw zone, reads and writes the models bucket (registry, reports)
    reader      serve-sync, `models list/show/audit`: reads the models bucket, writes nothing
    scorer      the batch-scoring DAG and `nightshift score`: reads the models bucket and the raw zone,
                writes only under the models bucket's predictions/ prefix
    ingestion   `nightshift seed` (and any landing job): reads and writes the raw zone only

The local SeaweedFS is configured with exactly these (plus the admin identity that creates buckets);
keys are generated per checkout into `.env` as NIGHTSHIFT_S3_<ROLE>_ACCESS_KEY_ID / _SECRET_ACCESS_KEY.
A process without its role's variables uses the standard AWS ones: in production each process is given
its own identity that way (see docker-compose.yaml).
"""

from __future__ import annotations

import os

RAW_BUCKET = "nightshift-raw"
MODELS_BUCKET = "nightshift-models"
PREDICTIONS_PREFIX = "predictions/"

ROLES: dict[str, list[str]] = {
    "publisher": [f"Read:{RAW_BUCKET}", f"List:{RAW_BUCKET}", f"Read:{MODELS_BUCKET}", f"List:{MODELS_BUCKET}",
                  f"Write:{MODELS_BUCKET}", f"Tagging:{MODELS_BUCKET}"],
    "reader": [f"Read:{MODELS_BUCKET}", f"List:{MODELS_BUCKET}"],
    "scorer": [f"Read:{MODELS_BUCKET}", f"List:{MODELS_BUCKET}", f"Read:{RAW_BUCKET}", f"List:{RAW_BUCKET}",
               f"Write:{MODELS_BUCKET}/{PREDICTIONS_PREFIX}*"],
    "ingestion": [f"Read:{RAW_BUCKET}", f"List:{RAW_BUCKET}", f"Write:{RAW_BUCKET}"],
}


def key_vars(role: str) -> tuple[str, str]:
    upper = role.upper()
    return f"NIGHTSHIFT_S3_{upper}_ACCESS_KEY_ID", f"NIGHTSHIFT_S3_{upper}_SECRET_ACCESS_KEY"


def role_credentials(role: str, env: dict[str, str] | None = None) -> tuple[str, str] | None:
    """(access key, secret) of a role from the environment, or None when this process was not given it."""
    env = os.environ if env is None else env
    access, secret = (env.get(name) for name in key_vars(role))
    return (access, secret) if access and secret else None


def seaweed_identities(admin: tuple[str, str], env: dict[str, str]) -> dict:
    """SeaweedFS's S3 configuration (`-s3.config`): the admin and every role whose keys `env` holds."""
    identities = [{"name": "admin", "credentials": [{"accessKey": admin[0], "secretKey": admin[1]}],
                   "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]
    for role, actions in ROLES.items():
        if creds := role_credentials(role, env):
            identities.append({"name": role, "credentials": [{"accessKey": creds[0], "secretKey": creds[1]}],
                               "actions": actions})
    return {"identities": identities}


def main(argv: list[str] | None = None) -> int:
    """`python -m nightshift.control.s3_roles` prints the S3 configuration for SeaweedFS from this environment
    (compose mounts it into the s3 container); `--create-buckets` makes the two buckets as the admin."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m nightshift.control.s3_roles")
    parser.add_argument("--create-buckets", action="store_true")
    args = parser.parse_args(argv)
    if args.create_buckets:
        from nightshift.core.s3 import client_from_env, ensure_bucket

        client = client_from_env()
        for bucket in (RAW_BUCKET, MODELS_BUCKET):
            ensure_bucket(client, bucket)
        return 0
    admin = (os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    print(json.dumps(seaweed_identities(admin, dict(os.environ)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
