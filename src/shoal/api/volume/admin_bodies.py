"""What the volume API's administrators' calls take: QoS specs, encryption types, quotas,
volume types' extra specs and access, group types and os-services --
the models that validate them and describe them in the OpenAPI document (see
api/openstack/bodies.py). The rules that need the database (does the type exist, is
it in use, is a name taken) stay with the services."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import ConfigDict, PlainValidator, ValidationInfo, WithJsonSchema, model_validator

from shoal.api.openstack.bodies import Body, Strict, actions, body, plain
from shoal.api.openstack.body_fields import Flag, Ref, Refs, Text
from shoal.services.common.checks import check_text
from shoal.services.common.errors import Invalid
from shoal.services.common.quotas import MAX_LIMIT, parse_limit
from shoal.services.common.types import check_specs
from shoal.services.volume.encryption_types import LOCATIONS
from shoal.services.volume.qos_specs import CONSUMERS

from .bodies import Choice, NonBlank


# Any value, left to a model's own check (the specs: check_specs); described as the string it must be.
SpecValue = Annotated[Any, WithJsonSchema({"type": "string", "maxLength": 255})]


def _specs(extra: dict[str, Any] | None, word: str = "extra spec") -> dict[str, str]:
    """Specs (a QoS object's other keys, a group type's group_specs) as check_specs reads them."""
    try:
        return check_specs(dict(extra or {}), set())
    except Invalid as exc:
        raise ValueError(str(exc).replace("extra spec", word)) from None


def Specs(word: str):  # noqa: N802 - a factory of types, named as one
    """An object of specs (`extra_specs`, `group_specs`), as check_specs reads them, in `word`s."""

    def validate(value: Any, info: ValidationInfo) -> dict[str, str]:
        if not isinstance(value, dict):
            raise ValueError(f"{info.field_name} must be an object")
        return _specs(value, word)

    return Annotated[dict[str, str], PlainValidator(validate), WithJsonSchema(
        {"type": "object", "additionalProperties": {"type": "string", "maxLength": 255}})]


class WithSpecs(Body):
    """An object whose keys other than its declared fields are specs, as check_specs reads them."""

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, SpecValue]
    WORD: ClassVar[str] = "extra spec"  # what a message calls a spec

    @model_validator(mode="after")
    def _checked(self) -> WithSpecs:
        _specs(self.model_extra, self.WORD)
        return self

    def specs(self) -> dict[str, str]:
        return _specs(self.model_extra, self.WORD)


class SpecItem(WithSpecs):
    """`{key: value}` for PUT .../extra_specs/{key}: the one spec named in the URL."""


# ---- volume types: extra specs and access ------------------------------------------------------

class ExtraSpecsSet(Strict):
    extra_specs: Specs("extra spec")


class ProjectAccess(Strict):
    """addProjectAccess and removeProjectAccess of a private type."""

    project: Ref  # a project that exists: the type catalog


TYPE_ACTIONS = {"addProjectAccess": ProjectAccess, "removeProjectAccess": ProjectAccess}


# ---- QoS specs ------------------------------------------------------------------------------------

Consumer = Choice(CONSUMERS, "consumer must be one of front-end, back-end, both, not {value}")


class QosCreate(WithSpecs):
    """A name, a consumer, and the specs themselves as the object's other keys (Cinder's shape)."""

    name: NonBlank
    consumer: Consumer | None = None


class QosKeys(WithSpecs):
    """Keys to set: the specs, and `consumer` among them (not empty)."""

    consumer: Consumer | None = None

    @model_validator(mode="after")
    def _something(self) -> QosKeys:
        if not self.model_fields_set and not self.model_extra:
            raise ValueError("qos_specs must be a non-empty object")
        return self

    def specs(self) -> dict[str, str]:
        return {**super().specs(), **({"consumer": self.consumer} if self.consumer else {})}


class QosKeysUnset(Strict):
    keys: Refs


# ---- encryption types ----------------------------------------------------------------------------

def _key_size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise ValueError("key_size must be a non-negative integer")
    return value


KeySize = Annotated[int, PlainValidator(_key_size), WithJsonSchema({"type": "integer", "minimum": 0,
                                                                     "maximum": 2**31 - 1})]
Location = Choice(LOCATIONS, "Valid control location are: ['front-end', 'back-end']")


class EncryptionUpdate(Strict):
    """The fields to change (at least one); no others, as Cinder's schema."""

    UNDECLARED = "unknown encryption fields {}"

    provider: NonBlank = None  # given, not null (the default only marks it not given)
    cipher: Text(255) | None = None
    key_size: KeySize | None = None
    control_location: Location = None

    @model_validator(mode="after")
    def _something(self) -> EncryptionUpdate:
        if not self.model_fields_set:  # (a create has its provider)
            raise ValueError("encryption must be a non-empty object")
        return self


class EncryptionCreate(EncryptionUpdate):
    provider: NonBlank  # required on create


# ---- group types ----------------------------------------------------------------------------------

class GroupTypeCreate(Body):
    name: NonBlank  # taken or not: the group type service
    description: Text(255) | None = None  # Cinder's column for it: 255
    is_public: Flag = None  # the default only marks it not given: null is not a boolean
    group_specs: Specs("group spec") | None = None


class GroupTypeUpdate(Strict):
    """Any of the three (at least one: the group type service); a null name changes nothing."""

    name: NonBlank | None = None
    description: Text(255) | None = None
    is_public: Flag = None


class GroupSpecsSet(Strict):
    group_specs: Specs("group spec")


class GroupSpecItem(SpecItem):
    """`{key: value}` for PUT /group_specs/{key}."""

    WORD = "group spec"


# ---- os-services ----------------------------------------------------------------------------------

def _reason(value: Any) -> str:
    try:
        if not isinstance(value, str) or not value.strip():
            raise Invalid("blank")
        check_text("disabled_reason", value, 255)
    except Invalid:
        raise ValueError("Disabled reason contains invalid characters or is too long") from None  # Cinder's words
    return value


Reason = Annotated[str, PlainValidator(_reason), WithJsonSchema({"type": "string", "minLength": 1,
                                                                 "maxLength": 255})]


class ServiceFreeze(Strict):
    """freeze and thaw: the volume service's host (Shoal has no clusters: a cluster matches nothing)."""

    host: Ref | None = None
    cluster: Ref | None = None


class ServiceEnable(ServiceFreeze):
    """enable and disable: which service, by binary and host."""

    binary: Ref | None = None


class ServiceDisableWithReason(ServiceEnable):
    disabled_reason: Reason


SERVICE_ACTIONS = {"freeze": ServiceFreeze, "thaw": ServiceFreeze, "enable": ServiceEnable,
                   "disable": ServiceEnable, "disable-log-reason": ServiceDisableWithReason}


# ---- quotas ---------------------------------------------------------------------------------------

def _limit(value: Any, info: ValidationInfo) -> int:
    try:
        return parse_limit(info.field_name, value)
    except Invalid as exc:  # the service's words, without the prefix parse adds again
        raise ValueError(str(exc).removeprefix("Invalid input received: ")) from None


Limit = Annotated[int, PlainValidator(_limit), WithJsonSchema({"type": "integer", "minimum": -1,
                                                               "maximum": MAX_LIMIT})]


class QuotaValues(Body):
    """Limits by resource; the per-type ones (volumes_<type>, ...) and the keys Cinder ignores
    (id, tenant_id) are the object's other keys, read by the quota service, which knows the types."""

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, Annotated[Any, WithJsonSchema({"type": "integer", "minimum": -1,
                                                                  "maximum": MAX_LIMIT})]]

    volumes: Limit = None  # the default only marks it not given: null is not a limit
    snapshots: Limit = None
    gigabytes: Limit = None
    backups: Limit = None
    backup_gigabytes: Limit = None
    groups: Limit = None
    per_volume_gigabytes: Limit = None


class QuotaSetUpdate(Body):
    """A quota set update's object besides `quota_set` (read as QuotaValues)."""

    skip_validation: Flag | None = None  # Cinder's place for it; the query's too (api/volume/quotas.py)


def _quota_set_body() -> dict:
    """`{"quota_set": {...}, "skip_validation": ...}`, inline (a nested model would be a $ref)."""
    doc = body("quota_set", QuotaValues)
    doc["requestBody"]["content"]["application/json"]["schema"]["properties"]["skip_validation"] = {"type": "boolean"}
    return doc


CREATE_QOS = body("qos_specs", QosCreate)
SET_QOS_KEYS = body("qos_specs", QosKeys)
UNSET_QOS_KEYS = plain(QosKeysUnset)
CREATE_ENCRYPTION = body("encryption", EncryptionCreate)
UPDATE_ENCRYPTION = body("encryption", EncryptionUpdate)
CREATE_GROUP_TYPE = body("group_type", GroupTypeCreate)
UPDATE_GROUP_TYPE = body("group_type", GroupTypeUpdate)
SET_GROUP_SPECS = plain(GroupSpecsSet)
PUT_GROUP_SPEC = plain(GroupSpecItem)
SET_EXTRA_SPECS = plain(ExtraSpecsSet)
PUT_EXTRA_SPEC = plain(SpecItem)
TYPE_ACTION = actions(TYPE_ACTIONS)
UPDATE_SERVICE = plain(ServiceEnable)  # what enable and disable take; freeze and thaw take less
UPDATE_QUOTA_SET = _quota_set_body()
UPDATE_QUOTA_CLASS = body("quota_class_set", QuotaValues)
