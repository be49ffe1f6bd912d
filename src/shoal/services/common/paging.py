"""One page of a list, done by the database: the order, the marker, offset, limit
and the count are SQL, so a page costs the same few statements whether the project
holds ten rows or ten thousand (what oslo.db's paginate_query does for Cinder and
Manila: a marker is a place in the order, found by its sort values, not by
reading every row before it).

The order always ends with the id, so it is total and a marker names one place in
it. NULLs come first ascending and last descending (SQLite's own order, written
out for other databases), and "after the marker" follows the same rule."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Select, and_, false, func, literal, or_, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

from .errors import Invalid

Key = tuple[InstrumentedAttribute, str]  # (column, "asc" | "desc")


def check_sort(sort: Sequence[tuple[str, str]], known: set[str], bad_key: str, bad_direction: str) -> None:
    """Invalid for a key not in `known` (`bad_key` formatted with key and known) or a
    direction not asc/desc (`bad_direction`): each API words it its own way."""
    for key, direction in sort:
        if key not in known:
            raise Invalid(bad_key.format(key=key, known=sorted(known)))
        if direction not in ("asc", "desc"):
            raise Invalid(bad_direction)


def sort_keys(model, sort: Sequence[tuple[str, str]], tie: str) -> list[Key]:
    """The columns to order by: the caller's, then the id in direction `tie`."""
    return [(getattr(model, key), direction) for key, direction in sort] + [(model.id, tie)]


def _nullable(column: InstrumentedAttribute) -> bool:
    return bool(getattr(column.expression, "nullable", True))


def _order(column: InstrumentedAttribute, direction: str):
    if direction == "asc":
        return column.asc().nulls_first() if _nullable(column) else column.asc()
    return column.desc().nulls_last() if _nullable(column) else column.desc()


def _same(column, value):
    return column.is_(None) if value is None else column == value


def _beyond(column, direction: str, value):
    """Where `column` puts a row strictly after `value` in this direction."""
    if direction == "asc":
        return column.is_not(None) if value is None else column > value
    if value is None:  # descending, NULLs last: nothing is beyond a NULL
        return false()
    return or_(column < value, column.is_(None)) if _nullable(column) else column < value


def after(keys: list[Key], values: Sequence) -> object:
    """The rows after the one with these sort values."""
    columns = [column for column, _ in keys]
    # bound as the column's type: a boolean compares as one (`bootable < True` is refused)
    values = [None if v is None else literal(v, c.type) for c, v in zip(columns, values)]
    directions = {direction for _, direction in keys}
    if len(directions) == 1 and all(v is not None for v in values) and not any(_nullable(c) for c in columns[:-1]):
        # one direction and no NULLs: a row value, which the database walks an index with
        row, marker = tuple_(*columns), tuple_(*values)
        return row > marker if directions == {"asc"} else row < marker
    later = or_(*(
        and_(*(_same(c, v) for c, v in zip(columns[:i], values[:i])), _beyond(columns[i], keys[i][1], values[i]))
        for i in range(len(keys))
    ))
    first, value = columns[0], values[0]
    if _nullable(first) or value is None:
        return later
    # implied by the above, said outright so that the database starts the index walk at the marker
    return and_(first >= value if keys[0][1] == "asc" else first <= value, later)


def page(session: Session, query: Select, keys: list[Key], *, marker: str | None, missing: Callable[[], Exception],
         offset: int | None = None, limit: int | None = None) -> list:
    """The rows of `query` (filters applied, no order) in the order of `keys`, after
    `marker` (an id the filtered query must hold, else `missing()` is raised), then
    `offset` skipped and at most `limit`."""
    if marker:
        id_column = keys[-1][0]
        found = session.execute(query.with_only_columns(*(c for c, _ in keys), maintain_column_froms=True)
                                .where(id_column == marker).limit(1)).first()
        if found is None:
            raise missing()
        query = query.where(after(keys, tuple(found)))
    query = query.order_by(*(_order(c, d) for c, d in keys))
    if offset:
        query = query.offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def count(session: Session, query: Select) -> int:
    """How many rows `query` matches, counted by the database."""
    return session.scalar(query.with_only_columns(func.count(), maintain_column_froms=True).order_by(None))


def page_in_python(rows: list, *, marker: str | None, missing: Callable[[], Exception], offset: int | None = None,
                   limit: int | None = None) -> list:
    """The same paging over rows already in order: for the filters SQL cannot do here."""
    if marker:
        ids = [row.id for row in rows]
        if marker not in ids:
            raise missing()
        rows = rows[ids.index(marker) + 1:]
    if offset:
        rows = rows[offset:]
    return rows[:limit] if limit is not None else rows


def listed(database, query: Select, metadata: dict | None, keys: list[Key], *, marker: str | None,
           missing: Callable[[], Exception], offset: int | None = None, limit: int | None = None) -> list:
    """`page` in a session of `database`; with a metadata filter, every row the SQL
    filters match is read and the metadata matched and the page cut here (has_metadata)."""
    with database.session() as session:
        if not metadata:
            return page(session, query, keys, marker=marker, missing=missing, offset=offset, limit=limit)
        rows = page(session, query, keys, marker=None, missing=missing)
    rows = [row for row in rows if has_metadata(row, metadata)]
    return page_in_python(rows, marker=marker, missing=missing, offset=offset, limit=limit)


def counted(database, query: Select, metadata: dict | None) -> int:
    """`count`, or with a metadata filter the rows that also match it."""
    with database.session() as session:
        if not metadata:
            return count(session, query)
        return sum(has_metadata(row, metadata) for row in session.scalars(query))


def has_metadata(row, wanted: dict) -> bool:
    """The metadata filter, in Python: the column is JSON, and SQLite's JSON path
    cannot name every key a user may choose (one with a `"` matches nothing)."""
    return all(row.metadata_.get(k) == v for k, v in wanted.items())
