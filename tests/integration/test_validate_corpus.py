"""`nightshift validate` on a corpus of bad and unusual taxi files made from the real data."""

from __future__ import annotations

import subprocess
from datetime import date

import pytest
import taxi_corpus

from nightshift.control.cli import main as cli
from nightshift.core.config import PROJECT_ROOT

pytestmark = pytest.mark.integration
DAY = date(2030, 1, 5)


@pytest.fixture(scope="module")
def corpus(taxi_csv, tmp_path_factory):
    files = taxi_corpus.build(taxi_csv, DAY)
    return files, taxi_corpus.write(files, tmp_path_factory.mktemp("corpus"), DAY)


def test_corpus_is_big_enough(corpus):
    files, _ = corpus
    assert tuple(f.name for f in files) == taxi_corpus.NAMES
    assert len([f for f in files if f.exit_code != 0]) >= 12
    assert len([f for f in files if f.exit_code == 0]) >= 3


@pytest.mark.parametrize("name", taxi_corpus.NAMES)
def test_each_file_gets_the_right_verdict_and_names_the_problem(corpus, name, capsys):
    files, paths = corpus
    expected = next(f for f in files if f.name == name)
    scope = "window" if name == "header_only" else expected.scope
    code = cli(["validate", "taxi", str(paths[name]), *(["--scope", scope] if scope else [])])
    out = capsys.readouterr().out
    assert code == expected.exit_code, out
    assert expected.message in out, out
    if code == 1:
        assert all(line.startswith(("FAIL ", "WARN ")) for line in out.strip().splitlines()[:-1]), out


def test_exit_codes_through_the_real_command_line(corpus):
    _, paths = corpus
    exe = str(PROJECT_ROOT / ".venv" / "bin" / "nightshift")
    for name, code in (("crlf_line_endings", 0), ("negative_fares", 1), ("truncated_gzip", 3)):
        proc = subprocess.run([exe, "validate", "taxi", str(paths[name])], capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == code, (name, proc.stdout, proc.stderr)


def test_draft_contract_accepts_its_own_sample_and_rejects_breakage(taxi_csv, tmp_path, capsys):
    out = tmp_path / "draft.v1.json"
    assert cli(["contract", "draft", "taxi", str(taxi_csv), "--output", str(out)]) == 0
    from nightshift.control.contracts import load_contract
    from nightshift.control.reading import read_table
    from nightshift.control.validation import validate_frame

    contract = load_contract(out)
    df = read_table(str(taxi_csv), integer_columns=contract.integer_columns())  # as `validate` and the gate read
    assert validate_frame(df, contract).success
    assert not validate_frame(df.drop(columns=["fare"]), contract).success
    broken = df.assign(payment_type="Bitcoin")
    assert any("payment_type" in f for f in validate_frame(broken, contract).failures)
