"""Ensembles of a sweep's best candidates: greedy selection on out-of-fold predictions, and the blended model.

``selection`` chooses the weights (Caruana et al.'s greedy selection with
replacement); ``estimator`` is the blended model that is registered and
served. The sweep's step that builds one is :mod:`airflow_mlops.automl.sweep.ensemble`.
"""

from __future__ import annotations

from airflow_mlops.automl.ensemble.estimator import ENSEMBLE_FAMILY, WeightedEnsemble, check_members
from airflow_mlops.automl.ensemble.selection import N_STEPS, Selection, greedy_selection

__all__ = ["ENSEMBLE_FAMILY", "N_STEPS", "Selection", "WeightedEnsemble", "check_members", "greedy_selection"]
