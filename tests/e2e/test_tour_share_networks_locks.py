"""Client tour, share networks, security services and locks: the unmodified
`openstack share network …`, `openstack share security service …`, `openstack share
lock …` and `openstack share access … --lock-*` commands (python-manilaclient's OSC
plugin) with password auth, as a member of tour-a, a member of tour-b, a reader of
tour-a and the admin."""

from __future__ import annotations

import pytest

from tests.e2e.tour_fixtures import wait_deleted, wait_status

pytestmark = pytest.mark.e2e


def test_share_networks_and_security_services_with_openstack(tour):
    ss = tour.osc_json("a-member", "share", "security", "service", "create", "ldap", "--name", "tour-ldap",
                       "--dns-ip", "10.0.0.1", "--server", "ldap.example.org", "--domain", "example.org",
                       "--user", "reader", "--password", "secret", "--ou", "OU=tour")
    # (no --neutron-net-id here: the client looks such ids up in Neutron itself, and this cloud has none)
    sn = tour.osc_json("a-member", "share", "network", "create", "--name", "tour-net", "--description", "records")
    subnet = None
    try:
        assert (ss["type"], ss["name"], ss["server"], ss["ou"]) == ("ldap", "tour-ldap", "ldap.example.org",
                                                                     "OU=tour")
        assert sn["name"] == "tour-net" and sn["project_id"] == tour.projects["tour-a"]
        zone = tour.osc_json("a-member", "share", "availability", "zone", "list")[0]["Name"]
        shown, networks, services, subnet = tour.osc_batch(
            "a-member",
            ["share", "network", "set", sn["id"], "--new-security-service", ss["id"]],
            ["share", "network", "show", "tour-net", "-f", "json"],
            ["share", "network", "list", "-f", "json"],
            ["share", "security", "service", "list", "--share-network", sn["id"], "-f", "json"],
            ["share", "network", "subnet", "create", sn["id"], "--availability-zone", zone, "-f", "json"])
        assert [x["ID"] for x in networks] == [sn["id"]]
        assert [x["ID"] for x in services] == [ss["id"]]
        assert shown["id"] == sn["id"] and shown["description"] == "records" and shown["status"] == "active"
        assert subnet["availability_zone"] == zone and subnet["share_network_id"] == sn["id"]
        # a security service in use is not deleted; another project sees neither
        assert "403" in tour.osc_fails("a-member", "share", "security", "service", "delete", ss["id"])
        assert "409" in tour.osc_fails("a-member", "share", "network", "delete", sn["id"])  # two subnets
        tour.osc_fails("b-member", "share", "network", "show", sn["id"])
        assert tour.osc_json("b-member", "share", "network", "list") == []
        assert tour.osc_json("b-member", "share", "security", "service", "list") == []
        tour.osc_batch("a-member",
                       ["share", "network", "subnet", "delete", sn["id"], subnet["id"]],
                       ["share", "network", "unset", sn["id"], "--security-service", ss["id"]])
        subnet = None
    finally:
        if subnet is not None:
            tour.osc("a-member", "share", "network", "subnet", "delete", sn["id"], subnet["id"], check=False)
        tour.osc("a-member", "share", "network", "delete", sn["id"])
        tour.osc("a-member", "share", "security", "service", "delete", ss["id"])
    assert tour.osc_json("a-member", "share", "network", "list") == []


def test_locks_with_openstack(tour):
    a = tour.sdk("a-member").shared_file_system
    share = tour.osc_json("a-member", "share", "create", "NFS", "1", "--name", "tour-locked")
    try:
        wait_status(a.get_share, share["id"], "available")
        rule = tour.osc_json("a-member", "share", "access", "create", "tour-locked", "ip", "10.0.0.7",
                             "--lock-visibility", "--lock-deletion", "--lock-reason", "tour")
        # the locker and the admin see where the rule lets in; another user of the project does not
        for cloud, seen in (("a-member", "10.0.0.7"), ("admin", "10.0.0.7"), ("a-reader", "******")):
            listed = tour.osc_json(cloud, "share", "access", "list", share["id"])
            assert [r["Access To"] for r in listed if r["ID"] == rule["id"]] == [seen], (cloud, listed)
        locks = tour.osc_json("a-member", "share", "lock", "list", "--resource", rule["id"])
        assert len(locks) == 2
        lock = tour.osc_json("a-member", "share", "lock", "create", "tour-locked", "share", "--lock-reason",
                             "keep it")
        assert "403" in tour.osc_fails("a-member", "share", "delete", "tour-locked")
        assert "403" in tour.osc_fails("a-member", "share", "access", "delete", "tour-locked", rule["id"])
        assert "403" in tour.osc_fails("a-reader", "share", "lock", "delete", lock["id"])
        tour.osc_batch("a-member", ["share", "lock", "delete", lock["id"]],
                       ["share", "access", "delete", "tour-locked", rule["id"], "--unrestrict"])
        assert tour.osc_json("a-member", "share", "lock", "list") == []
    finally:
        tour.osc("admin", "share", "delete", share["id"], check=False)
    wait_deleted(a.get_share, share["id"])
