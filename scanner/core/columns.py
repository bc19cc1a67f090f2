"""How a record's fields become DuckDB columns and Arrow arrays, and back: one column
kind per field type (text, number, timestamp, list of text, JSON), the fast column
conversions the writer and the readers use, and the slow path that makes a malformed
value storable. The inventory (scanner.core.store) is built on these."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from scanner.core.model import RECORD_TYPES
from scanner.core.timeparse import json_default


def resolve_type(tp: Any) -> Any:
    """Strip Optional[...] and return the base type of a dataclass field annotation."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return resolve_type(args[0])
    return tp


def column_kind(tp: Any) -> str:
    tp = resolve_type(tp)
    origin = typing.get_origin(tp)
    if origin is list:
        return "list"
    if origin is dict or tp is dict:
        return "json"
    if tp is datetime:
        return "ts"
    if tp is bool:
        return "bool"
    if tp is int:
        return "int"
    if tp is float:
        return "float"
    return "str"


SQL_TYPES = {"list": "VARCHAR[]", "json": "VARCHAR", "ts": "TIMESTAMP", "bool": "BOOLEAN",
              "int": "BIGINT", "float": "DOUBLE", "str": "VARCHAR"}
ARROW_TYPES = {"list": pa.list_(pa.string()), "json": pa.string(), "ts": pa.timestamp("us"),
                "bool": pa.bool_(), "int": pa.int64(), "float": pa.float64(), "str": pa.string()}


@dataclasses.dataclass(frozen=True)
class Table:
    cls: type
    name: str
    columns: tuple[tuple[str, str], ...]  # (field name, kind)

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([("scan_id", pa.string())] +
                         [(n, ARROW_TYPES[k]) for n, k in self.columns])


def table_of(cls: type) -> Table:
    hints = typing.get_type_hints(cls)
    cols = tuple((f.name, column_kind(hints[f.name])) for f in dataclasses.fields(cls))
    return Table(cls, cls.TABLE, cols)


TABLES: dict[type, Table] = {cls: table_of(cls) for cls in RECORD_TYPES}


def to_utc_naive(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def cell_out(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "json":
        return json.dumps(value, default=json_default, sort_keys=True)
    if kind == "ts":
        return to_utc_naive(value)
    if kind == "list":
        return [str(v) for v in value]
    return value


AS_IS = frozenset(("str", "int", "float", "bool"))


def valid_text(value: Any) -> Any:
    """``value`` with lone surrogates (which UTF-8 cannot encode) replaced by U+FFFD, in
    strings and in lists of strings: an API payload may carry them as JSON escapes."""
    if isinstance(value, str):
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value)
    if isinstance(value, list):
        return [valid_text(v) for v in value]
    return value


def coerce(kind: str, value: Any) -> Any:
    """One value made storable in a column of ``kind`` (the slow path for malformed
    records): text for text, numbers for numbers, None when there is no sensible value."""
    if value is None:
        return None
    try:
        if kind == "str":
            return valid_text(value if isinstance(value, str) else str(value))
        if kind == "list":
            items = value if isinstance(value, (list, tuple, set)) else [value]
            return [valid_text(v if isinstance(v, str) else str(v)) for v in items]
        if kind == "json":
            return json.dumps(value, default=json_default, sort_keys=True)
        if kind == "ts":
            return to_utc_naive(value) if isinstance(value, datetime) else None
        if kind == "bool":
            return value if isinstance(value, bool) else None
        if kind in ("int", "float"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return None
            return int(value) if kind == "int" and -2**63 <= value < 2**63 else \
                float(value) if kind == "float" else None
    except (TypeError, ValueError, OverflowError, RecursionError):
        return None
    return None


def column_out(kind: str, values: list[Any]) -> list[Any]:
    """``cell_out`` over a column, with the common cases (empty attributes, UTC
    timestamps) short-cut: writing a million records should not cost a million
    json.dumps of ``{}``."""
    if kind == "json":
        return [None if v is None else "{}" if v == {} and type(v) is dict else
                json.dumps(v, default=json_default, sort_keys=True) for v in values]
    if kind == "ts":
        return [None if v is None else v if v.tzinfo is None else
                v.replace(tzinfo=None) if v.tzinfo is UTC else to_utc_naive(v) for v in values]
    return [cell_out(kind, v) for v in values]


def cell_in(kind: str, value: Any) -> Any:
    if kind == "json":
        return json.loads(value) if value else {}
    if kind == "ts" and value is not None:
        return value.replace(tzinfo=UTC)
    if kind == "list":
        return list(value) if value is not None else []
    return value


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)


def column_in(kind: str, arr: pa.Array) -> list[Any]:
    """One Arrow column to the Python values ``cell_in`` would give, fast: timestamps
    from their integer microseconds, JSON parsed only when not empty, and low-cardinality
    strings (system, source, kind, status) shared instead of copied per row, which
    keeps a few million records in memory affordable."""
    if kind == "ts":
        return [None if v is None else EPOCH + timedelta(microseconds=v)
                for v in arr.cast(pa.int64()).to_pylist()]
    if kind == "json":
        return [{} if not v or v == "{}" else json.loads(v) for v in arr.to_pylist()]
    if kind == "list":
        return [[] if v is None else v for v in arr.to_pylist()]
    if kind == "str" and len(arr) > 64:
        enc = arr.dictionary_encode()
        if len(enc.dictionary) * 4 < len(arr):
            values = enc.dictionary.to_pylist()
            return [None if i is None else values[i] for i in enc.indices.to_pylist()]
    return arr.to_pylist()
