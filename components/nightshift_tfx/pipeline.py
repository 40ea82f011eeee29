"""The TFX pipeline factory: every environment value comes in through the spec and the RunConfig."""

from __future__ import annotations

import json

from tfx import v1 as tfx

from nightshift.mlmd import parse_mysql_url
from nightshift.run_config import RunConfig
from nightshift.spec import PipelineSpec
from nightshift.topology import PUSHER_ID, RESOLVER_ID
from nightshift_tfx.eval_config import build_eval_config
from nightshift_tfx.s3_pusher.component import S3Pusher


def metadata_connection(run: RunConfig):
    """MLMD in MySQL/MariaDB when the run names one (tasks on several workers share it), else SQLite.

    Compiled into the IR without a password: each node process adds it when it connects
    (runner.with_password), so the IR file and its logs never hold it."""
    if run.mlmd_mysql:
        target = parse_mysql_url(run.mlmd_mysql)
        return tfx.orchestration.metadata.mysql_metadata_connection_config(
            host=target.host, port=target.port, database=target.database, username=target.user, password="")
    return tfx.orchestration.metadata.sqlite_metadata_connection_config(run.mlmd_sqlite)


def create_pipeline(spec: PipelineSpec, run: RunConfig) -> tfx.dsl.Pipeline:
    example_gen = tfx.components.CsvExampleGen(input_base=run.input_base)
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"],
                                          infer_feature_shape=True)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        module_file=str(spec.module_file),
    )
    trainer = tfx.components.Trainer(
        module_file=str(spec.module_file),
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=tfx.proto.TrainArgs(num_steps=run.train_steps),
        eval_args=tfx.proto.EvalArgs(num_steps=run.eval_steps),
    )
    # Anomalies must stop the run before any training happens.
    trainer.add_upstream_node(example_validator)
    resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id(RESOLVER_ID)
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=resolver.outputs["model"],
        eval_config=build_eval_config(spec.evaluation, gate_lower_bound=run.min_accuracy),
    )
    components = [example_gen, statistics_gen, schema_gen, example_validator, transform, trainer,
                  resolver, evaluator]
    if run.publish:
        components.append(
            S3Pusher(
                model=trainer.outputs["model"],
                model_blessing=evaluator.outputs["blessing"],
                model_evaluation=evaluator.outputs["evaluation"],
                destination_uri=spec.push.uri,
                model_name=spec.push.model_name,
                run_metadata=json.dumps(
                    {
                        "pipeline": spec.name,
                        "run_id": run.run_id,
                        "data_window": run.data_window,
                        "contract": run.contract,
                        "train_steps": run.train_steps,
                        "min_accuracy": run.min_accuracy,
                        "code_revision": run.code_revision,
                        "mlmd_sqlite": "" if run.mlmd_mysql else run.mlmd_sqlite,
                        "mlmd_mysql": parse_mysql_url(run.mlmd_mysql).redacted if run.mlmd_mysql else "",
                    },
                    sort_keys=True,
                ),
            ).with_id(PUSHER_ID)
        )
    return tfx.dsl.Pipeline(
        pipeline_name=spec.name,
        pipeline_root=run.pipeline_root,
        components=components,
        enable_cache=False,
        metadata_connection_config=metadata_connection(run),
        beam_pipeline_args=list(spec.beam_pipeline_args),  # every Beam-based component gets them
    )
