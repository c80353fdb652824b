"""What labels must hold for a probe to score an encoder, and how much of a dataset the evaluation reads. A module
of its own, free of torch, so that ingest can tell a user their labels cannot be used without importing the
evaluation code."""

MIN_LABELED = 10  # labeled items below which no train/test split is meaningful
# Labeled items the kNN and linear probes score (a seeded draw beyond it): keeps the final evaluation of a large
# dataset to seconds and its memory to tens of MB, baselines included (10,000 x 3,072 pooled pixels: 120 MB),
# while the 2,000-item test split still measures an accuracy to about +-1 point.
MAX_PROBE_ITEMS = 10_000
MAX_BASELINE_FIT_ITEMS = 20_000  # items an unsupervised baseline is fitted on (TF-IDF's document frequencies)
