"""The job's evaluation scores what the model will serve: for a method that serves whitened embeddings, the
probes' kNN is the kNN of the exported encoder's own vectors, not of the raw embedding it whitens."""

from pathlib import Path

import numpy as np

from selfsup.encoder import Encoder
from selfsup.eval.probes import evaluate_with_labels
from selfsup.eval.representation import embedder
from selfsup.methods import get_method
from selfsup.train.loop import Trainer
from tests.support.text import docstring_corpus, docstring_data
from worker.evaluation import final_report


def test_a_whitened_method_is_scored_on_its_served_vectors(tmp_path: Path) -> None:
    documents, names = docstring_corpus()
    labels = np.unique(np.asarray(names), return_inverse=True)[1]
    params = get_method("simcse").validate(
        {"preset": "tiny", "max_length": 32, "epochs": 1, "batch_size": 32, "warmup_epochs": 0}
    )
    trainer = Trainer("simcse", params, docstring_data(), workdir=tmp_path, probe_size=0)
    metrics = trainer.fit().metrics
    report = final_report(trainer, metrics, labels)
    served = Encoder.load(trainer.export_encoder(tmp_path / "encoder.pt"))
    assert served.whitening is not None

    def served_vectors(indices: np.ndarray) -> np.ndarray:
        return served.embed_texts([documents[i] for i in indices])

    raw = embedder(trainer.model, trainer.data, trainer.device)
    as_served = evaluate_with_labels(served_vectors, served_vectors, labels, seed=params.seed)
    unwhitened = evaluate_with_labels(raw, raw, labels, seed=params.seed)
    assert report["knn_top1"] == round(as_served["knn_top1"], 6), (report, as_served)
    assert as_served["knn_top1"] != unwhitened["knn_top1"], "whitening changed no neighbour: the test shows nothing"
    assert "knn_top1_random_init" in report and "knn_top1_baseline" in report
