"""Encoded rows back to cells in the table's own terms: numbers in their original units, category names.

The inverse of :mod:`selfsup.tabular.encoding` up to what encoding drops: a missing number was imputed as the
column mean and comes back as that mean (the arrays do not record which cells were missing), a missing or
unknown category comes back as ``None``, and a number cut at ``STANDARDIZED_LIMIT`` deviations stays cut.
Re-encoding a decoded row gives the same arrays (to float32 rounding), which is what lets a model trained on
one table embed another table's rows through its own schema.
"""

import numpy as np

from selfsup.tabular.schema import BOOLEAN_VOCABULARY, FIRST_CATEGORY_CODE, ColumnSchema, TableSchema

Value = float | bool | str | None


def decode_rows(schema: TableSchema, numeric: np.ndarray, categorical: np.ndarray) -> list[dict[str, Value]]:
    """(B, Fn) standardized numerics and (B, Fc) codes, columns in schema order -> B rows keyed by column name,
    in the schema's column order (ignored columns left out)."""
    decoded: dict[str, list[Value]] = {}
    for position, column in enumerate(schema.numeric_columns):
        values = np.asarray(numeric[:, position], dtype=np.float64) * column.std + column.mean
        decoded[column.name] = [float(v) for v in values]
    for position, column in enumerate(schema.categorical_columns):
        decoded[column.name] = [_category(column, int(code)) for code in categorical[:, position]]
    names = [c.name for c in schema.columns if c.name in decoded]  # ignored columns were never stored
    return [{name: decoded[name][row] for name in names} for row in range(len(numeric))]


def _category(column: ColumnSchema, code: int) -> Value:
    """Code 0 (missing) and 1 (unknown) -> None; ``2 + i`` -> ``vocabulary[i]`` (a bool for boolean columns)."""
    if code < FIRST_CATEGORY_CODE or code - FIRST_CATEGORY_CODE >= len(column.vocabulary):
        return None
    name = column.vocabulary[code - FIRST_CATEGORY_CODE]
    return name == BOOLEAN_VOCABULARY[1] if column.kind == "boolean" else name
