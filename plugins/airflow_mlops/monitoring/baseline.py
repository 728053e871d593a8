"""Baselines: the bins a deployment is monitored on, fixed once from training data.

Monitoring never rescans history. When a model is deployed we decide, once, how
every feature (and the prediction column) is cut into bins, and record how the
training data falls into those bins. From then on a monitoring run only has to
turn new prediction rows into one count vector per feature; windows are sums of
stored count vectors, and every drift metric is a formula over two vectors of the
same length. That only works if the bins never move, hence this module.

Bin conventions (the order is part of the stored format, never reorder):

* numeric, with sorted unique edges ``e0 < e1 < ... < ek``::

      [missing, (< e0), [e0, e1), ..., [e(k-1), ek), (>= ek)]

  Bins are closed on the left. The edges are, merged and deduplicated:

  - the *interior* quantiles of the training values (levels ``1/n, ..., (n-1)/n``
    for ``n_bins=n``, default 100), so each of those bins holds about ``1/n`` of
    the training rows: fine enough that the binned CDF is within about 1% of the
    real one everywhere (what the Kolmogorov-Smirnov and Wasserstein statistics
    of :mod:`.cdf` need), where deciles hid a 10% cluster moved to +4 sd inside
    the top bin;
  - extra quantiles in each tail (levels 0.001, 0.002, 0.005 and their mirror
    images, where finer than ``1/n``), so the top and bottom 1% are not one wide
    bin of unknown shape;
  - the **exact tails**: the training minimum ``low`` and the first number above
    the training maximum ``high``, and edges at ``low - k*s`` and ``high + k*s``
    for ``k`` in :data:`.baseline_fit.TAIL_STEPS` (``s`` a robust scale: IQR/1.349, else the
    standard deviation, else 1). Every training value lies in ``[low, high]``,
    so the bins outside it hold exactly the values training never reached: their
    share is known to be ~0 in training (:meth:`FeatureBins.out_of_range_mask`),
    and where beyond the range a value landed is known to within a step of ``s``
    up to ``8 s``, which is what a Wasserstein distance needs from a shifted tail.

  Only the outermost bins (below ``low - 8 s``, at or above ``high + 8 s``) are
  open-ended. No value bin between ``low`` and ``high`` is empty by construction
  (ties can still empty one); bins outside the range are empty in training, which
  the drift metrics' smoothing handles. Quantiles are taken over finite values
  only; ``+-inf`` are still counted (in the outer bins). A numeric column with no
  finite training values has no edges and a single value bin, ``"any value"``.

  Baselines written before the tails existed (format version 1, 10 deciles) have
  no ``low``/``high``/``std``; they load and count as before, and the statistics
  that need those fall back (see :mod:`.cdf` and :mod:`.drift_rule`).
* categorical: ``[missing, category_1, ..., category_k, other]`` where the
  categories are the ``top_k`` most frequent training values (as strings, ties
  broken alphabetically so a baseline is reproducible; default 500, so all the
  categories of all but ID-like columns are kept), and the last bin,
  labelled :data:`OTHER_LABEL`, is every value not among them: a category never
  seen in training, or one beyond the cap (then training has some too).

``missing`` means ``pd.isna`` (None, NaN, NaT, pd.NA), for both kinds.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from airflow_mlops.monitoring.binning import EdgeIndex

__all__ = ["OTHER_LABEL", "Baseline", "FeatureBins"]

FeatureKind = Literal["numeric", "categorical"]
_KINDS: tuple[str, ...] = ("numeric", "categorical")

#: Labels of the bins every feature has; categories named like this still work
#: (bins are positional), their labels are just ambiguous.
MISSING_LABEL = "missing"
#: The last categorical bin: values that are not one of the baseline's categories.
OTHER_LABEL = "other (not a baseline category)"
ANY_VALUE_LABEL = "any value"

#: ``pd.api.types.infer_dtype`` answers that mean "these objects are all numbers".
_NUMERIC_INFERRED = frozenset({"integer", "floating", "mixed-integer-float", "decimal", "boolean", "empty"})

#: 2 added the numeric tails (``low``/``high``/``std``); version 1 baselines still load.
_FORMAT_VERSION = 2
_READABLE_VERSIONS = (1, 2)


def _fmt_edges(edges: list[float]) -> list[str]:
    """Edges rounded for display, with just enough digits to keep them distinct.

    Quantile edges are things like 0.30000000000000004; labels are for people, so
    round to 4 significant digits, adding digits only if two edges would collide
    (the edges themselves stay exact).
    """
    for digits in range(4, 18):
        text = [repr(float(f"{e:.{digits}g}")) for e in edges]
        if len(set(text)) == len(text):
            return text
    return [repr(float(e)) for e in edges]


def _preview(values: list[str], limit: int = 10) -> str:
    shown = ", ".join(repr(v) for v in values[:limit])
    return shown + (f", ... ({len(values) - limit} more)" if len(values) > limit else "")


@dataclass(frozen=True)
class FeatureBins:
    """How one column is cut into bins; see the module docstring for the order."""

    name: str
    kind: FeatureKind
    edges: list[float] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    #: Numeric only: the smallest and largest finite training value; ``low`` is an edge and so is
    #: the first float above ``high``, so out-of-range values have bins of their own. None in
    #: baselines written before the tails (format version 1).
    low: float | None = None
    high: float | None = None
    #: Numeric only: the training values' standard deviation (ddof=0), what the Wasserstein
    #: distance is normed by; None in old baselines (then estimated from the bins).
    std: float | None = None

    def __post_init__(self) -> None:
        # Baselines are loaded from JSON written by other versions/hands: a bad one
        # must fail here, not as a silent mis-binning months later.
        if self.kind not in _KINDS:
            raise ValueError(
                f"feature {self.name!r}: kind={self.kind!r} is not valid; expected one of {_KINDS}"
            )
        if self.kind == "numeric":
            if self.categories:
                raise ValueError(f"feature {self.name!r}: a numeric feature has no categories")
            edges = np.asarray(self.edges, dtype="float64")
            if edges.ndim != 1 or not np.all(np.isfinite(edges)):
                raise ValueError(f"feature {self.name!r}: edges must be finite numbers, got {self.edges!r}")
            if np.any(np.diff(edges) <= 0):
                raise ValueError(
                    f"feature {self.name!r}: edges must be strictly increasing, got {self.edges!r}"
                )
            self._check_range(edges)
        else:
            if self.low is not None or self.high is not None or self.std is not None:
                raise ValueError(f"feature {self.name!r}: a categorical feature has no low/high/std")
            if self.edges:
                raise ValueError(f"feature {self.name!r}: a categorical feature has no edges")
            if len(set(self.categories)) != len(self.categories):
                raise ValueError(f"feature {self.name!r}: categories must be unique, got {self.categories!r}")

    def _check_range(self, edges: NDArray[np.float64]) -> None:
        for key in ("low", "high", "std"):
            value = getattr(self, key)
            if value is not None and not (isinstance(value, int | float) and math.isfinite(value)):
                raise ValueError(f"feature {self.name!r}: {key}={value!r} must be a finite number or None")
        if self.std is not None and self.std < 0:
            raise ValueError(f"feature {self.name!r}: std={self.std!r} must be >= 0")
        if (self.low is None) != (self.high is None):
            raise ValueError(f"feature {self.name!r}: low and high are given together or not at all")
        if self.low is None or self.high is None:
            return
        if self.low > self.high:
            raise ValueError(f"feature {self.name!r}: low={self.low!r} exceeds high={self.high!r}")
        above = np.nextafter(self.high, np.inf)
        if not (np.any(edges == self.low) and np.any(edges == above)):
            raise ValueError(
                f"feature {self.name!r}: low={self.low!r} and the float after high={self.high!r} must be edges"
            )

    def out_of_range_mask(self) -> NDArray[np.bool_] | None:
        """Per bin, whether it holds only values outside the training range ``[low, high]``.

        None when the range is unknown (categorical features, old baselines,
        numeric columns without finite training values). Missing is not out of range.
        """
        if self.kind != "numeric" or self.low is None or self.high is None:
            return None
        edges = np.asarray(self.edges, dtype="float64")
        upper = np.append(edges, np.inf)  # upper edge of value bin j (code j + 1)
        lower = np.insert(edges, 0, -np.inf)
        value_bins = (upper <= self.low) | (lower > self.high)
        return np.concatenate([[False], value_bins])

    @property
    def n_bins(self) -> int:
        """Length of every count vector of this feature, including missing/other."""
        if self.kind == "numeric":
            return len(self.edges) + 2
        return len(self.categories) + 2

    @property
    def labels(self) -> list[str]:
        """Human-readable bin names, in bin order (for reports and health messages)."""
        if self.kind == "categorical":
            return [MISSING_LABEL, *self.categories, OTHER_LABEL]
        if not self.edges:
            return [MISSING_LABEL, ANY_VALUE_LABEL]
        text = _fmt_edges(self.edges)
        interior = [f"[{lo}, {hi})" for lo, hi in itertools.pairwise(text)]
        return [MISSING_LABEL, f"< {text[0]}", *interior, f">= {text[-1]}"]

    def count(self, values: pd.Series | NDArray[Any]) -> NDArray[np.int64]:
        """Count ``values`` into this feature's bins (vectorized; length ``n_bins``)."""
        series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
        codes = self._numeric_codes(series) if self.kind == "numeric" else self._categorical_codes(series)
        return np.bincount(codes, minlength=self.n_bins).astype(np.int64)

    def count_arrow(self, values: Any) -> NDArray[np.int64]:
        """:meth:`count` for a pyarrow array, without going through pandas where Arrow types allow.

        The fold reads the prediction log as Arrow; converting 50 feature columns to
        pandas objects per file cost more than binning them. Numbers are cast to
        float64 (nulls become NaN, the missing bin); strings are looked up in the
        categories in Arrow (nulls are missing, values not found are "other"), and
        a dictionary-encoded column only looks up its dictionary. Any other type
        goes through :meth:`count`, so the result is always the same as counting
        the pandas column.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        kind = values.type
        if pa.types.is_dictionary(kind) and self.kind == "categorical" and _is_arrow_text(kind.value_type):
            # Look up each distinct value once, then map the rows' indices (nulls: missing).
            per_value = self._arrow_category_codes(values.dictionary)
            indices = pc.fill_null(values.indices, -1).to_numpy(zero_copy_only=False)
            codes = np.append(per_value, 0).take(indices)
            return np.bincount(codes, minlength=self.n_bins).astype(np.int64)
        if pa.types.is_dictionary(kind):
            values = values.dictionary_decode()
            kind = values.type
        if self.kind == "numeric" and (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
            x = pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
            codes = self._numeric_codes_of(x)
            return np.bincount(codes, minlength=self.n_bins).astype(np.int64)
        if self.kind == "categorical" and _is_arrow_text(kind):
            codes = self._arrow_category_codes(values)
            return np.bincount(codes, minlength=self.n_bins).astype(np.int64)
        return self.count(values.to_pandas())

    @cached_property
    def _edge_index(self) -> EdgeIndex:
        """The edges' lookup table, built on first use (the bins never change)."""
        return EdgeIndex(np.asarray(self.edges, dtype="float64"), offset=1)

    @cached_property
    def _category_set(self) -> Any:
        """The categories as a pyarrow array, built once instead of per counted batch."""
        import pyarrow as pa

        return pa.array(self.categories, type=pa.string())

    def _arrow_category_codes(self, values: Any) -> NDArray[np.intp]:
        """Bin codes of a pyarrow string array: categories, ``other``, nulls missing."""
        import pyarrow.compute as pc

        value_set = self._category_set
        if value_set.type != values.type:
            value_set = value_set.cast(values.type)
        found = pc.index_in(values, value_set=value_set)
        index = pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.intp)
        codes = np.where(index < 0, len(self.categories) + 1, index + 1)
        if values.null_count:
            codes[values.is_null().to_numpy(zero_copy_only=False)] = 0
        return codes

    def _numeric_codes_of(self, x: NDArray[np.float64]) -> NDArray[np.intp]:
        # Codes count the edges <= x (closed-left bins: 1 -> underflow, len(edges) + 1 ->
        # overflow), offset by 1 for the missing bin, where NaN goes.
        codes = self._edge_index.codes(x)
        missing = np.isnan(x)
        if missing.any():
            codes[missing] = 0
        return codes

    def _numeric_codes(self, series: pd.Series) -> NDArray[np.intp]:
        return self._numeric_codes_of(_to_float(series, self.name))

    def _categorical_codes(self, series: pd.Series) -> NDArray[np.intp]:
        missing = series.isna().to_numpy(dtype=bool)
        as_text = _as_category_text(series)
        cat_codes = np.asarray(pd.Categorical(as_text, categories=self.categories).codes, dtype=np.intp)
        # Categorical codes are -1 for values outside the categories: that is "other".
        codes = np.where(cat_codes < 0, len(self.categories) + 1, cat_codes + 1)
        codes[missing] = 0
        return codes.astype(np.intp)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "edges": [float(e) for e in self.edges],
            "categories": list(self.categories),
        }
        for key in ("low", "high", "std"):
            value = getattr(self, key)
            if value is not None:
                out[key] = float(value)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureBins:
        def optional(key: str) -> float | None:
            value = data.get(key)
            return None if value is None else float(value)

        return cls(
            name=str(data["name"]),
            kind=cast(FeatureKind, data["kind"]),
            edges=[float(e) for e in data.get("edges", [])],
            categories=[str(c) for c in data.get("categories", [])],
            low=optional("low"),
            high=optional("high"),
            std=optional("std"),
        )


def _is_arrow_text(kind: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _as_category_text(series: pd.Series) -> pd.Series:
    # Categories are stored as strings so the baseline is JSON-safe; production
    # values must be stringified the same way to match (True -> "True", 3 -> "3").
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    return series.astype(str)


def _to_float(series: pd.Series, name: str) -> NDArray[np.float64]:
    """Numbers as float64 with NaN for missing; anything else is a caller bug."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    dtype = series.dtype
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        return np.asarray(series.to_numpy(dtype="float64", na_value=np.nan), dtype=np.float64)
    is_object = pd.api.types.is_object_dtype(dtype)
    if is_object and pd.api.types.infer_dtype(series, skipna=True) in _NUMERIC_INFERRED:
        # Object columns of numbers and None (e.g. built from JSON) are fine.
        numeric = pd.to_numeric(series, errors="coerce")
        return np.asarray(numeric.to_numpy(dtype="float64", na_value=np.nan), dtype=np.float64)
    # Strings are rejected even when they look like numbers: the baseline was built
    # on numbers, and silently parsing "1,5" or "1e3" would hide an upstream bug.
    # (The per-value scan below only runs on this error path, to name an example.)
    present = series[series.notna()]
    offending = present[~present.map(lambda v: isinstance(v, numbers.Real))]
    sample = offending if len(offending) else present
    example = sample.iloc[0] if len(sample) else None
    raise ValueError(
        f"feature {name!r} is numeric in the baseline but got non-numeric values "
        f"(dtype {dtype}, e.g. {example!r})"
    )


@dataclass
class Baseline:
    """Bins plus the training counts in them: everything drift is measured against.

    ``baseline_counts`` is keyed by feature name, and by ``prediction.name`` for the
    prediction column (target drift), so both are scored the same way.
    """

    features: dict[str, FeatureBins]
    baseline_counts: dict[str, list[int]]
    prediction: FeatureBins | None = None
    importance: dict[str, float] = field(default_factory=dict)
    #: Accuracy of the model on its holdout, per ACCURACY_METRIC: what accuracy health compares to.
    holdout_metrics: dict[str, float | None] = field(default_factory=dict)
    #: ``binary``/``multiclass``/``regression`` and, for binary, the class whose probability is logged.
    task: str | None = None
    positive_class: str | None = None
    #: A few training rows (features, JSON-safe) as the reference of the Evidently report.
    sample: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for key, bins in self.features.items():
            if key != bins.name:
                raise ValueError(f"features[{key!r}] holds bins named {bins.name!r}")
        names = list(self.features)
        if self.prediction is not None:
            if self.prediction.name in self.features:
                raise ValueError(f"prediction name {self.prediction.name!r} is also a feature name")
            names.append(self.prediction.name)
        missing = [n for n in names if n not in self.baseline_counts]
        if missing:
            raise ValueError(f"baseline_counts has no counts for {_preview(missing)}")
        for name in names:
            expected = self.bins(name).n_bins
            got = len(self.baseline_counts[name])
            if got != expected:
                raise ValueError(f"baseline_counts[{name!r}] has {got} bins; its binning has {expected}")

    def bins(self, name: str) -> FeatureBins:
        """The binning of a feature or of the prediction column."""
        if name in self.features:
            return self.features[name]
        if self.prediction is not None and name == self.prediction.name:
            return self.prediction
        known = [*self.features, *([self.prediction.name] if self.prediction else [])]
        raise KeyError(f"{name!r} is not in the baseline; known: {_preview(known)}")

    def count(
        self, df: pd.DataFrame, *, prediction: pd.Series | NDArray[Any] | None = None
    ) -> dict[str, NDArray[np.int64]]:
        """Count a batch of rows into every baseline bin.

        Every feature gets a vector; a column absent from ``df`` counts entirely as
        missing, because a feature that stops arriving is itself drift worth seeing.
        The prediction column is counted from ``prediction`` if given, else from the
        ``df`` column of that name if present; otherwise it is left out (predictions
        are often logged separately from features, and absent is not "all missing").
        """
        n_rows = len(df)
        out: dict[str, NDArray[np.int64]] = {}
        for name, bins in self.features.items():
            if name in df.columns:
                out[name] = bins.count(df[name])
            else:
                counts = np.zeros(bins.n_bins, dtype=np.int64)
                counts[0] = n_rows
                out[name] = counts
        if self.prediction is not None:
            if prediction is not None:
                out[self.prediction.name] = self.prediction.count(prediction)
            elif self.prediction.name in df.columns:
                out[self.prediction.name] = self.prediction.count(df[self.prediction.name])
        return out

    def count_arrow(
        self, batch: Any, *, prefix: str = "", prediction: Any = None
    ) -> dict[str, NDArray[np.int64]]:
        """:meth:`count` for a pyarrow record batch whose feature columns are named ``prefix + name``.

        ``prediction`` (a pyarrow array) is counted under the prediction's name.
        """
        names = set(batch.schema.names)
        n_rows = batch.num_rows
        out: dict[str, NDArray[np.int64]] = {}
        for name, bins in self.features.items():
            column = prefix + name
            if column in names:
                out[name] = bins.count_arrow(batch.column(column))
            else:
                counts = np.zeros(bins.n_bins, dtype=np.int64)
                counts[0] = n_rows
                out[name] = counts
        if self.prediction is not None and prediction is not None:
            out[self.prediction.name] = self.prediction.count_arrow(prediction)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only, so a baseline can live in a database row or file."""
        return {
            "version": _FORMAT_VERSION,
            "features": [bins.to_dict() for bins in self.features.values()],
            "baseline_counts": {k: [int(c) for c in v] for k, v in self.baseline_counts.items()},
            "prediction": None if self.prediction is None else self.prediction.to_dict(),
            "importance": {k: float(v) for k, v in self.importance.items()},
            "holdout_metrics": dict(self.holdout_metrics),
            "task": self.task,
            "positive_class": self.positive_class,
            "sample": list(self.sample),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Baseline:
        version = data.get("version", _FORMAT_VERSION)
        if version not in _READABLE_VERSIONS:
            raise ValueError(
                f"baseline format version {version!r} is not supported (expected one of {_READABLE_VERSIONS})"
            )
        features = [FeatureBins.from_dict(f) for f in data["features"]]
        prediction = data.get("prediction")
        return cls(
            features={f.name: f for f in features},
            baseline_counts={str(k): [int(c) for c in v] for k, v in data["baseline_counts"].items()},
            prediction=None if prediction is None else FeatureBins.from_dict(prediction),
            importance={str(k): float(v) for k, v in (data.get("importance") or {}).items()},
            holdout_metrics={
                str(k): None if v is None else float(v)
                for k, v in (data.get("holdout_metrics") or {}).items()
            },
            task=data.get("task"),
            positive_class=None if data.get("positive_class") is None else str(data["positive_class"]),
            sample=list(data.get("sample") or []),
        )
