"""`PutBrandAssets` refuses at the door what the pipeline cannot carry (INVALID_ARGUMENT naming the field), judges a
logo's size from its header before decoding it, and keeps the stored logo when a request carries none."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from PIL import Image

from social_video.v1 import brands_pb2
from svd.ids import short_id
from svd_stack.client import StackClient, demo_logo_png


def assets(tenant: str, **fields: Any) -> brands_pb2.BrandAssets:
    values: dict[str, Any] = {
        "tenant_id": tenant,
        "primary_color": "#14213D",
        "secondary_color": "#2E4A8C",
        "accent_color": "#FCA311",
        "font_family": "Inter",
        "tone_of_voice": "confident, warm",
    }
    return brands_pb2.BrandAssets(**{**values, **fields})


async def put(client: StackClient, brand: brands_pb2.BrandAssets) -> brands_pb2.BrandAssets:
    return (await client.brands.PutBrandAssets(brands_pb2.PutBrandAssetsRequest(assets=brand))).assets


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` x `height` (its pixel data could never fill that)."""
    buffer = io.BytesIO()
    Image.new("RGBA", (16, 16)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    return bytes(data)


@pytest.fixture
async def admin(stack) -> AsyncIterator[StackClient]:  # type: ignore[no-untyped-def]
    client = StackClient(stack.info)
    try:
        yield client
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"tone_of_voice": "x" * 2001}, "tone_of_voice is 2001 characters long; at most 2000"),
        ({"font_family": "F" * 129}, "font_family is 129 characters long; at most 128"),
        ({"font_family": "Inter\x00Bold"}, "font_family must not contain control characters"),
        ({"tone_of_voice": "calm\x1b[31m"}, "tone_of_voice must not contain control characters"),
        ({"primary_color": "#12345G"}, "primary_color must be a hex colour"),
        ({"accent_color": ""}, "accent_color must be a hex colour"),
        ({"tenant_id": "a/b"}, "tenant_id must be"),
        ({"tenant_id": ".."}, "tenant_id must be"),
        ({"logo_png": b"not an image"}, "invalid logo: cannot decode image"),
        # 67 Mpx claimed by a 100-byte file: refused from the header, before anything is decoded.
        ({"logo_png": png_claiming(8192, 8192)}, "8192x8192 has 67108864 pixels, more than the 4000000 allowed"),
    ],
)
async def test_fields_over_their_limits_are_refused_with_the_field_named(
    admin: StackClient, fields: dict[str, Any], named: str
) -> None:
    brand = assets(f"t-{short_id(8)}", **fields)  # a tenant_id among `fields` replaces the fresh one
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await put(admin, brand)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    assert named in (caught.value.details() or "")


async def test_fields_at_their_limits_are_kept(admin: StackClient) -> None:
    tenant = f"t-{short_id(8)}"
    tone = "Warm and direct.\nNever shouty.\t" + "x" * (2000 - 31)
    stored = await put(admin, assets(tenant, tone_of_voice=tone, font_family="F" * 128))
    assert (stored.tone_of_voice, stored.font_family) == (tone, "F" * 128)


async def test_a_request_without_a_logo_keeps_the_stored_one(admin: StackClient) -> None:
    tenant = f"t-{short_id(8)}"
    first = await put(admin, assets(tenant, logo_png=demo_logo_png()))
    assert first.logo_key.startswith(f"tenants/{tenant}/brand/logo-")

    changed = await put(admin, assets(tenant, tone_of_voice="playful", accent_color="#00FF00"))
    assert changed.logo_key == first.logo_key
    assert (changed.tone_of_voice, changed.accent_color) == ("playful", "#00FF00")
    got = (await admin.brands.GetBrandAssets(brands_pb2.GetBrandAssetsRequest(tenant_id=tenant))).assets
    assert got.logo_key == first.logo_key

    # A brand created without a logo has none, and gets one when a logo comes.
    bare = await put(admin, assets(f"t-{short_id(8)}"))
    assert bare.logo_key == ""
