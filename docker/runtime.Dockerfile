# The runtime image: TFX 1.16 / TensorFlow 2.16 (Python 3.10), which runs every TFX node, the batch scorer
# and the TF Serving sync sidecar. Same lock file as the native .venv-tfx. Also the image of the
# Kubernetes pod backend.
FROM python:3.10-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 TF_USE_LEGACY_KERAS=1 \
    NIGHTSHIFT_HOME=/opt/nightshift NIGHTSHIFT_VAR_DIR=/var/lib/nightshift
# Folders the containers of this image write, created and owned here: a fresh named volume mounted on one
# of them starts with this ownership, so serve-sync (uid 50000) can create /models/<model>.
RUN useradd --uid 50000 --create-home nightshift \
    && mkdir -p /var/lib/nightshift /models && chown nightshift /var/lib/nightshift /models
WORKDIR /opt/nightshift
COPY requirements/runtime.lock requirements/runtime.lock
RUN pip install --no-cache-dir uv==0.13.9 \
    && uv pip install --system --no-cache -r requirements/runtime.lock
COPY pyproject.toml README.md ./
COPY src src
COPY components components
COPY plugins plugins
COPY pipelines pipelines
COPY data_contracts data_contracts
RUN uv pip install --system --no-cache --no-deps .
USER nightshift
CMD ["python", "-m", "nightshift_tfx", "--help"]
