"""Request columns: parsed without a DataFrame, checked per column, joined for one model call."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from airflow_mlops.serving.inputs import (
    Columns,
    PredictionInputError,
    parse_records,
    parse_timestamps,
    prepare_features,
)


def test_json_records_become_one_column_per_key_missing_keys_are_nulls() -> None:
    rows = parse_records(b'[{"a": 1, "b": "x"}, {"b": "y", "c": 2.5}]', "application/json")
    assert (rows.size, rows.names) == (2, ["a", "b", "c"])
    assert rows["a"].tolist() == [1, None] and rows["c"].tolist() == [None, 2.5]
    single = parse_records(b'{"a": 1}', "application/json")
    assert (single.size, single["a"].tolist()) == (1, [1])


@pytest.mark.parametrize(
    "records",
    [
        [{"a": 1, "b": "x"}, {"a": 2, "b": None}, {"a": None, "b": "z"}],  # one key order: transposed
        [{"a": 1, "b": "x"}, {"b": None, "a": 2}, {"a": None, "b": "z"}],  # keys reordered
        [{"a": 1, "b": "x"}, {"a": 2}, {"a": None, "b": "z"}],  # a key missing
    ],
)
def test_records_give_the_same_columns_whatever_their_key_order(records: list[dict[str, object]]) -> None:
    rows = Columns.from_records(records)
    assert rows.names == ["a", "b"] and rows.size == 3
    assert rows["a"].tolist() == [1, 2, None]
    assert rows["b"].tolist() == ["x", None, "z"]
    assert rows["a"].dtype == object and rows["b"].dtype == object


def test_csv_becomes_columns_with_pandas_types() -> None:
    rows = parse_records(b"a,b\n1,x\n2,\n", "text/csv")
    assert rows["a"].dtype == np.int64 and rows["b"].tolist()[0] == "x"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[1, 2]", "row 0: expected a record"),
        (b'{"a": NaN}', "JSON body must be a list of records"),  # strict JSON
        (b"[]", "empty list"),
        (b'"text"', "got a str"),
    ],
)
def test_bad_bodies_name_what_was_expected(body: bytes, message: str) -> None:
    with pytest.raises(PredictionInputError, match=message):
        parse_records(body, "application/json")


def test_typed_features_are_converted_and_untyped_ones_keep_their_natural_type() -> None:
    rows = Columns.from_records(
        [
            {"n": "3", "c": 7, "b": "true", "t": "2024-01-01T00:00:00Z", "u": 1, "v": True},
            {"n": 4.5, "c": "x", "b": 0, "t": None, "u": 2, "v": False},
        ]
    )
    types = {"n": "numeric", "c": "categorical", "b": "boolean", "t": "datetime"}
    features = prepare_features(rows, ["n", "c", "b", "t", "u", "v"], types)
    assert features["n"].tolist() == [3.0, 4.5]
    assert features["c"].tolist() == ["7", "x"]
    assert features["b"].tolist() == [True, False]
    assert pd.isna(features["t"][1]) and features["t"][0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert features["u"].dtype == np.int64 and features["v"].dtype == bool
    frame = features.to_frame(["u", "n"])
    assert list(frame.columns) == ["u", "n"] and len(frame) == 2


def test_a_bad_value_names_its_row_and_column() -> None:
    rows = Columns.from_records([{"n": 1}, {"n": {"k": 1}}])
    with pytest.raises(PredictionInputError, match=r"row 1: column 'n' holds an object; expected a number"):
        prepare_features(rows, ["n"], {"n": "numeric"})
    with pytest.raises(PredictionInputError, match=r"row 1: column 'n' holds an object; expected a plain"):
        prepare_features(rows, ["n"], None)
    with pytest.raises(PredictionInputError, match=r"row 0: column 'm' is missing"):
        prepare_features(rows, ["n", "m"], None)


def test_concat_keeps_rows_in_order_including_time_zones() -> None:
    def part(n: int, start: int) -> Columns:
        rows = Columns.from_records(
            [{"x": start + i, "t": f"2024-01-01T0{start + i}:00:00+01:00"} for i in range(n)]
        )
        return prepare_features(rows, ["x", "t"], {"x": "numeric", "t": "datetime"})

    joined = Columns.concat([part(2, 0), part(1, 5)])
    assert joined.size == 3 and joined["x"].tolist() == [0, 1, 5]
    times = pd.Series(joined["t"])
    assert str(times.dt.tz) == "UTC+01:00"
    assert times.dt.hour.tolist() == [0, 1, 5]


def test_timestamps_are_one_time_or_one_per_row() -> None:
    rows = Columns.from_records([{"when": "2024-01-01T10:00:00Z"}, {"when": "2024-01-01T12:30:00+01:00"}])
    now = pd.Timestamp("2024-02-02", tz="UTC").to_pydatetime()
    assert parse_timestamps(rows, None, now) is now
    stamps = parse_timestamps(rows, "when", now)
    assert [t.isoformat() for t in stamps] == ["2024-01-01T10:00:00+00:00", "2024-01-01T11:30:00+00:00"]
    bad = Columns.from_records([{"when": "2024-01-01"}, {"when": "soon"}])
    with pytest.raises(PredictionInputError, match="row 1: column 'when' value 'soon' is not a timestamp"):
        parse_timestamps(bad, "when", now)


# ---- hostile bodies (the live server's answers: test_hostile_requests.py) -----------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[" * 100_000, "nested more than 1024 levels deep"),
        (b'[{"a": ' + b'{"a": ' * 2000 + b"1" + b"}" * 2001 + b"]", "nested more than 1024 levels deep"),
        (b'[{"a": "caf\xe9"}]', r"not UTF-8: byte 0xe9 at offset 11 \(invalid continuation byte\)"),
    ],
)
def test_json_too_deep_or_not_utf8_is_refused_saying_so(body: bytes, message: str) -> None:
    with pytest.raises(PredictionInputError, match=message) as refused:
        parse_records(body, "application/json")
    assert refused.value.status_code == 422


def test_csv_not_utf8_names_the_offset_in_the_whole_body() -> None:
    body = b"a,b\n" + b"1,x\n" * 50_000 + b"2,\xff\n"
    with pytest.raises(
        PredictionInputError, match=rf"CSV body is not UTF-8: byte 0xff at offset {len(body) - 2}"
    ):
        parse_records(body, "text/csv")


def test_more_columns_than_the_limit_are_a_413_naming_count_and_limit() -> None:
    from airflow_mlops.serving.inputs import MAX_COLUMNS, TooManyColumns

    wide = ",".join(f"c{i}" for i in range(MAX_COLUMNS + 1)).encode()
    with pytest.raises(
        TooManyColumns, match=f"header row has {MAX_COLUMNS + 1} columns .*at most {MAX_COLUMNS}"
    ):
        parse_records(wide + b"\r\n" + b"1," * MAX_COLUMNS + b"1\r\n", "text/csv")
    records = b"[" + b",".join(b'{"c%d": 1}' % i for i in range(MAX_COLUMNS + 1)) + b"]"
    with pytest.raises(TooManyColumns, match=f"{MAX_COLUMNS + 1} distinct columns; at most {MAX_COLUMNS}"):
        parse_records(records, "application/json")
    assert TooManyColumns.status_code == 413
    # At the limit, and commas inside quoted names, are not refused.
    header = ",".join(f"c{i}" for i in range(MAX_COLUMNS)).encode()
    at_limit = parse_records(header + b"\n" + b",".join([b"1"] * MAX_COLUMNS) + b"\n", "text/csv")
    assert len(at_limit.names) == MAX_COLUMNS
    quoted = (
        b",".join(b'"a,%d"' % i for i in range(MAX_COLUMNS)) + b"\n" + b",".join([b"1"] * MAX_COLUMNS) + b"\n"
    )
    assert len(parse_records(quoted, "text/csv").names) == MAX_COLUMNS


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1, 2, 3], [1, 2, 3]),  # ints stay ints
        ([1, 2.5], [1.0, 2.5]),
        ([1, None, 2.5], [1.0, np.nan, 2.5]),  # JSON nulls in a number column: NaN, as to_numeric gives
        ([None, None], [np.nan, np.nan]),
        (["3", 4, None], [3.0, 4.0, np.nan]),  # numbers as text go the careful way
    ],
)
def test_json_numbers_become_numbers_and_nulls_nan(values: list[object], expected: list[float]) -> None:
    rows = Columns.from_records([{"n": v} for v in values])
    converted = prepare_features(rows, ["n"], {"n": "numeric"})["n"]
    assert converted.dtype.kind in "if"
    np.testing.assert_array_equal(converted, np.asarray(expected, dtype=converted.dtype))
    reference = pd.to_numeric(pd.Series([float(v) if isinstance(v, str) else v for v in values]))
    np.testing.assert_array_equal(converted.astype(float), reference.to_numpy(dtype=float))
