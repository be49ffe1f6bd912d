"""Cinder's `<collection>_links`: a `next` link when a page is full, so clients page on."""

from __future__ import annotations

from urllib.parse import urlencode

from shoal.api.openstack.call import public_origin

from .call import VolumeCall


def page_limit(call: VolumeCall, asked: int | None) -> int:
    """The page size: what the caller asked for, at most `[api] max_limit` (Cinder's
    osapi_max_limit), which is also the size when nothing was asked."""
    cap = call.services.settings.api.max_limit
    return cap if asked is None else min(asked, cap)


def next_links(call: VolumeCall, collection: str, items: list, limit: int | None) -> dict:
    """`{"<collection>_links": [{"rel": "next", ...}]}` when `limit` items came back (Cinder
    links then even if nothing follows; the next page is empty), else nothing. The link
    repeats the request's own path and query with the last item's id as the marker."""
    if not items or limit is None or len(items) < limit:
        return {}
    params = [(k, v) for k, v in call.request.query_params.multi_items() if k != "marker"]
    params.append(("marker", items[-1].id))
    href = f"{public_origin(call.request)}{call.request.url.path}?{urlencode(params)}"
    return {f"{collection}_links": [{"rel": "next", "href": href}]}
