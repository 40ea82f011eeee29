from __future__ import annotations

import json

import pytest

from nightshift.core.errors import RegistryError
from nightshift.core.registry.layout import manifest_key, pointer_key, upload_order, version_prefix, versions_in
from nightshift.core.registry.manifest import Manifest, Pointer, scan_model_dir, sha256_bytes

pytestmark = pytest.mark.unit


def test_layout_is_tf_serving_compatible():
    assert version_prefix("taxi", 3) == "taxi/3/"
    assert manifest_key("taxi/", 3) == "taxi/manifests/3.json"
    assert pointer_key("taxi") == "taxi/CURRENT.json"


def test_versions_found_from_manifests_and_partial_uploads():
    keys = ["taxi/1/saved_model.pb", "taxi/manifests/1.json", "taxi/2/variables/variables.index",
            "taxi/CURRENT.json", "taxi/manifests/notes.txt", "other/7/saved_model.pb"]
    assert versions_in(keys, "taxi") == ({1}, {1, 2})


def test_saved_model_pb_is_uploaded_last():
    order = upload_order(["saved_model.pb", "variables/variables.index", "assets/a", "fingerprint.pb"])
    assert order[-1] == "saved_model.pb"
    assert set(order) == {"saved_model.pb", "variables/variables.index", "assets/a", "fingerprint.pb"}


def test_scan_records_every_file_with_sha256(fake_saved_model):
    entries = scan_model_dir(fake_saved_model)
    assert {e.path for e in entries} == {"saved_model.pb", "variables/variables.index",
                                         "variables/variables.data-00000-of-00001", "assets/vocab.txt"}
    pb = next(e for e in entries if e.path == "saved_model.pb")
    assert pb.sha256 == sha256_bytes((fake_saved_model / "saved_model.pb").read_bytes())
    assert pb.size == 2048


def test_scan_refuses_folder_without_saved_model(tmp_path):
    with pytest.raises(RegistryError, match="saved_model.pb is missing"):
        scan_model_dir(tmp_path)


def test_manifest_round_trip(fake_saved_model):
    manifest = Manifest(model="taxi", version=4, run_id="r1", pipeline="taxi", files=scan_model_dir(fake_saved_model),
                        metrics={"overall": {"binary_accuracy": 0.8}}, data_window={"end": "2017-01-01"})
    again = Manifest.from_json(manifest.to_json(), where="x")
    assert again == manifest


def test_manifest_and_pointer_refuse_foreign_documents():
    with pytest.raises(RegistryError, match="where.json: format"):
        Manifest.from_json(json.dumps({"format": "other"}).encode(), where="where.json")
    with pytest.raises(RegistryError, match="not a valid pointer"):
        Pointer.from_json(b"{not json", where="p")
    pointer = Pointer(3, "ab" * 32, "run", "now")
    assert Pointer.from_json(pointer.to_json(), where="p") == pointer


def _manifest_with_forms() -> Manifest:
    from nightshift.core.registry.forms import FORM_FILES
    from nightshift.core.registry.manifest import FileEntry

    forms = {
        "onnx_int8": {"published": False, "size": 230000, "refused": ["scores differ by up to 0.0778"],
                      "agreement": {"max_abs_diff": 0.0778, "same_label": 0.9968, "accuracy_delta": 0.0, "rows": 4966}},
        "savedmodel": {"published": True, "size": 1_000_000, "accuracy": 0.8905, "rows": 4966,
                       "rows_per_second": 400_000},
        "onnx": {"published": True, "size": 210000, "path": FORM_FILES["onnx"], "rows_per_second": 1_000_000,
                 "agreement": {"max_abs_diff": 1.8e-07, "same_label": 1.0, "accuracy_delta": 0.0, "rows": 4966}},
    }
    files = [FileEntry("saved_model.pb", "a" * 64, 10), FileEntry(FORM_FILES["onnx"], "b" * 64, 210000)]
    return Manifest(model="taxi", version=3, run_id="r", pipeline="taxi", files=files, extra={"forms": forms})


def test_forms_are_listed_savedmodel_first_with_their_figures_and_refusals():
    from nightshift.core.registry.forms import form_rows

    rows = form_rows(_manifest_with_forms())
    assert [r.name for r in rows] == ["savedmodel", "onnx", "onnx_int8"]
    assert [r.line() for r in rows] == [
        "savedmodel    1.00 MB  the original; accuracy 0.8905 on 4966 held-out rows; 400,000 rows/s",
        "onnx          0.21 MB  max |score diff| 1.8e-07, same label 100.00%, accuracy delta +0.0000; published; "
        "1,000,000 rows/s",
        "onnx_int8     0.23 MB  max |score diff| 0.078, same label 99.68%, accuracy delta +0.0000; "
        "REFUSED: scores differ by up to 0.0778",
    ]
    assert form_rows(Manifest(model="m", version=1, run_id="r", pipeline="p", files=[])) == []


def test_an_onnx_serving_folder_holds_the_form_as_model_onnx_and_a_missing_form_says_why():
    from nightshift.core.registry.forms import serving_files

    manifest = _manifest_with_forms()
    [entry] = serving_files(manifest, "onnx")
    assert (entry.path, entry.sha256, entry.size) == ("model.onnx", "b" * 64, 210000)
    assert serving_files(manifest, "savedmodel") == manifest.files
    with pytest.raises(RegistryError, match=r"taxi version 3 has no published onnx_int8 form \(scores differ by"):
        serving_files(manifest, "onnx_int8")


def _with_onnx(**changes) -> Manifest:
    manifest = _manifest_with_forms()
    manifest.extra["forms"]["onnx"].update(changes)
    return manifest


def test_auto_scores_with_the_onnx_form_when_it_was_published_and_measured_clearly_faster():
    from nightshift.core.registry.forms import AUTO_MIN_SPEEDUP, choose_engine

    assert choose_engine(_manifest_with_forms()) == (
        "onnx", "auto: the ONNX form scored 1,000,000 against 400,000 held-out rows/s at publish, 2.50x; "
                "max |score diff| 1.8e-07")
    at_bound = round(400_000 * AUTO_MIN_SPEEDUP)
    assert choose_engine(_with_onnx(rows_per_second=at_bound))[0] == "onnx"
    engine, why = choose_engine(_with_onnx(rows_per_second=at_bound - 1))
    assert engine == "savedmodel" and why.startswith(f"auto: the ONNX form is not {AUTO_MIN_SPEEDUP}x faster (")


@pytest.mark.parametrize(("changes", "why"), [
    ({"published": False}, "auto: the version has no published ONNX form"),
    ({"rows_per_second": None}, "auto: no speeds were measured when the version was published"),
])
def test_auto_keeps_the_savedmodel_without_a_published_and_measured_onnx_form(changes, why):
    from nightshift.core.registry.forms import choose_engine

    assert choose_engine(_with_onnx(**changes)) == ("savedmodel", why)
    bare = Manifest(model="m", version=1, run_id="r", pipeline="p", files=[])  # published before forms existed
    assert choose_engine(bare) == ("savedmodel", "auto: the version has no published ONNX form")


def test_an_engine_asked_for_by_name_is_taken_as_asked_even_a_slower_or_refused_one():
    from nightshift.core.registry.forms import choose_engine

    assert choose_engine(_manifest_with_forms(), "savedmodel") == ("savedmodel", "asked for")
    assert choose_engine(_manifest_with_forms(), "onnx_int8") == ("onnx_int8", "asked for")
