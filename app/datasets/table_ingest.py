"""Table uploads: one ``.csv`` or ``.parquet`` file (or an archive holding one), typed and encoded once.

Column types are inferred (numeric, categorical, boolean; see :mod:`selfsup.tabular.schema`) unless the upload
overrides them; the schema, with normalization statistics, category vocabularies and missing counts, is stored
with the encoded arrays and shown on the dataset. A label column, if named, is kept aside for evaluation only.
The file is streamed from disk in batches (:mod:`selfsup.tabular.stream`), so memory does not grow with its rows.
"""

from pathlib import Path
from typing import Any

from app.core.errors import PayloadTooLarge, Unprocessable
from app.datasets.archives import staged_data_file
from app.datasets.ingest import Ingested, IngestLimits, IngestOptions, OnProgress, finish_ingest, no_progress
from app.datasets.labels import labels_from_values
from selfsup.tabular.batches import TableSource
from selfsup.tabular.reading import InvalidTableError
from selfsup.tabular.stream import DatasetTooLargeError, ingest_table_file

TABLE_SUFFIXES = frozenset({".csv", ".parquet"})


def ingest_table(
    upload: Path,
    *,
    filename: str,
    out_dir: Path,
    options: IngestOptions,
    limits: IngestLimits,
    progress: OnProgress = no_progress,
) -> Ingested:
    """``progress`` hears of the file's bytes at the start and at the end only: arrow reads the file itself."""
    out_dir.mkdir(parents=True, exist_ok=True)
    total = upload.stat().st_size
    progress({"bytes_done": 0, "bytes_total": total})
    name, path = staged_data_file(upload, filename, limits.archive, TABLE_SUFFIXES, staging=out_dir)
    source = TableSource(path, name, max_decoded_bytes=limits.max_dataset_bytes, max_columns=limits.max_table_columns)
    overrides: dict[str, Any] = dict(options.column_types)
    try:
        table = ingest_table_file(
            source, out_dir, overrides=overrides, label_column=options.label_column, max_bytes=limits.max_dataset_bytes
        )
    except DatasetTooLargeError as exc:
        raise PayloadTooLarge(f"{exc} (SELFSUP_MAX_DATASET_BYTES)") from None
    except InvalidTableError as exc:
        raise Unprocessable(str(exc)) from None
    finally:
        if path != upload:
            path.unlink(missing_ok=True)  # the extracted member: the dataset keeps only its encoded form
    progress({"bytes_done": total, "items_done": table.schema.num_rows, "items_total": table.schema.num_rows})
    labels = labels_from_values(table.labels, options.label_column or "") if table.labels else None
    return finish_ingest(out_dir, table.schema.num_rows, {"schema": table.schema.to_dict()}, labels)
