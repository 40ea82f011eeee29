"""A run's resolved parameters: written by the Airflow side, read by the TFX runtime.

One JSON file per run (`var/runs/<pipeline>/<run key>/run_config.json`) is the whole hand-over
between the two interpreters, so a node's command line stays short and secret-free.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nightshift.core.private_file import write_private


def run_key(run_id: str) -> str:
    """A filesystem-safe folder name for an Airflow run id (which holds ':' and '+'), one per run id.

    The readable part alone is not enough: `…T02:00:00+00:00` and `…T02_00_00_00_00` read the same, and `.`
    or `..` name a folder above the run's. A digest of the exact run id keeps two runs apart."""
    import hashlib

    readable = re.sub(r"[^A-Za-z0-9_-]+", "_", run_id).strip("_")[:120] or "run"
    return f"{readable}-{hashlib.sha256(run_id.encode()).hexdigest()[:12]}"


@dataclass(frozen=True)
class RunConfig:
    pipeline: str
    spec_path: str
    run_id: str
    run_dir: str
    input_base: str  # folder holding the staged CSV that ExampleGen reads
    pipeline_root: str
    mlmd_sqlite: str
    train_steps: int
    eval_steps: int
    gate_threshold: float
    publish: bool
    data_window: dict[str, Any] = field(default_factory=dict)
    contract: dict[str, Any] = field(default_factory=dict)
    code_revision: str = ""
    mlmd_mysql: str = ""  # when set, MLMD is this MySQL database instead of mlmd_sqlite

    @property
    def path(self) -> Path:
        return Path(self.run_dir) / "run_config.json"

    @property
    def ir_path(self) -> Path:
        return Path(self.run_dir) / "pipeline_ir.pb"

    def write(self) -> Path:
        """Owner-only from its first byte: it names the run's stores and data (never a password)."""
        write_private(self.path, json.dumps(asdict(self), indent=2, sort_keys=True))
        return self.path

    @classmethod
    def read(cls, run_dir: str | Path) -> RunConfig:
        data = json.loads((Path(run_dir) / "run_config.json").read_text())
        if "min_accuracy" in data:  # written before the field said what it holds (any gate metric, e.g. AUC)
            data["gate_threshold"] = data.pop("min_accuracy")
        return cls(**data)


def code_revision(root: Path) -> str:
    """The code a run was built from: $NIGHTSHIFT_CODE_REVISION (set by an image build), else the git
    commit of the checkout (with "-dirty" for uncommitted changes), else "unknown"."""
    import subprocess

    if os.environ.get("NIGHTSHIFT_CODE_REVISION"):
        return os.environ["NIGHTSHIFT_CODE_REVISION"]
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


class ParamsRefused(ValueError):
    """The trigger form's values would lower the bar for a model that gets published."""


def resolve_gate(*, spec_bound: float, gate_threshold: float, experiment_gate_threshold: float | None,
                 publish: bool, run_type: str, conf: dict[str, Any]) -> tuple[float, bool]:
    """The gate bound and publish flag a run really uses.

    The form can raise the spec's bound, never lower it for a model that is published: Airflow's form refuses a
    `gate_threshold` below the spec (its JSON schema's minimum), and a lower `experiment_gate_threshold` is only taken
    with publish off. A backfill publishes only when its conf asks to: re-training past nights is an experiment
    unless someone says otherwise."""
    if run_type == "backfill" and "publish" not in conf:
        publish = False
    if gate_threshold < spec_bound:  # only reachable when a caller bypassed the form's schema
        raise ParamsRefused(f"gate_threshold {gate_threshold:g} is below the spec's bound {spec_bound:g}; use "
                            "experiment_gate_threshold with publish false for a lower bar")
    if experiment_gate_threshold is None:
        return gate_threshold, publish
    if publish:
        raise ParamsRefused(f"experiment_gate_threshold {experiment_gate_threshold:g} is only allowed with publish "
                            f"false; a published model must reach the spec's bound {spec_bound:g} "
                            "(or a higher gate_threshold)")
    return experiment_gate_threshold, publish
