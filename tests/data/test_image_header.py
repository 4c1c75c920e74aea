"""header_size: an image's size from its header, as decoding gives it."""

import struct

import cv2
import numpy as np
import pytest
import tensorflow as tf

from wsol_tf.data.image_header import header_size


def _decoded_size(path):
    with open(path, "rb") as f:
        image = tf.io.decode_image(f.read(), expand_animations=False)
    return int(image.shape[1]), int(image.shape[0])


@pytest.mark.parametrize(
    "name, params",
    [
        ("a.jpg", []),
        ("p.jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]),
        ("b.png", []),
        ("c.bmp", []),
    ],
)
@pytest.mark.parametrize("shape", [(17, 41), (300, 7)])
def test_matches_the_decoded_size(tmp_path, name, params, shape):
    image = np.random.default_rng(0).integers(0, 255, (*shape, 3), np.uint8)
    path = str(tmp_path / name)
    assert cv2.imwrite(path, image, params)
    assert header_size(path) == _decoded_size(path) == (shape[1], shape[0])


def test_jpeg_with_exif_and_fill_bytes_before_the_frame(tmp_path):
    ok, data = cv2.imencode(".jpg", np.zeros((9, 23, 3), np.uint8))
    data = data.tobytes()
    # An APP1 segment and fill bytes inserted after SOI.
    app1 = b"\xff\xe1" + struct.pack(">H", 10) + b"Exif\x00\x00\xff\xc0\x00\x11"
    path = tmp_path / "x.jpg"
    path.write_bytes(data[:2] + app1 + b"\xff\xff" + data[2:])
    assert header_size(str(path)) == _decoded_size(str(path)) == (23, 9)


def test_gif_and_unknown_or_truncated_files(tmp_path):
    gif = tmp_path / "g.gif"
    gif.write_bytes(b"GIF89a" + struct.pack("<HH", 640, 480) + b"\x00" * 8)
    assert header_size(str(gif)) == (640, 480)
    ok, data = cv2.imencode(".jpg", np.zeros((9, 23, 3), np.uint8))
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data.tobytes()[:40])  # before the frame header
    other = tmp_path / "o.txt"
    other.write_bytes(b"hello world, not an image at all")
    for path in (cut, other, tmp_path / "missing.png"):
        assert header_size(str(path)) is None
