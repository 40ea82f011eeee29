"""DataCheck executor: ExampleValidator's anomalies, the data against the served version's schema (a column
that changed type), and drift against the statistics the served version was trained on."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from nightshift.core.errors import DataRejected
from nightshift.core.spec import DriftSpec

log = logging.getLogger(__name__)
RESULT_FILE = "check.json"
SPLITS = ("train", "eval")


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]],
           exec_properties: dict[str, Any]) -> None:
        from nightshift_tfx.drift import drift_problems, load_schema, load_split_stats, schema_problems

        self._log_startup(input_dict, output_dict, exec_properties)
        statistics_uri = artifact_utils.get_single_uri(input_dict["statistics"])
        schema = load_schema(artifact_utils.get_single_uri(input_dict["schema"]))
        drift = DriftSpec(**json.loads(exec_properties["drift"]))
        source = exec_properties.get("baseline_source") or "none"
        found: dict[str, list[str]] = {"anomalies": anomaly_problems(input_dict["anomalies"]), "served_schema": [],
                                       "drift": []}
        baseline_schema_uri = exec_properties.get("baseline_schema_uri") or ""
        baseline_statistics_uri = exec_properties.get("baseline_statistics_uri") or ""
        if baseline_schema_uri:
            served = load_schema(baseline_schema_uri)
            for split in SPLITS:
                found["served_schema"] += [f"split {split}: {p}" for p in
                                           schema_problems(load_split_stats(statistics_uri, split), served)]
        if baseline_statistics_uri:
            found["drift"] = drift_problems(load_split_stats(statistics_uri), load_split_stats(baseline_statistics_uri),
                                            schema, drift)
        log.info("data check against %s: %d anomalies, %d against the served version's schema, %d drifted",
                 source, len(found["anomalies"]), len(found["served_schema"]), len(found["drift"]))
        result = artifact_utils.get_single_instance(output_dict["result"])
        folder = Path(result.uri)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / RESULT_FILE).write_text(json.dumps({**found, "baseline": source}, indent=2))
        lines = ([f"anomaly: {p}" for p in found["anomalies"]]
                 + [f"unlike the served version's data: {p}" for p in found["served_schema"]]
                 + [f"drift: {p}" for p in found["drift"]])
        if lines:
            raise DataRejected(f"the run's data is refused before training (baseline: {source}):\n"
                               + "\n".join(f"  - {line}" for line in lines))


def anomaly_problems(artifacts: list[types.Artifact]) -> list[str]:
    """ExampleValidator's findings, one line per feature and split."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    problems = []
    for artifact in artifacts:
        for split in SPLITS:
            path = Path(artifact.uri) / f"Split-{split}" / "SchemaDiff.pb"
            if not path.exists():
                continue
            anomalies = anomalies_pb2.Anomalies()
            anomalies.ParseFromString(path.read_bytes())
            for feature, info in sorted(anomalies.anomaly_info.items()):
                problems.append(f"split {split}: feature {feature!r}: {info.short_description} ({info.description})")
    return problems
