"""The scoring form's input_uri reads only where the settings allow; anything else fails before any read."""

from __future__ import annotations

import pytest

from nightshift.core.config import load_settings
from nightshift.core.scoring_input import InputNotAllowed, allowed_inputs, check_input_allowed

pytestmark = pytest.mark.integration


def test_defaults_are_the_specs_data_buckets_and_the_var_inputs_and_temp_folders(tmp_path):
    prefixes, roots = allowed_inputs(load_settings(), env={})
    assert prefixes == ["s3://nightshift-raw/"]  # taxi and penguins land and score there
    assert roots[0] == (load_settings().var_dir / "inputs").resolve()
    check_input_allowed("s3://nightshift-raw/taxi-score/", prefixes, roots)
    check_input_allowed(str(tmp_path / "in.csv"), prefixes, roots)


@pytest.mark.parametrize(("uri", "setting"), [
    ("/etc/passwd", "NIGHTSHIFT_SCORING_INPUT_ROOTS"),
    ("s3://nightshift-models/taxi/manifests/1.json", "NIGHTSHIFT_SCORING_INPUT_PREFIXES"),
    ("s3://nightshift-raw-other/x.csv", "NIGHTSHIFT_SCORING_INPUT_PREFIXES"),
])
def test_inputs_outside_the_allowed_places_are_refused_naming_the_setting(uri, setting):
    with pytest.raises(InputNotAllowed, match=f"setting {setting}"):
        check_input_allowed(uri, ["s3://nightshift-raw/"], [load_settings().var_dir / "inputs"])


def test_a_symlink_inside_a_root_to_a_file_outside_is_refused(tmp_path):
    (tmp_path / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(InputNotAllowed, match="NIGHTSHIFT_SCORING_INPUT_ROOTS"):
        check_input_allowed(str(tmp_path / "passwd"), [], [tmp_path])


def test_the_resolve_task_fails_without_retry_before_reading():
    from airflow.sdk.exceptions import AirflowFailException
    from nightshift_airflow.scoring_operators import ResolveScoringInputOperator

    op = ResolveScoringInputOperator(task_id="resolve_input", input_uri="/etc/passwd",
                                     output_uri="s3://nightshift-models/predictions/taxi")
    with pytest.raises(AirflowFailException, match="^/etc/passwd: scoring reads local files only under") as caught:
        op.execute({})  # an empty context: the refusal comes before anything else is looked at
    assert "root:" not in str(caught.value)
