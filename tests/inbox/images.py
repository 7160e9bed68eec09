"""Pictures the composer tests upload: real JPEG and PNG files, and files that only pose as one."""

from __future__ import annotations

import io

from PIL import Image

# A GIF's and a PDF's first bytes: what a renamed ``photo.jpg`` may really hold.
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x00\x00\x00\x00\x00,"
PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"


def picture(width: int = 800, height: int = 600, *, kind: str = "PNG") -> bytes:
    """A picture of a gradient (not one flat colour: it compresses like a photo would)."""
    image = Image.new("RGB", (width, height))
    image.putdata(
        [
            ((x * 255) // width, (y * 255) // height, 128)
            for y in range(height)
            for x in range(width)
        ]
    )
    out = io.BytesIO()
    image.save(out, format=kind)
    return out.getvalue()


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size
