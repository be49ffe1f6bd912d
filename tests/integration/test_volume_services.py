"""os-services: an admin disables and freezes the volume service of a backend.

The story: the test Shoal's one backend is disabled with a reason: os-services says so, and a
new volume finds no backend (error, with a user message) while the volume it already holds
still extends and is deleted. Enabled again, volumes are placed there again. Frozen, the
backend takes no new volumes and its volumes refuse delete, extend and snapshots (400,
nothing changed); thawed, they are managed again. A reason that is missing, an unknown
service or an unknown host are refused.
"""

from __future__ import annotations

import pytest

from .volume_helpers import fault, messages_for, volume_api  # noqa: F401 - fixture

pytestmark = pytest.mark.integration


def _service(client, binary: str, host: str) -> dict:
    (found,) = [s for s in client.get("/os-services").json()["services"] if (s["binary"], s["host"]) == (binary, host)]
    return found


def test_disable_and_freeze_a_volume_backend(volume_api):
    client = volume_api.client
    (host,) = [s["host"] for s in client.get("/os-services", params={"binary": "cinder-volume"}).json()["services"]
               if s["host"] == "shoal@test"]
    kept = volume_api.create_volume(1)
    try:
        answer = client.put("/os-services/disable-log-reason",
                            json={"host": host, "binary": "cinder-volume", "disabled_reason": "maintenance"})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"host": host, "binary": "cinder-volume", "service": "cinder-volume",
                                 "disabled": True, "status": "disabled", "disabled_reason": "maintenance"}
        shown = _service(client, "cinder-volume", host)
        assert (shown["status"], shown["disabled_reason"]) == ("disabled", "maintenance")

        refused = client.post("/volumes", json={"volume": {"size": 1}}).json()["volume"]
        volume_api.wait_volume(refused["id"], "error")
        assert messages_for(client, refused["id"])
        volume_api.delete_volume(refused["id"])
        # what it holds stays usable
        assert volume_api.action(kept["id"], "os-extend", {"new_size": 2}).status_code == 202
        volume_api.wait_volume(kept["id"], "available")

        enabled = client.put("/os-services/enable", json={"host": host, "binary": "cinder-volume"})
        assert enabled.status_code == 200 and enabled.json()["status"] == "enabled"
        assert _service(client, "cinder-volume", host)["disabled_reason"] is None
        placed = volume_api.create_volume(1)
        volume_api.delete_volume(placed["id"])

        assert client.put("/os-services/freeze", json={"host": host}).status_code == 200
        fault(client.delete(f"/volumes/{kept['id']}"), 400)
        fault(volume_api.action(kept["id"], "os-extend", {"new_size": 3}), 400)
        fault(client.post("/snapshots", json={"snapshot": {"volume_id": kept["id"]}}), 400)
        assert volume_api.volume(kept["id"])["status"] == "available" and volume_api.volume(kept["id"])["size"] == 2
        frozen_out = client.post("/volumes", json={"volume": {"size": 1}}).json()["volume"]
        volume_api.wait_volume(frozen_out["id"], "error")
        volume_api.delete_volume(frozen_out["id"])  # never placed: nothing of the frozen backend's to manage
        assert client.put("/os-services/thaw", json={"host": host}).status_code == 200
    finally:
        client.put("/os-services/thaw", json={"host": host})
        client.put("/os-services/enable", json={"host": host, "binary": "cinder-volume"})
    volume_api.delete_volume(kept["id"])

    fault(client.put("/os-services/disable-log-reason", json={"host": host, "binary": "cinder-volume"}), 400)
    fault(client.put("/os-services/disable", json={"host": "elsewhere", "binary": "cinder-volume"}), 404)
    fault(client.put("/os-services/disable", json={"host": host, "binary": "cinder-backup"}), 404)
    fault(client.put("/os-services/freeze", json={"host": "elsewhere"}), 400)
    fault(client.put("/os-services/thaw", json={"host": "shoal"}), 400)  # the scheduler holds no volumes
    assert _service(client, "cinder-volume", host)["status"] == "enabled"
