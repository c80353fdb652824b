"""Table uploads: one ``.csv`` or ``.parquet`` file, typed and encoded once.

Column types are inferred (numeric, categorical, boolean; see :mod:`selfsup.tabular.schema`) unless the upload
overrides them; the schema, with normalization statistics, category vocabularies and missing counts, is stored
with the encoded arrays and shown on the dataset. A label column, if named, is kept aside for evaluation only.
"""

from pathlib import Path
from typing import Any

from app.core.errors import Unprocessable
from app.datasets.archives import upload_files
from app.datasets.ingest import Ingested, IngestLimits, IngestOptions, finish_ingest
from app.datasets.labels import labels_from_values
from selfsup.tabular.data import encode_table, save_table_dataset
from selfsup.tabular.reading import InvalidTableError, read_table
from selfsup.tabular.schema import infer_schema

TABLE_SUFFIXES = frozenset({".csv", ".parquet"})


def ingest_table(
    upload: Path, *, filename: str, out_dir: Path, options: IngestOptions, limits: IngestLimits
) -> Ingested:
    files = upload_files(upload, filename, limits.archive, TABLE_SUFFIXES, max_total_bytes=limits.max_in_memory_bytes)
    if len(files) != 1:
        raise Unprocessable(f"{filename}: a table dataset is one .csv or .parquet file, not {len(files)}")
    [(name, data)] = files
    try:
        table = read_table(
            data,
            filename=name,
            max_unpacked_bytes=limits.archive.max_member_bytes,
            max_columns=limits.max_table_columns,
        )
        overrides: dict[str, Any] = dict(options.column_types)
        schema = infer_schema(table, overrides=overrides, label_column=options.label_column)
        encoded = encode_table(table, schema)
    except InvalidTableError as exc:
        raise Unprocessable(str(exc)) from None
    save_table_dataset(out_dir, encoded, schema)
    labels = labels_from_values(encoded.labels, options.label_column or "") if encoded.labels else None
    return finish_ingest(out_dir, table.num_rows, {"schema": schema.to_dict()}, labels)
