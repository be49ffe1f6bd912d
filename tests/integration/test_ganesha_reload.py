"""A reload of the real ganesha and what apply() makes of it: an export whose
CLIENT ganesha refuses fails, though ganesha logs that refusal only after
"Reread exports complete" (reread_config in src/MainNFSD/nfs_init.c, 4.3:
reread_exports() logs that line, report_config_errors() logs the block errors
after it). apply() waits until ganesha's signal thread is back in sigwait().
The ordering itself, played step by step, is in tests/unit/test_ganesha_reload.py.
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import threading

import pytest

from shoal.exports.nfs import NfsClientRule, NfsExport
from shoal.exports.nfs import ganesha as ganesha_module
from shoal.exports.nfs.ganesha import GaneshaError
from shoal.exports.nfs.ganesha_sigmgr import SignalThread

pytestmark = pytest.mark.integration

_keys = itertools.count(1)
REFUSED_NET = ipaddress.ip_network("fd00:bad::/64")  # written double quoted: ganesha refuses the CLIENT


@pytest.fixture
def quoted_client(monkeypatch):
    """clients_spec writes REFUSED_NET as a double quoted string, which ganesha 4.3
    reads as a string and refuses as a client ("Expected a client, got a double
    quoted string"); every other network as usual."""
    real = ganesha_module.clients_spec
    monkeypatch.setattr(ganesha_module, "clients_spec", lambda net: f'"{net}"' if net == REFUSED_NET else real(net))


@pytest.fixture
def make_export(ganesha, tmp_path):
    made: list[NfsExport] = []

    def make(address: str) -> NfsExport:
        directory = tmp_path / f"share{next(_keys)}"
        directory.mkdir()
        export = NfsExport(f"reload-{os.getpid()}-{directory.name}", str(directory), "",
                           (NfsClientRule("r", address, "rw"),))
        made.append(export)
        return export

    yield make
    for export in made:
        ganesha.helper.remove(export)


def test_the_signal_thread_of_a_running_ganesha_is_found_and_idle(ganesha):
    pid = ganesha.helper.pid()
    thread = SignalThread(ganesha.helper.host)
    assert thread.find(pid), f"no thread of ganesha {pid} waits for signals (see /proc/{pid}/task/*/wchan)"
    assert len(thread._tids) == 1  # sigmgr_thread is the only one that calls sigwait()
    assert thread.idle(pid) is True


def test_a_refused_client_fails_apply_with_the_lines_ganesha_logs_after_the_reload(ganesha, make_export,
                                                                                  quoted_client):
    export = make_export(str(REFUSED_NET))
    with pytest.raises(GaneshaError, match="could not export") as failed:
        ganesha.helper.apply(export)
    # The first and the last line ganesha writes naming the export's block, both after RELOAD_DONE.
    assert "Expected a client, got a double quoted string" in str(failed.value)
    assert "Errors processing block (EXPORT)" in str(failed.value)


def test_concurrent_applies_sharing_reloads_each_get_their_own_outcome(ganesha, make_export, quoted_client):
    exports = [make_export(str(REFUSED_NET) if i % 2 else "127.0.0.1") for i in range(8)]
    outcomes: dict[str, object] = {}

    def apply(export: NfsExport) -> None:
        try:
            outcomes[export.key] = ganesha.helper.apply(export)
        except GaneshaError as exc:
            outcomes[export.key] = exc

    threads = [threading.Thread(target=apply, args=(export,)) for export in exports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i, export in enumerate(exports):
        if i % 2:
            assert isinstance(outcomes[export.key], GaneshaError), (export, outcomes[export.key])
            assert export.path in str(outcomes[export.key])
        else:
            assert outcomes[export.key] == {}, outcomes[export.key]
            listed = ganesha.ls(export.path)
            assert listed.returncode == 0, listed.stderr
