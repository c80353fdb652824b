"""Pass 1 of streaming ingest: a column's statistics gathered batch by batch, then typed into its
:class:`~selfsup.tabular.schema.ColumnSchema` by the rules of :mod:`selfsup.tabular.schema`.

Memory is bounded per column: running moments for the mean and standard deviation (Chan et al.'s pairwise
update), and a category count that keeps at most :data:`TRACKED_CATEGORIES` distinct values. Below that many
distinct values the vocabulary is exactly the whole-file one; past it the rarest are dropped as new ones come,
so the most frequent values (the only ones a vocabulary keeps) survive.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from selfsup.tabular.chunks import Chunk, text_numbers
from selfsup.tabular.reading import Cell
from selfsup.tabular.schema import (
    BOOLEAN_VOCABULARY,
    FALSE_WORDS,
    TRUE_WORDS,
    ColumnKind,
    ColumnSchema,
    as_boolean,
    as_category,
    as_number,
    not_a,
    ranked_vocabulary,
)

TRACKED_CATEGORIES = 50_000


@dataclass
class Moments:
    """Count, mean and sum of squared deviations of the numbers seen so far."""

    count: int = 0
    mean: float = 0.0
    squares: float = 0.0

    def add(self, values: np.ndarray) -> None:
        if not values.size:
            return
        count, mean = values.size, float(values.mean())
        squares = float(np.square(values - mean).sum())
        total = self.count + count
        delta = mean - self.mean
        self.squares += squares + delta * delta * self.count * count / total
        self.mean += delta * count / total
        self.count = total

    @property
    def std(self) -> float:
        return float(np.sqrt(self.squares / self.count)) if self.count else 0.0


@dataclass
class ColumnProfile:
    """What pass 1 learns of one column. ``not_number`` / ``not_boolean``: the first cell (1-based row, cell)
    that rules the kind out. Categories are counted from batch ``counted_from`` on: a column that is still a
    number or boolean column is not counted, and batches it skipped are counted again if it turns out not to be."""

    name: str
    want: ColumnKind | None = None  # the override, if any
    missing: int = 0
    numbers: Moments = field(default_factory=Moments)
    not_number: tuple[int, Cell] | None = None
    not_boolean: tuple[int, Cell] | None = None
    categories: Counter[str] = field(default_factory=Counter)
    counted_from: int | None = None

    def add(self, chunk: Chunk, batch: int) -> None:
        if self.want == "ignore":
            return
        if chunk.text is not None:
            self._add_text(chunk)
        elif chunk.numbers is not None and self.want in (None, "numeric"):
            self._add_numbers(chunk, chunk.numbers)
        else:
            self._add_cells(chunk)
        if self._counts_categories() and self.counted_from is None:
            self.counted_from = batch
        if self.counted_from is not None and self.counted_from <= batch:
            self.count_categories(chunk)

    def count_categories(self, chunk: Chunk) -> None:
        if chunk.text is not None:
            import pyarrow.compute as pc

            counts = pc.value_counts(chunk.text.drop_null())
            values, counts = counts.field("values").to_pylist(), counts.field("counts").to_pylist()
            self.categories.update(dict(zip(values, counts, strict=True)))
        else:
            self.categories.update(text for text in map(as_category, chunk.cells) if text is not None)
        if len(self.categories) > TRACKED_CATEGORIES:
            self.categories = Counter(dict(self.categories.most_common(TRACKED_CATEGORIES // 2)))

    def _counts_categories(self) -> bool:
        could_be = {"numeric": self.not_number is None, "boolean": self.not_boolean is None}
        if self.want is not None:
            return self.want == "categorical"
        return not (could_be["numeric"] or could_be["boolean"])

    def _add_text(self, chunk: Chunk) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        present, positions = chunk.present()
        self.missing += chunk.rows - len(present)
        if self.not_boolean is None and self.want in (None, "boolean"):
            words = pa.array(sorted(TRUE_WORDS | FALSE_WORDS))
            self._rule_out("boolean", chunk, present, positions, pc.is_in(pc.utf8_lower(present), value_set=words))
        if self.not_number is None and self.want in (None, "numeric"):
            values = text_numbers(present)
            if values is None:
                self._rule_out("numeric", chunk, present, positions, _parses_as_numbers(present))
            else:
                self.numbers.add(values)

    def _rule_out(self, kind: str, chunk: Chunk, present: Any, positions: np.ndarray, ok: Any) -> None:
        flags = np.asarray(ok.to_numpy(zero_copy_only=False), dtype=np.bool_)
        if flags.all():
            return
        bad = int(np.flatnonzero(np.logical_not(flags))[0])
        first: tuple[int, Cell] = (chunk.offset + int(positions[bad]) + 1, present[bad].as_py())
        if kind == "boolean":
            self.not_boolean = first
        else:
            self.not_number = first

    def _add_numbers(self, chunk: Chunk, numbers: np.ndarray) -> None:
        present = ~np.isnan(numbers)
        self.missing += chunk.rows - int(present.sum())
        if self.not_boolean is None and present.any():
            first = int(np.flatnonzero(present)[0])
            self.not_boolean = (chunk.offset + first + 1, chunk.array[first].as_py())
        self.numbers.add(numbers[present])

    def _add_cells(self, chunk: Chunk) -> None:
        present: list[tuple[int, Cell]] = [
            (row, cell) for row, cell in enumerate(chunk.cells, start=chunk.offset + 1) if cell is not None
        ]
        self.missing += chunk.rows - len(present)
        if self.not_boolean is None and self.want in (None, "boolean"):
            self.not_boolean = _first_failure(present, as_boolean)
        if self.not_number is None and self.want in (None, "numeric"):
            self.not_number = _first_failure(present, as_number)
            if self.not_number is None:
                self.numbers.add(np.array([as_number(cell) for _, cell in present], dtype=np.float64))

    def schema(self, max_categories: int) -> ColumnSchema:
        """This column's schema: its override, else the kind its cells allow (boolean, numeric, categorical)."""
        kind = self.want or self._inferred()
        if kind == "numeric" and self.not_number is not None:
            raise not_a(self.name, kind, *self.not_number)
        if kind == "boolean" and self.not_boolean is not None:
            raise not_a(self.name, kind, *self.not_boolean)
        if kind == "numeric":
            std = self.numbers.std
            return ColumnSchema(self.name, kind, self.missing, self.numbers.mean, std if std > 0 else 1.0)
        if kind == "boolean":
            return ColumnSchema(self.name, kind, self.missing, vocabulary=BOOLEAN_VOCABULARY)
        if kind == "categorical":
            return ColumnSchema(
                self.name, kind, self.missing, vocabulary=ranked_vocabulary(self.categories, max_categories)
            )
        return ColumnSchema(self.name, kind, self.missing)

    def _inferred(self) -> ColumnKind:
        if self.numbers.count == 0 and self.not_number is None and self.not_boolean is None:
            return "ignore"  # no non-missing cell at all
        if self.not_boolean is None:
            return "boolean"
        return "numeric" if self.not_number is None else "categorical"


def _first_failure(present: list[tuple[int, Cell]], parse: Callable[[Cell], object]) -> tuple[int, Cell] | None:
    for row, cell in present:
        try:
            parse(cell)
        except ValueError:
            return row, cell
    return None


def _parses_as_numbers(present: Any) -> Any:
    """Per cell, whether it is a finite number: only asked once a batch has failed, to name the first bad cell."""
    import pyarrow as pa

    flags = []
    for cell in present.to_pylist():
        try:
            as_number(cell)
            flags.append(True)
        except ValueError:
            flags.append(False)
    return pa.array(flags)
