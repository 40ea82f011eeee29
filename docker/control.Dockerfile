# The control image: Airflow 3 (API server, scheduler, DAG processor, triggerer, Celery workers), the
# Great Expectations gates, nightshift's DAGs and plugins, and the TFX interpreter that the subprocess
# backend runs nodes in. Built by the same scripts/bootstrap.sh, from the same lock files, as a native
# checkout: .venv (Python 3.12, requirements/control.lock) and .venv-tfx (Python 3.10, runtime.lock).
FROM python:3.12-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    UV_PYTHON_INSTALL_DIR=/opt/python UV_PYTHON_BIN_DIR=/usr/local/bin \
    AIRFLOW_HOME=/opt/airflow NIGHTSHIFT_HOME=/opt/nightshift NIGHTSHIFT_VAR_DIR=/var/lib/nightshift \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/nightshift/dags AIRFLOW__CORE__PLUGINS_FOLDER=/opt/nightshift/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False NIGHTSHIFT_BOOTSTRAP_NO_INIT=1
RUN pip install --no-cache-dir uv==0.13.9 && uv python install 3.10.13 \
    && useradd --uid 50000 --create-home airflow \
    && mkdir -p /opt/airflow /var/lib/nightshift && chown airflow /opt/airflow /var/lib/nightshift
WORKDIR /opt/nightshift
COPY . .
RUN scripts/bootstrap.sh && rm -rf /root/.cache
ENV PATH=/opt/nightshift/.venv/bin:$PATH NIGHTSHIFT_RUNTIME_PYTHON=/opt/nightshift/.venv-tfx/bin/python
USER airflow
CMD ["airflow", "version"]
