"""S3Pusher executor: TFX Pusher's blessing logic, nightshift's registry for the upload."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from tfx import types
from tfx.components.pusher import executor as pusher_executor
from tfx.types import artifact_utils

from nightshift.core.metrics import METRICS
from nightshift.core.push_result import PUSH_RESULT_FILE
from nightshift.core.registry.pointer_moves import ChampionMoved
from nightshift.core.registry.store import ModelRegistry
from nightshift.core.s3 import client_from_env
from nightshift_tfx.champion import champion_moved
from nightshift_tfx.evaluation_report import eval_outputs, load_metrics, refusal_reasons

log = logging.getLogger(__name__)
# Written into the PushedModel artifact's folder: the node runner reads it to tell Airflow whether
# anything was published (the launcher's returned artifacts predate the executor's properties).


def _write_result(model_push: types.Artifact, result: dict[str, Any]) -> None:
    folder = Path(model_push.uri)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PUSH_RESULT_FILE).write_text(json.dumps(result, indent=2, sort_keys=True))


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return ""


def _eval_outputs(evaluation_uri: str, gate_metric: str) -> dict[str, Any]:
    """What scoring runs compare their outputs with; a blessed model is published without it if it is missing."""
    try:
        return eval_outputs(evaluation_uri, METRICS[gate_metric].kind)
    except Exception as exc:  # monitoring data: it never stops a publish
        log.warning("no evaluation outputs recorded in the manifest: %s", exc)
        return {}


def _optimised_forms(input_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any],
                     model_dir: Path, workdir: Path) -> tuple[dict[str, Path], dict[str, Any]]:
    """The forms that agree with the SavedModel (files to publish) and the record of every form tried."""
    policy = json.loads(exec_properties.get("forms") or "{}")
    if not policy.get("onnx", True) or not input_dict.get("examples"):
        return {}, {}
    import tensorflow as tf

    from nightshift_tfx.forms.build import build_forms
    from nightshift_tfx.forms.held_out import from_examples, read_examples
    from nightshift_tfx.model_metadata import load_feature_spec

    split = Path(artifact_utils.get_split_uri(input_dict["examples"], "eval"))
    try:
        signatures = tf.saved_model.load(str(model_dir)).signatures  # once: for the labels and the reference
        held_out = from_examples(signatures, read_examples(split, int(policy.get("held_out_rows", 20000))),
                                 load_feature_spec(model_dir), exec_properties.get("label_key") or "", str(split))
    except Exception as exc:  # as build_forms: a form is never a reason to hold the model back
        log.warning("optimised forms not built: cannot read held-out rows from %s: %s", split, exc)
        return {}, {"onnx": {"published": False, "refused": [f"no held-out rows: {exc}"]}}
    return build_forms(model_dir, signatures, held_out, policy, workdir)


class Executor(pusher_executor.Executor):
    def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]],
           exec_properties: dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(output_dict["pushed_model"])
        evaluation_uri = artifact_utils.get_single_uri(input_dict["model_evaluation"])
        reasons, baseline = refusal_reasons(evaluation_uri, self.CheckBlessing(input_dict),
                                            exec_properties["gate_metric"], float(exec_properties["baseline_margin"]))
        log.info("trivial-model gate: %s", baseline.describe())
        run = json.loads(exec_properties.get("run_metadata") or "{}")
        registry = ModelRegistry(client_from_env(), exec_properties["destination_uri"])
        if not reasons and (moved := champion_moved(registry, run.get("champion_version"), run.get("run_id", ""))):
            reasons.append(moved)
        if reasons:
            for line in reasons:
                log.warning("NOT BLESSED: %s", line)
            log.warning("Nothing was uploaded to %s; the served model is unchanged.",
                        exec_properties["destination_uri"])
            self._MarkNotPushed(model_push)
            _write_result(model_push, {"pushed": False, "reasons": reasons, "baseline": baseline.as_dict()})
            return

        model_dir = Path(self.GetModelPath(input_dict))
        with tempfile.TemporaryDirectory(prefix="nightshift-forms-") as workdir:
            form_files, forms = _optimised_forms(input_dict, exec_properties, model_dir, Path(workdir))
            try:
                manifest = self._publish(registry, model_dir, exec_properties, run, evaluation_uri, baseline,
                                         form_files, forms)
            except ChampionMoved as exc:  # the served version changed while this run uploaded: not served
                log.warning("NOT BLESSED: %s", exc)
                self._MarkNotPushed(model_push)
                _write_result(model_push, {"pushed": False, "reasons": [str(exc)], "baseline": baseline.as_dict()})
                return
        destination = f"{exec_properties['destination_uri'].rstrip('/')}/{manifest.version}/"
        self._MarkPushed(model_push, pushed_destination=destination, pushed_version=str(manifest.version))
        _write_result(model_push, {"pushed": True, "destination": destination, "version": manifest.version,
                                   "metrics": manifest.metrics.get("overall", {}),
                                   "forms": sorted(k for k, v in forms.items() if v.get("published"))})
        log.info("Published %s as version %d", destination, manifest.version)

    @staticmethod
    def _publish(registry: ModelRegistry, model_dir: Path, exec_properties: dict[str, Any], run: dict[str, Any],
                 evaluation_uri: str, baseline: Any, form_files: dict[str, Path], forms: dict[str, Any]):
        return registry.publish(
            model_dir,
            {
                "model": exec_properties["model_name"],
                "pipeline": run.get("pipeline", ""),
                "run_id": run.get("run_id", ""),
                "metrics": load_metrics(evaluation_uri),
                "data_window": run.get("data_window", {}),
                "contract": run.get("contract", {}),
                "blessing": {"blessed": True, "gate_threshold": run.get("gate_threshold"),
                             "baseline": baseline.as_dict(), "champion_version": run.get("champion_version")},
                "extra": {"train_steps": run.get("train_steps"), "code_revision": run.get("code_revision", ""),
                          "eval_outputs": _eval_outputs(evaluation_uri, exec_properties["gate_metric"]),
                          "tfx_version": _version("tfx"), "tensorflow_version": _version("tensorflow"),
                          "mlmd_sqlite": run.get("mlmd_sqlite", ""), "mlmd_mysql": run.get("mlmd_mysql", ""),
                          "forms": forms},
            },
            extra_files=form_files,
            measured_against=run.get("champion_version"),
        )
