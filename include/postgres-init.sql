-- Databases the docker-compose services expect beside the default `mlops` one.
CREATE DATABASE airflow OWNER mlops;
CREATE DATABASE mlflow OWNER mlops;
