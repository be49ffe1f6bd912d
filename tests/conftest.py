# Shared fixtures live in tests/fixtures/, one module per daemon.
pytest_plugins = [
    "tests.fixtures.zfs",
    "tests.fixtures.zfs_watch",
    "tests.fixtures.ganesha",
    "tests.fixtures.shoal",
    "tests.fixtures.sshd",
    "tests.fixtures.postgres",
    "tests.fixtures.tgtd",
    "tests.fixtures.keystone",
    "tests.fixtures.glance",
    "tests.fixtures.remotefs",
    "tests.fixtures.storpool",
    "tests.fixtures.zfssa",
]


def pytest_collection_modifyitems(config, items):
    """The chaos run goes last: it kills daemons and loads the machine for a minute,
    and nothing else should start in its wake."""
    items.sort(key=lambda item: item.get_closest_marker("chaos") is not None)
