"""A StorPool API emulator for tests: an HTTP server speaking StorPool's
``/ctrl/1.0/`` JSON API (as os-brick's ``storpool_utils`` and the ``storpool``
package call it), keeping volumes and snapshots in a ZFS dataset of its own and
attaching them to this host as real loop devices under /dev/storpool, or (the
kernel lane) as zvols attached on the host that has them.

- ``server``: :class:`StorPoolEmulator`, the HTTP side and the test hooks;
- ``store``: the emulator's cluster state;
- ``storage``: its volumes as sparse files in ZFS datasets (zfs-fuse);
- ``devices``: its client side for those files (loop devices, symlinks, ledgers);
- ``zvols``: its zvol mode, storage and client side (kernel OpenZFS).
"""

from tests.emulators.storpool.server import EmulatorRefused, StorPoolEmulator
from tests.emulators.storpool.store import ApiError, Disk, Template

__all__ = ["ApiError", "Disk", "EmulatorRefused", "StorPoolEmulator", "Template"]
