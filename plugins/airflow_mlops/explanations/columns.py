"""Which of the user's columns each transformed feature came from.

A fitted AutoML pipeline's column transformer turns one user column into
several model inputs: one-hot columns, a "was missing" indicator, date parts,
target and frequency encodings. An explanation in those terms ("contract_Month-
to-month", "signup_date_weekday_sin") means nothing to the person who sent the
row, so contributions are summed back to the column each input came from.

The transformer's own bookkeeping decides it: ``output_indices_`` gives each
block's slice of the output exactly, and within a block of one column every
output is that column's. Only a block of several columns needs names: each
output name (``get_feature_names_out``) is matched to the block's column that
it names at a word boundary (``col``, ``col_…``, ``…_col``, ``…_col_…``); the
longest matching column wins, so ``age_group_x`` goes to ``age_group`` rather
than ``age``. An output no column matches is an error, not a guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.compose import ColumnTransformer

__all__ = ["group_matrix", "source_columns"]


def source_columns(preprocess: ColumnTransformer) -> list[str]:
    """For each output column of the fitted ``preprocess``, the input column it was made from."""
    indices = getattr(preprocess, "output_indices_", None)
    if indices is None:
        raise ValueError("the column transformer is not fitted (it has no output_indices_)")
    width = max((block.stop for block in indices.values()), default=0)
    sources: list[str | None] = [None] * width
    for name, transformer, columns in preprocess.transformers_:
        block = indices.get(name)
        if block is None or block.stop == block.start or transformer == "drop":
            continue
        names = _column_names(preprocess, columns)
        size = block.stop - block.start
        if len(names) == 1:
            owners = names * size
        elif transformer == "passthrough":
            owners = list(names)
        else:
            outputs = [str(out) for out in transformer.get_feature_names_out(names)]
            if len(outputs) != size:
                raise ValueError(
                    f"transformer {name!r} names {len(outputs)} outputs but fills {size} columns"
                )
            owners = [_owner(out, names, name) for out in outputs]
        sources[block.start : block.stop] = owners
    missing = [index for index, source in enumerate(sources) if source is None]
    if missing:
        raise ValueError(f"output columns {missing[:10]} come from no transformer of the column transformer")
    return [str(source) for source in sources]


def _column_names(preprocess: ColumnTransformer, columns: object) -> list[str]:
    """A block's input columns as names (integer positions and masks read through ``feature_names_in_``)."""
    known = getattr(preprocess, "feature_names_in_", None)
    values: list[Any] = list(columns) if isinstance(columns, Sequence | np.ndarray) else [columns]
    if values and all(isinstance(v, bool | np.bool_) for v in values) and known is not None:
        return [str(n) for n, keep in zip(known, values, strict=True) if keep]
    if values and all(isinstance(v, int | np.integer) for v in values) and known is not None:
        return [str(known[int(v)]) for v in values]
    return [str(v) for v in values]


def _owner(output: str, columns: list[str], block: str) -> str:
    matches = [
        column
        for column in columns
        if output == column
        or output.startswith(f"{column}_")
        or output.endswith(f"_{column}")
        or f"_{column}_" in output
    ]
    if not matches:
        raise ValueError(
            f"output feature {output!r} of transformer {block!r} names none of its columns {columns}"
        )
    return max(matches, key=len)


def group_matrix(sources: Sequence[str], features: Sequence[str]) -> npt.NDArray[np.float64]:
    """A (transformed, original) 0/1 matrix: ``values @ G`` sums contributions per original column."""
    position = {name: j for j, name in enumerate(features)}
    unknown = sorted({s for s in sources if s not in position})
    if unknown:
        raise ValueError(f"transformed features come from columns {unknown} that are not model features")
    matrix = np.zeros((len(sources), len(features)))
    for i, source in enumerate(sources):
        matrix[i, position[source]] = 1.0
    return matrix
