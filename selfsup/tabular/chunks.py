"""One column of one batch, in the form profiling and encoding read: string columns stay arrow arrays (trimmed,
null where missing) and are handled with arrow compute; other columns become Python cells by the rules of
:mod:`selfsup.tabular.reading`, so both give what the whole-file path gives for the same file."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from selfsup.tabular.reading import MISSING_MARKERS, Cell, parquet_cell
from selfsup.tabular.schema import NUMBER_PATTERN, as_category

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class Chunk:
    """``rows`` cells of column ``name`` starting at table row ``offset`` (0-based): ``text`` for a string
    column (null = missing), else ``cells``."""

    name: str
    offset: int
    rows: int
    text: "pa.Array | None" = None
    cells: list[Cell] | None = None

    def present(self) -> tuple["pa.Array", np.ndarray]:
        """A text chunk's non-missing cells and their positions in the chunk."""
        assert self.text is not None
        positions = np.flatnonzero(self.text.is_valid().to_numpy(zero_copy_only=False))
        return self.text.drop_null(), positions

    def categories(self) -> "list[str | None]":
        """Every cell as a category's text (None where missing), what a label column stores."""
        if self.text is not None:
            return self.text.to_pylist()
        assert self.cells is not None
        return [as_category(cell) for cell in self.cells]


def chunk(array: "pa.Array", *, name: str, offset: int, filename: str) -> Chunk:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        trimmed = pc.utf8_trim_whitespace(array)
        missing = pc.fill_null(pc.is_in(pc.utf8_lower(trimmed), value_set=pa.array(sorted(MISSING_MARKERS))), True)
        text = pc.if_else(missing, pa.scalar(None, trimmed.type), trimmed)
        return Chunk(name, offset, len(array), text=text)
    cells = [parquet_cell(value, name, offset + row, filename) for row, value in enumerate(array.to_pylist())]
    return Chunk(name, offset, len(array), cells=cells)


def text_numbers(text: "pa.Array") -> np.ndarray | None:
    """Non-missing text cells as float64 (the table's number syntax), or None if any is not a finite number."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pc.all(pc.match_substring_regex(text, f"^(?:{NUMBER_PATTERN})$")).as_py() is False:
        return None
    values = np.asarray(pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    return values if np.isfinite(values).all() else None
