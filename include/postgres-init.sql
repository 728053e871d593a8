-- The databases of the scale-out shape, beside POSTGRES_DB (`mlops`, the MLOps store):
-- Airflow's metadata DB (also the Celery result backend), MLflow's backend store, and the
-- Optuna studies the sweep workers share. The scale-out test creates exactly these.
CREATE DATABASE airflow OWNER mlops;
CREATE DATABASE mlflow OWNER mlops;
CREATE DATABASE optuna OWNER mlops;
