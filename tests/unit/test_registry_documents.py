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
