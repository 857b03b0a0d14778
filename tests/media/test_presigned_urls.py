"""Presigned URLs through the Spaces CDN (pure: presigning is local, no store is reached).

The Spaces CDN serves a private object to a URL presigned virtual-hosted style for the origin whose host is then
swapped for the CDN's; a path-style URL, or a plain public URL, does not work for private objects.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from svd.settings import SpacesSettings
from svd.storage import ObjectStore

KEY = "tenants/t-1/social-videos/p-1/V1StGXR8_Z5jdHi6B-myT.mp4"


def spaces(cdn: str) -> SpacesSettings:
    return SpacesSettings(
        do_spaces_key="DO00EXAMPLE",
        do_spaces_secret="secret",
        do_spaces_bucket="svd-media",
        do_spaces_endpoint="https://nyc3.digitaloceanspaces.com",
        do_spaces_region="nyc3",
        do_spaces_cdn_url=cdn,
    )


async def test_a_cdn_url_is_presigned_for_the_origin_and_served_by_the_cdn_host() -> None:
    async with ObjectStore.open(spaces("https://svd-media.nyc3.cdn.digitaloceanspaces.com/")) as store:
        url = urlsplit(await store.presigned_get(KEY, 600, via_cdn=True))
        origin = urlsplit(await store.presigned_get(KEY, 600))
    assert (url.scheme, url.netloc, url.path) == ("https", "svd-media.nyc3.cdn.digitaloceanspaces.com", f"/{KEY}")
    query = parse_qs(url.query)
    assert query["X-Amz-Expires"] == ["600"] and query["X-Amz-SignedHeaders"] == ["host"]
    assert query["X-Amz-Signature"][0] and "/nyc3/s3/aws4_request" in query["X-Amz-Credential"][0]
    # Without via_cdn (e.g. the still a provider fetches) the URL stays on the origin, path style.
    assert (origin.netloc, origin.path) == ("nyc3.digitaloceanspaces.com", f"/svd-media/{KEY}")


async def test_without_a_cdn_urls_are_presigned_on_the_origin() -> None:
    async with ObjectStore.open(spaces("")) as store:
        url = urlsplit(await store.presigned_get(KEY, 600, via_cdn=True))
    assert (url.netloc, url.path) == ("nyc3.digitaloceanspaces.com", f"/svd-media/{KEY}")
    assert "Signature" in url.query
