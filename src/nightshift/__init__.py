"""nightshift: nightly retraining, validation and publishing of TensorFlow models on Airflow."""

from __future__ import annotations

__version__ = "0.1.0"
