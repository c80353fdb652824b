"""What labels must hold for a probe to score an encoder. A module of its own, free of torch, so that ingest can
tell a user their labels cannot be used without importing the evaluation code."""

MIN_LABELED = 10  # labeled items below which no train/test split is meaningful
