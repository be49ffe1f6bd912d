"""What share replicas, share migration, quota sets and share and snapshot instances take
(see api/openstack/bodies.py)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, PlainValidator, ValidationInfo, WithJsonSchema

from shoal.api.openstack.bodies import Body, Status, actions, body
from shoal.api.openstack.body_fields import Flag, Ref, _as_value_error
from shoal.services.common.quotas import MAX_LIMIT, SHARE_RESOURCES, parse_limit
from shoal.services.share.migration import DRIVER_PARAMS


def _wait_time(value: Any, info: ValidationInfo) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise ValueError(f"{info.field_name} must be a non-negative integer")
    return value


class ReplicaCreate(Body):
    share_id: Ref | None = None  # required: the replica service says so
    availability_zone: Ref | None = None
    share_network_id: Ref | None = None  # refused when given: no share servers here (the handler)


class Promote(Body):
    """2.75+ (below, the argument is ignored, as Manila does)."""

    quiesce_wait_time: Annotated[int, PlainValidator(_wait_time), WithJsonSchema(
        {"type": "integer", "minimum": 0, "maximum": 2**31 - 1})] | None = None


class ReplicaState(Body):
    replica_state: Ref  # which states: the replica service


REPLICA_ACTIONS = {"promote": Promote, "resync": None, "reset_status": Status,
                   "reset_replica_state": ReplicaState, "force_delete": None}


# ---- share migration --------------------------------------------------------------------------

class MigrationStart(Body):
    """migration_start (2.29+). The flags and the host are required, in Manila's words ("'host' is
    missing."): the migration service says so, the schema declares it; the flags are oslo's strict
    booleans and not null. Which flags and hosts are offered: the service."""

    model_config = ConfigDict(json_schema_extra={"required": [*DRIVER_PARAMS, "host"]})
    host: Ref = None  # host@backend#pool
    preserve_metadata: Flag = None
    writable: Flag = None
    nondisruptive: Flag = None
    preserve_snapshots: Flag = None
    force_host_assisted_migration: Flag = False
    new_share_type_id: Ref | None = None
    new_share_network_id: Ref | None = None


MIGRATION_ACTIONS = {"migration_start": MigrationStart, "migration_complete": None, "migration_cancel": None,
                     "migration_get_progress": None}


# ---- quota sets and quota class sets ---------------------------------------------------------

def _limit(value: Any, info: ValidationInfo) -> int:
    return _as_value_error(parse_limit, info.field_name, value)  # the quota service's words


def _force(value: Any, info: ValidationInfo) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() not in ("true", "false", "1", "0"):
        raise ValueError(f"Invalid input received: {info.field_name} must be a boolean, not {value!r}")
    return str(value).lower() in ("true", "1")


Limit = Annotated[int, PlainValidator(_limit), WithJsonSchema({"type": "integer", "minimum": -1,
                                                               "maximum": MAX_LIMIT})]


class QuotaValues(Body):
    """Limits by resource (not null either). Other keys are kept for the quota service, which ignores
    Manila's (id, tenant_id) and says 'Bad key(s) ...' for the rest and for a resource this
    microversion or a share type's quota does not take."""

    model_config = ConfigDict(extra="allow")
    shares: Limit = None
    gigabytes: Limit = None
    snapshots: Limit = None
    snapshot_gigabytes: Limit = None
    share_networks: Limit = None
    share_groups: Limit = None  # 2.40+
    share_group_snapshots: Limit = None
    share_replicas: Limit = None  # 2.53+
    replica_gigabytes: Limit = None
    per_share_gigabytes: Limit = None  # 2.62+


class QuotaSetUpdate(QuotaValues):
    force: Annotated[bool, PlainValidator(_force), WithJsonSchema({"type": "boolean"})] = False


# ---- share and snapshot instances ------------------------------------------------------------

INSTANCE_ACTIONS = {"reset_status": Status, "force_delete": None}  # and their os- names below 2.7

CREATE_REPLICA = body("share_replica", ReplicaCreate)
REPLICA_ACTION = actions(REPLICA_ACTIONS)
UPDATE_QUOTA_SET = body("quota_set", QuotaSetUpdate)
UPDATE_QUOTA_CLASS = body("quota_class_set", QuotaValues)
assert set(SHARE_RESOURCES) <= set(QuotaValues.model_fields)  # every resource the quota service knows is declared
INSTANCE_ACTION = actions({**INSTANCE_ACTIONS, **{f"os-{name}": model for name, model in INSTANCE_ACTIONS.items()}})
SNAPSHOT_INSTANCE_ACTION = actions({"reset_status": Status})
