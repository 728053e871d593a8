"""Predictions as DataRobot's CSV (``Accept: text/csv``), which ``datarobot-predict`` reads.

``datarobot_predict.deployment.predict()`` posts the DataFrame as CSV with
``Accept: text/csv`` and reads the answer with ``pandas.read_csv``, so the
column names are the contract (DataRobot's prediction output format):

* regression: ``<target>_PREDICTION``;
* binary: ``<target>_<positive>_PREDICTION``, ``<target>_<negative>_PREDICTION``
  (probabilities), ``<target>_PREDICTION`` (the label), ``THRESHOLD`` and
  ``POSITIVE_CLASS``. Our label is the most probable class, so the threshold is
  0.5 on the positive class, the last of the model's classes;
* multiclass: ``<target>_<class>_PREDICTION`` per class, then ``<target>_PREDICTION``;
* with prediction warnings on: ``IS_OUTLIER_PREDICTION``;
* with explanations asked (``maxExplanations``): per rank k from 1, DataRobot's
  ``EXPLANATION_<k>_FEATURE_NAME``, ``EXPLANATION_<k>_STRENGTH``,
  ``EXPLANATION_<k>_ACTUAL_VALUE``, ``EXPLANATION_<k>_QUALITATIVE_STRENGTH``
  (empty for a row with fewer explanations or left out by the thresholds);
* then the passthrough columns, under their own names.

Values are the same rows the JSON answer holds (built from them), so both
formats always agree.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from airflow_mlops.registry import ModelVersionInfo

#: The label is the most probable class: for two classes, positive when its probability passes 0.5.
BINARY_THRESHOLD = 0.5


def wants_csv(accept: str | None) -> bool:
    """True when the caller asks for CSV before JSON (``Accept: text/csv``); JSON stays the default."""
    if not accept:
        return False
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept.split(",")):
        media, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranked.append((-q, i, media.strip().lower()))
    for _q, _i, media in sorted(ranked):
        if media in ("text/csv", "application/csv"):
            return True
        if media in ("application/json", "*/*", "application/*"):
            return False
    return False


def csv_frame(info: ModelVersionInfo, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The answer rows (as the JSON route builds them) in DataRobot's columns."""
    target = info.target
    columns: dict[str, list[Any]] = {}
    classes = [v["label"] for v in rows[0]["predictionValues"]] if rows else []
    if info.task == "regression":
        columns[f"{target}_PREDICTION"] = [r["prediction"] for r in rows]
    else:
        order = list(reversed(classes)) if len(classes) == 2 else classes  # binary: positive first
        for label in order:
            index = classes.index(label)
            columns[f"{target}_{label}_PREDICTION"] = [r["predictionValues"][index]["value"] for r in rows]
        columns[f"{target}_PREDICTION"] = [r["prediction"] for r in rows]
        if len(classes) == 2:
            columns["THRESHOLD"] = [BINARY_THRESHOLD] * len(rows)
            columns["POSITIVE_CLASS"] = [classes[-1]] * len(rows)
    if rows and "predictionWarning" in rows[0]:
        columns["IS_OUTLIER_PREDICTION"] = [r["predictionWarning"]["isOutlierPrediction"] for r in rows]
    if rows and "predictionExplanations" in rows[0]:
        columns.update(explanation_columns(rows))
    for name in rows[0].get("passthroughValues", {}) if rows else []:
        if name not in columns:  # a prediction column's name wins over an input column's
            columns[name] = [r["passthroughValues"][name] for r in rows]
    return pd.DataFrame(columns)


def csv_body(info: ModelVersionInfo, rows: list[dict[str, Any]]) -> bytes:
    return csv_frame(info, rows).to_csv(index=False).encode()


#: Each explanation's fields as DataRobot's CSV and batch outputs name them (after ``EXPLANATION_<k>_``).
EXPLANATION_FIELDS = (
    ("FEATURE_NAME", "feature"),
    ("STRENGTH", "strength"),
    ("ACTUAL_VALUE", "featureValue"),
    ("QUALITATIVE_STRENGTH", "qualitativeStrength"),
)


def explanation_columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """``predictionExplanations`` of each row as ``EXPLANATION_<k>_<FIELD>`` columns (None where a row has fewer)."""
    ranks = max((len(r.get("predictionExplanations") or []) for r in rows), default=0)
    columns: dict[str, list[Any]] = {}
    for k in range(ranks):
        for suffix, key in EXPLANATION_FIELDS:
            columns[f"EXPLANATION_{k + 1}_{suffix}"] = [
                r["predictionExplanations"][k][key]
                if len(r.get("predictionExplanations") or []) > k
                else None
                for r in rows
            ]
    return columns
