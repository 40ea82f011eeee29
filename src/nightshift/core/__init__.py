"""The shared core: what both interpreters import (the Airflow side in .venv, the TFX runtime in .venv-tfx).

Specs, run configs, data windows, the TFX topology, the registry and S3 access, exit codes, the warm-runtime
protocol. Plain Python with boto3, PyYAML and (for prediction files) pyarrow: nothing here may import Airflow,
pandas, Great Expectations or TensorFlow (tests/unit/test_layout.py checks it in a fresh interpreter).
"""
