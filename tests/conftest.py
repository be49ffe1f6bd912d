# Shared fixtures live in tests/fixtures/, one module per daemon.
pytest_plugins = [
    "tests.fixtures.zfs",
    "tests.fixtures.ganesha",
    "tests.fixtures.shoal",
    "tests.fixtures.sshd",
    "tests.fixtures.postgres",
    "tests.fixtures.tgtd",
    "tests.fixtures.keystone",
    "tests.fixtures.remotefs",
    "tests.fixtures.storpool",
    "tests.fixtures.zfssa",
]
