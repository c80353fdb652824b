"""``client.datasets``: upload (whole-file, or resumable above a size), get, list, wait until ingested."""

import hashlib
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

from selfsup_client.errors import JobFailedError, WaitTimeoutError
from selfsup_client.schemas import Dataset
from selfsup_client.transport import Transport

RESUMABLE_ABOVE_BYTES = 64 * 2**20
PART_BYTES = 16 * 2**20  # held in memory one at a time, to hash it before sending
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._ -]")


class Datasets:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def upload(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        modality: str = "image",
        resumable_above_bytes: int = RESUMABLE_ABOVE_BYTES,
        part_bytes: int = PART_BYTES,
        **options: Any,
    ) -> Dataset:
        """Send the file (streamed, never read whole) and answer at once with the dataset ``processing``;
        ``wait_ready`` waits for its ingest. ``options`` are the upload form's fields (image_size, vocab_size,
        max_length, text_field, label_field, label_column, column_types)."""
        path = Path(path)
        form = {"name": name or path.name, "modality": modality, **{k: str(v) for k, v in options.items()}}
        if path.stat().st_size > resumable_above_bytes:
            form["upload_id"] = self._send_resumable(path, part_bytes)
            return cast(Dataset, self._transport.request("POST", "/v1/datasets", data=form))

        with path.open("rb") as file:

            def whole_file() -> dict[str, Any]:
                file.seek(0)  # a retry sends it again from the start
                return {"files": {"file": (path.name, file)}, "data": form}

            return cast(Dataset, self._transport.request("POST", "/v1/datasets", body=whole_file))

    def _send_resumable(self, path: Path, part_bytes: int) -> str:
        """POST /v1/uploads, PUT each part with its SHA-256, complete; the upload's id."""
        created = self._transport.request(
            "POST", "/v1/uploads", json={"filename": upload_filename(path), "bytes": path.stat().st_size}
        )
        part_bytes = min(part_bytes, created["max_part_bytes"])
        with path.open("rb") as file:
            for number, part in enumerate(_parts(file, part_bytes), start=1):
                headers = {
                    "X-Part-SHA256": hashlib.sha256(part).hexdigest(),
                    "Content-Type": "application/octet-stream",
                }
                self._transport.request(
                    "PUT", f"/v1/uploads/{created['id']}/parts/{number}", content=part, headers=headers
                )
        self._transport.request("POST", f"/v1/uploads/{created['id']}/complete")
        return str(created["id"])

    def get(self, dataset_id: str) -> Dataset:
        return cast(Dataset, self._transport.request("GET", f"/v1/datasets/{dataset_id}"))

    def list(self, *, limit: int = 50, offset: int = 0) -> list[Dataset]:
        page = self._transport.request("GET", "/v1/datasets", params={"limit": limit, "offset": offset})
        return cast(list[Dataset], page["items"])

    def count(self) -> int:
        """How many datasets this tenant has (the page's total, not a page of them)."""
        return int(self._transport.request("GET", "/v1/datasets", params={"limit": 1})["total"])

    def delete(self, dataset_id: str) -> None:
        self._transport.request("DELETE", f"/v1/datasets/{dataset_id}")

    def wait_ready(self, dataset: Dataset | str, *, timeout: float = 3600.0, interval: float = 0.5) -> Dataset:
        """Poll until ingested; the dataset when ``ready``, else ``JobFailedError`` with the server's reason."""
        dataset_id = dataset if isinstance(dataset, str) else dataset["id"]
        deadline = time.monotonic() + timeout
        while (found := self.get(dataset_id))["status"] == "processing":
            if time.monotonic() > deadline:
                raise WaitTimeoutError(f"{dataset_id} still processing after {timeout:.0f} s")
            time.sleep(interval)
        if found["status"] != "ready":
            raise JobFailedError(f"{dataset_id} failed: {found.get('error')}", detail=found)
        return found


def _parts(file: BinaryIO, part_bytes: int) -> Iterator[bytes]:
    while part := file.read(part_bytes):
        yield part


def upload_filename(path: Path) -> str:
    """The server takes plain names only; keep the ending, which says how the file is read."""
    cleaned = _UNSAFE_FILENAME.sub("_", path.name).lstrip("._ -")
    return (cleaned or "upload" + "".join(path.suffixes))[:255]
