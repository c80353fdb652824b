"""One column of one batch, in the form profiling and encoding read. String columns stay arrow arrays (trimmed,
null where missing) handled with arrow compute, and integer and float columns numpy numbers (NaN where
missing); any column can also be read as Python cells by the rules of :mod:`selfsup.tabular.reading`, which
is what the other types use. All give what the whole-file path gives for the same file."""

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from selfsup.tabular.reading import MISSING_MARKERS, Cell, InvalidTableError, parquet_cell
from selfsup.tabular.schema import NUMBER_PATTERN, as_category

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class Chunk:
    """``rows`` cells of column ``name`` starting at table row ``offset`` (0-based), from ``array``: ``text``
    for a string column (null = missing), ``numbers`` for an integer or float one (NaN = missing)."""

    name: str
    offset: int
    array: "pa.Array"
    filename: str
    text: "pa.Array | None" = None
    numbers: np.ndarray | None = None  # (rows,) float64

    @property
    def rows(self) -> int:
        return len(self.array)

    @cached_property
    def cells(self) -> list[Cell]:
        """Every cell as the whole-file reader gives it (None where missing)."""
        if self.text is not None:
            return self.text.to_pylist()
        values = self.array.to_pylist()
        return [parquet_cell(value, self.name, self.offset + row, self.filename) for row, value in enumerate(values)]

    def present(self) -> tuple["pa.Array", np.ndarray]:
        """A text chunk's non-missing cells and their positions in the chunk."""
        assert self.text is not None
        positions = np.flatnonzero(self.text.is_valid().to_numpy(zero_copy_only=False))
        return self.text.drop_null(), positions

    def categories(self) -> "list[str | None]":
        """Every cell as a category's text (None where missing), what a label column stores."""
        if self.text is not None:
            return self.text.to_pylist()
        return [as_category(cell) for cell in self.cells]


def chunk(array: "pa.Array", *, name: str, offset: int, filename: str) -> Chunk:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        trimmed = pc.utf8_trim_whitespace(array)
        missing = pc.fill_null(pc.is_in(pc.utf8_lower(trimmed), value_set=pa.array(sorted(MISSING_MARKERS))), True)
        text = pc.if_else(missing, pa.scalar(None, trimmed.type), trimmed)
        return Chunk(name, offset, array, filename, text=text)
    if pa.types.is_integer(array.type) or pa.types.is_floating(array.type):
        # Unsafe: a 64-bit integer rounds to the nearest float, as Python's float() rounds it.
        numbers = np.asarray(pc.cast(array, pa.float64(), safe=False).to_numpy(zero_copy_only=False), np.float64)
        if np.isinf(numbers).any():
            row = int(np.flatnonzero(np.isinf(numbers))[0])
            raise InvalidTableError(
                f"{filename}: column {name!r}, row {offset + row + 1}: non-finite number {numbers[row]}"
            )
        return Chunk(name, offset, array, filename, numbers=numbers)
    return Chunk(name, offset, array, filename)


def text_numbers(text: "pa.Array") -> np.ndarray | None:
    """Non-missing text cells as float64 (the table's number syntax), or None if any is not a finite number."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pc.all(pc.match_substring_regex(text, f"^(?:{NUMBER_PATTERN})$")).as_py() is False:
        return None
    values = np.asarray(pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    return values if np.isfinite(values).all() else None
