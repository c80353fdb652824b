"""Serving: rows sent as JSON objects keyed by column name -> exactly the batch training would have built.

Rules, per value: ``null`` (or a missing key, or a missing-marker string such as "NA") is imputed as in
training; an unknown key is refused; lists, objects and non-finite numbers are refused anywhere. Numeric
columns take numbers only; boolean columns take true/false (or the words true/false/yes/no); categorical
columns take strings, numbers or booleans, and a value never seen in training gets the unknown code. The label
column and ignored columns are accepted and not used.
"""

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from selfsup.errors import SelfSupError
from selfsup.tabular.batch import TableBatch
from selfsup.tabular.encoding import encode_columns
from selfsup.tabular.reading import Cell, is_missing_marker
from selfsup.tabular.schema import ColumnSchema, TableSchema, as_boolean, as_number

_JSON_TYPE_NAMES = {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}


class InvalidRowError(SelfSupError, ValueError):
    """A row that cannot be encoded: ``index`` is its position in the request, ``column`` the key at fault."""

    def __init__(self, index: int, column: str | None, problem: str) -> None:
        self.index, self.column = index, column
        where = f"row {index}" if column is None else f"row {index}, column {column!r}"
        super().__init__(f"{where}: {problem}")


class RowPreprocessor:
    """Turns request rows into a :class:`TableBatch` with the schema a model was trained with."""

    def __init__(self, schema: TableSchema) -> None:
        self.schema = schema
        self._columns = {column.name: column for column in schema.columns}

    @classmethod
    def from_assets(cls, assets: Mapping[str, Any]) -> "RowPreprocessor":
        """From ``TableData.serving_assets()`` as stored with the model."""
        return cls(TableSchema.from_dict(assets["schema"]))

    def encode(self, rows: Sequence[Any]) -> TableBatch:
        """``rows`` (parsed JSON objects) -> a CPU :class:`TableBatch`; raises :class:`InvalidRowError`."""
        cells: dict[str, list[Cell]] = {name: [None] * len(rows) for name in self._columns}
        for index, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise InvalidRowError(index, None, f"expected an object keyed by column name, got {_type(row)}")
            for name, value in row.items():
                cell = self._cell(index, str(name), value)
                if name in cells:
                    cells[name][index] = cell
        return encode_columns(self.schema, cells, len(rows))

    def _cell(self, index: int, name: str, value: Any) -> Cell:
        column = self._columns.get(name)
        if column is None and name != self.schema.label_column:
            known = ", ".join(sorted(self._columns)[:20])
            raise InvalidRowError(index, name, f"unknown column; the table's columns are {known}")
        if isinstance(value, str) and is_missing_marker(value):
            return None
        if value is not None and not isinstance(value, bool | int | float | str):
            raise InvalidRowError(index, name, f"expected a single value, got {_type(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidRowError(index, name, f"non-finite number {value}")
        if value is None or column is None or column.kind == "ignore":
            return None
        return _typed_cell(index, column, value.strip() if isinstance(value, str) else value)


def _typed_cell(index: int, column: ColumnSchema, value: bool | int | float | str) -> Cell:
    """``value`` if ``column`` can hold it, else :class:`InvalidRowError` naming the column."""
    if column.kind == "numeric":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidRowError(index, column.name, f"expected a number, got {_type(value)} {value!r}")
        _check(index, column, value, as_number)
    elif column.kind == "boolean":
        if not isinstance(value, bool | str):
            raise InvalidRowError(index, column.name, f"expected true or false, got {_type(value)} {value!r}")
        _check(index, column, value, as_boolean)
    return value


def _check(index: int, column: ColumnSchema, value: Cell, parse: Callable[[Cell], object]) -> None:
    try:
        parse(value)
    except ValueError as exc:
        raise InvalidRowError(index, column.name, str(exc)) from None


def _type(value: Any) -> str:
    return "null" if value is None else _JSON_TYPE_NAMES.get(type(value), type(value).__name__)
