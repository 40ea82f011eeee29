"""nightshift's Airflow plugin, registered by entry point (pyproject: `airflow.plugins`), not by file.

Airflow imports every file of its plugins folder as a top-level module, so the folder holds nothing for it to
import (`plugins/.airflowignore`); the package is installed. What Airflow needs to know ahead of any DAG, the
extra-link classes (DAG serialization refuses unregistered ones), comes from here.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from nightshift_airflow.links import DataDocsLink, ModelReportLink, PublishedManifestLink, ServedManifestLink


class NightshiftPlugin(AirflowPlugin):
    name = "nightshift"
    operator_extra_links = [DataDocsLink(), PublishedManifestLink(), ModelReportLink(), ServedManifestLink()]
