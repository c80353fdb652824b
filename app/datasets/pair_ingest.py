"""Image-text uploads: an archive of images plus ``captions.jsonl`` or ``captions.csv`` (file name -> caption;
several captions per image allowed).

Captions are matched to images by path or base name; images without a caption are left out and counted. The
images are decoded once like an image dataset's, and the captions tokenized once with a tokenizer trained on
them (see :mod:`selfsup.pairs.data`).
"""

from pathlib import Path, PurePosixPath

from app.core.errors import Unprocessable
from app.datasets.archives import Member, open_archive, read_member
from app.datasets.ingest import (
    Ingested,
    IngestLimits,
    IngestOptions,
    OnProgress,
    finish_ingest,
    image_members,
    no_progress,
    write_images,
)
from selfsup.pairs.captions import InvalidCaptionsError, captioned_images, pair_captions, read_captions
from selfsup.pairs.data import save_pair_dataset
from selfsup.text.tokenizer import train_tokenizer

CAPTION_FILES = ("captions.jsonl", "captions.csv")


def ingest_pairs(
    upload: Path,
    *,
    filename: str,
    out_dir: Path,
    options: IngestOptions,
    limits: IngestLimits,
    progress: OnProgress = no_progress,
) -> Ingested:
    with open_archive(upload, filename, limits.archive) as members:
        captions_member = _captions_member(members, filename)
        images = image_members([m for m in members if m is not captions_member], filename)
        try:
            captions = read_captions(
                captions_member.name, read_member(captions_member, limits.archive.max_member_bytes)
            )
            paired = pair_captions([m.name for m in images], captions)
        except InvalidCaptionsError as exc:
            raise Unprocessable(f"{filename}: {exc}") from None
        kept, caption_image = captioned_images(paired.image_index, len(images))
        kept_images = [images[i] for i in kept]
        write_images(members, kept_images, out_dir, image_size=options.image_size, limits=limits, progress=progress)
    tokenizer = train_tokenizer(paired.texts, vocab_size=options.vocab_size)
    save_pair_dataset(out_dir, paired.texts, caption_image, tokenizer, max_length=options.max_length)
    details = {
        "image_size": options.image_size,
        "captions": len(paired.texts),
        "images_without_captions": len(images) - len(kept),
        "vocab_size": tokenizer.get_vocab_size(),
    }
    return finish_ingest(out_dir, len(kept), details, None)


def _captions_member(members: list[Member], filename: str) -> Member:
    found = [m for m in members if PurePosixPath(m.name).name.lower() in CAPTION_FILES]
    if len(found) != 1:
        problem = "no captions.jsonl or captions.csv" if not found else f"{len(found)} captions files"
        raise Unprocessable(f"{filename}: an image-text archive needs exactly one captions file; found {problem}")
    return found[0]
