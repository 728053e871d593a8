"""Common fitted scikit-learn steps as plain NumPy functions, for :class:`.FastPipeline`.

Why hand-written: at serving sizes (1 to 100 rows) scikit-learn's per-call
machinery costs more than the arithmetic. Each ``transform`` or
``predict_proba`` checks it is fitted, reads estimator tags, validates and
copies its input (``validate_data``/``check_array``), asks for the output
configuration; the one-hot encoder also finds unknowns with Python sets and
builds a sparse matrix before densifying it. On the churn pipeline (linear,
100 rows) the fitted steps took about 1.4 ms of which the arithmetic is a few
tens of µs.

How they stay correct:

- each function does the step's own arithmetic, in the same order and with
  the same NumPy operations, on the fitted attributes (``statistics_``,
  ``mean_``/``scale_``, ``categories_``, ``coef_``/``intercept_``);
- the one-hot tables are not derived from the encoder's internals: they are
  read off the encoder's own answers for each fitted category (and for one
  unseen value) when the model is loaded, so infrequent-category pooling,
  ``drop`` and ``handle_unknown`` come out as the encoder decided them;
- any input a function was not written for (another dtype, infinities, no
  rows, an unknown category the encoder would warn about or refuse, a
  non-finite matrix for an estimator) goes to the step's own method, which
  gives its answer, warning or error;
- a step of another type, or with settings not handled here (``add_indicator``
  on a sparse indicator, ``missing_values`` other than NaN, sparse output...),
  is not compiled: the step's own ``transform`` is called;
- :class:`.FastPipeline` still compares its first calls with the pipeline's.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import sklearn
from scipy.special import expit
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

__all__ = ["compile_estimator", "compile_step"]

Transform = Callable[[Any], Any]

#: A one-hot code meaning "the encoder's own transform decides" (it would warn or raise).
_ASK_THE_STEP = -2
#: A lookup that missed the table (NaN or an unknown value).
_MISS = -3


def _is_nan(value: Any) -> bool:
    """A NaN as scikit-learn's encoders and imputers recognise one (``sklearn.utils._missing.is_scalar_nan``)."""
    return not isinstance(value, numbers.Integral) and isinstance(value, numbers.Real) and math.isnan(value)


def _rows_of(X: Any, width: int) -> bool:
    """Whether ``X`` is what a compiled function is written for: a non-empty 2-D array ``width`` wide."""
    return isinstance(X, np.ndarray) and X.ndim == 2 and X.shape[1] == width and X.shape[0] > 0


def compile_step(step: Any) -> Transform:
    """``step.transform`` as a NumPy function where the step is one handled here, else the method itself."""
    compiler = _COMPILERS.get(type(step))
    own_output = (getattr(step, "_sklearn_output_config", None) or {}).get("transform", "default")
    if own_output != "default" or sklearn.get_config()["transform_output"] != "default":
        compiler = None  # it answers with frames: its own transform wraps them
    try:
        compiled = compiler(step) if compiler is not None else None
    except Exception:  # a step fitted by another version, missing an attribute: it is its own way
        compiled = None
    return compiled if compiled is not None else step.transform


# ---- imputer ------------------------------------------------------------------------------


def _imputer(step: SimpleImputer) -> Transform | None:
    """``SimpleImputer.transform`` on dense arrays with NaN as the missing value."""
    if not _is_nan(step.missing_values):
        return None
    statistics = np.asarray(step.statistics_)
    fit_dtype = getattr(step, "_fit_dtype", None)
    fill_dtype = getattr(step, "_fill_dtype", None)
    if fit_dtype is None or fill_dtype is None:
        return None
    if not step.keep_empty_features and bool(np.any(statistics != statistics)):
        return None  # it drops empty features, with a warning on every call: leave that to it
    fill = statistics.astype(fill_dtype, copy=False)
    indicator = step.indicator_ if step.add_indicator else None
    if indicator is not None and (
        indicator.features != "missing-only" or indicator.sparse not in ("auto", False)
    ):
        return None
    indicated = None if indicator is None else np.asarray(indicator.features_)
    width = statistics.shape[0]
    to_floats = step.strategy in ("mean", "median")  # validate_data(dtype=FLOAT_DTYPES)
    constant = step.strategy == "constant"

    def transform(X: Any) -> Any:
        if not _rows_of(X, width):
            return step.transform(X)
        if fit_dtype.kind == "O":
            if X.dtype != object:
                return step.transform(X)
            out = X.copy()
            missing = out != out  # sklearn's _object_dtype_isnan
        else:
            if X.dtype.kind not in "iuf":
                return step.transform(X)
            out = X.astype(np.float64) if to_floats and X.dtype.kind != "f" else X.copy()
            if out.dtype.kind == "f":
                if np.isinf(out).any():
                    return step.transform(X)  # its "Input contains infinity" error
                missing = np.isnan(out)
            else:
                missing = np.zeros(out.shape, dtype=bool)
        if constant and not np.can_cast(fill_dtype, out.dtype, casting="same_kind"):
            return step.transform(X)  # its "cannot be cast" error
        rows, columns = np.nonzero(missing)
        if rows.size:
            out[rows, columns] = fill[columns]
        if indicated is None:
            return out
        mask = missing[:, indicated] if indicated.size < width else missing
        return np.hstack((out, mask))

    return transform


# ---- scaler -------------------------------------------------------------------------------


def _scaler(step: StandardScaler) -> Transform | None:
    """``StandardScaler.transform`` on dense float arrays: ``(x - mean_) / scale_``."""
    mean = step.mean_ if step.with_mean else None
    scale = step.scale_ if step.with_std else None
    if (step.with_mean and mean is None) or (step.with_std and scale is None):
        return None
    width = step.n_features_in_

    def transform(X: Any) -> Any:
        if not _rows_of(X, width):
            return step.transform(X)
        if X.dtype.kind == "f" and X.dtype.itemsize in (2, 4, 8):
            out = X.copy()
        elif X.dtype.kind in "iu":
            out = X.astype(np.float64)
        else:
            return step.transform(X)
        if np.isinf(out).any():
            return step.transform(X)
        if mean is not None:
            out -= mean.astype(out.dtype)
        if scale is not None:
            out /= scale.astype(out.dtype)
        return out

    return transform


# ---- one-hot encoder ----------------------------------------------------------------------


def _onehot(step: OneHotEncoder) -> Transform | None:
    """``OneHotEncoder.transform`` with dense output: a dict per column from category to output column."""
    if step.sparse_output:
        return None
    categories: list[np.ndarray] = list(step.categories_)
    widths = getattr(step, "_n_features_outs", None)
    if widths is None or len(widths) != len(categories):
        return None
    if all(c.dtype.kind == "O" for c in categories):
        objects = True
    elif all(c.dtype.kind in "iuf" for c in categories):
        objects = False
    else:
        return None
    # The encoder warns about unknowns (when dropping, or when told to) or refuses them: it answers those.
    ask_on_unknown = step.handle_unknown in ("error", "warn") or step.drop is not None
    offsets = np.cumsum([0, *widths])
    tables = []
    for i, known in enumerate(categories):
        probes = [*known.tolist(), *([] if ask_on_unknown else [_unseen(known, objects)])]
        codes = _read_codes(step, categories, i, probes, objects, offsets)
        if codes is None:
            return None
        table: dict[Any, int] = {}
        nan_code: int | None = None
        for value, code in zip(known.tolist(), codes, strict=False):
            if _is_nan(value):
                nan_code = code
            else:
                table[value] = code
        tables.append((table, nan_code, _ASK_THE_STEP if ask_on_unknown else codes[-1]))
    n_features, n_out, dtype = len(categories), int(offsets[-1]), step.dtype

    def transform(X: Any) -> Any:
        if not _rows_of(X, n_features):
            return step.transform(X)
        if objects and X.dtype != object:
            return step.transform(X)
        if not objects and (X.dtype.kind not in "iuf" or (X.dtype.kind == "f" and np.isinf(X).any())):
            return step.transform(X)
        codes = np.empty(X.shape, dtype=np.intp)
        for i, (table, nan_code, unknown) in enumerate(tables):
            values = X[:, i].tolist()
            get = table.get
            column = [get(value, _MISS) for value in values]
            if _MISS in column:
                for row, code in enumerate(column):
                    if code == _MISS:
                        value = values[row]
                        code = nan_code if nan_code is not None and _is_nan(value) else unknown
                        if code == _ASK_THE_STEP:
                            return step.transform(X)
                        column[row] = code
            codes[:, i] = column
        out = np.zeros((X.shape[0], n_out), dtype=dtype)
        rows, features = np.nonzero(codes >= 0)
        out[rows, codes[rows, features]] = 1
        return out

    return transform


def _unseen(known: np.ndarray, objects: bool) -> Any:
    """A value that is not among ``known``, to read how the encoder answers an unknown."""
    if objects:
        taken = set(known.tolist())
        probe = "\x00unseen"
        while probe in taken:
            probe += "\x00"
        return probe
    finite = known[np.isfinite(known)] if known.dtype.kind == "f" else known
    return float(finite.max()) + 1.0 if finite.size else 0.0


def _read_codes(
    step: OneHotEncoder,
    categories: list[np.ndarray],
    i: int,
    probes: list[Any],
    objects: bool,
    offsets: np.ndarray,
) -> list[int] | None:
    """Output column of each of ``probes`` in column ``i`` (-1: none), as the encoder encodes them."""
    dtype = object if objects else np.float64
    X = np.empty((len(probes), len(categories)), dtype=dtype)
    for j, known in enumerate(categories):
        X[:, j] = known[0]
    X[:, i] = np.asarray(probes, dtype=dtype)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = np.asarray(step.transform(X))
    except Exception:
        return None
    part = out[:, offsets[i] : offsets[i + 1]]
    codes = []
    for row in part:
        hot = np.flatnonzero(row)
        if hot.size > 1 or (hot.size == 1 and row[hot[0]] != 1):
            return None
        codes.append(int(offsets[i] + hot[0]) if hot.size else -1)
    return codes


# ---- function transformer -----------------------------------------------------------------


def _function(step: FunctionTransformer) -> Transform | None:
    """``FunctionTransformer.transform`` without validation: the function itself."""
    if step.validate:
        return None
    func = step.func
    kw_args = step.kw_args or {}

    def transform(X: Any) -> Any:
        out = X if func is None else func(X, **kw_args)
        if hasattr(out, "columns"):  # a frame: its column names are the transformer's business
            return step.transform(X)
        return out

    return transform


_COMPILERS: dict[type, Callable[[Any], Transform | None]] = {
    SimpleImputer: _imputer,
    StandardScaler: _scaler,
    OneHotEncoder: _onehot,
    FunctionTransformer: _function,
}


# ---- final estimator ----------------------------------------------------------------------


class _Linear:
    """``predict``/``predict_proba`` of a fitted linear model from ``coef_`` and ``intercept_``.

    The same expressions as scikit-learn's ``LinearClassifierMixin.decision_function``
    and ``LinearModel._decision_function`` (``X @ coef_.T + intercept_``), then
    ``expit`` (binary) or softmax (multinomial) as ``LogisticRegression.predict_proba``.
    """

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator
        self._classifier = isinstance(estimator, LogisticRegression)
        self._coef = np.asarray(estimator.coef_)
        self._intercept = estimator.intercept_
        self._width = estimator.n_features_in_
        self._classes = np.asarray(estimator.classes_) if self._classifier else np.empty(0)

    def _scores(self, X: Any) -> np.ndarray | None:
        if not _rows_of(X, self._width) or X.dtype != np.float64 or not np.isfinite(X).all():
            return None  # the estimator's own validation decides (and raises for NaN)
        coef = self._coef
        if self._classifier:
            scores = X @ coef.T + self._intercept
            return scores.reshape(-1) if scores.ndim > 1 and scores.shape[1] == 1 else scores
        return X @ coef + self._intercept if coef.ndim == 1 else X @ coef.T + self._intercept

    def predict(self, X: Any) -> Any:
        scores = self._scores(X)
        if scores is None:
            return self.estimator.predict(X)
        if not self._classifier:
            return scores
        indices = (scores > 0).astype(np.intp) if scores.ndim == 1 else np.argmax(scores, axis=1)
        return self._classes.take(indices, axis=0)

    def predict_proba(self, X: Any) -> Any:
        if not self._classifier:
            return self.estimator.predict_proba(X)  # its own AttributeError
        scores = self._scores(X)
        if scores is None:
            return self.estimator.predict_proba(X)
        if scores.ndim == 1:  # binary: expit of the decision function
            proba = expit(scores, out=scores)
            return np.stack([1 - proba, proba], axis=1)
        scores -= scores.max(axis=1).reshape(-1, 1)  # multinomial: softmax, as sklearn's softmax()
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1).reshape(-1, 1)
        return scores


def compile_estimator(estimator: Any) -> Any:
    """The estimator with ``predict``/``predict_proba`` computed from its coefficients where it is linear."""
    if type(estimator) in (LogisticRegression, Ridge, LinearRegression):
        coef = getattr(estimator, "coef_", None)
        if isinstance(coef, np.ndarray) and coef.dtype == np.float64 and coef.ndim in (1, 2):
            try:
                return _Linear(estimator)
            except (AttributeError, TypeError, ValueError):
                return estimator
    return estimator
