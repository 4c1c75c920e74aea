"""Image sizes read from file headers, without decoding the pixels.

`image_size(path)` returns `(width, height)` of a JPEG (its SOF marker), PNG
(IHDR), GIF (its first frame's descriptor, the size `tf.io.decode_image`
gives) or BMP (DIB header) file, reading a few hundred bytes of a typical
file. The format is told by the file's first bytes, not
its name, as `tf.io.decode_image` tells it. The size is the stored one, as
the pipeline decodes it: a JPEG's EXIF orientation is not applied.

Only the header is read: a file whose header is sound but whose pixel data
is damaged passes here (tools/check_dataset.py decodes every image).

Example:

>>> image_size("dataset/CUB/images/001.Black_footed_Albatross/x.jpg")
(500, 335)
"""

import struct

_PNG = b"\x89PNG\r\n\x1a\n"
# JPEG markers without a length field (TEM, RST0-7, SOI).
_STANDALONE = {0x01, *range(0xD0, 0xD9)}
# Start-of-frame markers: C0-CF but DHT (C4), JPG (C8) and DAC (CC).
_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


class ImageHeaderError(ValueError):
    """A file whose header gives no image size; the message is the reason."""


def _read(f, count):
    data = f.read(count)
    if len(data) != count:
        raise ImageHeaderError("truncated: the file ends inside its header")
    return data


def _jpeg_size(f):
    while True:
        byte = _read(f, 1)
        if byte != b"\xff":
            raise ImageHeaderError(
                f"corrupt JPEG: expected a marker at byte {f.tell() - 1}, "
                f"found 0x{byte[0]:02x}"
            )
        marker = _read(f, 1)[0]
        while marker == 0xFF:  # fill bytes before a marker
            marker = _read(f, 1)[0]
        if marker in _STANDALONE:
            continue
        if marker in (0xD9, 0xDA):  # EOI, SOS: the pixels, no frame seen
            raise ImageHeaderError(
                "corrupt JPEG: no start-of-frame marker before the image data"
            )
        (length,) = struct.unpack(">H", _read(f, 2))
        if length < 2:
            raise ImageHeaderError(
                f"corrupt JPEG: segment 0x{marker:02x} has length {length}"
            )
        if marker in _SOF:
            _, height, width = struct.unpack(">BHH", _read(f, 5))
            if height == 0:
                raise ImageHeaderError(
                    "JPEG height defined by a DNL marker (not supported)"
                )
            return width, height
        f.seek(length - 2, 1)


def _gif_size(f, flags):
    """The first frame's size: after the global colour table and any
    extension blocks."""
    if flags & 0x80:
        f.seek(3 * 2 ** ((flags & 7) + 1), 1)
    while True:
        block = _read(f, 1)
        if block == b"\x2c":  # image descriptor: left, top, width, height
            return struct.unpack("<4H", _read(f, 8))[2:]
        if block != b"\x21":
            raise ImageHeaderError(
                f"corrupt GIF: no image descriptor (block 0x{block[0]:02x} "
                f"at byte {f.tell() - 1})"
            )
        _read(f, 1)  # the extension's label, then its sub-blocks
        size = _read(f, 1)[0]
        while size:
            f.seek(size, 1)
            size = _read(f, 1)[0]


def _bmp_size(header):
    (dib_size,) = struct.unpack("<I", header[14:18])
    if dib_size == 12:  # BITMAPCOREHEADER: unsigned 16-bit sides
        return struct.unpack("<HH", header[18:22])
    width, height = struct.unpack("<ii", header[18:26])
    return width, abs(height)  # a negative height: rows stored top-down


def image_size(path):
    """`(width, height)` of a JPEG, PNG, GIF or BMP file, from its header.

    Raises:
        ImageHeaderError (a ValueError): not one of these formats, or a
            truncated or corrupt header; the message is the reason, without
            the path.
        OSError: the file cannot be opened or read.
    """
    with open(path, "rb") as f:
        head = f.read(26)
        if head[:2] == b"\xff\xd8":
            f.seek(2)
            width, height = _jpeg_size(f)
        elif head[:8] == _PNG:
            if len(head) < 24 or head[12:16] != b"IHDR":
                raise ImageHeaderError("corrupt PNG: no IHDR chunk first")
            width, height = struct.unpack(">II", head[16:24])
        elif head[:6] in (b"GIF87a", b"GIF89a"):
            if len(head) < 13:
                raise ImageHeaderError(
                    "truncated: the file ends inside its header"
                )
            f.seek(13)
            width, height = _gif_size(f, head[10])
        elif head[:2] == b"BM":
            if len(head) < 26:
                raise ImageHeaderError("truncated BMP header")
            width, height = _bmp_size(head)
        elif not head:
            raise ImageHeaderError("empty file")
        else:
            raise ImageHeaderError(
                "not a JPEG, PNG, GIF or BMP image (unknown first bytes "
                f"{head[:4].hex()})"
            )
    if width <= 0 or height <= 0:
        raise ImageHeaderError(f"the header gives a {width}x{height} image")
    return int(width), int(height)
