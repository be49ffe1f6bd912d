"""Shoal's state on PostgreSQL: migrations, models, services, and no drift from SQLite.

Runs against the private server of the ``postgres`` fixture, reached by a
``postgresql+psycopg://`` URL over TCP with a password, as a deployment would.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import IntegrityError

from shoal.config import Settings
from shoal.db import models
from shoal.db.migrate import is_current, upgrade
from shoal.db.session import Database, make_engine
from shoal.services import Services
from shoal.services.common.context import admin_context

pytestmark = pytest.mark.integration


@pytest.fixture
def db(postgres_db):
    """A migrated fresh database."""
    upgrade(postgres_db)
    database = Database(postgres_db)
    yield database
    database.engine.dispose()


def test_upgrade_makes_the_schema_current(postgres_db):
    engine = make_engine(postgres_db)
    try:
        assert engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"
        assert not is_current(engine)
        upgrade(postgres_db)
        assert is_current(engine)
        upgrade(postgres_db)  # a second upgrade finds nothing to do
        assert is_current(engine)
        assert {"shares", "share_types", "share_export_locations", "alembic_version"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_the_session_url_database_migrates_too(postgres_url):
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    try:
        assert is_current(engine)
    finally:
        engine.dispose()


def test_a_plain_postgresql_url_works_too(postgres_db):
    # what an operator writes; SQLAlchemy 2.1 picks psycopg (3) for it, 2.0 would want psycopg2
    plain = postgres_db.replace("postgresql+psycopg://", "postgresql://")
    upgrade(plain)
    database = Database(plain)
    try:
        assert database.engine.dialect.driver == "psycopg"
        assert is_current(database.engine)
        with database.session() as session:
            assert session.scalar(select(func.count()).select_from(models.Share)) == 0
    finally:
        database.engine.dispose()


def test_models_round_trip_with_json_and_cascade(db):
    metadata = {"owner": "team-ü", "nested": {"tiers": [1, 2, 3], "on": True}, "empty": None}
    with db.session() as session:
        stype = models.ShareType(name="gold", extra_specs={"driver_handles_share_servers": "False"})
        share = models.Share(
            project_id="p1", user_id="u1", name="data", size=2, status="available",
            share_type=stype, metadata_=metadata,
            export_locations=[
                models.ExportLocation(path="127.0.0.1:/shoal/share-a", preferred=True),
                models.ExportLocation(path="127.0.0.1:/admin/share-a", is_admin_only=True),
            ],
        )
        session.add(share)
        session.flush()
        share_id, type_id = share.id, stype.id

    with db.session() as session:
        share = session.get(models.Share, share_id)
        assert share.metadata_ == metadata
        assert share.share_type.id == type_id
        assert share.share_type.extra_specs == {"driver_handles_share_servers": "False"}
        assert share.is_public is False and share.share_type.is_public is True
        assert share.created_at is not None and share.created_at.tzinfo is None
        assert [(e.path, e.is_admin_only, e.preferred) for e in share.export_locations] == [
            ("127.0.0.1:/shoal/share-a", False, True),
            ("127.0.0.1:/admin/share-a", True, False),
        ]
        share.metadata_ = {**share.metadata_, "added": "later"}  # a new dict: JSON columns do not track in-place edits

    with db.session() as session:
        share = session.get(models.Share, share_id)
        assert share.metadata_["added"] == "later"
        session.delete(share)

    with db.session() as session:
        assert session.get(models.Share, share_id) is None
        left = session.scalar(select(func.count()).select_from(models.ExportLocation).where(
            models.ExportLocation.share_id == share_id))
        assert left == 0
        assert session.get(models.ShareType, type_id) is not None  # the type stays


def test_foreign_keys_and_unique_names_are_enforced(db):
    with pytest.raises(IntegrityError):
        with db.session() as session:
            session.add(models.ExportLocation(share_id="00000000-0000-0000-0000-000000000000", path="x:/y"))
    with db.session() as session:
        session.add(models.ShareType(name="twice", extra_specs={}))
    with pytest.raises(IntegrityError):
        with db.session() as session:
            session.add(models.ShareType(name="twice", extra_specs={}))


def test_services_work_on_postgres(db):
    services = Services(Settings(), drivers={}, database=db)
    try:
        services.share_types.bootstrap()
        services.share_types.bootstrap()  # a second start finds the default and adds nothing
        types = services.share_types.list(admin_context())
        assert [t.name for t in types] == ["default"]
        assert types[0].is_default and types[0].extra_specs["driver_handles_share_servers"] == "False"
    finally:
        services.stop()


def _schema(url: str) -> dict[str, dict]:
    """What the migrations made, in terms both dialects report alike."""
    engine = make_engine(url)
    try:
        insp = inspect(engine)
        schema = {}
        for table in sorted(insp.get_table_names()):
            schema[table] = {
                "columns": {c["name"]: c["nullable"] for c in insp.get_columns(table)},
                "primary_key": sorted(insp.get_pk_constraint(table)["constrained_columns"]),
                "foreign_keys": sorted(
                    (tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
                    for fk in insp.get_foreign_keys(table)
                ),
                "indexes": sorted(  # PostgreSQL also lists the index behind each unique constraint
                    (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                    for i in insp.get_indexes(table) if not i.get("duplicates_constraint")
                ),
                "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(table)),
            }
        return schema
    finally:
        engine.dispose()


def test_postgres_and_sqlite_get_the_same_schema(postgres_db, tmp_path):
    sqlite_url = f"sqlite:///{tmp_path / 'shoal.db'}"
    upgrade(postgres_db)
    upgrade(sqlite_url)
    pg, lite = _schema(postgres_db), _schema(sqlite_url)
    assert set(pg) == set(lite), "tables differ"
    for table in pg:
        assert pg[table] == lite[table], f"table {table} differs between PostgreSQL and SQLite"
