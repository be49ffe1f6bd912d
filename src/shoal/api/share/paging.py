"""Manila's `<collection>_links`: a `next` link when a page came back full.

A page is full when it holds as many items as the caller's `limit`, or as
Manila's osapi_max_limit (1000) when the caller gave none or a bigger one
(Manila's ViewBuilder._get_collection_links); the link repeats the request's
query with the last item's id as `marker`."""

from __future__ import annotations

from urllib.parse import urlencode

from .call import ShareCall

MAX_LIMIT = 1000  # Manila's osapi_max_limit


def next_links(call: ShareCall, collection: str, ids: list[str], limit: int | None) -> list[dict]:
    page = min(limit, MAX_LIMIT) if limit is not None else MAX_LIMIT
    if not ids or len(ids) != page:
        return []
    query = [(k, v) for k, v in call.request.query_params.multi_items() if k != "marker"]
    query.append(("marker", ids[-1]))
    path = call.request.url.path.split("/v2/", 1)[-1]
    return [{"rel": "next", "href": f"{call.base}/v2/{path}?{urlencode(query)}"}]
