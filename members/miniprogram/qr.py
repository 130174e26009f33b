"""QR images for the mini-program: PNG (``qrcode``'s pure-Python PyPNG writer, no imaging
library), base64 in the JSON answer as the contract's ``qr_png_base64``."""

from __future__ import annotations

import base64
import io


def qr_png_base64(text: str) -> str:
    import qrcode
    from qrcode.image.pure import PyPNGImage

    image = qrcode.make(text, image_factory=PyPNGImage, box_size=6, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    return base64.b64encode(buffer.getvalue()).decode()
