"""Every modality the service ingests has a loader that turns its canonical files into training data."""

from app.datasets.modalities import SUPPORTED_MODALITIES
from worker.data import LOADERS


def test_every_ingested_modality_has_a_training_data_loader() -> None:
    assert set(LOADERS) == set(SUPPORTED_MODALITIES)
