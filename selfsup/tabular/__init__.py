"""The tabular modality: reading uploaded tables, typing them, encoding them for training and serving, and
the table encoders. Methods live in :mod:`selfsup.methods` (``scarf``, ``vime``, ``tabular_dae``)."""

from selfsup.tabular.batch import TableBatch
from selfsup.tabular.data import (
    EncodedTable,
    TableData,
    encode_table,
    load_table_data,
    save_table_dataset,
)
from selfsup.tabular.encoders import FTTransformer, TabularEncoderSpec, TabularMLP, TabularParams
from selfsup.tabular.reading import InvalidTableError, RawTable, read_table
from selfsup.tabular.rows import InvalidRowError, RowPreprocessor
from selfsup.tabular.schema import ColumnKind, ColumnSchema, TableSchema, infer_schema, label_values

__all__ = [
    "ColumnKind",
    "ColumnSchema",
    "EncodedTable",
    "FTTransformer",
    "InvalidRowError",
    "InvalidTableError",
    "RawTable",
    "RowPreprocessor",
    "TableBatch",
    "TableData",
    "TableSchema",
    "TabularEncoderSpec",
    "TabularMLP",
    "TabularParams",
    "encode_table",
    "infer_schema",
    "label_values",
    "load_table_data",
    "read_table",
    "save_table_dataset",
]
