"""Image data on a ZFS dataset (`[image] store = "zfs"`), on the test run's zfs-fuse pool.

The story: Shoal starts with a dataset that does not exist yet, and makes it with the
configured quota. An image uploaded through the Image API lands as a file on that dataset
and downloads byte for byte; deleting it frees the dataset's space again. An upload larger
than the quota is refused with Glance's 413 and leaves nothing behind, and the store takes a
fitting upload afterwards. A pool that does not exist stops Shoal's start with a message that
names it; a dataset without a mountpoint is refused at start and by `problems()`, and
`shoal doctor` says so too.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import pytest

from shoal.drivers.images import ImageStoreError
from shoal.drivers.images.zfs_dataset import ZfsDatasetStore
from tests.fixtures.shoal import REPO, SHOAL, running_shoal
from tests.fixtures.zfs import destroy_dataset

from .image_helpers import create, digests, glance_error, image_client, random_bytes, upload

pytestmark = pytest.mark.integration
MiB = 1 << 20
QUOTA = 24 * MiB


def zfs_get(dataset: str, prop: str) -> str:
    return subprocess.run(["zfs", "get", "-H", "-p", "-o", "value", prop, dataset], check=True,
                          capture_output=True, text=True).stdout.strip()


def image_config(dataset: str, quota: str | None = None) -> str:
    lines = ["", "[image]", 'store = "zfs"', f'dataset = "{dataset}"']
    if quota:
        lines.append(f'quota = "{quota}"')
    return "\n".join(lines) + "\n"


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def available(dataset: str) -> int:
    return int(zfs_get(dataset, "available"))


def wait_for_space(dataset: str, at_least: int) -> int:
    """ZFS frees a deleted file's blocks in a later transaction group: wait for them."""
    deadline = time.monotonic() + 60
    while (free := available(dataset)) < at_least and time.monotonic() < deadline:
        time.sleep(0.2)
    return free


@pytest.fixture
def image_parent(zpool):
    """A dataset name of this test's own, its parent left for Shoal to make; destroyed afterwards."""
    parent = f"{zpool}/img{uuid.uuid4().hex[:8]}"
    yield parent
    destroy_dataset(parent)


def test_images_live_on_the_dataset_within_its_quota(zpool, image_parent, tmp_path_factory):
    dataset = f"{image_parent}/images"
    with running_shoal(zpool, tmp_path_factory, "imgzfs",
                       extra_config=image_config(dataset, "24M")) as server:
        # Made at start, with the quota, and mounted.
        assert (zfs_get(dataset, "type"), int(zfs_get(dataset, "quota"))) == ("filesystem", QUOTA)
        root = Path(zfs_get(dataset, "mountpoint"))
        assert zfs_get(dataset, "mounted") == "yes" and (root / "store").is_dir()
        with image_client(server) as images:
            stores = images.get("/info/stores").json()["stores"]
            assert [(s["id"], s["default"]) for s in stores] == [("zfs", True)]
            assert dataset in stores[0]["description"]
            empty = available(dataset)

            data = random_bytes(5 * MiB + 77)
            image = create(images, name="on-zfs")
            assert upload(images, image["id"], data).status_code == 204
            shown = images.get(f"/images/{image['id']}").json()
            assert (shown["status"], shown["size"], shown["stores"]) == ("active", len(data), "zfs")
            assert (shown["checksum"], shown["os_hash_value"]) == digests(data)
            assert images.get(f"/images/{image['id']}/file").content == data
            # The data is a file on the dataset, counted against it.
            assert files_under(root) == [f"store/{image['id']}"]
            assert (root / "store" / image["id"]).read_bytes() == data
            assert available(dataset) <= empty - 5 * MiB

            # Deleting the image frees the dataset's space.
            assert images.delete(f"/images/{image['id']}").status_code == 204
            assert files_under(root) == []
            assert wait_for_space(dataset, empty - MiB) >= empty - MiB

            # More than the quota holds: Glance's 413, the image queued again, no file left.
            too_big = create(images, name="too-big")
            message = glance_error(upload(images, too_big["id"], b"\1" * (QUOTA + 8 * MiB)), 413)
            assert "full" in message or "quota" in message
            shown = images.get(f"/images/{too_big['id']}").json()
            assert (shown["status"], shown["size"]) == ("queued", None)
            assert files_under(root) == []
            # The refused upload freed what it had written: a fitting one still fits.
            wait_for_space(dataset, empty - MiB)
            fitting = random_bytes(QUOTA // 2)
            assert upload(images, too_big["id"], fitting).status_code == 204
            assert images.get(f"/images/{too_big['id']}/file").content == fitting
            assert images.delete(f"/images/{too_big['id']}").status_code == 204


def test_a_missing_pool_stops_the_start(zpool, tmp_path_factory):
    missing = f"nopool{uuid.uuid4().hex[:6]}"
    with pytest.raises(RuntimeError) as failed:
        with running_shoal(zpool, tmp_path_factory, "imgnopool", extra_config=image_config(f"{missing}/images")):
            pass
    assert f"pool '{missing}' of image.dataset '{missing}/images' does not exist" in str(failed.value)


def test_an_existing_dataset_is_checked_reused_and_given_the_quota(zfs_root):
    unmountable = f"{zfs_root}/nomount"
    subprocess.run(["zfs", "create", "-o", "mountpoint=none", unmountable], check=True, capture_output=True)
    store = ZfsDatasetStore(unmountable)
    assert "mountpoint=none" in store.problems()[0]
    with pytest.raises(ImageStoreError, match="give it a mountpoint"):
        store.start()
    unmounted = f"{zfs_root}/canmountoff"
    subprocess.run(["zfs", "create", "-o", "canmount=off", unmounted], check=True, capture_output=True)
    refused = ZfsDatasetStore(unmounted)
    assert refused.problems() == [f"image store: image.dataset '{unmounted}' has canmount=off; zfs set canmount=on"]
    with pytest.raises(ImageStoreError, match="has canmount=off"):
        refused.start()

    # A dataset that exists keeps its data through a restart; the quota is set on it.
    dataset = f"{zfs_root}/kept"
    subprocess.run(["zfs", "create", dataset], check=True, capture_output=True)
    first = ZfsDatasetStore(dataset)
    assert first.problems() == []
    first.start()
    writer = first.writer("00000000-0000-4000-8000-000000000016")
    writer.write(b"kept")
    writer.commit()
    again = ZfsDatasetStore(dataset, quota=32 * MiB)
    again.start()
    assert int(zfs_get(dataset, "quota")) == 32 * MiB
    assert 0 < again.free_bytes() <= 32 * MiB
    with again.open("00000000-0000-4000-8000-000000000016") as data:
        assert data.read() == b"kept"


def doctor_problems(tmp_path, pool_root: str, dataset: str) -> list[str]:
    config = tmp_path / "shoal.toml"
    config.write_text(f'state_dir = "{tmp_path}"\n[api]\nauth = "noauth"\n'
                      f'[database]\nurl = "sqlite:///{tmp_path}/shoal.db"\n'
                      f'[backends.test]\npools = ["{pool_root}"]\n' + image_config(dataset))
    done = subprocess.run([*SHOAL, "--config", str(config), "doctor"], capture_output=True, text=True,
                          timeout=300, cwd=REPO, check=False)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return [line for line in done.stdout.splitlines() if line.startswith("PROBLEM") and "image" in line]


def test_doctor_names_a_store_that_cannot_start(zfs_root, tmp_path):
    missing = f"nopool{uuid.uuid4().hex[:6]}"
    found = doctor_problems(tmp_path, zfs_root, f"{missing}/images")
    assert len(found) == 1
    assert found[0].startswith(f"PROBLEM  image store: pool '{missing}' of image.dataset '{missing}/images' "
                               "does not exist (pools here: ")
    unmountable = f"{zfs_root}/nomount"
    subprocess.run(["zfs", "create", "-o", "mountpoint=none", unmountable], check=True, capture_output=True)
    assert doctor_problems(tmp_path, zfs_root, unmountable) == [
        f"PROBLEM  image store: image.dataset '{unmountable}' has mountpoint=none; give it a mountpoint "
        "(zfs set mountpoint=/path)"]
    # A dataset still to be made is no problem; doctor makes nothing.
    assert doctor_problems(tmp_path, zfs_root, f"{zfs_root}/later") == []
    assert subprocess.run(["zfs", "list", f"{zfs_root}/later"], capture_output=True, check=False).returncode != 0
