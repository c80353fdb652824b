"""Text encoders: a BERT-style transformer (Devlin et al., 2019) from the ``transformers`` library, built from
sizes or continued from a local pretrained checkpoint, mean-pooled into one vector per text.

Mean pooling over the real tokens (as Sentence-BERT, Reimers & Gurevych, 2019) is the served embedding; the
methods that need per-token states use :meth:`TextTransformer.forward_tokens`.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
from pydantic import Field
from torch import nn
from transformers import AutoConfig, AutoModel, BertConfig, PretrainedConfig, PreTrainedModel

from selfsup.encoders import register_encoder_kind
from selfsup.params import CommonParams
from selfsup.text.batch import TokenBatch
from selfsup.text.tokenizer import SpecialTokens

PresetName = Literal["tiny", "small", "base"]
# (hidden size, layers, heads, feed-forward size); "base" is BERT-base
PRESETS: dict[str, tuple[int, int, int, int]] = {
    "tiny": (64, 2, 2, 128),
    "small": (256, 4, 4, 1024),
    "base": (768, 12, 12, 3072),
}
_HAS_POOLER = {"bert", "roberta", "xlm-roberta", "camembert"}  # a pooler we never use: built without it


@dataclass(frozen=True)
class TextParams(CommonParams):
    """Parameters every text method shares: the common ones plus the transformer and the sequence length."""

    batch_size: Annotated[int, Field(ge=2, le=8192, description="Texts per step (before views).")] = 64
    lr: Annotated[float, Field(gt=0, le=10, description="Peak learning rate after warm-up.")] = 5e-4
    weight_decay: Annotated[float, Field(ge=0, le=1, description="Decoupled weight decay.")] = 0.01
    preset: Annotated[PresetName, Field(description="Transformer size (ignored with pretrained).")] = "small"
    hidden_size: Annotated[int | None, Field(ge=16, le=2048, description="Overrides the preset's width.")] = None
    num_layers: Annotated[int | None, Field(ge=1, le=48, description="Overrides the preset's depth.")] = None
    num_heads: Annotated[int | None, Field(ge=1, le=64, description="Overrides the preset's heads.")] = None
    dropout: Annotated[float, Field(ge=0, le=0.9, description="Dropout on hidden states and attention.")] = 0.1
    max_length: Annotated[int, Field(ge=8, le=512, description="Longest token sequence; longer texts are cut.")] = 128
    pretrained: Annotated[
        str | None,
        Field(
            description="A pretrained Hugging Face model to continue from (use a lower lr, ~3e-5): over HTTP the "
            "name of one installed in the service's pretrained folder; in the engine, its local directory."
        ),
    ] = None

    def __post_init__(self) -> None:
        hidden, _, heads, _ = self.sizes()
        if hidden % heads:
            raise ValueError(f"hidden_size {hidden} is not a multiple of num_heads {heads}")

    def sizes(self) -> tuple[int, int, int, int]:
        """(hidden, layers, heads, feed-forward) after overrides; the feed-forward keeps the preset's ratio."""
        hidden, layers, heads, ffn = PRESETS[self.preset]
        width = self.hidden_size or hidden
        return width, self.num_layers or layers, self.num_heads or heads, width * ffn // hidden


@dataclass(frozen=True)
class TextEncoderSpec:
    """Everything needed to rebuild the architecture with no files: the full Hugging Face config."""

    name: str
    config: dict[str, Any]
    special_tokens: SpecialTokens

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "text_transformer",
            "name": self.name,
            "config": self.config,
            "special_tokens": self.special_tokens.to_dict(),
        }


class TextTransformer(nn.Module):
    """A Hugging Face transformer encoder: :class:`TokenBatch` -> (B, hidden) mean over the real tokens."""

    def __init__(self, model: PreTrainedModel, special: SpecialTokens, name: str) -> None:
        super().__init__()
        self.model = model
        self.special = special
        self.dim = int(model.config.hidden_size)
        self.spec = TextEncoderSpec(name, _json_config(model.config), special)

    @property
    def vocab_size(self) -> int:
        return int(self.input_embeddings().num_embeddings)

    @property
    def max_length(self) -> int:
        return int(self.model.config.max_position_embeddings)

    def input_embeddings(self) -> nn.Embedding:
        """The word embeddings (V, hidden), which the MLM and TSDAE output layers share."""
        embeddings = self.model.get_input_embeddings()
        assert isinstance(embeddings, nn.Embedding)
        return embeddings

    def forward_tokens(self, batch: TokenBatch) -> torch.Tensor:
        """(B, L) ids -> (B, L, hidden) contextual token states."""
        output = self.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
        return output.last_hidden_state

    def forward(self, batch: TokenBatch) -> torch.Tensor:
        tokens = self.forward_tokens(batch)  # (B, L, H)
        mask = batch.attention_mask.unsqueeze(-1).to(tokens.dtype)  # (B, L, 1)
        return (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)  # (B, H)


def create_text_encoder(
    params: TextParams, *, vocab_size: int, special: SpecialTokens, pretrained_dir: str | Path | None = None
) -> TextTransformer:
    """A randomly initialized transformer sized by ``params``, or the local pretrained one it names: in
    ``pretrained_dir`` when given (``params.pretrained`` then being only its name, the same on every host, as a
    checkpoint records it), else at the path ``params.pretrained``."""
    if params.pretrained is not None:
        model_dir = pretrained_dir or params.pretrained
        return load_pretrained_encoder(model_dir, special=special, dropout=params.dropout)
    hidden, layers, heads, ffn = params.sizes()
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=ffn,
        hidden_dropout_prob=params.dropout,
        attention_probs_dropout_prob=params.dropout,
        max_position_embeddings=params.max_length,
        pad_token_id=special.pad,
    )
    return _from_config(config, special, params.preset)


def load_pretrained_encoder(model_dir: str | Path, *, special: SpecialTokens, dropout: float) -> TextTransformer:
    """The weights saved with ``save_pretrained`` in ``model_dir``; never downloads anything."""
    overrides = {"hidden_dropout_prob": dropout, "attention_probs_dropout_prob": dropout}
    config = AutoConfig.from_pretrained(str(model_dir), local_files_only=True, **overrides)
    model = AutoModel.from_pretrained(str(model_dir), config=config, local_files_only=True, **_no_pooler(config))
    return TextTransformer(model, special, f"pretrained:{Path(model_dir).name}")


def _from_config(config: PretrainedConfig, special: SpecialTokens, name: str) -> TextTransformer:
    return TextTransformer(AutoModel.from_config(config, **_no_pooler(config)), special, name)


def _no_pooler(config: PretrainedConfig) -> dict[str, Any]:
    return {"add_pooling_layer": False} if config.model_type in _HAS_POOLER else {}


def _json_config(config: PretrainedConfig) -> dict[str, Any]:
    """The config as plain JSON values (a dtype becomes its name)."""
    raw = config.to_dict()
    return {
        key: str(value).removeprefix("torch.") if isinstance(value, torch.dtype) else value
        for key, value in raw.items()
    }


@register_encoder_kind("text_transformer")
def text_transformer_from_spec(raw: dict[str, Any]) -> TextTransformer:
    """Rebuild the architecture of ``TextEncoderSpec.to_dict()`` (random weights, loaded separately)."""
    config = AutoConfig.for_model(**raw["config"])
    return _from_config(config, SpecialTokens.from_dict(raw["special_tokens"]), str(raw["name"]))
