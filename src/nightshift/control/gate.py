"""The contract gate of a run: validate the staged window, write GX's result and Data Docs page, and fail the
run with one line per failed expectation (DataContractViolation) when an error-severity one fails.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nightshift.control.validation import GateResult
from nightshift.core.errors import DataContractViolation

if TYPE_CHECKING:
    from nightshift.control.contracts import Contract

log = logging.getLogger(__name__)


def render_data_docs(result: GateResult) -> str:
    """Great Expectations' own Data Docs page for this validation result, as one HTML document."""
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    if result.outcome is None:
        return "<html><body><h1>No validation ran</h1><ul>" + "".join(
            f"<li>{p}</li>" for p in result.problems) + "</ul></body></html>"
    document = ValidationResultsPageRenderer().render(result.outcome)
    return DefaultJinjaPageView().render(document)


def write_report(result: GateResult, folder: Path, source: str) -> list[Path]:
    """gate_result.json (the whole GX result) and data_docs.html (GX's rendering of it)."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / "gate_result.json"
    json_path.write_text(json.dumps(
        {"source": source, "contract": result.contract.identity(), "success": result.success, "rows": result.rows,
         "problems": result.problems, "failures": result.failures, "warnings": result.warnings,
         "great_expectations": result.raw},
        indent=2, default=str))
    html_path = folder / "data_docs.html"
    html_path.write_text(render_data_docs(result))
    return [json_path, html_path]


def enforce(result: GateResult, source: str) -> GateResult:
    """Log warnings; raise DataContractViolation (one line per failure) when anything is an error."""
    contract = result.contract
    for line in result.warnings:
        log.warning("contract %s v%s WARN: %s", contract.name, contract.version, line)
    if not result.success or result.problems:
        lines = result.summary_lines()
        raise DataContractViolation(
            f"{source}: {len(lines)} problem(s) against contract {contract.path.name} (v{contract.version})", lines
        )
    return result


def check_staged(csv_path: Path, contract: Contract, parameters: dict[str, Any] | None = None,
                 problems: list[str] | None = None) -> GateResult:
    """Validate a staged window, chunk by chunk (memory bounded by a chunk, not the window). Partitions that
    staging could not merge arrive as `problems`; when nothing at all could be read, those problems are the
    whole result."""
    from nightshift.control.process_memory import keep_freed_memory_for_reuse
    from nightshift.control.reading import UnreadableInput
    from nightshift.control.window_validation import validate_file

    keep_freed_memory_for_reuse()
    problems = list(problems or [])
    try:
        result = validate_file(csv_path, contract, parameters)
    except UnreadableInput as exc:
        if not problems:
            problems.append(str(exc))
        return GateResult(contract=contract, success=False, rows=0, problems=problems)
    result.problems = problems
    return result


def run_gate(csv_path: Path, contract: Contract, report_dir: Path | None = None,
             parameters: dict[str, Any] | None = None, problems: list[str] | None = None) -> GateResult:
    """Validate a staged file; write the report; raise DataContractViolation on errors."""
    result = check_staged(csv_path, contract, parameters, problems)
    if report_dir is not None:
        write_report(result, report_dir, str(csv_path))
    return enforce(result, str(csv_path))
