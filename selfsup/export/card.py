"""The model card that travels with an exported encoder: what it is, how it was trained, what it takes."""

import json
from collections.abc import Mapping
from typing import Any

from selfsup.encoder import Encoder
from selfsup.export.towers import towers

CARD_FORMAT = "selfsup.card/1"
TOKENIZER_FILE = "tokenizer.json"
SCHEMA_FILE = "schema.json"

# Per input kind: how a caller turns raw inputs into the tower's tensors.
_PREPROCESSING: dict[str, Any] = {
    "image": lambda encoder: {
        "image_size": encoder.image_size,
        "decode": "RGB, resized to image_size x image_size as at ingest, channels last, uint8",
        "scaling": "inside the graph: x / 255, channels first (no mean/std normalization)",
    },
    "text": lambda encoder: {
        "tokenizer_file": TOKENIZER_FILE,
        "max_length": int(encoder.assets["max_length"]),
        "padding": "right-padded with the tokenizer's pad id; attention_mask 1 on tokens, 0 on padding",
    },
    "row": lambda encoder: {
        "schema_file": SCHEMA_FILE,
        "numeric": "standardized with the schema's mean/std, missing = 0, columns in schema order",
        "categorical": "codes: 0 missing, 1 unknown, 2.. the schema's vocabulary, columns in schema order",
    },
}


def model_card(encoder: Encoder, *, training: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """JSON-ready card. ``training`` carries what the file alone does not know (id, params, dataset stats,
    metrics); its keys are copied in as given."""
    inputs = {
        kind: {
            "inputs": [spec.to_dict() for spec in tower.inputs],
            "output": tower.output.to_dict(),
            "preprocessing": _PREPROCESSING[kind](encoder),
        }
        for kind, tower in towers(encoder).items()
    }
    return {
        "format": CARD_FORMAT,
        "method": encoder.method,
        "modality": encoder.modality,
        "dim": encoder.dim,
        "normalized": "L2, inside the graph",
        "backbone": encoder.backbone.spec.to_dict(),
        "towers": inputs,
        **(training or {}),
    }


def side_files(encoder: Encoder) -> dict[str, str]:
    """The files a caller needs to prepare inputs, by name: the tokenizer for text, the schema for tables."""
    files: dict[str, str] = {}
    if "tokenizer" in encoder.assets:
        files[TOKENIZER_FILE] = str(encoder.assets["tokenizer"])
    if "schema" in encoder.assets:
        files[SCHEMA_FILE] = json.dumps(encoder.assets["schema"], indent=2)
    return files
