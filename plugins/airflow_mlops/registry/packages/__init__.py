"""The three kinds of model package the registry holds, and one way to predict with any of them.

- **automl**: a scikit-learn pipeline built by our sweep and registered with
  :func:`airflow_mlops.registry.register_model` (its versions carry no ``kind``
  tag; they predate the other kinds).
- **custom**: any MLflow pyfunc the user logged (``mlflow.pyfunc.log_model``),
  registered with :func:`register_custom_model`.
- **external**: a registry entry with a schema and no model artifact; its
  predictions are made elsewhere and reported back for monitoring. Registered
  with :func:`register_external_model`.

All three carry the same version tags (``target``, ``task``, ``features``,
``classes``, ``family``), so deployments and monitoring decide from metadata
alone, whatever the kind. :func:`load_predictor` hides the kind behind one
:class:`Predictor` interface, and :func:`monitored_values` is the single
definition of the value target drift watches.

Like ``registry.models``, every public function takes the tracking URI
explicitly: MLflow's process-wide default would silently write to ``./mlruns``.

One module per part: ``metadata`` (kinds, tags and their checks),
``registration`` (custom and external models), ``predictors`` (the
:class:`Predictor` of each kind), ``fast_pipeline`` (a verified serving shortcut
through an AutoML pipeline), ``loading`` (a version as a predictor) and
``monitored`` (the value drift watches).
"""

from __future__ import annotations

from airflow_mlops.registry.packages.fast_pipeline import VERIFY_CALLS, FastPipeline
from airflow_mlops.registry.packages.loading import load_predictor
from airflow_mlops.registry.packages.metadata import (
    FEATURE_TYPES,
    MODEL_KINDS,
    PACKAGE_RESERVED_TAGS,
    TAG_FAMILY,
    TAG_FEATURE_TYPES,
    TAG_KIND,
    TASKS,
    model_kind,
)
from airflow_mlops.registry.packages.monitored import monitored_values
from airflow_mlops.registry.packages.predictors import (
    AutoMLPredictor,
    ExternalModelError,
    ExternalPredictor,
    PredictionOutput,
    Predictor,
    PyfuncPredictor,
)
from airflow_mlops.registry.packages.registration import (
    EXTERNAL_ARTIFACT_DIR,
    EXTERNAL_EXPERIMENT,
    EXTERNAL_SCHEMA_FILE,
    register_custom_model,
    register_external_model,
)

__all__ = [
    "EXTERNAL_ARTIFACT_DIR",
    "EXTERNAL_EXPERIMENT",
    "EXTERNAL_SCHEMA_FILE",
    "FEATURE_TYPES",
    "MODEL_KINDS",
    "PACKAGE_RESERVED_TAGS",
    "TAG_FAMILY",
    "TAG_FEATURE_TYPES",
    "TAG_KIND",
    "TASKS",
    "VERIFY_CALLS",
    "AutoMLPredictor",
    "ExternalModelError",
    "ExternalPredictor",
    "FastPipeline",
    "PredictionOutput",
    "Predictor",
    "PyfuncPredictor",
    "load_predictor",
    "model_kind",
    "monitored_values",
    "register_custom_model",
    "register_external_model",
]
