"""The batch scorer's command line (`python -m nightshift_tfx.batch_score ...`), built in one place for every
caller: the scoring DAG's `score` task and `nightshift score`."""

from __future__ import annotations

from dataclasses import dataclass

MODULE = "nightshift_tfx.batch_score"


@dataclass(frozen=True)
class BatchScoreRequest:
    model_uri: str
    input: str
    output: str
    run_id: str
    chunk_rows: int
    version: int | None = None  # None: the version the registry pointer names
    key_column: str | None = None
    input_fingerprint: str | None = None  # what the input gate validated; the scorer refuses anything else
    expected_rows: int | None = None
    engine: str = "auto"  # nightshift.core.spec.SCORING_ENGINES

    def arguments(self) -> list[str]:
        args = ["--model-uri", self.model_uri, "--input", self.input, "--output", self.output,
                "--run-id", self.run_id, "--chunk-rows", str(self.chunk_rows)]
        if self.version is not None:
            args += ["--version", str(self.version)]
        if self.key_column:
            args += ["--key-column", self.key_column]
        if self.input_fingerprint:
            args += ["--input-fingerprint", self.input_fingerprint]
        if self.expected_rows is not None:
            args += ["--expected-rows", str(self.expected_rows)]
        if self.engine != "auto":
            args += ["--engine", self.engine]
        return args
