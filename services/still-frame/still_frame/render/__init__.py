"""Pure image core of the still-frame service.

Turns a brand style, a headline, an optional CTA and an optional logo into
the first frame of the video.  No I/O besides reading the bundled font; no
network.  Modules:

Pure (no Pillow drawing):

* :mod:`.brand` - ``BrandStyle`` and hex parsing;
* :mod:`.formats` - output sizes and platform safe zones (data);
* :mod:`.geometry` - the ``Box`` rectangle;
* :mod:`.layout` - boxes for logo, panel, headline and CTA;
* :mod:`.typesetting` / :mod:`.wrapping` - auto-sizing and line wrapping;
* :mod:`.contrast` - WCAG luminance / contrast.

Pixels:

* :mod:`.background` - deterministic brand background;
* :mod:`.framing` - cropping or extending the generated image to the frame;
* :mod:`.composite` - source, overlay and still from one layout, PNG encoding, logo validation;
* :mod:`.panel` - scrim colour/opacity meeting WCAG AA;
* :mod:`.logo` - logo validation, decoding, alpha-correct resizing;
* :mod:`.fonts` - the single font-loading entry point and text measurement.
"""

from .background import render_background
from .brand import BrandStyle, parse_hex
from .composite import StillResult, compose_still, encode_png, render_still, validate_logo
from .contrast import contrast_ratio, relative_luminance
from .fonts import load_font, make_measurer
from .formats import OUTPUT_SIZES, SAFE_ZONES, output_size, safe_rect
from .framing import fit_to_frame
from .geometry import Box
from .layout import Layout, TextBlock, TextLine, compute_layout
from .typesetting import TypeScale

__all__ = [
    "OUTPUT_SIZES",
    "SAFE_ZONES",
    "Box",
    "BrandStyle",
    "Layout",
    "StillResult",
    "TextBlock",
    "TextLine",
    "TypeScale",
    "compose_still",
    "compute_layout",
    "contrast_ratio",
    "encode_png",
    "fit_to_frame",
    "load_font",
    "make_measurer",
    "output_size",
    "parse_hex",
    "relative_luminance",
    "render_background",
    "render_still",
    "safe_rect",
    "validate_logo",
]
