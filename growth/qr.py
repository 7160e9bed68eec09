"""A route's QR code, drawn by the hub: SVG (sharp at any size) or PNG at a chosen scale."""

from __future__ import annotations

import io

import segno

# One module (dot) per ``scale`` pixels: 40 makes a ~1,300 px code for an A3 poster at 300 dpi.
MAX_SCALE = 40
MEDIA_TYPES = {"png": "image/png", "svg": "image/svg+xml"}


def render(url: str, *, kind: str, scale: int) -> bytes:
    """The QR code of ``url`` (error correction M, the standard quiet zone of 4 modules)."""
    code = segno.make(url, error="m", micro=False)
    out = io.BytesIO()
    code.save(out, kind=kind, scale=scale, border=4)
    return out.getvalue()
