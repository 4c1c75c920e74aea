"""An image's size from its file header, without decoding it.

`header_size(path)` reads the first bytes of a JPEG (up to its
start-of-frame marker), PNG (IHDR), GIF or BMP file: the size
`tf.io.decode_image` returns (EXIF orientation is not applied, as the
pipeline does not apply it). Checking 50,000 images this way takes
seconds, where decoding them takes minutes.
"""

import struct

# Start-of-frame markers: baseline, extended, progressive, lossless,
# arithmetic (not DHT 0xC4, JPG 0xC8, DAC 0xCC).
_JPEG_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length field (TEM, RSTn, SOI, EOI).
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xDA)}


def _jpeg_size(f):
    f.seek(2)
    while True:
        byte = f.read(1)
        while byte and byte != b"\xff":  # stray bytes between segments
            byte = f.read(1)
        while byte == b"\xff":  # fill bytes
            byte = f.read(1)
        if not byte:
            return None
        marker = byte[0]
        if marker in _JPEG_STANDALONE:
            continue
        length = f.read(2)
        if len(length) < 2:
            return None
        if marker in _JPEG_SOF:
            frame = f.read(5)
            if len(frame) < 5:
                return None
            height, width = struct.unpack(">HH", frame[1:5])
            return width, height
        f.seek(struct.unpack(">H", length)[0] - 2, 1)


def header_size(path):
    """`(width, height)` of a JPEG, PNG, GIF or BMP file from its header.

    Returns:
        The size, or None for another format, a truncated header or a
        file that cannot be opened.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(26)
            if head[:2] == b"\xff\xd8":
                return _jpeg_size(f)
            if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
                return struct.unpack(">II", head[16:24])
            if head[:6] in (b"GIF87a", b"GIF89a"):
                return struct.unpack("<HH", head[6:10])
            if head[:2] == b"BM" and len(head) >= 26:
                width, height = struct.unpack("<ii", head[18:26])
                return width, abs(height)
    except (OSError, struct.error):
        return None
    return None
