"""The volume recovery pass asks every volume backend, also one with nothing
attached: its driver settles what the pass is for (the file systems mounted
anew, say) either way. Before, such a backend was never asked, so it never
settled, and the daemon watch started its pass again every second."""

from __future__ import annotations

import uuid

from tests.fixtures.services import services_with_share


class StandInShares:
    availability_zone = "nova"

    def exports_stale(self) -> bool:
        return False


class RecordingVolumes:
    """A volume backend that notes each recovery pass it is given."""

    def __init__(self):
        self.passes: list[tuple] = []

    def ensure_exports(self, volumes):
        self.passes.append(tuple(volumes))
        return {}

    def exported_volume_ids(self) -> set[str]:
        return set()


def test_a_backend_with_no_attached_volume_is_given_its_pass(tmp_path):
    with services_with_share(tmp_path, StandInShares(), uuid.uuid4().hex, "someone") as (services, _):
        idle, other = RecordingVolumes(), RecordingVolumes()
        services.core.volume_drivers.update({"idle": idle, "other": other})
        services.volume_recovery.ensure_exports("idle")
        assert idle.passes == [()] and other.passes == []
        services.volume_recovery.ensure_exports()
        assert idle.passes == [(), ()] and other.passes == [()]
