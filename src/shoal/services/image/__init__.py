"""The built-in Image service (Glance v2): records (images.py), members
(members.py), data (data.py), the schemas and attribute rules (schema.py), and who
sees what (rows.py). Image data lives in an image store (shoal.drivers.images)."""

from __future__ import annotations

from shoal.drivers.images import store_from_settings

from ..common import core as c
from .data import ImageData
from .images import Images
from .members import ImageMembers


class ImageService:
    def __init__(self, core: c.Core):
        self.store = store_from_settings(core.settings)
        self.images = Images(core, self.store)
        self.members = ImageMembers(core)
        self.data = ImageData(core, self.store)

    def start(self) -> None:
        self.store.start()
        self.data.recover()
