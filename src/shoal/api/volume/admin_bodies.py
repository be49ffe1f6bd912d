"""What the volume API's administrators' calls take: QoS specs and encryption types --
the models that validate them and describe them in the OpenAPI document (see
api/openstack/bodies.py). The rules that need the database (does the type exist, is
it in use, is a name taken) stay with the services."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, PlainValidator, WithJsonSchema, model_validator

from shoal.api.openstack.bodies import Body, Strict, body, plain
from shoal.api.openstack.body_fields import Refs, Text
from shoal.services.common.errors import Invalid
from shoal.services.common.types import check_specs
from shoal.services.volume.encryption_types import LOCATIONS
from shoal.services.volume.qos_specs import CONSUMERS

from .bodies import Choice, NonBlank


# Any value, left to a model's own check (the specs: check_specs); described as the string it must be.
SpecValue = Annotated[Any, WithJsonSchema({"type": "string", "maxLength": 255})]


def _specs(extra: dict[str, Any] | None) -> dict[str, str]:
    """The keys a QoS object holds besides its own fields, as check_specs reads them."""
    try:
        return check_specs(dict(extra or {}), set())
    except Invalid as exc:
        raise ValueError(str(exc)) from None


class QosCreate(Body):
    """A name, a consumer, and the specs themselves as the object's other keys (Cinder's shape)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, SpecValue]

    name: NonBlank
    consumer: Choice(CONSUMERS, "consumer must be one of front-end, back-end, both, not {value}") | None = None

    @model_validator(mode="after")
    def _checked(self) -> QosCreate:
        _specs(self.model_extra)
        return self

    def specs(self) -> dict[str, str]:
        return _specs(self.model_extra)


class QosKeys(Body):
    """Keys to set: the specs, and `consumer` among them (not empty)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, SpecValue]

    consumer: Choice(CONSUMERS, "consumer must be one of front-end, back-end, both, not {value}") | None = None

    @model_validator(mode="after")
    def _checked(self) -> QosKeys:
        if not self.model_fields_set and not self.model_extra:
            raise ValueError("qos_specs must be a non-empty object")
        _specs(self.model_extra)
        return self

    def specs(self) -> dict[str, str]:
        return {**_specs(self.model_extra), **({"consumer": self.consumer} if self.consumer else {})}


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
        if not self.model_fields_set and type(self) is EncryptionUpdate:
            raise ValueError("encryption must be a non-empty object")
        return self


class EncryptionCreate(EncryptionUpdate):
    provider: NonBlank  # required on create


CREATE_QOS = body("qos_specs", QosCreate)
SET_QOS_KEYS = body("qos_specs", QosKeys)
UNSET_QOS_KEYS = plain(QosKeysUnset)
CREATE_ENCRYPTION = body("encryption", EncryptionCreate)
UPDATE_ENCRYPTION = body("encryption", EncryptionUpdate)
