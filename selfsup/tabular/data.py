"""Encoding a typed table into training arrays, storing them, and serving them to the training loop.

:func:`encode_columns` is the one encoding, used at ingest (:func:`encode_table`) and at serving
(:class:`selfsup.tabular.rows.RowPreprocessor`): the same cells always give the same numbers.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from selfsup.data.base import TrainingData
from selfsup.tabular.batch import TableBatch
from selfsup.tabular.corruption import exact_fraction_mask, replace_features
from selfsup.tabular.encoding import encode_columns
from selfsup.tabular.reading import RawTable
from selfsup.tabular.rows import InvalidRowError, RowPreprocessor
from selfsup.tabular.schema import TableSchema, label_values

if TYPE_CHECKING:
    from selfsup.tabular.encoders import TableEncoder, TabularParams

__all__ = [
    "EncodedTable",
    "InvalidRowError",
    "RowPreprocessor",
    "TableData",
    "encode_table",
    "load_table_data",
    "save_table_dataset",
]

PROBE_CORRUPTION_RATE = 0.3
NUMERIC_FILE, CATEGORICAL_FILE = "numeric.npy", "categorical.npy"
SCHEMA_FILE, LABELS_FILE = "schema.json", "labels.json"


@dataclass(frozen=True)
class EncodedTable:
    """A whole table encoded: what training reads. ``labels`` are the label column's values, kept for
    evaluation only (None when there is no label column)."""

    numeric: np.ndarray  # (N, Fn) float32
    categorical: np.ndarray  # (N, Fc) int64
    labels: list[str | None] | None = None


def encode_table(table: RawTable, schema: TableSchema) -> EncodedTable:
    """Encode every row of ``table`` with ``schema`` (normally inferred from that same table)."""
    batch = encode_columns(schema, table.columns, table.num_rows)
    return EncodedTable(batch.numeric.numpy(), batch.categorical.numpy(), label_values(table, schema))


class TableData(TrainingData):
    """An encoded table for training: batches of rows, and encoders shaped for its columns."""

    modality: ClassVar[str] = "tabular"

    def __init__(self, encoded: EncodedTable, schema: TableSchema) -> None:
        if encoded.numeric.shape[1] != len(schema.numeric_columns) or encoded.categorical.shape[1] != len(
            schema.categorical_columns
        ):
            raise ValueError("the encoded arrays do not match the schema's columns")
        self.numeric, self.categorical = encoded.numeric, encoded.categorical  # (N, Fn), (N, Fc)
        self.labels = encoded.labels
        self.schema = schema

    def __len__(self) -> int:
        return int(self.numeric.shape[0])

    def gather(self, indices: np.ndarray) -> TableBatch:
        return TableBatch(torch.from_numpy(self.numeric[indices]), torch.from_numpy(self.categorical[indices]))

    def create_encoder(self, params: "TabularParams") -> "TableEncoder":
        from selfsup.tabular.encoders import create_table_encoder  # the encoders import torch layers only here

        return create_table_encoder(self.schema, params, self.numeric)

    def probe_view(self, batch: TableBatch) -> TableBatch:
        """SCARF corruption of 30% of each row's features, each replaced by the value the feature takes in a
        row drawn uniformly from the whole dataset (torch's global RNG)."""
        mask = exact_fraction_mask(batch.num_rows, batch.num_features, PROBE_CORRUPTION_RATE, device=batch.device)
        donor_rows = torch.randint(len(self), (batch.num_rows, batch.num_features)).numpy()  # (B, F)
        numeric_rows, categorical_rows = donor_rows[:, : batch.num_numeric], donor_rows[:, batch.num_numeric :]
        donors = TableBatch(
            torch.from_numpy(self.numeric[numeric_rows, np.arange(numeric_rows.shape[1])]),
            torch.from_numpy(self.categorical[categorical_rows, np.arange(categorical_rows.shape[1])]),
        )
        return replace_features(batch, mask, donors.to(batch.device))

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "numeric_columns": [c.name for c in self.schema.numeric_columns],
            "categorical_columns": [c.name for c in self.schema.categorical_columns],
            "cardinalities": list(self.schema.cardinalities),
        }

    def serving_assets(self) -> dict[str, Any]:
        return {"schema": self.schema.to_dict()}


def save_table_dataset(out_dir: Path, encoded: EncodedTable, schema: TableSchema) -> None:
    """Write ``numeric.npy``, ``categorical.npy``, ``schema.json`` (and ``labels.json`` if any) to ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    np.save(out_dir / NUMERIC_FILE, encoded.numeric)
    np.save(out_dir / CATEGORICAL_FILE, encoded.categorical)
    write_table_description(out_dir, schema, encoded.labels)


def write_table_description(out_dir: Path, schema: TableSchema, labels: list[str | None] | None) -> None:
    """Write ``schema.json`` (and ``labels.json`` if any) next to a table dataset's arrays."""
    (out_dir / SCHEMA_FILE).write_text(json.dumps(schema.to_dict()))
    if labels is not None:
        (out_dir / LABELS_FILE).write_text(json.dumps(labels))


def load_table_data(directory: Path) -> TableData:
    """The :class:`TableData` that :func:`save_table_dataset` wrote (arrays memory-mapped, read-only)."""
    directory = Path(directory)
    schema = TableSchema.from_dict(json.loads((directory / SCHEMA_FILE).read_text()))
    labels_path = directory / LABELS_FILE
    encoded = EncodedTable(
        np.load(directory / NUMERIC_FILE, mmap_mode="r"),
        np.load(directory / CATEGORICAL_FILE, mmap_mode="r"),
        json.loads(labels_path.read_text()) if labels_path.is_file() else None,
    )
    return TableData(encoded, schema)
