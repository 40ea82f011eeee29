"""S3Pusher spec and component, shaped like TFX's own Pusher (tfx/components/pusher/component.py)."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from nightshift_tfx.s3_pusher.executor import Executor


class S3PusherSpec(types.ComponentSpec):
    PARAMETERS = {
        "destination_uri": ExecutionParameter(type=str),  # s3://bucket/<model>
        "model_name": ExecutionParameter(type=str),
        "run_metadata": ExecutionParameter(type=str),  # JSON: pipeline, run_id, data_window, contract
        # The trivial-model gate (nightshift.core.baseline): the gate metric must beat the majority class by the margin.
        "gate_metric": ExecutionParameter(type=str),
        "baseline_margin": ExecutionParameter(type=float),
        # Optimised forms (nightshift_tfx.forms): the spec's `forms` section as JSON, and the label the model's
        # tf.Transform derives, to measure each form's accuracy on the evaluation split.
        "forms": ExecutionParameter(type=str, optional=True),
        "label_key": ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {
        "model": ChannelParameter(type=standard_artifacts.Model),
        "model_blessing": ChannelParameter(type=standard_artifacts.ModelBlessing),
        "model_evaluation": ChannelParameter(type=standard_artifacts.ModelEvaluation),
        # ExampleGen's output: its evaluation split is what the optimised forms are measured on.
        "examples": ChannelParameter(type=standard_artifacts.Examples, optional=True),
    }
    OUTPUTS = {"pushed_model": ChannelParameter(type=standard_artifacts.PushedModel)}


class S3Pusher(base_component.BaseComponent):
    """Publishes a blessed model as the next integer version under `destination_uri`."""

    SPEC_CLASS = S3PusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, *, model: types.BaseChannel, model_blessing: types.BaseChannel,
                 model_evaluation: types.BaseChannel, destination_uri: str, model_name: str,
                 gate_metric: str, baseline_margin: float, run_metadata: str = "{}",
                 examples: types.BaseChannel | None = None, forms: str = "{}", label_key: str = ""):
        if not destination_uri.startswith("s3://") or destination_uri.rstrip("/") == "s3:/":
            raise ValueError(
                f"S3Pusher destination_uri must look like s3://bucket/model-name, got {destination_uri!r}"
            )
        if not model_name:
            raise ValueError("S3Pusher model_name must be a non-empty string (the TF Serving model name)")
        super().__init__(
            spec=S3PusherSpec(
                model=model,
                model_blessing=model_blessing,
                model_evaluation=model_evaluation,
                destination_uri=destination_uri,
                model_name=model_name,
                run_metadata=run_metadata,
                gate_metric=gate_metric,
                baseline_margin=float(baseline_margin),
                examples=examples,
                forms=forms,
                label_key=label_key,
                pushed_model=types.Channel(type=standard_artifacts.PushedModel),
            )
        )
