"""The TFX pipeline factory: every environment value comes in through the spec and the RunConfig."""

from __future__ import annotations

import json
from dataclasses import asdict

from tfx import v1 as tfx

from nightshift.core.mlmd import parse_mysql_url
from nightshift.core.run_config import RunConfig
from nightshift.core.spec import PipelineSpec
from nightshift.core.topology import CHAMPION_ID, DATA_CHECK_ID, PUSHER_ID
from nightshift_tfx.champion import Champion, DataBaseline
from nightshift_tfx.data_check.component import DataCheck
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


def create_pipeline(spec: PipelineSpec, run: RunConfig, champion: Champion | None = None,
                    data_baseline: DataBaseline | None = None) -> tfx.dsl.Pipeline:
    """`champion` is the served version (nightshift_tfx.champion): the Evaluator's baseline when there is one;
    `data_baseline` is its run's statistics and schema, which the DataCheck node holds this run's data to."""
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
    data_baseline = data_baseline or DataBaseline()
    data_check = DataCheck(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"],
        anomalies=example_validator.outputs["anomalies"], drift=json.dumps(asdict(spec.drift), sort_keys=True),
        baseline_statistics_uri=data_baseline.statistics_uri, baseline_schema_uri=data_baseline.schema_uri,
        baseline_source=data_baseline.source,
    ).with_id(DATA_CHECK_ID)
    # Anomalies and drift must stop the run before any training happens.
    trainer.add_upstream_node(data_check)
    components = [example_gen, statistics_gen, schema_gen, example_validator, data_check, transform, trainer]
    baseline = {}
    if champion is not None:
        served = tfx.dsl.Importer(
            source_uri=champion.model_uri, artifact_type=tfx.types.standard_artifacts.Model,
            custom_properties={"served_version": champion.version, "trained_by_run": champion.run_id},
        ).with_id(CHAMPION_ID)
        components.append(served)
        baseline = {"baseline_model": served.outputs["result"]}
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        eval_config=build_eval_config(spec.evaluation, gate_lower_bound=run.gate_threshold),
        **baseline,
    )
    components.append(evaluator)
    if run.publish:
        components.append(
            S3Pusher(
                model=trainer.outputs["model"],
                model_blessing=evaluator.outputs["blessing"],
                model_evaluation=evaluator.outputs["evaluation"],
                destination_uri=spec.push.uri,
                model_name=spec.push.model_name,
                gate_metric=spec.evaluation.gate_metric,
                baseline_margin=spec.evaluation.baseline_margin,
                examples=example_gen.outputs["examples"],
                forms=json.dumps(asdict(spec.forms), sort_keys=True),
                label_key=spec.evaluation.label_key,
                run_metadata=json.dumps(
                    {
                        "pipeline": spec.name,
                        "run_id": run.run_id,
                        "data_window": run.data_window,
                        "contract": run.contract,
                        "train_steps": run.train_steps,
                        "gate_threshold": run.gate_threshold,
                        "champion_version": champion.version if champion else None,
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
