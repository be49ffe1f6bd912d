"""Image stores: where the Image service keeps image data (Glance's "stores").

`ImageStore` is the contract; `DirectoryStore` keeps each image as one file under a
directory (the default: <state_dir>/images). `ZfsDatasetStore` is a DirectoryStore
on a ZFS dataset's mountpoint plus the dataset's own creation and quota."""

from .base import DataWriter, ImageStore, ImageStoreError
from .directory import DirectoryStore

__all__ = ["DataWriter", "DirectoryStore", "ImageStore", "ImageStoreError", "store_from_settings"]


def store_from_settings(settings) -> ImageStore:
    from pathlib import Path

    config = settings.image
    if config.store == "zfs":
        from .zfs_dataset import ZfsDatasetStore

        return ZfsDatasetStore(config.dataset, quota=config.quota)
    root = config.store_dir or str(Path(settings.state_dir) / "images")
    return DirectoryStore(root)
