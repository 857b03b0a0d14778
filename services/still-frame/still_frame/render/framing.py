"""Bring a generated image to the deliverable's exact frame: crop it, or extend it, never stretch it.

Image models answer in their own sizes (``gpt-image-1``: 1024x1536, 2:3), not the deliverable's (1080x1920, 9:16), so
the image is fitted to the frame *before* anything is laid out on it: the safe zones and the text panel's contrast
are then decided on the pixels the viewer will see.

* Crop (cover): scale uniformly until the frame is covered, then centre-crop. Used while the crop keeps at least
  :data:`MIN_KEPT_SHARE` of the image (2:3 into 9:16 keeps 84 %).
* Extend: when a crop would throw away more (a square or landscape image into 9:16), the whole image is scaled to fit
  inside the frame and the rest of the frame is filled with a heavily blurred cover of the same image, the seam
  feathered, so nothing of the subject is lost and no bars are left for the video model to animate.
"""

from __future__ import annotations

from typing import Literal

from PIL import Image, ImageFilter, ImageOps

__all__ = ["MIN_KEPT_SHARE", "FitMode", "cover_crop", "extend", "fit_mode", "fit_to_frame", "flatten"]

FitMode = Literal["crop", "extend"]

MIN_KEPT_SHARE = 0.75
"""A crop keeping less than this share of the image's area extends instead."""
_BACKDROP_DOWNSCALE = 24  # the fill is built small (cheap) and blurred, then scaled up
_BACKDROP_BLUR = 2.0
_FEATHER_SHARE = 0.02  # of the frame's extended side: how soft the seam between image and fill is


def flatten(image: Image.Image) -> Image.Image:
    """An RGB copy of ``image``; transparency is flattened onto black (the caller's image is never modified)."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        flat = Image.new("RGBA", image.size, (0, 0, 0, 255))
        flat.alpha_composite(image.convert("RGBA"))
        image = flat
    return image.convert("RGB")


def kept_share(src_w: int, src_h: int, width: int, height: int) -> float:
    """Share of a ``src_w`` x ``src_h`` image's area that a cover crop to ``width`` x ``height`` keeps."""
    src, dst = src_w / src_h, width / height
    return min(src, dst) / max(src, dst)


def fit_mode(src_w: int, src_h: int, width: int, height: int) -> FitMode:
    """Whether an image of that size is cropped or extended to the frame."""
    return "crop" if kept_share(src_w, src_h, width, height) >= MIN_KEPT_SHARE - 1e-9 else "extend"


def cover_crop(image: Image.Image, width: int, height: int) -> Image.Image:
    """Scale ``image`` to cover ``width x height`` and centre-crop (never stretches)."""
    rgb = flatten(image)
    if rgb.size == (width, height):
        return rgb
    return ImageOps.fit(rgb, (width, height), method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))


def _feather_mask(size: tuple[int, int], frame: tuple[int, int]) -> Image.Image:
    """Opaque mask of the fitted image, ramping to transparent over a few pixels along the sides that meet the fill."""
    w, h = size
    mask = Image.new("L", size, 255)
    horizontal = w < frame[0]  # the fill is left and right of the image
    span = max(1, round(_FEATHER_SHARE * (frame[0] if horizontal else frame[1])))
    ramp = Image.linear_gradient("L").resize((1, span))  # 0 at the outer edge -> 255 inside
    if horizontal:
        ramp = ramp.rotate(90, expand=True).transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize((span, h))
        mask.paste(ramp, (0, 0))
        mask.paste(ramp.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (w - span, 0))
    else:
        ramp = ramp.resize((w, span))
        mask.paste(ramp, (0, 0))
        mask.paste(ramp.transpose(Image.Transpose.FLIP_TOP_BOTTOM), (0, h - span))
    return mask


def extend(image: Image.Image, width: int, height: int) -> Image.Image:
    """The whole of ``image`` fitted inside ``width x height``, the remainder filled with a blurred cover of it."""
    rgb = flatten(image)
    scale = min(width / rgb.width, height / rgb.height)
    size = (min(width, max(1, round(rgb.width * scale))), min(height, max(1, round(rgb.height * scale))))
    fitted = rgb.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    if size == (width, height):
        return fitted
    small = cover_crop(rgb, max(1, width // _BACKDROP_DOWNSCALE), max(1, height // _BACKDROP_DOWNSCALE))
    frame = small.filter(ImageFilter.GaussianBlur(_BACKDROP_BLUR)).resize((width, height), Image.Resampling.BICUBIC)
    frame.paste(fitted, ((width - size[0]) // 2, (height - size[1]) // 2), _feather_mask(size, (width, height)))
    return frame


def fit_to_frame(image: Image.Image, width: int, height: int) -> Image.Image:
    """``image`` as an RGB image of exactly ``width x height``: cover-cropped, or extended when a crop would lose
    too much of it (see :func:`fit_mode`)."""
    if fit_mode(image.width, image.height, width, height) == "crop":
        return cover_crop(image, width, height)
    return extend(image, width, height)
