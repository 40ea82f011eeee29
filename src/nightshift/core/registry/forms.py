"""What a manifest records about a version's optimised forms (written by nightshift_tfx.forms at publish, under
`extra.forms`), as the rows `models show` and the model report print. Both interpreters import this."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nightshift.core.errors import RegistryError
from nightshift.core.registry.manifest import FileEntry

if TYPE_CHECKING:
    from nightshift.core.registry.manifest import Manifest

FORM_ORDER = ("savedmodel", "onnx", "onnx_fp16", "onnx_int8")
# Inside the published version: TF Serving ignores assets.extra/, so the version folder still serves as is.
FORMS_DIR = "assets.extra/nightshift_forms"
FORM_FILES = {"onnx": f"{FORMS_DIR}/model.onnx", "onnx_fp16": f"{FORMS_DIR}/model.fp16.onnx",
              "onnx_int8": f"{FORMS_DIR}/model.int8.onnx"}
AUTO = "auto"
# The forms `auto` chooses among: the SavedModel and the ONNX form held to the spec's forms.max_abs_diff. A
# quantised form changes scores by design (up to forms.quantised_max_abs_diff), so it scores only when asked for.
EXACT_FORMS = ("savedmodel", "onnx")
# The ONNX form replaces the SavedModel (what TF Serving serves) only for a clear win. Where the two are within
# this factor, a wrong pick costs little; the publish-time speeds come from three passes of 32,768 rows and moved
# by up to 30 % between processes here (the taxi ONNX form: 349-518k rows/s; its SavedModel: 90-102k).
AUTO_MIN_SPEEDUP = 1.2


@dataclass(frozen=True)
class FormRow:
    name: str
    published: bool
    size: int | None
    max_abs_diff: float | None
    same_label: float | None
    accuracy: float | None
    accuracy_delta: float | None
    rows: int | None
    refused: tuple[str, ...]
    rows_per_second: float | None = None  # held-out rows from pre-built columns, measured at publish

    def line(self) -> str:
        size = f"{self.size / 1e6:.2f} MB" if self.size is not None else "-"
        speed = f"; {self.rows_per_second:,.0f} rows/s" if self.rows_per_second else ""
        if self.name == "savedmodel":
            accuracy = f"accuracy {self.accuracy:.4f}" if self.accuracy is not None else "accuracy -"
            return f"{self.name:<11} {size:>9}  the original; {accuracy} on {self.rows} held-out rows{speed}"
        figures = []
        if self.max_abs_diff is not None:
            figures.append(f"max |score diff| {self.max_abs_diff:.2g}")
        if self.same_label is not None:
            figures.append(f"same label {self.same_label:.2%}")
        if self.accuracy_delta is not None:
            figures.append(f"accuracy delta {self.accuracy_delta:+.4f}")
        state = "published" if self.published else "REFUSED: " + "; ".join(self.refused)
        return f"{self.name:<11} {size:>9}  {', '.join(figures) or 'not measured'}; {state}{speed}"


def form_rows(manifest: Manifest) -> list[FormRow]:
    """One row per form the pusher tried, the SavedModel first; empty for versions published before forms."""
    forms: dict[str, Any] = manifest.extra.get("forms") or {}
    rows = []
    for name in sorted(forms, key=lambda n: (FORM_ORDER.index(n) if n in FORM_ORDER else len(FORM_ORDER), n)):
        record = forms[name]
        agreement = record.get("agreement") or {}
        rows.append(FormRow(name, bool(record.get("published")), record.get("size"), agreement.get("max_abs_diff"),
                            agreement.get("same_label"), record.get("accuracy", agreement.get("accuracy")),
                            agreement.get("accuracy_delta"), record.get("rows", agreement.get("rows")),
                            tuple(record.get("refused", ())), record.get("rows_per_second")))
    return rows


def choose_engine(manifest: Manifest, requested: str = AUTO) -> tuple[str, str]:
    """(the engine to score `manifest`'s version with, why). `auto` takes the ONNX form when it was published
    (it agreed with the SavedModel within forms.max_abs_diff) and scored the held-out rows at least
    AUTO_MIN_SPEEDUP times as fast as the SavedModel at publish; the SavedModel otherwise, and for versions
    published before speeds were recorded. Any other name is taken as asked."""
    if requested != AUTO:
        return requested, "asked for"
    forms: dict[str, Any] = manifest.extra.get("forms") or {}
    speeds = {name: (forms.get(name) or {}).get("rows_per_second") for name in EXACT_FORMS}
    onnx = forms.get("onnx") or {}
    if not onnx.get("published"):
        return "savedmodel", "auto: the version has no published ONNX form"
    if not (speeds["savedmodel"] and speeds["onnx"]):
        return "savedmodel", "auto: no speeds were measured when the version was published"
    ratio = speeds["onnx"] / speeds["savedmodel"]
    figures = (f"{speeds['onnx']:,.0f} against {speeds['savedmodel']:,.0f} held-out rows/s at publish, {ratio:.2f}x; "
               f"max |score diff| {(onnx.get('agreement') or {}).get('max_abs_diff', float('nan')):.2g}")
    if ratio >= AUTO_MIN_SPEEDUP:
        return "onnx", f"auto: the ONNX form scored {figures}"
    return "savedmodel", f"auto: the ONNX form is not {AUTO_MIN_SPEEDUP}x faster ({figures})"


def serving_files(manifest: Manifest, form: str) -> list[FileEntry]:
    """The files a serving folder of `form` holds, as the manifest lists them (path = where they go on disk):
    the whole version for the SavedModel, `model.onnx` alone for an ONNX form (ONNX Runtime server's and
    Triton's onnxruntime backend's `<model>/<version>/model.onnx`)."""
    if form == "savedmodel":
        return list(manifest.files)
    stored = next((f for f in manifest.files if f.path == FORM_FILES[form]), None)
    if stored is None:
        record = (manifest.extra.get("forms") or {}).get(form) or {}
        why = "; ".join(record.get("refused", ())) or "it was not built"
        raise RegistryError(f"{manifest.model} version {manifest.version} has no published {form} form ({why})")
    return [FileEntry("model.onnx", stored.sha256, stored.size)]
