"""Tests for wsol_tf/data/image_headers.py: sizes from headers agree with
the pipeline's decoder, and broken headers give a reason."""

import cv2
import numpy as np
import pytest
import tensorflow as tf

from wsol_tf.data.image_headers import ImageHeaderError
from wsol_tf.data.image_headers import image_size

# A GIF whose canvas is 3x2 and whose single frame is 1x1.
GIF = (
    b"GIF89a\x03\x00\x02\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff"
    b"!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)


def _image(height, width, channels=3):
    rng = np.random.default_rng(height * 1000 + width)
    return rng.integers(0, 255, (height, width, channels), dtype=np.uint8)


def _encoded(ext, image, params=()):
    ok, data = cv2.imencode(ext, image, list(params))
    assert ok
    return data.tobytes()


def _with_app1(jpeg, size):
    """The JPEG with an EXIF-like APP1 segment of `size` bytes after SOI."""
    segment = b"\xff\xe1" + (size + 2).to_bytes(2, "big") + b"E" * size
    return jpeg[:2] + segment + jpeg[2:]


CASES = {
    "baseline.jpg": lambda: _encoded(".jpg", _image(23, 37)),
    "progressive.jpg": lambda: _encoded(
        ".jpg", _image(41, 19), (cv2.IMWRITE_JPEG_PROGRESSIVE, 1)
    ),
    "exif.jpg": lambda: _with_app1(_encoded(".jpg", _image(30, 52)), 6000),
    "gray.png": lambda: _encoded(".png", _image(17, 29, 1)),
    "rgba.png": lambda: _encoded(".png", _image(33, 11, 4)),
    "image.bmp": lambda: _encoded(".bmp", _image(13, 21)),
    "frame.gif": lambda: GIF,
    # The format is told by the first bytes, not the name.
    "png_named.jpg": lambda: _encoded(".png", _image(9, 14)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_size_is_the_decoders(tmp_path, name):
    data = CASES[name]()
    path = tmp_path / name
    path.write_bytes(data)
    decoded = tf.io.decode_image(data, expand_animations=False)
    height, width = decoded.shape[:2]
    assert image_size(str(path)) == (width, height)


BROKEN = {
    "empty.jpg": (lambda: b"", "empty file"),
    "text.jpg": (lambda: b"hello, world\n", "not a JPEG, PNG, GIF or BMP"),
    "truncated.jpg": (
        lambda: _encoded(".jpg", _image(23, 37))[:100],
        "truncated",
    ),
    "truncated.png": (lambda: _encoded(".png", _image(5, 5))[:12], "PNG"),
    "scan_first.jpg": (
        lambda: b"\xff\xd8\xff\xda\x00\x08" + b"\x00" * 64,
        "no start-of-frame marker",
    ),
    "garbage_after_soi.jpg": (
        lambda: b"\xff\xd8\x12\x34" + b"\x00" * 64,
        "expected a marker at byte 2",
    ),
    "zero_width.png": (
        lambda: (
            _encoded(".png", _image(5, 5))[:16]
            + b"\x00\x00\x00\x00\x00\x00\x00\x05"
            + b"\x00" * 8
        ),
        "0x5 image",
    ),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_header_gives_a_reason(tmp_path, name):
    make, reason = BROKEN[name]
    path = tmp_path / name
    path.write_bytes(make())
    with pytest.raises(ImageHeaderError, match=reason) as error:
        image_size(str(path))
    assert "\n" not in str(error.value)


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        image_size(str(tmp_path / "nowhere.jpg"))
