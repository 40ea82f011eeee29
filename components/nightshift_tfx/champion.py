"""The champion a run is measured against: the version the registry pointer serves, not MLMD's latest blessing.

MLMD's "latest blessed model" may never have been pushed (publish off, a failed push) and ignores rollbacks.
What users get is what the pointer names, so the compile step downloads that version (every file hashed against
its manifest), and the pipeline imports it as the Evaluator's baseline. Its run id also names the statistics
that drift is measured against (runner._raise_on_drift).
"""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from nightshift.core.registry.store import ModelRegistry
from nightshift.core.run_config import RunConfig
from nightshift.core.s3 import client_from_env
from nightshift.core.spec import PipelineSpec

log = logging.getLogger(__name__)
CHAMPION_FILE = "champion.json"
SERVING_SUBDIR = "Format-Serving"  # TFX's Model artifact layout (tfx.utils.path_utils.serving_model_path)


@dataclass(frozen=True)
class Champion:
    version: int
    run_id: str  # the pipeline run that trained it
    model_uri: str  # a TFX Model artifact folder: <model_uri>/Format-Serving holds the SavedModel


def fetch_champion(spec: PipelineSpec, run: RunConfig) -> Champion | None:
    """Download the served version into the run folder (once per run; a retried compile reuses it)."""
    recorded = read_champion(run)
    if recorded is not None and (Path(recorded.model_uri) / SERVING_SUBDIR / "saved_model.pb").is_file():
        return recorded
    registry = ModelRegistry(client_from_env(), spec.push.uri)
    if registry.read_pointer() is None:
        log.info("champion: nothing is served under %s yet; this run has no champion to beat", spec.push.uri)
        _write(run, None)
        return None
    folder = Path(run.run_dir) / "champion"
    partial = folder / f".download-{uuid.uuid4().hex}"
    manifest = registry.download_serving(partial / SERVING_SUBDIR)
    target = folder / f"v{manifest.version}"
    if target.exists():
        shutil.rmtree(partial)  # a retried compile got there first; both were hashed against the manifest
    else:
        partial.rename(target)
    champion = Champion(version=manifest.version, run_id=manifest.run_id, model_uri=str(target))
    log.info("champion: served version %d (run %s), %d files verified", champion.version, champion.run_id,
             len(manifest.files))
    _write(run, champion)
    return champion


def champion_moved(registry: ModelRegistry, compared_with: int | None, run_id: str) -> str | None:
    """Why publishing would be unfair, if the pointer moved since compile time (a rollback or promote during the
    run): the challenger was measured against a version that is no longer served. A pointer this run moved
    itself (a retried pusher) is not a move."""
    pointer = registry.read_pointer()
    now = pointer.version if pointer else None
    if now == compared_with or (pointer is not None and pointer.run_id == run_id):
        return None
    return (f"the served version changed during this run (compared with {compared_with or 'none'}, now serving "
            f"{now or 'none'}); run again to be measured against what is served")


def read_champion(run: RunConfig) -> Champion | None:
    path = Path(run.run_dir) / CHAMPION_FILE
    if not path.exists():
        return None
    doc = json.loads(path.read_text())
    return Champion(**doc) if doc else None


def _write(run: RunConfig, champion: Champion | None) -> None:
    (Path(run.run_dir) / CHAMPION_FILE).write_text(json.dumps(asdict(champion) if champion else {}))


@dataclass(frozen=True)
class DataBaseline:
    """What the DataCheck node holds this run's data to (empty URIs: nothing to compare with)."""

    statistics_uri: str = ""
    schema_uri: str = ""
    source: str = "nothing to compare with"


def data_baseline(spec: PipelineSpec, run: RunConfig, champion: Champion | None) -> DataBaseline:
    """The statistics and schema of the run that trained the served version, from ML Metadata; if that run is
    not in this store (the version came from elsewhere), the latest statistics StatisticsGen recorded. Nothing
    served, nothing to compare with: a failed run's data is no baseline."""
    from nightshift_tfx.run_artifacts import connect, run_artifacts

    mlmd = run.mlmd_mysql or run.mlmd_sqlite
    if champion is None:
        return DataBaseline(source="nothing is served yet: nothing to compare with")
    if not run.mlmd_mysql and not Path(run.mlmd_sqlite).is_file():
        return DataBaseline(source=f"no ML Metadata store at {run.mlmd_sqlite}: nothing to compare with")
    try:
        artifacts = run_artifacts(mlmd, champion.run_id)
    except LookupError:
        artifacts = []
    stats = [a["uri"] for a in artifacts if a["producer"] == "StatisticsGen" and a["type"] == "ExampleStatistics"]
    schemas = [a["uri"] for a in artifacts if a["producer"] == "SchemaGen" and a["type"] == "Schema"]
    if stats and _has_train_stats(stats[-1]):
        return DataBaseline(stats[-1], schemas[-1] if schemas else "",
                            f"run {champion.run_id}, which trained the served version {champion.version}")
    store = connect(mlmd)
    context = store.get_context_by_type_and_name("node", f"{spec.name}.StatisticsGen")
    stats_type = store.get_artifact_type("ExampleStatistics") if context else None
    earlier = [a for a in store.get_artifacts_by_context(context.id)
               if a.type_id == stats_type.id and a.state == a.LIVE and _has_train_stats(a.uri)] if context else []
    why = f"the served version's run {champion.run_id} is not in this ML Metadata store"
    if not earlier:
        return DataBaseline(source=f"{why}, nor any earlier statistics: nothing to compare with")
    latest = max(earlier, key=lambda a: a.id)
    return DataBaseline(latest.uri, "", f"the latest earlier statistics ({why})")


def _has_train_stats(uri: str) -> bool:
    return (Path(uri) / "Split-train" / "FeatureStats.pb").is_file()
