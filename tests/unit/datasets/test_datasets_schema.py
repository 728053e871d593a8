"""Logical types: inference from the first chunk and reading values as a type without raising."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from airflow_mlops.datasets.schema import MAJORITY, ColumnType, coerce, infer


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1", " 2", "-3", None], ColumnType("numeric", "int")),
        (["1", "2.5", "1e3", None], ColumnType("numeric", "float")),
        (["99999999999999999999", "1"], ColumnType("numeric", "float")),  # beyond int64
        (["true", "False", "TRUE", None], ColumnType("boolean")),
        (["2024-01-01", "2024-01-02T03:04:05", "2024-01-03 10:00:00+02:00"], ColumnType("datetime")),
        (["a", "b", "a", None], ColumnType("categorical")),
        ([f"id-{i}" for i in range(200)], ColumnType("text")),
        ([None, None], ColumnType("text")),
    ],
)
def test_inference_from_strings(values: list[str | None], expected: ColumnType) -> None:
    inferred, share = infer(pa.array(values, type=pa.string()))
    assert inferred == expected
    assert share == 1.0


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (pa.array([1, 2], type=pa.int32()), ColumnType("numeric", "int")),
        (pa.array([1.5, None]), ColumnType("numeric", "float")),
        (pa.array([True]), ColumnType("boolean")),
        (pa.array(np.array(["2024-01-01"], dtype="datetime64[s]")), ColumnType("datetime")),
        (pa.nulls(3), ColumnType("text")),
        (pa.array([[1, 2], [3]]), ColumnType("categorical")),
    ],
)
def test_inference_from_typed_arrays(array: pa.Array, expected: ColumnType) -> None:
    assert infer(array)[0] == expected


def test_a_mostly_numeric_column_is_numeric_with_invalid_values() -> None:
    values = [str(i) for i in range(19)] + ["unknown"]
    inferred, share = infer(pa.array(values))
    assert inferred == ColumnType("numeric", "int")
    assert share == pytest.approx(0.95) and share >= MAJORITY
    result = coerce(pa.array(values), inferred)
    assert np.flatnonzero(result.invalid).tolist() == [19]
    assert result.values.to_pylist()[:3] == [0, 1, 2] and result.values[19].as_py() is None


def test_a_half_numeric_column_is_text_not_numbers() -> None:
    assert infer(pa.array(["1", "x", "2", "y"]))[0] == ColumnType("categorical")


def test_integer_columns_accept_whole_floats_and_flag_fractions() -> None:
    result = coerce(pa.array(["3", "3.0", "1e2", "3.5", None]), ColumnType("numeric", "int"))
    assert result.values.to_pylist() == [3, 3, 100, None, None]
    assert result.invalid.tolist() == [False, False, False, True, False]
    typed = coerce(pa.array([1.0, 2.5, None]), ColumnType("numeric", "int"))
    assert typed.invalid.tolist() == [False, True, False]


def test_datetimes_are_utc_and_bad_ones_flagged() -> None:
    result = coerce(
        pa.array(["2024-01-01T00:00:00+01:00", "2024-01-01 12:00", "31/02/2024", None]),
        ColumnType("datetime"),
    )
    values = result.values.to_pylist()
    assert values[0].isoformat() == "2023-12-31T23:00:00+00:00"
    assert values[1].isoformat() == "2024-01-01T12:00:00+00:00"  # naive is taken as UTC
    assert result.invalid.tolist() == [False, False, True, False]
    formatted = coerce(pa.array(["01/02/2024", "2024-02-01"]), ColumnType("datetime", format="%d/%m/%Y"))
    assert formatted.values[0].as_py().isoformat() == "2024-02-01T00:00:00+00:00"
    assert formatted.invalid.tolist() == [False, True]


def test_booleans_and_text() -> None:
    result = coerce(pa.array(["TRUE", "no", None]), ColumnType("boolean"))
    assert result.values.to_pylist() == [True, None, None]
    assert result.invalid.tolist() == [False, True, False]
    assert coerce(pa.array([1, 2]), ColumnType("categorical")).values.to_pylist() == ["1", "2"]


def test_column_type_arguments_are_validated() -> None:
    with pytest.raises(ValueError, match=r"logical type must be one of .*got 'number'"):
        ColumnType("number")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"numeric dtype must be one of \['int', 'float'\], got None"):
        ColumnType("numeric")


@pytest.mark.parametrize(
    "array",
    [
        pa.array(["1.5", "inf", None, "-Infinity", "2"]),
        pa.array([1.5, float("inf"), None, float("-inf"), 2.0]),  # already float64 (Parquet, JSON)
    ],
)
def test_coerce_flags_infinities_as_invalid_and_nulls_them(array: pa.Array) -> None:
    result = coerce(array, ColumnType("numeric", "float"))
    assert result.invalid.tolist() == [False, True, False, True, False]
    assert result.values.to_pylist() == [1.5, None, None, None, 2.0]
