"""Images and members as Glance shows them."""

from __future__ import annotations

from datetime import datetime

from shoal.services.image import rows

CORE_FIELDS = ("id", "name", "status", "visibility", "protected", "os_hidden", "owner", "disk_format",
               "container_format", "size", "virtual_size", "checksum", "os_hash_algo", "os_hash_value", "min_disk",
               "min_ram")


def stamp(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def image(row, store_id: str | None = None) -> dict:
    out = rows.properties(row)
    out.update({k: getattr(row, k) for k in CORE_FIELDS})
    out.update(tags=rows.tags(row), created_at=stamp(row.created_at), updated_at=stamp(row.updated_at),
               self=f"/v2/images/{row.id}", file=f"/v2/images/{row.id}/file", schema="/v2/schemas/image")
    if store_id and row.status in ("active", "deactivated"):
        out["stores"] = store_id
    return out


def member(row) -> dict:
    return {"member_id": row.member, "image_id": row.image_id, "status": row.status,
            "created_at": stamp(row.created_at), "updated_at": stamp(row.updated_at), "schema": "/v2/schemas/member"}
