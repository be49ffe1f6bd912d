"""NFS Export_Ids kept in the database (services/common/export_ids.py), on SQLite."""

from __future__ import annotations

import pytest

from shoal.db.models import Base
from shoal.db.session import Database
from shoal.services.common import export_ids
from shoal.services.common.export_ids import DbExportIds


@pytest.fixture
def ids(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'ids.db'}")
    Base.metadata.create_all(db.engine)
    return DbExportIds(db)


def test_a_key_keeps_its_id_and_new_keys_get_fresh_ones(ids):
    first = ids.ids_for({"a": None, "b": None})
    assert first == {"a": 2, "b": 3}
    assert ids.ids_for({"b": None, "c": None}) == {"b": 3, "c": 4}


def test_a_hint_is_taken_when_free_and_refused_when_held(ids):
    ids.ids_for({"a": None})  # 2
    assert ids.ids_for({"b": 500}) == {"b": 500}
    assert ids.ids_for({"c": 2, "d": 500}) == {"c": 501, "d": 502}  # 2 and 500 are held: fresh ones
    assert ids.ids_for({"e": 70000}) == {"e": 503}  # out of range


def test_new_ids_go_up_from_the_highest_held(ids):
    ids.ids_for({"a": None, "b": None})  # 2, 3
    ids.release("a")
    assert ids.ids_for({"c": None}) == {"c": 4}  # 2 is free, but below the top
    ids.release("c")
    assert ids.ids_for({"d": None}) == {"d": 4}  # the top was released: max + 1 again


def test_past_the_top_the_lowest_free_id_is_taken(ids, monkeypatch):
    monkeypatch.setattr(export_ids, "LAST", 5)
    assert ids.ids_for({k: None for k in "abcd"}) == {"a": 2, "b": 3, "c": 4, "d": 5}
    ids.release("b")
    assert ids.ids_for({"e": None}) == {"e": 3}
    with pytest.raises(RuntimeError, match="no free NFS Export_Id"):
        ids.ids_for({"f": None})
