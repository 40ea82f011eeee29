"""DataCheck spec and component, shaped like TFX's own ExampleValidator (tfx/components/example_validator).

It sits between ExampleValidator and Trainer, so LocalDagRunner and Airflow stop at the same node, and ML
Metadata records the check: a passing execution with its result artifact, or a failed one.
"""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from nightshift_tfx.data_check.executor import Executor


class DataCheckResult(types.Artifact):
    """check.json: the anomalies and drift found (none, when the execution succeeded) and the baseline used."""

    TYPE_NAME = "NightshiftDataCheckResult"


class DataCheckSpec(types.ComponentSpec):
    PARAMETERS = {
        "drift": ExecutionParameter(type=str),  # JSON of the spec's drift section (nightshift.core.spec.DriftSpec)
        # The served version's run (nightshift_tfx.champion.data_baseline); "" = none.
        "baseline_statistics_uri": ExecutionParameter(type=str),
        "baseline_schema_uri": ExecutionParameter(type=str),
        "baseline_source": ExecutionParameter(type=str),  # what the baseline is, for the log
    }
    INPUTS = {
        "statistics": ChannelParameter(type=standard_artifacts.ExampleStatistics),
        "schema": ChannelParameter(type=standard_artifacts.Schema),
        "anomalies": ChannelParameter(type=standard_artifacts.ExampleAnomalies),
    }
    OUTPUTS = {"result": ChannelParameter(type=DataCheckResult)}


class DataCheck(base_component.BaseComponent):
    """Stops the run (exit_codes.DATA_REJECTED, no retry) on anomalies or drift; otherwise records check.json."""

    SPEC_CLASS = DataCheckSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, *, statistics: types.BaseChannel, schema: types.BaseChannel, anomalies: types.BaseChannel,
                 drift: str, baseline_statistics_uri: str = "", baseline_schema_uri: str = "",
                 baseline_source: str = ""):
        super().__init__(spec=DataCheckSpec(
            statistics=statistics, schema=schema, anomalies=anomalies, drift=drift,
            baseline_statistics_uri=baseline_statistics_uri, baseline_schema_uri=baseline_schema_uri,
            baseline_source=baseline_source, result=types.Channel(type=DataCheckResult)))
