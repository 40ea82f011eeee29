"""Least privilege in object storage: which identity each part of nightshift uses, and what it may do.

    publisher   the nightly DAG's own tasks (staging, gate reports), the rollback DAG,
                `models promote/rollback/prune/report`: reads the raw zone, reads and writes the models bucket
    pusher-<p>  the Pusher step of pipeline <p> alone: reads and writes under its spec's `push.uri` prefix,
                nothing else (one identity per pipeline; keys derived from NIGHTSHIFT_S3_PUSHER_SEED)
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

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping
from pathlib import Path

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


PUSHER_SEED_VAR = "NIGHTSHIFT_S3_PUSHER_SEED"


def pusher_credentials(pipeline: str, seed: str) -> tuple[str, str]:
    """Pipeline `pipeline`'s pusher key, derived from one seed. Adding a pipeline adds files, not a secret to
    hand out: the store learns the identity from the spec (nightshift.local.store_identities), the worker derives
    the same key when the pusher runs. A keyed hash (HMAC-SHA256, standard library) is all the derivation needs."""

    def derive(purpose: str) -> hmac.HMAC:
        return hmac.new(seed.encode(), f"{purpose}\0{pipeline}".encode(), hashlib.sha256)

    secret = base64.urlsafe_b64encode(derive("secret").digest()).decode().rstrip("=")
    return "nightshift-pusher-" + derive("access").hexdigest()[:16], secret


def pusher_actions(push_uri: str) -> list[str]:
    """What a pipeline's pusher may do: read, list, write and tag under its own registry prefix, nothing more."""
    from nightshift.core.s3 import S3Uri

    target = S3Uri.parse(push_uri)
    prefix = target.key.strip("/")
    scope = f"{target.bucket}/{prefix}/*" if prefix else target.bucket
    return [f"{action}:{scope}" for action in ("Read", "List", "Write", "Tagging")]


def pusher_identities(pushes: Mapping[str, str], seed: str) -> list[dict]:
    """One SeaweedFS identity per pipeline (name -> its `push.uri`)."""
    identities = []
    for pipeline, push_uri in sorted(pushes.items()):
        access, secret = pusher_credentials(pipeline, seed)
        identities.append({"name": f"pusher-{pipeline}", "credentials": [{"accessKey": access, "secretKey": secret}],
                           "actions": pusher_actions(push_uri)})
    return identities


def pipeline_pushes(pipelines_dir: Path) -> dict[str, str]:
    """Each loadable spec's name -> its `push.uri` (a spec that does not load gets no DAG, so no pusher)."""
    from nightshift.core.errors import SpecError
    from nightshift.core.spec_loading import discover_specs, load_spec

    pushes = {}
    for path in discover_specs(pipelines_dir):
        try:
            spec = load_spec(path)
        except SpecError:
            continue
        pushes[spec.name] = spec.push.uri
    return pushes


def key_vars(role: str) -> tuple[str, str]:
    upper = role.upper()
    return f"NIGHTSHIFT_S3_{upper}_ACCESS_KEY_ID", f"NIGHTSHIFT_S3_{upper}_SECRET_ACCESS_KEY"


def role_credentials(role: str, env: dict[str, str] | None = None) -> tuple[str, str] | None:
    """(access key, secret) of a role from the environment, or None when this process was not given it."""
    env = os.environ if env is None else env
    access, secret = (env.get(name) for name in key_vars(role))
    return (access, secret) if access and secret else None


def seaweed_identities(admin: tuple[str, str], env: Mapping[str, str], pushes: Mapping[str, str] | None = None,
                       ) -> dict:
    """SeaweedFS's S3 configuration (`-s3.config`): the admin, every role whose keys `env` holds, and a pusher
    for each pipeline in `pushes` (name -> push URI) when `env` holds the pusher seed."""
    identities = [{"name": "admin", "credentials": [{"accessKey": admin[0], "secretKey": admin[1]}],
                   "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]
    for role, actions in ROLES.items():
        if creds := role_credentials(role, env):
            identities.append({"name": role, "credentials": [{"accessKey": creds[0], "secretKey": creds[1]}],
                               "actions": actions})
    if pushes and (seed := env.get(PUSHER_SEED_VAR)):
        identities += pusher_identities(pushes, seed)
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
    from nightshift.core.config import load_settings

    admin = (os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    pushes = pipeline_pushes(load_settings().pipelines_dir)
    print(json.dumps(seaweed_identities(admin, dict(os.environ), pushes), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
