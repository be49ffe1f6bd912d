"""QoS specs (Cinder's /qos-specs): named limits, associated with volume types. Only
administrators see or change them, as Cinder's policy says."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shoal.db import models
from shoal.db.volume_extras import QosSpecs, VolumeTypeQos

from ..common import core as c
from ..common.checks import MAX_NAME, check_text
from ..common.context import RequestContext
from ..common.errors import Conflict, Forbidden, Invalid, NotFound
from ..common.types import check_specs

CONSUMERS = ("front-end", "back-end", "both")


def _admin(ctx: RequestContext) -> None:
    if not ctx.is_admin:
        raise Forbidden("Policy doesn't allow volume_extension:qos_specs_manage to be performed.")


def _consumer(value: Any) -> str:
    if value not in CONSUMERS:
        raise Invalid(f"Invalid input received: consumer must be one of {', '.join(CONSUMERS)}, not {value!r}")
    return value


class QosSpecsCatalog:
    def __init__(self, core: c.Core):
        self.core = core

    @staticmethod
    def _find(session: Session, qos_id: str) -> QosSpecs:
        qos = session.get(QosSpecs, qos_id) if isinstance(qos_id, str) else None
        if qos is None:
            raise NotFound(f"QoS Specs {qos_id} could not be found.")
        return qos

    @staticmethod
    def _type(session: Session, type_id: Any) -> models.VolumeType:
        if not isinstance(type_id, str) or not type_id:
            raise Invalid("Invalid input received: vol_type_id is required")
        vtype = session.get(models.VolumeType, type_id)
        if vtype is None:
            raise NotFound(f"Volume type {type_id} could not be found.")
        return vtype

    def create(self, ctx: RequestContext, body: dict) -> QosSpecs:
        _admin(ctx)
        body = dict(body)
        name = body.pop("name", None)
        if not isinstance(name, str) or not name.strip():
            raise Invalid("Invalid input received: name must be a string of 1-255 characters")
        check_text("name", name, MAX_NAME)
        consumer = _consumer(body.pop("consumer", "back-end"))
        try:
            specs = check_specs(body, set())
        except Invalid as exc:
            raise Invalid(f"Invalid input received: {exc}") from None
        with self.core.db.session() as session:
            if session.scalars(select(QosSpecs).where(QosSpecs.name == name)).first() is not None:
                raise Conflict(f"QoS Specs {name} already exists.")
            qos = QosSpecs(name=name, consumer=consumer, specs=specs)
            session.add(qos)
            session.flush()
            return qos

    def list(self, ctx: RequestContext) -> list[QosSpecs]:
        _admin(ctx)
        with self.core.db.session() as session:
            return list(session.scalars(select(QosSpecs).order_by(QosSpecs.created_at, QosSpecs.id)))

    def get(self, ctx: RequestContext, qos_id: str) -> QosSpecs:
        _admin(ctx)
        with self.core.db.session() as session:
            return self._find(session, qos_id)

    def set_keys(self, ctx: RequestContext, qos_id: str, specs: Any) -> dict[str, str]:
        """Add or change keys (`consumer` too); the answer is what was set."""
        _admin(ctx)
        if not isinstance(specs, dict) or not specs:
            raise Invalid("Invalid input received: qos_specs must be a non-empty object")
        specs = dict(specs)
        consumer = _consumer(specs.pop("consumer")) if "consumer" in specs else None
        try:
            checked = check_specs(specs, set())
        except Invalid as exc:
            raise Invalid(f"Invalid input received: {exc}") from None
        with self.core.db.session() as session:
            qos = self._find(session, qos_id)
            qos.specs = {**qos.specs, **checked}
            if consumer is not None:
                qos.consumer = consumer
        return {**checked, **({"consumer": consumer} if consumer else {})}

    def unset_keys(self, ctx: RequestContext, qos_id: str, keys: Any) -> None:
        _admin(ctx)
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise Invalid("Invalid input received: keys must be a list of strings")
        with self.core.db.session() as session:
            qos = self._find(session, qos_id)
            missing = [k for k in keys if k not in qos.specs]
            if missing:
                raise NotFound(f"QoS spec {missing[0]} could not be found in QoS Specs {qos_id}.")
            qos.specs = {k: v for k, v in qos.specs.items() if k not in keys}

    def delete(self, ctx: RequestContext, qos_id: str, force: bool = False) -> None:
        """Refused (400) while types are associated with it, unless forced (then they are let go)."""
        _admin(ctx)
        with self.core.db.session() as session:
            qos = self._find(session, qos_id)
            used = session.scalars(select(VolumeTypeQos).where(VolumeTypeQos.qos_id == qos.id)).first()
            if used is not None and not force:
                raise Invalid(f"QoS Specs {qos_id} is still associated with entities.")
            session.execute(delete(VolumeTypeQos).where(VolumeTypeQos.qos_id == qos.id))
            session.delete(qos)

    def associate(self, ctx: RequestContext, qos_id: str, type_id: Any) -> None:
        _admin(ctx)
        with self.core.db.session() as session:
            qos, vtype = self._find(session, qos_id), self._type(session, type_id)
            current = session.get(VolumeTypeQos, vtype.id)
            if current is not None and current.qos_id != qos.id:
                raise Invalid(f"Invalid input received: type {vtype.id} is already associated with another "
                              f"qos specs: {current.qos_id}")
            if current is None:
                session.add(VolumeTypeQos(type_id=vtype.id, qos_id=qos.id))

    def disassociate(self, ctx: RequestContext, qos_id: str, type_id: Any) -> None:
        _admin(ctx)
        with self.core.db.session() as session:
            qos, vtype = self._find(session, qos_id), self._type(session, type_id)
            session.execute(delete(VolumeTypeQos).where(VolumeTypeQos.qos_id == qos.id,
                                                        VolumeTypeQos.type_id == vtype.id))

    def disassociate_all(self, ctx: RequestContext, qos_id: str) -> None:
        _admin(ctx)
        with self.core.db.session() as session:
            qos = self._find(session, qos_id)
            session.execute(delete(VolumeTypeQos).where(VolumeTypeQos.qos_id == qos.id))

    def associations(self, ctx: RequestContext, qos_id: str) -> list[models.VolumeType]:
        _admin(ctx)
        with self.core.db.session() as session:
            qos = self._find(session, qos_id)
            return list(session.scalars(select(models.VolumeType).join(
                VolumeTypeQos, VolumeTypeQos.type_id == models.VolumeType.id).where(VolumeTypeQos.qos_id == qos.id)))

    def of_types(self, type_ids: list[str]) -> dict[str, str]:
        """type id -> the id of its QoS specs, for the types that have some (the types' views)."""
        if not type_ids:
            return {}
        with self.core.db.session() as session:
            rows = session.execute(select(VolumeTypeQos.type_id, VolumeTypeQos.qos_id).where(
                VolumeTypeQos.type_id.in_(type_ids)))
            return {t: q for t, q in rows}
