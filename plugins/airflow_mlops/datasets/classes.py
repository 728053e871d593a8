"""The target's classes as rows stream by: one small integer per label, counts overall and in the holdout.

The stratified split (:mod:`.split`) needs a class code per row, and the
profile and checks need each class's count, so labels are numbered in order of
first appearance while the source is read. Labels are spelled with
:func:`~airflow_mlops.datasets.contract.class_label`, so ``1``, ``1.0`` and
``"1"`` are one class, as in the contract.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from airflow_mlops.datasets.contract import TaskType, class_label
from airflow_mlops.datasets.errors import DataValidationError

MAX_STRATA = 1_000
"""A text target with more distinct values than this is refused (likely an id, not a label)."""

Codes = npt.NDArray[np.int64]


class TargetClasses:
    """Class labels of a target column and their counts; ``tracking`` is False for a regression target.

    A numeric target first guessed to be classes stops being tracked once it
    shows more than :data:`MAX_STRATA` distinct values (it is a regression
    target after all); a text target with that many is refused.
    """

    def __init__(self, tracking: bool, *, numeric: bool, source: str, target: str) -> None:
        self.tracking = tracking
        self.numeric = numeric
        self.source = source
        self.target = target
        self.labels: dict[str, int] = {}
        self.counts: Codes = np.zeros(0, dtype=np.int64)
        self.holdout_counts: Codes = np.zeros(0, dtype=np.int64)

    def codes(self, target: pa.ChunkedArray) -> Codes:
        """Global class index per row (-1 for a missing target), counting classes as they appear."""
        n = len(target)
        if not self.tracking:
            return np.full(n, -1, dtype=np.int64)
        values = target.combine_chunks()
        unique = pc.unique(values.drop_null())
        mapping = np.empty(len(unique), dtype=np.int64)
        for position, value in enumerate(unique.to_pylist()):
            label = class_label(value)
            if label not in self.labels:
                self.labels[label] = len(self.labels)
            mapping[position] = self.labels[label]
        if len(self.labels) > MAX_STRATA:
            if self.numeric:
                self.tracking = False  # many distinct numbers: a regression target
                self.labels.clear()
                return np.full(n, -1, dtype=np.int64)
            raise DataValidationError(
                f"{self.source}: target column {self.target!r} has more than {MAX_STRATA} distinct "
                f"values (e.g. {list(self.labels)[:3]}); expected class labels (at most {MAX_STRATA}) or a "
                "numeric target",
                source=self.source,
                check="target",
                column=self.target,
            )
        local = pc.fill_null(pc.index_in(values, value_set=unique), -1).to_numpy(zero_copy_only=False)
        codes = np.where(local >= 0, mapping[np.maximum(local, 0)] if len(mapping) else -1, -1).astype(
            np.int64
        )
        size = len(self.labels)
        if len(self.counts) < size:
            self.counts = np.concatenate([self.counts, np.zeros(size - len(self.counts), np.int64)])
        present = codes[codes >= 0]
        self.counts += np.bincount(present, minlength=size)[:size]
        return codes

    def codes_of(self, target: pa.ChunkedArray) -> Codes:
        """The codes of labels already numbered (rows read again, e.g. for the time split)."""
        labels = [class_label(v) for v in target.to_pylist() if v is not None]
        return np.asarray([self.labels[label] for label in labels if label in self.labels], dtype=np.int64)

    def count_holdout(self, codes: Codes) -> None:
        size = len(self.labels)
        if len(self.holdout_counts) < size:
            self.holdout_counts = np.concatenate(
                [self.holdout_counts, np.zeros(size - len(self.holdout_counts), np.int64)]
            )
        present = codes[codes >= 0]
        self.holdout_counts += np.bincount(present, minlength=size)[:size]

    def seen(self) -> list[str]:
        """The labels that have rows, in order of first appearance."""
        return [c for c, i in self.labels.items() if self.counts[i] > 0]

    def task(self, n: int) -> TaskType:
        """Binary or multiclass; a single class in all ``n`` rows leaves nothing to learn and is refused."""
        seen = self.seen()
        if len(seen) < 2:
            only = seen[0] if seen else None
            raise DataValidationError(
                f"{self.source}: target column {self.target!r} has a single class {only!r} in all {n} rows; "
                "expected at least two classes to learn from",
                source=self.source,
                check="target",
                column=self.target,
            )
        return "binary" if len(seen) == 2 else "multiclass"

    def distributions(self) -> tuple[dict[str, int], dict[str, int]]:
        """Rows per class overall and in the holdout, the most frequent class first."""
        order = sorted(self.labels, key=lambda c: (-int(self.counts[self.labels[c]]), c))
        holdout = np.zeros(len(self.labels), dtype=np.int64)
        holdout[: len(self.holdout_counts)] = self.holdout_counts
        overall = {c: int(self.counts[self.labels[c]]) for c in order}
        return overall, {c: int(holdout[self.labels[c]]) for c in order}
