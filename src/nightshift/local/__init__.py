"""Local tooling: the embedded stack of `make up` / `make demo` / the tests (SeaweedFS, Airflow, the warm TFX
runtime), its settings file and PID files. Production runs these services its own way (docker-compose.yaml).
"""
