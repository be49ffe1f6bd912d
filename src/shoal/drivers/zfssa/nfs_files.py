"""Volume files on the appliance's share, reached from Shoal's host without a
mount: qemu-img over `nfs://` (libnfs) creates, grows and sizes them. The
argv builders are the RemoteFS driver's (one per qemu-img verb)."""

from __future__ import annotations

from shoal.drivers.remotefs import qemu_img
from shoal.hosts import Host

GiB = 1024**3


class ShareFiles:
    def __init__(self, host: Host, data_ip: str, mountpoint: str, timeout: float):
        self.qemu = qemu_img.QemuImg(host, timeout)
        self.root = f"nfs://{data_ip}{mountpoint.rstrip('/')}"

    def url(self, name: str) -> str:
        return f"{self.root}/{name}"

    def create(self, name: str, size_gb: int) -> None:
        """A sparse raw file (qemu's nfs driver cannot preallocate)."""
        self.qemu.run(qemu_img.create(self.url(name), "raw", size_gb * GiB))

    def grow(self, name: str, size_gb: int) -> None:
        self.qemu.run(qemu_img.resize(self.url(name), "raw", size_gb * GiB))
