"""A PostgreSQL table (a CRM or call-centre table): upserts and deletes, one transaction per batch.

Row ``fields`` map to columns; the record key goes to ``key_column``. ``upsert``/``mirror`` rows are
``INSERT ... ON CONFLICT (key_column) DO UPDATE``; ``insert`` rows ``ON CONFLICT DO NOTHING``;
``update`` rows are ``UPDATE ... WHERE key_column = key`` (a row that matches nothing is rejected);
deletes are ``DELETE ... WHERE key_column = key``. The batch is acknowledged when its transaction
commits. If a row fails (bad value, constraint), the batch is replayed row by row in savepoints:
failing rows are rejected with PostgreSQL's message, the others committed. A lost connection fails
the batch (nothing acknowledged; every statement is idempotent, so re-sending is safe).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from tessera.activate.destinations.base import BatchResult, Destination, RowOp


def _pg_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, float):
        return "double precision"
    if isinstance(value, (dict, list)):
        return "jsonb"
    return "text"


def _adapt(value: Any) -> Any:
    return Jsonb(value) if isinstance(value, (dict, list)) else value


class PostgresDestination(Destination):
    type = "postgres"

    def __init__(
        self,
        name: str,
        dsn: str,
        table: str,
        key_column: str,
        *,
        create_table: bool = False,
        connect_timeout: int = 10,
    ) -> None:
        super().__init__(name)
        self.dsn, self.key_column = dsn, key_column
        self.table = sql.SQL(".").join(sql.Identifier(part) for part in table.split("."))
        self.table_name = table
        self.create_table = create_table
        self.connect_timeout = connect_timeout
        self._conn: psycopg.Connection[Any] | None = None
        self._created = False

    def describe(self) -> str:
        return f"postgres:{self.name} ({self.table_name})"

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.dsn, connect_timeout=self.connect_timeout)
        return self._conn

    def _ensure_table(self, conn: psycopg.Connection[Any], rows: list[RowOp]) -> None:
        if self._created or not self.create_table:
            return
        columns: dict[str, str] = {}
        for row in rows:
            for name, value in row.fields.items():
                if name != self.key_column and (name not in columns or columns[name] == "text" and value is not None):
                    columns[name] = _pg_type(value) if value is not None else columns.get(name, "text")
        parts = [sql.SQL("{} text PRIMARY KEY").format(sql.Identifier(self.key_column))] + [
            sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind)) for name, kind in columns.items()
        ]
        with conn.transaction():
            conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(self.table, sql.SQL(", ").join(parts)))
        self._created = True

    def _statement(self, row: RowOp) -> tuple[sql.Composable, list[Any]]:
        key = sql.Identifier(self.key_column)
        if row.op == "delete":
            return sql.SQL("DELETE FROM {} WHERE {} = %s").format(self.table, key), [row.key]
        names = [n for n in row.fields if n != self.key_column]
        values = [_adapt(row.fields[n]) for n in names]
        if row.op == "update":
            assignments = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(n)) for n in names)
            return sql.SQL("UPDATE {} SET {} WHERE {} = %s").format(self.table, assignments, key), [*values, row.key]
        cols = sql.SQL(", ").join([key, *(sql.Identifier(n) for n in names)])
        marks = sql.SQL(", ").join(sql.Placeholder() for _ in range(len(names) + 1))
        if row.op == "insert" or not names:
            conflict = sql.SQL("DO NOTHING")
        else:
            conflict = sql.SQL("DO UPDATE SET ") + sql.SQL(", ").join(
                sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(n)) for n in names
            )
        query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) ").format(self.table, cols, marks, key)
        return query + conflict, [row.key, *values]

    def _apply(self, cur: psycopg.Cursor[Any], row: RowOp) -> str | None:
        query, params = self._statement(row)
        cur.execute(query, params)
        if row.op == "update" and cur.rowcount == 0:
            return f"no record with {self.key_column} = {row.key!r} to update"
        return None

    def send_batch(self, sync_name: str, batch_id: str, rows: list[RowOp]) -> BatchResult:
        if not rows:
            return BatchResult()
        try:
            conn = self._connection()
            self._ensure_table(conn, rows)
        except psycopg.OperationalError as exc:
            self._conn = None
            return BatchResult.failed(f"cannot connect to PostgreSQL: {exc}")
        try:
            rejected: dict[str, str] = {}
            try:
                with conn.transaction(), conn.cursor() as cur:
                    for row in rows:
                        problem = self._apply(cur, row)
                        if problem:
                            rejected[row.key] = problem
            except (psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError) as exc:
                # find the offending rows: replay one savepoint per row
                first_error = str(exc).strip()
                rejected = {}
                with conn.transaction(), conn.cursor() as cur:
                    for row in rows:
                        try:
                            with conn.transaction():
                                problem = self._apply(cur, row)
                        except (psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError) as row_exc:
                            problem = str(row_exc).strip().splitlines()[0]
                        if problem:
                            rejected[row.key] = problem
                if not rejected:
                    return BatchResult.failed(f"batch failed but no single row did: {first_error}")
            return BatchResult(acked_keys={r.key for r in rows} - rejected.keys(), rejected=rejected)
        except psycopg.OperationalError as exc:
            self._drop()
            return BatchResult.failed(f"PostgreSQL connection lost: {exc}")

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
        self._conn = None

    def close(self) -> None:
        self._drop()
