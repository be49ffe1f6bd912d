"""The ZFS image store's settings and what it refuses where this machine cannot make the case
(a zvol needs kernel ZFS): a stand-in host answering with OpenZFS's `zfs get` text for a
volume. The store on a real dataset is tests/integration/test_image_store_zfs.py."""

from __future__ import annotations

import pytest

from shoal import config
from shoal.drivers.images import DirectoryStore, ImageStoreError, store_from_settings
from shoal.drivers.images.zfs_dataset import ZfsDatasetStore
from shoal.hosts import CommandResult
from shoal.hosts.runner import run_with_retry


class ZvolHost:
    """`tank` exists and `tank/images` is a volume, as kernel OpenZFS prints it."""

    name = "stand-in"

    def __init__(self):
        self.calls: list[list[str]] = []

    def run(self, argv, *, input=None, timeout=None, check=True, retry=None):
        def execute(args):
            self.calls.append(list(args))
            return CommandResult(tuple(args), *self.answer(list(args)), 0.0)

        return run_with_retry(execute, argv, check, retry)

    @staticmethod
    def answer(argv):
        if argv[:2] == ["zpool", "list"]:
            return 0, "tank\n", ""
        if argv[:2] == ["zfs", "get"]:
            rows = {"type": "volume", "mountpoint": "-", "mounted": "-", "canmount": "-", "quota": "-"}
            wanted = argv[-2].split(",")
            return 0, "".join(f"tank/images\t{p}\t{rows[p]}\n" for p in wanted), ""
        return 1, "", f"unexpected command {argv}"


def test_a_volume_is_refused_and_nothing_is_made():
    host = ZvolHost()
    store = ZfsDatasetStore("tank/images", quota=1 << 30, host=host)
    assert store.problems() == ["image store: image.dataset 'tank/images' is a volume, not a filesystem"]
    with pytest.raises(ImageStoreError, match="is a volume, not a filesystem"):
        store.start()
    assert not [c for c in host.calls if c[1] in ("create", "set", "mount")]


@pytest.fixture
def load(tmp_path, monkeypatch):
    monkeypatch.delenv("SHOAL_CONFIG", raising=False)

    def _load(image_table: str):
        path = tmp_path / "shoal.toml"
        path.write_text(f'state_dir = "{tmp_path}"\n[image]\n{image_table}\n')
        return config.load(path)

    return _load


def test_zfs_store_settings(load):
    settings = load('store = "zfs"\ndataset = "tank/shoal/images"\nquota = "20G"')
    assert (settings.image.dataset, settings.image.quota) == ("tank/shoal/images", 20 << 30)
    store = store_from_settings(settings)
    assert isinstance(store, ZfsDatasetStore) and store.dataset == "tank/shoal/images" and store.quota == 20 << 30
    assert type(store_from_settings(load(""))) is DirectoryStore


@pytest.mark.parametrize(("table", "says"), [
    ('store = "zfs"\ndataset = "tank/images"\ndatasets = "x"', "image.datasets: unknown key"),
    ('store = "zfs"', "image.store = 'zfs' needs image.dataset"),
    ('store = "zfs"\ndataset = "tank"', "image.dataset: Value error, 'tank' is not <pool>/<name>"),
    ('store = "zfs"\ndataset = "tank/images@snap"', "is not <pool>/<name>"),
    ('store = "zfs"\ndataset = "tank/images"\nquota = "lots"', "image.quota: Value error, 'lots' is not a size"),
    ('store = "zfs"\ndataset = "tank/images"\nquota = 0', "a quota is more than 0 bytes"),
    ('dataset = "tank/images"', "image.dataset is for image.store = 'zfs'"),
    ('store = "zfs"\ndataset = "tank/images"\nstore_dir = "/srv"', "image.store_dir is for image.store = 'directory'"),
])
def test_bad_zfs_store_settings_are_refused_by_name(load, table, says):
    with pytest.raises(config.ConfigError) as refused:
        load(table)
    assert says in str(refused.value)
