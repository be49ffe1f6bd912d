"""NFS Export_Ids from the database (the `ExportIds` an export helper is given).

An id is the key's for as long as its export exists: allocated on the key's
first export, released only once the server has dropped the export (so an id
given again never meets a server that still holds it). New ids go up from the
highest held, a query on one index; past the top of the range the lowest free
one is taken."""

from __future__ import annotations

import threading

from sqlalchemy import delete, func, select

from shoal.db.export_ids import NfsExportId
from shoal.db.session import Database

FIRST, LAST = 2, 65535  # ganesha's range; 0 is the NFSv4 pseudo root, hand-written configs take 1


class DbExportIds:
    def __init__(self, db: Database):
        self.db = db
        self._lock = threading.Lock()  # one allocation at a time in this process (unique ids, no retry)

    def ids_for(self, wanted: dict[str, int | None]) -> dict[str, int]:
        if not wanted:
            return {}
        with self._lock, self.db.session() as session:
            held = dict(session.execute(select(NfsExportId.key, NfsExportId.export_id)
                                        .where(NfsExportId.key.in_(list(wanted)))).all())
            missing = [key for key in wanted if key not in held]
            if missing:
                hints = {wanted[k] for k in missing if wanted[k] is not None}
                taken = set(session.scalars(select(NfsExportId.export_id).where(NfsExportId.export_id.in_(hints))))
                top = session.scalar(select(func.max(NfsExportId.export_id))) or FIRST - 1
                for key in missing:
                    hint = wanted[key]
                    if hint is not None and FIRST <= hint <= LAST and hint not in taken:
                        export_id = hint  # the id the server has for it now: kept
                    elif top < LAST:
                        export_id = top + 1
                    else:  # the range is used up to its top: the lowest free id, from all that are taken
                        taken |= set(session.scalars(select(NfsExportId.export_id)))
                        export_id = _lowest_free(taken)
                    taken.add(export_id)
                    top = max(top, export_id)
                    held[key] = export_id
                    session.add(NfsExportId(key=key, export_id=export_id))
        return {key: held[key] for key in wanted}

    def release(self, key: str) -> None:
        with self._lock, self.db.session() as session:
            session.execute(delete(NfsExportId).where(NfsExportId.key == key))


def _lowest_free(taken: set[int]) -> int:
    for export_id in range(FIRST, LAST + 1):
        if export_id not in taken:
            return export_id
    raise RuntimeError(f"no free NFS Export_Id left: all {LAST - FIRST + 1} are in use")
