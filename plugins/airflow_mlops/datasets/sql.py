"""SQL sources: a query or a table read through SQLAlchemy in chunks.

A table larger than memory must be snapshotted without loading it, so the
query runs with ``stream_results`` (a server-side cursor on PostgreSQL; SQLite
steps its cursor anyway) and rows are fetched ``chunk_rows`` at a time. The
source takes a SQLAlchemy URL or ``Engine`` and never imports Airflow:
``airflow_mlops.hooks.SqlSourceHook`` turns an Airflow connection id into an engine.

Messages name the database by its URL with the password masked, and the query
or table, since that is what a person has to go and fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from airflow_mlops.datasets.errors import SourceError
from airflow_mlops.datasets.sources import DEFAULT_CHUNK_ROWS, Chunk, Source, to_arrow


class SqlSource(Source):
    """Rows of ``query`` (or of ``table``, optionally in ``schema``) on ``connection``."""

    format = "sql"
    row_word = "result row"

    def __init__(
        self,
        connection: str | Engine,
        *,
        query: str | None = None,
        table: str | None = None,
        schema: str | None = None,
    ) -> None:
        if (query is None) == (table is None):
            raise ValueError(f"give exactly one of query and table, got query={query!r} and table={table!r}")
        if query is not None and not query.strip():
            raise ValueError("query must be a non-empty SQL statement, got an empty string")
        if table is not None and not table.strip():
            raise ValueError("table must be a non-empty table name, got an empty string")
        if isinstance(connection, Engine):
            self._engine, self._owns_engine = connection, False
        elif isinstance(connection, str) and connection.strip():
            try:
                self._engine, self._owns_engine = sa.create_engine(connection), True
            except (SQLAlchemyError, ImportError, ValueError) as exc:
                raise SourceError(
                    f"{_mask(connection)}: not a usable SQLAlchemy URL ({exc}); expected e.g. "
                    "'postgresql+psycopg2://user@host:5432/db' or 'sqlite:////path/to.db'",
                    source=_mask(connection),
                ) from exc
        else:
            raise TypeError(f"connection must be a SQLAlchemy URL or Engine, got {connection!r}")
        self.query = query
        self.table = table
        self.schema = schema
        database = self._engine.url.render_as_string(hide_password=True)
        what = f"query {_short(query)!r}" if query is not None else f"table {_qualified(schema, table)!r}"
        self.label = f"{database} {what}"
        self._rows = 0

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out.update(
            {
                "database": self._engine.url.render_as_string(hide_password=True),
                "query": self.query,
                "table": self.table,
                "schema": self.schema,
            }
        )
        return out

    def _statement(self) -> Any:
        if self.query is not None:
            return sa.text(self.query)
        assert self.table is not None
        try:
            inspector = sa.inspect(self._engine)
            exists = inspector.has_table(self.table, schema=self.schema)
        except SQLAlchemyError as exc:
            raise SourceError(
                f"{self.label}: cannot connect ({_first_line(exc)}); expected a reachable database",
                source=self.label,
            ) from exc
        if not exists:
            tables = sorted(inspector.get_table_names(schema=self.schema))
            raise SourceError(
                f"{self.label}: no such table; tables found: {tables or 'none'}",
                source=self.label,
            )
        return sa.select(sa.text("*")).select_from(sa.table(self.table, schema=self.schema))

    def chunks(self, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[Chunk]:
        statement = self._statement()
        try:
            with self._engine.connect() as connection:
                try:
                    result = connection.execution_options(stream_results=True, yield_per=chunk_rows).execute(
                        statement
                    )
                except SQLAlchemyError as exc:
                    raise SourceError(
                        f"{self.label}: query failed: {_first_line(exc)}; expected a query that runs and "
                        "returns rows",
                        source=self.label,
                        check="query",
                    ) from exc
                if not result.returns_rows:
                    raise SourceError(
                        f"{self.label}: statement returns no rows; expected a SELECT",
                        source=self.label,
                        check="query",
                    )
                names = [str(k) for k in result.keys()]  # noqa: SIM118 (a Result, not a dict)
                duplicates = sorted({n for n in names if names.count(n) > 1})
                if duplicates:
                    raise SourceError(
                        f"{self.label}: duplicate column names {duplicates} in the result; expected unique names "
                        "(alias them with AS)",
                        source=self.label,
                        check="header",
                        column=duplicates[0],
                    )
                try:
                    for part in result.partitions(chunk_rows):
                        columns = list(zip(*part, strict=True)) if part else [() for _ in names]
                        table = _table(names, columns)
                        rows = np.arange(self._rows + 1, self._rows + len(part) + 1, dtype=np.int64)
                        self._rows += len(part)
                        yield Chunk(table, rows)
                except SQLAlchemyError as exc:
                    raise SourceError(
                        f"{self.label}: reading failed after result row {self._rows}: {_first_line(exc)}",
                        source=self.label,
                        check="query",
                    ) from exc
                if self._rows == 0:
                    yield Chunk(_table(names, [() for _ in names]), np.zeros(0, dtype=np.int64))
        except SourceError:
            raise
        except SQLAlchemyError as exc:
            raise SourceError(
                f"{self.label}: cannot connect ({_first_line(exc)}); expected a reachable database",
                source=self.label,
            ) from exc
        finally:
            if self._owns_engine:
                self._engine.dispose()


def _table(names: list[str], columns: list[Any]) -> Any:
    import pyarrow as pa

    return pa.table({name: to_arrow(list(values)) for name, values in zip(names, columns, strict=True)})


def _first_line(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()
    return text[0] if text else type(original).__name__


def _short(query: str | None, limit: int = 120) -> str:
    flat = " ".join((query or "").split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _qualified(schema: str | None, table: str | None) -> str:
    return f"{schema}.{table}" if schema else str(table)


def _mask(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"
