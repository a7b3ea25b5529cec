"""Small helpers shared by everything that reads or writes the DuckDB warehouse directly."""

from __future__ import annotations

import duckdb


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """True when ``schema.table`` (a table or a view) exists in the connected warehouse."""
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def replace_table(con: duckdb.DuckDBPyConnection, table: str, frame, select: str = "*") -> None:
    """Replace ``schema.table`` with ``select <select>`` from the DataFrame ``frame`` in one
    statement (create or replace), creating the schema when it is missing."""
    view = "_tessera_" + table.replace(".", "_")
    con.execute(f"create schema if not exists {table.split('.')[0]}")
    con.register(view, frame)
    try:
        con.execute(f"create or replace table {table} as select {select} from {view}")
    finally:
        con.unregister(view)
