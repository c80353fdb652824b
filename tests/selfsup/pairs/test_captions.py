"""Reading captions files (JSON Lines and CSV, strict, with file and line in every error) and matching them
to the uploaded images."""

import numpy as np
import pytest

from selfsup.pairs import InvalidCaptionsError, captioned_images, pair_captions, read_captions
from tests.support.pairs import captions_csv, captions_jsonl

CAPTIONS = [("a/1.png", "a cat, sitting"), ("a/1.png", 'a "quoted" cat'), ("b/2.png", "a dog")]


@pytest.mark.parametrize(("file_field", "text_field"), [("file", "caption"), ("filename", "text"), ("image", "text")])
def test_jsonl_and_csv_read_every_accepted_field_name(file_field: str, text_field: str) -> None:
    jsonl = captions_jsonl(CAPTIONS, file_field=file_field, text_field=text_field)
    csv = captions_csv(CAPTIONS, file_field=file_field, text_field=text_field)
    assert read_captions("captions.jsonl", jsonl) == CAPTIONS
    assert read_captions("dir/Captions.CSV", csv) == CAPTIONS


def test_jsonl_takes_a_list_of_captions_blank_lines_and_a_byte_order_mark() -> None:
    data = '\ufeff{"file": "x.png", "caption": ["one", " two "]}\n\n{"image": "y.png", "text": "three"}'.encode()
    assert read_captions("captions.jsonl", data) == [("x.png", "one"), ("x.png", "two"), ("y.png", "three")]


def test_csv_header_may_hold_other_columns_in_any_order() -> None:
    data = b'id,caption,file\n1,"red, round",r.png\r\n\r\n2,blue,b.png\r\n'
    assert read_captions("captions.csv", data) == [("r.png", "red, round"), ("b.png", "blue")]


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        (
            "captions.jsonl",
            b'{"file": "a.png", "caption": "x"}\n{"file": "b.png", "cap',
            "captions.jsonl, line 2: not valid JSON",
        ),
        ("captions.jsonl", b'\n["a.png", "x"]', "captions.jsonl, line 2: expected a JSON object, got list"),
        ("captions.jsonl", b'{"caption": "x"}', "captions.jsonl, line 1: no 'file' or 'filename' or 'image' field"),
        ("captions.jsonl", b'{"file": "a.png"}', "captions.jsonl, line 1: no 'caption' or 'text' field"),
        ("captions.jsonl", b'{"file": "a.png", "caption": 3}', "line 1: a caption must be a string, got int"),
        ("captions.jsonl", b'{"file": 7, "caption": "x"}', "line 1: the file name must be a string, got int"),
        ("captions.jsonl", b'{"file": "a.png", "caption": "  "}', "captions.jsonl, line 1: empty caption"),
        ("captions.jsonl", b'{"file": "", "caption": "x"}', "captions.jsonl, line 1: empty file name"),
        ("captions.jsonl", b'{"file": "a.png", "caption": "x"}\n{"file": "\xff"}', "line 2: not valid UTF-8"),
        ("captions.jsonl", b"\n\n", "captions.jsonl: no captions"),
        ("captions.csv", b"file,label\na.png,x\n", "captions.csv, line 1: no 'caption' or 'text' column"),
        ("captions.csv", b"", "captions.csv, line 1: no 'file' or 'filename' or 'image' column"),
        (
            "captions.csv",
            b"file,caption\na.png,x\nb.png,y,z\n",
            "captions.csv, line 3: 3 fields where the header has 2",
        ),
        ("captions.csv", b'file,caption\na.png,"x\n', "captions.csv, line 2: unexpected end of data"),
        ("captions.txt", b"a.png x", "captions.txt: unsupported captions file type '.txt'"),
    ],
)
def test_malformed_files_are_refused_naming_file_and_line(name: str, data: bytes, message: str) -> None:
    with pytest.raises(InvalidCaptionsError) as caught:
        read_captions(name, data)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_captions_match_images_by_path_or_by_a_trailing_part_of_it() -> None:
    images = ["photos/cats/1.png", "photos/dogs/1.png", "photos/dogs/2.png"]
    captions = [
        ("photos/cats/1.png", "full path"),
        ("./photos/dogs/1.png", "dotted path"),
        ("cats\\1.png", "windows separators"),
        ("2.png", "base name"),
        ("/photos/dogs/2.png", "rooted path"),
    ]
    texts, index = pair_captions(images, captions)
    assert texts == [text for _, text in captions]
    assert index.tolist() == [0, 1, 0, 2, 2] and index.dtype == np.int64


def test_unknown_and_ambiguous_names_are_errors() -> None:
    images = ["cats/1.png", "dogs/1.png"]
    with pytest.raises(InvalidCaptionsError, match=r"caption 2 names '3.png', which is not among the images"):
        pair_captions(images, [("cats/1.png", "a"), ("3.png", "b")])
    with pytest.raises(InvalidCaptionsError, match=r"caption 1 names '1.png', which fits 2 images"):
        pair_captions(images, [("1.png", "a")])
    nested = ["1.png", "cats/1.png"]  # a full path wins over another image's trailing part
    assert pair_captions(nested, [("1.png", "a"), ("cats/1.png", "b")]).image_index.tolist() == [0, 1]
    with pytest.raises(InvalidCaptionsError, match="no captions"):
        pair_captions(images, [])


def test_uncaptioned_images_are_counted_and_captions_re_pointed() -> None:
    images = ["a.png", "b.png", "c.png", "d.png"]
    _, index = pair_captions(images, [("d.png", "x"), ("b.png", "y"), ("d.png", "z")])
    kept, caption_image = captioned_images(index, len(images))
    assert kept.tolist() == [1, 3] and len(images) - len(kept) == 2
    assert caption_image.tolist() == [1, 0, 1]
