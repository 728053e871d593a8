# The project image every Python service in docker-compose.yaml runs (MLflow server, Airflow's
# components, Celery workers, the prediction server). Dependencies are installed at build time,
# so a container starts in seconds and every service runs the same pinned versions.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    AIRFLOW_HOME=/opt/airflow \
    MLOPS_HOME=/opt/mlops

# curl for the health checks; libgomp for LightGBM/XGBoost.
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/airflow-mlops
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY pyproject.toml README.md ./
COPY plugins plugins
COPY dags dags
COPY include include
# Not editable: the plugin is found once, through its entry point (an editable build's
# egg-info beside the package would register it a second time).
RUN pip install --no-deps . && mkdir -p "$AIRFLOW_HOME" "$MLOPS_HOME"

EXPOSE 8080 8008 5000 8793
CMD ["airflow", "version"]
