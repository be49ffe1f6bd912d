"""ZFSSA emulator: replication (not yet emulated)."""

from __future__ import annotations

from tests.emulators.zfssa.appliance import Appliance


class Replication:
    def __init__(self, app: Appliance):
        self.app = app


ROUTES: list = []
