"""shoal.config.load: TOML file + environment into one typed Settings object.

Every bad input must stop with ConfigError naming the dotted key, never a raw
pydantic/TOML/OS traceback.
"""

from __future__ import annotations

import pytest

from shoal import config

ENV = ("SHOAL_CONFIG", "SHOAL_DATABASE_URL", "SHOAL_LISTEN")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No environment override and no default file, whatever the machine has."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(config, "DEFAULT_CONFIG_PATH", tmp_path / "absent" / "shoal.toml")


@pytest.fixture
def write(tmp_path):
    def _write(text: str):
        path = tmp_path / "shoal.toml"
        path.write_text(text)
        return path

    return _write


def error_lines(exc: pytest.ExceptionInfo) -> list[str]:
    return [line.strip() for line in str(exc.value).splitlines()]


# ---- defaults ------------------------------------------------------------------------------


def test_defaults_without_any_file():
    settings = config.load()
    assert settings.api.listen == "127.0.0.1:8787"
    assert settings.api.host == "127.0.0.1"
    assert settings.api.port == 8787
    assert settings.database.url == "sqlite:////var/lib/shoal/shoal.db"
    assert list(settings.backends) == ["zfs"]
    zfs = settings.backends["zfs"]
    assert zfs.pools == ["shoal"]
    assert zfs.host.type == "local"
    assert zfs.nfs_helper == "ganesha"
    assert zfs.dataset_prefix == "share-"


def test_default_file_is_read_when_present(tmp_path, monkeypatch):
    default = tmp_path / "etc-shoal.toml"
    default.write_text('[api]\nlisten = "127.0.0.1:9001"\n')
    monkeypatch.setattr(config, "DEFAULT_CONFIG_PATH", default)
    assert config.load().api.port == 9001


def test_empty_shoal_config_means_unset(monkeypatch):
    # SHOAL_CONFIG="" is not a path; the defaults apply.
    monkeypatch.setenv("SHOAL_CONFIG", "")
    assert config.load().api.port == 8787


def test_settings_are_frozen():
    settings = config.load()
    with pytest.raises(Exception):
        settings.api.listen = "0.0.0.0:1"  # type: ignore[misc]


# ---- a valid file --------------------------------------------------------------------------

TWO_BACKENDS = """
state_dir = "/srv/shoal"

[api]
listen = "0.0.0.0:9999"

[database]
url = "postgresql://shoal@db/shoal"

[backends.alpha]
pools = ["tank/shoal"]
availability_zone = "az1"
creation_options = ["compression=lz4"]
reserved_percentage = 10

[backends.beta]
pools = ["fast", "slow/sub"]
nfs_helper = "exportfs"
dataset_prefix = "s_"

[backends.beta.host]
type = "ssh"
address = "10.0.0.5"
user = "shoal"
sudo = true
"""


def test_valid_file_with_two_backends(write):
    settings = config.load(write(TWO_BACKENDS))
    assert settings.state_dir == "/srv/shoal"
    assert (settings.api.host, settings.api.port) == ("0.0.0.0", 9999)
    assert settings.database.url == "postgresql://shoal@db/shoal"
    assert list(settings.backends) == ["alpha", "beta"]
    alpha, beta = settings.backends["alpha"], settings.backends["beta"]
    assert alpha.pools == ["tank/shoal"]
    assert alpha.availability_zone == "az1"
    assert alpha.creation_options == ["compression=lz4"]
    assert alpha.reserved_percentage == 10
    assert alpha.host.type == "local"
    assert beta.pools == ["fast", "slow/sub"]
    assert beta.nfs_helper == "exportfs"
    assert beta.dataset_prefix == "s_"
    assert (beta.host.type, beta.host.address, beta.host.user, beta.host.sudo) == ("ssh", "10.0.0.5", "shoal", True)
    assert beta.availability_zone == "nova"


def test_shoal_config_env_names_the_file(write, monkeypatch):
    monkeypatch.setenv("SHOAL_CONFIG", str(write(TWO_BACKENDS)))
    assert list(config.load().backends) == ["alpha", "beta"]


def test_explicit_path_wins_over_shoal_config(write, monkeypatch, tmp_path):
    monkeypatch.setenv("SHOAL_CONFIG", str(tmp_path / "nope.toml"))
    assert list(config.load(write(TWO_BACKENDS)).backends) == ["alpha", "beta"]


def test_pool_names_are_stripped_of_slashes(write):
    settings = config.load(write('[backends.zfs]\npools = [" /tank/shoal/ "]\n'))
    assert settings.backends["zfs"].pools == ["tank/shoal"]


# ---- unknown keys and bad values -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('[backends.zfs]\npoolz = ["tank"]\n', "backends.zfs.poolz: unknown key"),
        ("[api]\nlisten_port = 1\n", "api.listen_port: unknown key"),
        ("colour = 'blue'\n", "colour: unknown key"),
        ("[backends.zfs.host]\nhostname = 'x'\n", "backends.zfs.host.hostname: unknown key"),
        ("[backends.zfs.ganesha]\nport = 1\n", "backends.zfs.ganesha.port: unknown key"),
    ],
)
def test_unknown_key_is_named(write, text, line):
    with pytest.raises(config.ConfigError) as exc:
        config.load(write(text))
    assert line in error_lines(exc)


def test_error_message_names_the_file(write):
    path = write("colour = 'blue'\n")
    with pytest.raises(config.ConfigError, match=str(path)):
        config.load(path)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[api]\nlisten = "127.0.0.1"\n', "api.listen"),
        ('[api]\nlisten = "127.0.0.1:"\n', "api.listen"),
        ('[api]\nlisten = ":8787"\n', "api.listen"),
        ('[api]\nlisten = "127.0.0.1:0"\n', "api.listen"),
        ('[api]\nlisten = "127.0.0.1:65536"\n', "api.listen"),
        ('[api]\nlisten = "127.0.0.1:http"\n', "api.listen"),
        ('[backends.zfs]\npools = ["tank", "tank"]\n', "backends.zfs.pools"),
        ('[backends.zfs]\npools = ["tank/a", "tank/b"]\n', "backends.zfs.pools"),
        ('[backends.zfs]\npools = []\n', "backends.zfs.pools"),
        ('[backends.zfs]\npools = ["/"]\n', "backends.zfs.pools"),
        ('[backends.zfs]\ndataset_prefix = "a/b"\n', "backends.zfs.dataset_prefix"),
        ('[backends.zfs]\ndataset_prefix = "x;rm"\n', "backends.zfs.dataset_prefix"),
        ('[backends.zfs]\nsnapshot_prefix = ""\n', "backends.zfs.snapshot_prefix"),
        ('[backends.zfs]\nsnapshot_prefix = "a b"\n', "backends.zfs.snapshot_prefix"),
        ('[backends.zfs.host]\ntype = "ssh"\n', "backends.zfs.host"),
        ('[backends.zfs.host]\ntype = "telnet"\naddress = "h"\n', "backends.zfs.host.type"),
        ('[backends.zfs]\nnfs_helper = "samba"\n', "backends.zfs.nfs_helper"),
        ('[backends.zfs]\nreserved_percentage = 101\n', "backends.zfs.reserved_percentage"),
        ('[backends.zfs.ganesha]\nnfs_port = 0\n', "backends.zfs.ganesha.nfs_port"),
        ('[service]\nworkers = 0\n', "service.workers"),
        ('[api]\nauth = "ldap"\n', "api.auth"),
        ('[api]\nauth = "keystone"\n', "keystone"),
        ('[api]\nauth = "keystone"\n[keystone]\nauth_url = "http://k/v3"\n', "keystone"),
        ("backends = {}\n", "backends"),
        ('[backends."bad name"]\n', "backends"),
    ],
)
def test_bad_value_names_the_key(write, text, key):
    with pytest.raises(config.ConfigError) as exc:
        config.load(write(text))
    keys = [line.split(":", 1)[0] for line in error_lines(exc)[1:]]
    assert key in keys, str(exc.value)


def test_ssh_without_address_explains(write):
    with pytest.raises(config.ConfigError, match="address is required"):
        config.load(write('[backends.zfs.host]\ntype = "ssh"\n'))


def test_duplicate_zpool_explains(write):
    with pytest.raises(config.ConfigError, match="only once"):
        config.load(write('[backends.zfs]\npools = ["tank/a", "tank/b"]\n'))


def test_all_errors_are_reported_at_once(write):
    with pytest.raises(config.ConfigError) as exc:
        config.load(write('colour = 1\n[api]\nlisten = "x"\n'))
    keys = {line.split(":", 1)[0] for line in error_lines(exc)[1:]}
    assert {"colour", "api.listen"} <= keys


# ---- environment overrides ----------------------------------------------------------------


def test_database_url_env_override(monkeypatch):
    monkeypatch.setenv("SHOAL_DATABASE_URL", "sqlite:////tmp/x.db")
    assert config.load().database.url == "sqlite:////tmp/x.db"


def test_env_overrides_win_over_the_file(write, monkeypatch):
    path = write(TWO_BACKENDS)
    monkeypatch.setenv("SHOAL_DATABASE_URL", "sqlite:///:memory:")
    monkeypatch.setenv("SHOAL_LISTEN", "127.0.0.2:8000")
    settings = config.load(path)
    assert settings.database.url == "sqlite:///:memory:"
    assert (settings.api.host, settings.api.port) == ("127.0.0.2", 8000)
    assert settings.state_dir == "/srv/shoal"  # the rest of the file still applies


def test_bad_listen_env_names_the_key(monkeypatch):
    monkeypatch.setenv("SHOAL_LISTEN", "nowhere")
    with pytest.raises(config.ConfigError) as exc:
        config.load()
    assert any(line.startswith("api.listen:") for line in error_lines(exc))


def test_empty_env_override_is_ignored(monkeypatch):
    monkeypatch.setenv("SHOAL_LISTEN", "")
    assert config.load().api.port == 8787


def test_env_override_onto_a_non_table_section_is_a_config_error(write, monkeypatch):
    monkeypatch.setenv("SHOAL_DATABASE_URL", "sqlite:///:memory:")
    with pytest.raises(config.ConfigError) as exc:
        config.load(write('database = "sqlite:///x"\n'))
    assert any(line.startswith("database:") for line in error_lines(exc))


# ---- the file itself -----------------------------------------------------------------------


def test_missing_file_path(tmp_path):
    missing = tmp_path / "missing.toml"
    with pytest.raises(config.ConfigError, match="does not exist"):
        config.load(missing)


def test_missing_file_via_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOAL_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(config.ConfigError, match="missing.toml"):
        config.load()


@pytest.mark.parametrize("text", ["[api\n", "listen = \n", "a = 1\na = 2\n", "[api]\nlisten = '1:2'\n[api]\n"])
def test_invalid_toml(write, text):
    path = write(text)
    with pytest.raises(config.ConfigError, match="not valid TOML"):
        config.load(path)


def test_non_utf8_file_is_invalid_toml(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(b"[backends.zfs]\navailability_zone = 'z\xfcrich'\n")
    with pytest.raises(config.ConfigError):
        config.load(path)


def test_directory_as_config_path(tmp_path):
    with pytest.raises(config.ConfigError):
        config.load(tmp_path)


# ---- the driver registry: one table per backend, its model picked by `driver` ----------------

REMOTEFS = """
[backends.nas]
driver = "remotefs"
qcow2_volumes = true
secure_file_operations = "FALSE"

[[backends.nas.shares]]
address = "10.0.0.1:/export/a"

[[backends.nas.shares]]
address = "127.0.0.1:/srv/nas\\\\040b"
path = "/srv/nas b/"
mount_options = "vers=4.1"

[backends.zfs]
pools = ["tank"]
"""


def test_a_remotefs_backend_beside_a_zfs_one(write):
    settings = config.load(write(REMOTEFS))
    nas, zfs = settings.backends["nas"], settings.backends["zfs"]
    assert (nas.driver, zfs.driver) == ("remotefs", "zfs")  # zfs: the default when `driver` is absent
    assert [s.address for s in nas.shares] == ["10.0.0.1:/export/a", "127.0.0.1:/srv/nas b"]
    assert nas.shares[1].path == "/srv/nas b" and nas.shares[1].mount_options == "vers=4.1"
    assert nas.qcow2_volumes and nas.secure_file_operations == "false"
    assert nas.availability_zone == "nova" and nas.host.type == "local"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('[backends.nas]\ndriver = "remotefs"\npools = ["x"]\n[[backends.nas.shares]]\naddress = "h:/e"\n',
         "backends.nas.pools: unknown key"),
        ('[backends.nas]\ndriver = "remotefs"\n', "backends.nas.shares: Field required"),
        ('[backends.nas]\ndriver = "remotefs"\n[[backends.nas.shares]]\naddress = "nocolon"\n',
         "backends.nas.shares.0.address"),
        ('[backends.nas]\ndriver = "remotefs"\n[[backends.nas.shares]]\naddress = "h:/e"\npath = "rel"\n',
         "backends.nas.shares.0.path"),
        ('[backends.nas]\ndriver = "remotefs"\n[[backends.nas.shares]]\naddress = "h:/e"\n'
         '[[backends.nas.shares]]\naddress = "h:/e"\n', "backends.nas"),
        ('[backends.nas]\ndriver = "ceph"\n', "backends.nas"),
        ('[backends.zfs]\ndriver = "zfs"\nshares = []\n', "backends.zfs.shares: unknown key"),
    ],
)
def test_a_backend_table_is_checked_by_its_drivers_model(write, text, line):
    with pytest.raises(config.ConfigError) as exc:
        config.load(write(text))
    assert any(line in ln for ln in error_lines(exc)), str(exc.value)


def test_the_registry_builds_each_backend_with_what_it_offers(write, tmp_path):
    from shoal.drivers.base import ShareDriver
    from shoal.drivers.volume import VolumeDriver
    from shoal.services.common.backends import build_drivers

    share_dir = tmp_path / "nas"
    share_dir.mkdir()
    settings = config.load(write(f"""
state_dir = "{tmp_path}"
[backends.nas]
driver = "remotefs"
[[backends.nas.shares]]
address = "127.0.0.1:/nas"
path = "{share_dir}"
[backends.zfs]
pools = ["tank"]
"""))
    shares, volumes = build_drivers(settings)  # building runs nothing on the host
    assert list(shares) == ["zfs"] and sorted(volumes) == ["nas", "zfs"]
    assert all(isinstance(d, ShareDriver) for d in shares.values())
    assert all(isinstance(d, VolumeDriver) for d in volumes.values())
    # One Zfs (one feature probe, one set of pool locks) per ZFS backend, shared by both drivers.
    assert shares["zfs"].zfs is volumes["zfs"].zfs
    assert volumes["nas"].storage_protocol == "NFS" and volumes["zfs"].storage_protocol == "iSCSI"
