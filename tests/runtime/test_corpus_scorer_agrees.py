"""Every file the contract gate accepts, the scorer reads; a fraction in an integer column both refuse, naming the
same column, line and value. Run over the project's corpus (tests/taxi_corpus.py): the real taxi rows in unusual
but valid shapes, and as pandas and Arrow write them. tests/integration/test_validate_corpus.py holds the gate to
each file's verdict; this holds the scorer to the same files."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
import taxi_corpus
from nightshift_tfx.score_input import ScoringInputError, iter_batches, to_column_tensors

from nightshift.control.cli.data import taxi_csv_path

pytestmark = pytest.mark.unit
DAY = date(2030, 1, 5)
# The served taxi model's raw features and the types its schema gives them (SchemaGen on the taxi data: INT for
# the hour/day/month, community areas, census tracts, trip_seconds and the timestamp; FLOAT and BYTES otherwise).
INT = ("pickup_community_area", "dropoff_community_area", "trip_start_month", "trip_start_hour", "trip_start_day",
       "trip_start_timestamp", "pickup_census_tract", "dropoff_census_tract", "trip_seconds")
FLOAT = ("fare", "trip_miles", "pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude")
STRING = ("payment_type", "company")
SPEC = {**{c: {"dtype": "int", "required": False} for c in INT},
        **{c: {"dtype": "float", "required": False} for c in FLOAT},
        **{c: {"dtype": "string", "required": False} for c in STRING}}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    files = taxi_corpus.build(taxi_csv_path(), DAY)
    return files, taxi_corpus.write(files, tmp_path_factory.mktemp("corpus"), DAY)


def _read(path) -> dict[str, np.ndarray]:
    parts = [to_column_tensors(b, SPEC, path.name) for b in iter_batches(path, SPEC, 4096)]
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def test_every_file_the_gate_accepts_is_scored_with_the_same_values(corpus):
    files, paths = corpus
    accepted = [f.name for f in files if f.exit_code == 0]
    assert accepted == ["columns_reordered", "crlf_line_endings", "quoted_commas_newlines", "gzip_compressed",
                        "pandas_round_trip", "arrow_round_trip"]
    reference = _read(paths["crlf_line_endings"])
    assert len(reference["fare"]) == taxi_corpus.SAMPLE_ROWS
    for name in accepted:
        read = _read(paths[name])
        for column in (*INT, *FLOAT):
            assert read[column].tolist() == reference[column].tolist(), (name, column)
            assert read[f"{column}__present"].tolist() == reference[f"{column}__present"].tolist(), (name, column)
        if name != "quoted_commas_newlines":  # that file changes every third company name on purpose
            assert read["payment_type"].tolist() == reference["payment_type"].tolist(), name


def test_a_fraction_in_an_integer_column_is_refused_by_the_scorer_as_by_the_gate(corpus):
    files, paths = corpus
    gate = next(f for f in files if f.name == "fraction_in_integer_column")
    assert gate.exit_code == 3
    with pytest.raises(ScoringInputError, match=gate.message):
        _read(paths["fraction_in_integer_column"])
