"""Contact sheets: a grid of grey photos, each with a caption under it, drawn with Pillow.

The renderer's ``sheet.png``, the trials' ``predictions.png`` artifact and the report's image
grids are all drawn here.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

CAPTION, GAP, TITLE = 20, 4, 24
BLACK, RED = (0, 0, 0), (200, 0, 0)


def as_uint8(images: np.ndarray) -> np.ndarray:
    """N x H x W (or N x H x W x 1) grey images in [0, 1] or [0, 255] -> N x H x W uint8."""
    images = np.asarray(images)
    if images.ndim == 4:
        images = images[..., 0]
    if images.dtype != np.uint8:
        scale = 255.0 if float(images.max(initial=0)) <= 1.0 else 1.0
        images = np.clip(np.rint(images * scale), 0, 255).astype(np.uint8)
    return images


def contact_sheet(
    images: np.ndarray,
    captions: Sequence[str],
    *,
    columns: int = 4,
    min_cell: int = 150,
    title: str | None = None,
    highlight: Sequence[bool] | None = None,
) -> Image.Image:
    """Images in a grid, cells upscaled to ``min_cell``; captions in red where ``highlight``."""
    images = as_uint8(images)
    n = len(images)
    cell = max(min_cell, images.shape[1] if n else min_cell)
    rows = max(1, math.ceil(n / columns))
    top = TITLE if title else 0
    size = (columns * (cell + GAP) + GAP, top + rows * (cell + CAPTION + GAP) + GAP)
    colour = highlight is not None
    sheet = Image.new("RGB" if colour else "L", size, (255, 255, 255) if colour else 255)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=15)
    if title:
        draw.text((size[0] / 2, TITLE / 2 + 2), title, fill=BLACK if colour else 0, font=font, anchor="mm")
    for k in range(n):
        x = GAP + (k % columns) * (cell + GAP)
        y = top + GAP + (k // columns) * (cell + CAPTION + GAP)
        tile = Image.fromarray(images[k], "L")
        if tile.size[0] != cell:
            tile = tile.resize((cell, cell), Image.Resampling.LANCZOS)
        sheet.paste(tile.convert(sheet.mode), (x, y))
        fill = (RED if highlight[k] else BLACK) if colour else 0
        draw.text((x + cell / 2, y + cell + CAPTION / 2), captions[k], fill=fill, font=font, anchor="mm")
    return sheet


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="png")
    return out.getvalue()
