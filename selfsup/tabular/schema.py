"""Column types, normalization statistics and category vocabularies of a table: its :class:`TableSchema`.

Inference rule, per column, over its non-missing cells:

* every cell is a boolean or one of the words true/false/yes/no (any case) -> ``boolean``;
* else every cell is a number (a finite int/float, or a decimal string such as ``-1.5e3``) -> ``numeric``
  (integer codes such as zip codes are numeric too: override them to ``categorical``);
* else -> ``categorical``;
* no non-missing cell at all -> ``ignore`` (nothing to learn from).

Booleans are deliberately words only: a 0/1 column stays numeric, so that serving can keep the simple rule
"numbers for numeric columns, true/false for boolean ones". The same cell parsers decide inference, training
encoding and serving encoding, which is what makes serving reproduce the training encoding exactly.
"""

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from selfsup.tabular.reading import Cell, InvalidTableError, RawTable

ColumnKind = Literal["numeric", "categorical", "boolean", "ignore"]
COLUMN_KINDS: tuple[str, ...] = get_args(ColumnKind)
SCHEMA_VERSION = 1
DEFAULT_MAX_CATEGORIES = 100
BOOLEAN_VOCABULARY = ("false", "true")
MISSING_CODE, UNKNOWN_CODE, FIRST_CATEGORY_CODE = 0, 1, 2

# ASCII digits only, written out so that Python's re and arrow's RE2 (streaming ingest) agree on every cell.
NUMBER_PATTERN = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_NUMBER = re.compile(NUMBER_PATTERN)
TRUE_WORDS, FALSE_WORDS = frozenset({"true", "yes"}), frozenset({"false", "no"})


def as_number(cell: Cell) -> float | None:
    """A numeric column's cell -> float (None if missing); ValueError if it is not a finite number."""
    if cell is None:
        return None
    if isinstance(cell, bool):
        raise ValueError("a boolean is not a number")
    try:
        value = float(cell) if isinstance(cell, int | float) else _parse_number(cell)
    except OverflowError:  # an int beyond float range
        raise ValueError(f"{cell!r} is out of range") from None
    if not math.isfinite(value):
        raise ValueError(f"{cell!r} is not a finite number")
    return value


def _parse_number(text: str) -> float:
    if not _NUMBER.fullmatch(text):  # stricter than float(): no "inf", "nan", "1_000" or padding
        raise ValueError(f"{text!r} is not a number")
    return float(text)


def as_boolean(cell: Cell) -> bool | None:
    """A boolean column's cell -> bool (None if missing); ValueError unless a bool or a true/false/yes/no word."""
    if cell is None or isinstance(cell, bool):
        return cell
    if isinstance(cell, str) and cell.lower() in TRUE_WORDS | FALSE_WORDS:
        return cell.lower() in TRUE_WORDS
    raise ValueError(f"{cell!r} is not one of true/false/yes/no")


def as_category(cell: Cell) -> str | None:
    """A categorical column's cell -> its text (None if missing). Numbers are written canonically, integral
    floats as integers (1.0 -> "1"), so that an int and a float of the same value are the same category."""
    if cell is None or isinstance(cell, str):
        return cell
    if isinstance(cell, bool):
        return BOOLEAN_VOCABULARY[cell]
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell) if isinstance(cell, int) else repr(cell)


@dataclass(frozen=True)
class ColumnSchema:
    """One column: its kind, how many cells were missing, and how its values are encoded.

    Numeric: ``(x - mean) / std``. Categorical and boolean: code 0 = missing, 1 = unknown, ``2 + i`` =
    ``vocabulary[i]`` (booleans: false, true).
    """

    name: str
    kind: ColumnKind
    missing: int
    mean: float = 0.0
    std: float = 1.0
    vocabulary: tuple[str, ...] = ()

    @property
    def cardinality(self) -> int:
        """Number of codes (missing and unknown included) of a categorical or boolean column."""
        return FIRST_CATEGORY_CODE + len(self.vocabulary)

    def to_dict(self) -> dict[str, Any]:
        raw: dict[str, Any] = {"name": self.name, "kind": self.kind, "missing": self.missing}
        if self.kind == "numeric":
            raw |= {"mean": self.mean, "std": self.std}
        elif self.kind in ("categorical", "boolean"):
            raw["vocabulary"] = list(self.vocabulary)
        return raw

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "ColumnSchema":
        return cls(
            name=str(raw["name"]),
            kind=raw["kind"],
            missing=int(raw["missing"]),
            mean=float(raw.get("mean", 0.0)),
            std=float(raw.get("std", 1.0)),
            vocabulary=tuple(str(v) for v in raw.get("vocabulary", ())),
        )


@dataclass(frozen=True)
class TableSchema:
    """The feature columns (label excluded) in file order, the row count, and the label column's name."""

    columns: tuple[ColumnSchema, ...]
    num_rows: int
    label_column: str | None = None

    @property
    def numeric_columns(self) -> tuple[ColumnSchema, ...]:
        return tuple(c for c in self.columns if c.kind == "numeric")

    @property
    def categorical_columns(self) -> tuple[ColumnSchema, ...]:
        """Categorical and boolean columns: both are encoded as codes."""
        return tuple(c for c in self.columns if c.kind in ("categorical", "boolean"))

    @property
    def cardinalities(self) -> tuple[int, ...]:
        return tuple(c.cardinality for c in self.categorical_columns)

    def column(self, name: str) -> ColumnSchema | None:
        return next((c for c in self.columns if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": SCHEMA_VERSION,
            "num_rows": self.num_rows,
            "label_column": self.label_column,
            "columns": [c.to_dict() for c in self.columns],
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "TableSchema":
        if raw.get("version") != SCHEMA_VERSION:
            raise InvalidTableError(f"unsupported table schema version {raw.get('version')!r}")
        columns = tuple(ColumnSchema.from_dict(c) for c in raw["columns"])
        return cls(columns, int(raw["num_rows"]), raw.get("label_column"))


def infer_schema(
    table: RawTable,
    *,
    overrides: dict[str, ColumnKind] | None = None,
    label_column: str | None = None,
    max_categories: int = DEFAULT_MAX_CATEGORIES,
) -> TableSchema:
    """Type every column of ``table`` (see the module docstring), honouring ``overrides``, and set the label
    column aside (it is no feature; read its values with :func:`label_values`).

    Raises :class:`InvalidTableError` for an unknown column name or kind, an override the values cannot hold
    (naming the column and the first bad value), or a table left without any feature column.
    """
    overrides = overrides or {}
    check_choices(list(table.columns), overrides, label_column)
    columns = tuple(
        _column_schema(name, cells, overrides.get(name) or _infer_kind(cells), max_categories)
        for name, cells in table.columns.items()
        if name != label_column
    )
    return table_schema(columns, table.num_rows, label_column)


def check_choices(names: list[str], overrides: dict[str, ColumnKind], label_column: str | None) -> None:
    """InvalidTableError for an override of an unknown column or kind, or a label column that is not there."""
    for name, kind in overrides.items():
        if name not in names:
            raise InvalidTableError(f"type override for unknown column {name!r}")
        if kind not in COLUMN_KINDS:
            raise InvalidTableError(f"column {name!r}: unknown type {kind!r}; use one of {', '.join(COLUMN_KINDS)}")
    if label_column is not None and label_column not in names:
        raise InvalidTableError(f"label column {label_column!r} is not in the table")
    if label_column is not None and label_column in overrides:
        raise InvalidTableError(f"label column {label_column!r} cannot have a type override")


def table_schema(columns: tuple[ColumnSchema, ...], num_rows: int, label_column: str | None) -> TableSchema:
    if all(c.kind == "ignore" for c in columns):
        raise InvalidTableError("the table has no usable feature column")
    return TableSchema(columns, num_rows, label_column)


def ranked_vocabulary(counts: Counter[str], max_categories: int) -> tuple[str, ...]:
    """The ``max_categories`` most frequent values, ties broken by value."""
    return tuple(sorted(counts, key=lambda text: (-counts[text], text))[:max_categories])


def not_a(name: str, kind: str, row: int, cell: Cell) -> InvalidTableError:
    return InvalidTableError(f"column {name!r} cannot be {kind}: row {row} holds {cell!r}")


def label_values(table: RawTable, schema: TableSchema) -> list[str | None] | None:
    """The label column's values as text (None where missing), or None when the schema has no label."""
    if schema.label_column is None:
        return None
    return [as_category(cell) for cell in table.columns[schema.label_column]]


def _infer_kind(cells: list[Cell]) -> ColumnKind:
    present = [cell for cell in cells if cell is not None]
    if not present:
        return "ignore"
    if _all_parse(present, as_boolean):
        return "boolean"
    return "numeric" if _all_parse(present, as_number) else "categorical"


def _all_parse(cells: Iterable[Cell], parse: Callable[[Cell], object]) -> bool:
    try:
        for cell in cells:
            parse(cell)
    except ValueError:
        return False
    return True


def parse_column(name: str, kind: str, cells: list[Cell], parse: Callable[[Cell], Any]) -> list[Any]:
    """Every cell parsed, or InvalidTableError naming the column and the first cell that is not a ``kind``."""
    try:
        return [parse(cell) for cell in cells]
    except ValueError:
        row, cell = next((i, c) for i, c in enumerate(cells, start=1) if not _all_parse([c], parse))
        raise not_a(name, kind, row, cell) from None


def _column_schema(name: str, cells: list[Cell], kind: ColumnKind, max_categories: int) -> ColumnSchema:
    missing = sum(cell is None for cell in cells)
    if kind == "numeric":
        values = np.array([v for v in parse_column(name, kind, cells, as_number) if v is not None], np.float64)
        mean = float(values.mean()) if values.size else 0.0
        std = float(values.std()) if values.size else 0.0
        return ColumnSchema(name, kind, missing, mean, std if std > 0 else 1.0)
    if kind == "boolean":
        parse_column(name, kind, cells, as_boolean)
        return ColumnSchema(name, kind, missing, vocabulary=BOOLEAN_VOCABULARY)
    if kind == "categorical":
        counts = Counter(text for text in map(as_category, cells) if text is not None)
        return ColumnSchema(name, kind, missing, vocabulary=ranked_vocabulary(counts, max_categories))
    return ColumnSchema(name, kind, missing)
