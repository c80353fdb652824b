"""Small real tables from scikit-learn's bundled data sets, as columns and as CSV or parquet bytes.

Wine, iris and breast cancer are all numeric with a class label. To exercise categorical, boolean and missing
cells, :func:`diabetes_columns` derives them from the diabetes set (raw, unscaled values) in a fixed way:

* ``sex`` (coded 1 or 2 in the data) becomes the text ``"sex_1"`` / ``"sex_2"``: a categorical column;
* ``high_bp`` is whether ``bp`` is above its median: ``"yes"`` / ``"no"`` in CSV, a native boolean in parquet;
* ``bmi`` is missing in every 11th row and ``sex`` in every 13th row (from row 0);
* the disease-progression target is the label column ``progression``.
"""

import csv
import io
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine

Columns = dict[str, list[Any]]

_LOADERS = {"wine": load_wine, "iris": load_iris, "breast_cancer": load_breast_cancer}


@lru_cache
def _classification_columns(name: str) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    bunch = _LOADERS[name]()
    columns: list[tuple[str, tuple[Any, ...]]] = [
        (str(feature).replace(" ", "_"), tuple(float(v) for v in bunch.data[:, j]))
        for j, feature in enumerate(bunch.feature_names)
    ]
    columns.append(("label", tuple(str(bunch.target_names[t]) for t in bunch.target)))
    return tuple(columns)


def classification_columns(name: str) -> Columns:
    """``"wine"``, ``"iris"`` or ``"breast_cancer"``: float feature columns and a text ``label`` column."""
    return {column: list(values) for column, values in _classification_columns(name)}


def diabetes_columns() -> Columns:
    """442 rows: 9 numeric columns, categorical ``sex``, boolean ``high_bp``, missing cells, label ``progression``
    (see the module docstring for how they are derived)."""
    bunch = load_diabetes(scaled=False)
    data, names = bunch.data, list(bunch.feature_names)
    columns: Columns = {name: [float(v) for v in data[:, j]] for j, name in enumerate(names) if name != "sex"}
    columns["sex"] = [f"sex_{int(v)}" for v in data[:, names.index("sex")]]
    bp = data[:, names.index("bp")]
    columns["high_bp"] = [bool(v > np.median(bp)) for v in bp]
    for row in range(0, len(data), 11):
        columns["bmi"][row] = None
    for row in range(0, len(data), 13):
        columns["sex"][row] = None
    columns["progression"] = [str(int(v)) for v in bunch.target]
    return columns


def csv_bytes(columns: Columns) -> bytes:
    """UTF-8 CSV with a header; None is an empty field, booleans are yes/no, floats are written exactly."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in zip(*columns.values(), strict=True):
        writer.writerow([_csv_field(value) for value in row])
    return buffer.getvalue().encode()


def _csv_field(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return repr(value) if isinstance(value, float) else str(value)


def parquet_bytes(columns: Columns) -> bytes:
    """Parquet with the columns' native types (float64, string, bool; None is null)."""
    buffer = io.BytesIO()
    pq.write_table(pa.table({name: pa.array(values) for name, values in columns.items()}), buffer)
    return buffer.getvalue()
