"""``client.models``: list, get, aliases, embeddings as numpy arrays, and export downloads."""

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from selfsup_client.schemas import Model
from selfsup_client.transport import Transport

MAX_INPUTS_PER_REQUEST = 256  # the server's bound on one embed request; larger calls are sent in slices
ImageInput = str | Path | bytes
Values = list[Any]  # a name, since the class below has a method called list


class Models:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def list(self, *, limit: int = 50, offset: int = 0) -> list[Model]:
        page = self._transport.request("GET", "/v1/models", params={"limit": limit, "offset": offset})
        return cast(list[Model], page["items"])

    def get(self, model: str) -> Model:
        """By id or by one of the tenant's aliases."""
        return cast(Model, self._transport.request("GET", f"/v1/models/{model}"))

    def delete(self, model: str) -> None:
        """Delete the model and its files; ``ConflictError`` naming what still uses it (aliases, embedding runs,
        classifiers, a distillation learning from it)."""
        self._transport.request("DELETE", f"/v1/models/{model}")

    def set_alias(self, model: str, alias: str) -> dict[str, Any]:
        return cast(dict[str, Any], self._transport.request("PUT", f"/v1/models/{model}/alias", json={"alias": alias}))

    def delete_alias(self, alias: str) -> None:
        self._transport.request("DELETE", f"/v1/aliases/{alias}")

    def embed(
        self,
        model: str,
        *,
        images: Sequence[ImageInput] | None = None,
        texts: Sequence[str] | None = None,
        rows: Sequence[dict[str, Any]] | None = None,
    ) -> np.ndarray:
        """(B, D) float32 L2-normalized vectors, one per input, in order. Give exactly one of ``images`` (paths
        or bytes), ``texts`` or ``rows`` (objects keyed by column)."""
        given = [(field, values) for field, values in (("inputs", images), ("texts", texts), ("rows", rows)) if values]
        if len(given) != 1:
            raise ValueError("give exactly one non-empty of images, texts or rows")
        field, values = given[0]
        slices = [list(values[i : i + MAX_INPUTS_PER_REQUEST]) for i in range(0, len(values), MAX_INPUTS_PER_REQUEST)]
        return np.concatenate([self._embed_slice(model, field, part) for part in slices])

    def _embed_slice(self, model: str, field: str, values: Values) -> np.ndarray:
        if field == "inputs":
            values = [base64.b64encode(_image_bytes(image)).decode() for image in values]
        answer = self._transport.request("POST", f"/v1/models/{model}/embed", json={field: values})
        return np.asarray(answer["embeddings"], dtype=np.float32)  # (B, D)

    def export(self, model: str, format: str, path: str | Path) -> Path:
        """Download the model as ``format`` (onnx, torchscript or safetensors) to ``path``, streamed."""
        path = Path(path)
        partial = path.with_name(path.name + ".part")
        route = f"/v1/models/{model}/export"
        with self._transport.stream("GET", route, params={"format": format}) as response, partial.open("wb") as file:
            for chunk in response.iter_bytes():
                file.write(chunk)
        partial.replace(path)  # a broken download never leaves a file that looks whole
        return path


def _image_bytes(image: ImageInput) -> bytes:
    return image if isinstance(image, bytes) else Path(image).read_bytes()
