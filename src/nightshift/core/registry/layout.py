"""Where things live in the models bucket. Both interpreters import this, so they cannot disagree.

    <prefix>/<version>/saved_model.pb, variables/..., assets/...   TF Serving's layout
    <prefix>/manifests/<version>.json                               files + sha256, metrics, window, run
    <prefix>/CURRENT.json                                           pointer, written last
    <prefix>/claims/<version>.json                                  version number taken (create-only)
    <prefix>/claims/runs/<sha256 of run id + model>.json            the version a run's model claimed
    <prefix>/audit/<utc time>-<action>-<nonce>.json                 one per pointer change

Manifests sit outside the version folder so a TF Serving instance reading the folder sees only
the SavedModel; the pointer is the only object a reader needs to find the serving version.
"""

from __future__ import annotations

import hashlib
import re

POINTER_NAME = "CURRENT.json"
MANIFEST_DIR = "manifests"
CLAIM_DIR = "claims"
MANIFEST_FORMAT = "nightshift.manifest/1"
POINTER_FORMAT = "nightshift.pointer/1"

_VERSION_DIR_RE = re.compile(r"^(\d+)/")
_MANIFEST_RE = re.compile(rf"^{MANIFEST_DIR}/(\d+)\.json$")
_CLAIM_RE = re.compile(rf"^{CLAIM_DIR}/(\d+)\.json$")


def version_prefix(prefix: str, version: int) -> str:
    return f"{prefix.strip('/')}/{version}/"


def manifest_key(prefix: str, version: int) -> str:
    return f"{prefix.strip('/')}/{MANIFEST_DIR}/{version}.json"


def claim_key(prefix: str, version: int) -> str:
    return f"{prefix.strip('/')}/{CLAIM_DIR}/{version}.json"


def run_claim_key(prefix: str, publication: str) -> str:
    """Which version a run's model (run id + the model files' digest) claimed: a retried pusher finds and
    finishes it instead of making a second one."""
    return f"{prefix.strip('/')}/{CLAIM_DIR}/runs/{hashlib.sha256(publication.encode()).hexdigest()[:32]}.json"


def pointer_key(prefix: str) -> str:
    return f"{prefix.strip('/')}/{POINTER_NAME}"


def versions_in(keys: list[str], prefix: str) -> tuple[set[int], set[int]]:
    """(versions with a manifest, versions with any file or a claim) among listed keys."""
    base = prefix.strip("/") + "/"
    with_manifest: set[int] = set()
    with_files: set[int] = set()
    for key in keys:
        if not key.startswith(base):
            continue
        rel = key[len(base) :]
        if m := _MANIFEST_RE.match(rel):
            with_manifest.add(int(m.group(1)))
        elif (m := _VERSION_DIR_RE.match(rel)) or (m := _CLAIM_RE.match(rel)):
            with_files.add(int(m.group(1)))
    return with_manifest, with_files


def upload_order(relative_paths: list[str]) -> list[str]:
    """saved_model.pb goes last, as TFX's own Pusher copies it: a folder without it is not loadable."""
    return sorted(relative_paths, key=lambda p: (p == "saved_model.pb", p))
