"""The one encoding of raw cells into model inputs, used at ingest (:func:`selfsup.tabular.data.encode_table`)
and at serving (:class:`selfsup.tabular.rows.RowPreprocessor`): the same cells always give the same numbers."""

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from selfsup.tabular.batch import TableBatch
from selfsup.tabular.reading import Cell
from selfsup.tabular.schema import (
    BOOLEAN_VOCABULARY,
    FIRST_CATEGORY_CODE,
    MISSING_CODE,
    UNKNOWN_CODE,
    ColumnSchema,
    TableSchema,
    as_boolean,
    as_category,
    as_number,
    parse_column,
)

# Standardized values are cut to this many standard deviations. A finite but absurd cell (1e200 in a column of
# ages) would otherwise overflow float32 to infinity and turn the whole embedding into NaN; no real feature
# sits ten thousand deviations out, so training data is unchanged in practice.
STANDARDIZED_LIMIT = 1e4


def encode_numeric(column: ColumnSchema, cells: Sequence[Cell]) -> np.ndarray:
    """(N,) float32 ``(x - mean) / std`` cut to +-``STANDARDIZED_LIMIT``, missing imputed as the mean (0)."""
    parsed = parse_column(column.name, "numeric", list(cells), as_number)
    return standardize(column, np.array([np.nan if v is None else v for v in parsed], dtype=np.float64))


def standardize(column: ColumnSchema, values: np.ndarray) -> np.ndarray:
    """(N,) float64 numbers (NaN where missing) -> (N,) float32 as :func:`encode_numeric` encodes them."""
    with np.errstate(over="ignore"):  # a huge cell over a tiny std overflows to inf, then is clipped
        standardized = (values - column.mean) / column.std
    standardized = np.clip(np.nan_to_num(standardized, nan=0.0), -STANDARDIZED_LIMIT, STANDARDIZED_LIMIT)
    return standardized.astype(np.float32)


def encode_categorical(column: ColumnSchema, cells: Sequence[Cell]) -> np.ndarray:
    """(N,) int64 codes: 0 missing, 1 unknown (a value outside the vocabulary), 2 + i for ``vocabulary[i]``."""
    codes = {text: FIRST_CATEGORY_CODE + i for i, text in enumerate(column.vocabulary)}
    if column.kind == "boolean":
        flags = parse_column(column.name, "boolean", list(cells), as_boolean)
        texts = [None if flag is None else BOOLEAN_VOCABULARY[flag] for flag in flags]
    else:
        texts = [as_category(cell) for cell in cells]
    return np.array([MISSING_CODE if t is None else codes.get(t, UNKNOWN_CODE) for t in texts], dtype=np.int64)


def encode_columns(schema: TableSchema, cells: Mapping[str, Sequence[Cell]], num_rows: int) -> TableBatch:
    """Raw cells by column name -> a CPU :class:`TableBatch` of ``num_rows``; a column absent from ``cells``
    is all missing (imputed)."""
    missing: list[Cell] = [None] * num_rows
    numeric = [encode_numeric(c, cells.get(c.name, missing)) for c in schema.numeric_columns]
    categorical = [encode_categorical(c, cells.get(c.name, missing)) for c in schema.categorical_columns]
    return TableBatch(
        torch.from_numpy(np.stack(numeric, axis=1) if numeric else np.zeros((num_rows, 0), np.float32)),
        torch.from_numpy(np.stack(categorical, axis=1) if categorical else np.zeros((num_rows, 0), np.int64)),
    )
