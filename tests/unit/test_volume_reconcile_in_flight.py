"""The periodic check's comparison of a target daemon's exports with the
attachments, under a steady stream of attaches: each look at the daemon finds
a few attaches that recorded their connector and have not exported yet. Only a
volume that lacks its export in both looks (the second after its lock was
free) is lost; before, the in-flight attaches of the second look started a
pass that exported every attached volume again, every minute of the stream."""

from __future__ import annotations

import uuid

from shoal.drivers.volume import ExportsHeld
from tests.fixtures.services import services_with_share

from .test_volume_recovery_pass import RecordingVolumes, StandInShares


class Looks(RecordingVolumes):
    """A backend whose daemon shows `held` on successive looks."""

    def __init__(self, looks: list[ExportsHeld]):
        super().__init__()
        self.looks = looks

    def exports_held(self) -> ExportsHeld:
        return self.looks.pop(0)

    def exported_volume_ids(self) -> set[str]:
        return set(self.looks[0].volume_ids) if self.looks else set()

    def drop_export(self, volume_id: str) -> None:
        raise AssertionError(f"nothing is unneeded here, yet {volume_id} was dropped")


def reconcile(tmp_path, monkeypatch, looks: list[ExportsHeld], attached: list[set[str]]) -> Looks:
    with services_with_share(tmp_path, StandInShares(), uuid.uuid4().hex, "someone") as (services, _):
        backend = Looks(looks)
        services.core.volume_drivers["busy"] = backend
        recovery = services.volume_recovery
        monkeypatch.setattr(recovery, "_attached_on", lambda name, volume_id=None: attached.pop(0))
        recovery.reconcile_exports("busy", backend)
        return backend


def test_attaches_in_flight_in_each_look_are_not_lost(tmp_path, monkeypatch):
    steady = {"a", "b"}
    backend = reconcile(tmp_path, monkeypatch,
                        [ExportsHeld(steady, set()), ExportsHeld(steady | {"c"}, set())],
                        [steady | {"c"}, steady | {"c", "d"}])  # c in flight first, then d
    assert backend.passes == []


def test_a_volume_lost_in_both_looks_brings_the_pass(tmp_path, monkeypatch):
    steady = {"a", "b"}
    backend = reconcile(tmp_path, monkeypatch,
                        [ExportsHeld({"a"}, set()), ExportsHeld({"a"}, set()), ExportsHeld({"a", "b"}, set())],
                        [steady, steady | {"d"}, steady, steady])
    assert len(backend.passes) == 1


def test_an_export_that_serves_nothing_in_both_looks_brings_the_pass(tmp_path, monkeypatch):
    steady = {"a", "b"}
    backend = reconcile(tmp_path, monkeypatch,
                        [ExportsHeld(steady, {"b"}), ExportsHeld(steady, {"b"}), ExportsHeld(steady, set())],
                        [steady, steady, steady, steady])
    assert len(backend.passes) == 1
