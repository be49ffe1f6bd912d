"""Image stores: where the Image service keeps image data (Glance's "stores").

`ImageStore` is the contract; `DirectoryStore` keeps each image as one file under a
directory (the default: <state_dir>/images). A ZFS-dataset store is a DirectoryStore
on a dataset's mountpoint plus the dataset's own creation and quota."""

from .base import DataWriter, ImageStore
from .directory import DirectoryStore

__all__ = ["DataWriter", "DirectoryStore", "ImageStore", "store_from_settings"]


def store_from_settings(settings) -> ImageStore:
    from pathlib import Path

    config = settings.image
    root = config.store_dir or str(Path(settings.state_dir) / "images")
    return DirectoryStore(root)
