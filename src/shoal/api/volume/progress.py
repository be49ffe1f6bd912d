"""GET /volumes/{volume_id}/progress: how far a volume's image download, image
upload or migration has come (Shoal's own, the `os-shoal-progress` extension;
services/volume/progress.py reads it). Found and refused as a volume show is."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.share.views import ts
from shoal.services.volume.progress import progress_of

from .call import VolumeCall, volume_call

router = APIRouter()


class ProgressView(BaseModel):
    """How far the volume's image download, image upload or migration has come."""

    volume_id: str
    operation: Literal["image_download", "image_upload", "migration"] | None = Field(
        description="The work running on the volume; null when none runs")
    percent: int | None = Field(ge=0, le=100, description="How much of it is done; null when nothing runs")
    status: str = Field(description="The volume's status")
    migration_status: str | None = Field(description="The volume's migration status (for admins, as in a show)")
    updated_at: str | None = Field(description="When the volume's row, its progress included, last changed")


ANSWER = {"responses": {"200": {"description": "The volume's progress", "content": {"application/json": {"schema": {
    "type": "object", "required": ["progress"], "properties": {"progress": ProgressView.model_json_schema()}}}}}}}


@router.get("/volumes/{volume_id}/progress", openapi_extra=ANSWER)
async def volume_progress(volume_id: str, call: VolumeCall = Depends(volume_call)):
    p = progress_of(await sync(call.services.volumes.get, call.ctx, volume_id))
    return {"progress": {
        "volume_id": p.volume_id, "operation": p.operation, "percent": p.percent, "status": p.status,
        "migration_status": p.migration_status if call.ctx.is_admin else None,  # as a show gives it
        "updated_at": ts(p.updated_at)}}
