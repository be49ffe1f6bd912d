"""An Oracle ZFS Storage Appliance emulator for tests: an HTTPS server speaking
the appliance's RESTful API (``/api/access/v1``, ``/api/storage/v1``,
``/api/san/v1/iscsi``, ``/api/service/v1``, ``/api/system/v1``,
``/api/hardware/v1``) and WebDAV on its shares, as Cinder's ZFSSA drivers
called them (reference: ../shared/reference/openstack-drivers.md §3.1-3.3,
and Oracle's RESTful API guide), with REAL storage behind it: a zpool of its
own on zfs-fuse (projects and shares are datasets, LUNs sparse files in
datasets, snapshots and clones ZFS's, custom properties ZFS user properties),
iSCSI targets on a tgtd of its own, NFS exports on a ganesha of its own, and
replication between two emulators by ``zfs send | zfs receive``.

It is an emulator, not an appliance: what it does differently is said in the
module that does it (LU numbers from 1, no per-initiator LUN masking in tgtd,
real mountpoints, ...).

- ``server``: :class:`ZfssaEmulator`, lifecycle and test hooks;
- ``rest``, ``auth``, ``injection``, ``faults``, ``tls``: the HTTP side;
- ``projects``, ``luns``, ``filesystems``, ``snapshots``, ``shares``,
  ``properties``, ``values``: storage;
- ``san``, ``services``, ``exports``: iSCSI configuration, services, tgtd/ganesha;
- ``webdav``, ``replication``; ``zpool``, ``appliance``: state.
"""

from tests.emulators.zfssa.faults import ApiError
from tests.emulators.zfssa.server import ZfssaEmulator
from tests.emulators.zfssa.tls import make_certificates

__all__ = ["ApiError", "ZfssaEmulator", "make_certificates"]
