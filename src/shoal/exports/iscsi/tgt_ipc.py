"""tgtd's management protocol, spoken over its control socket.

`tgtadm` is a thin client: it packs its options into one request, writes it
to tgtd's unix socket (/var/run/tgtd/socket.<control port>), and prints the
answer. A local Shoal does the same here, without a process per call: a
first attach is five requests, and spawning tgtadm five times cost more than
tgtd took to do the work.

The wire format (tgt's usr/tgtadm.h, unchanged since 2012 and the same in
tgt 1.0.85 and 1.0.97): a fixed request header, then the parameters as one
NUL-terminated "key=value,..." string, in the order tgtadm builds it; the
answer is an (error, length) header, then, on success, the text tgtadm would
print. tgtd only serves peers with its own uid and gid.

`run()` takes tgtadm's own arguments and gives back what running tgtadm
would: the same stdout, and on failure exit status 22 with "tgtadm: <reason>"
on stderr (the helper matches those reasons). Only the options Shoal uses
are understood; anything else is a programming error (ValueError).
"""

from __future__ import annotations

import errno
import struct
import time
from typing import Sequence

from shoal.hosts import STATS, CommandResult, Retry
from shoal.hosts.runner import log_result, run_with_retry

SOCKET_PATH = "/var/run/tgtd/socket"

_OPS = {"new": 0, "delete": 1, "show": 2, "bind": 3, "unbind": 4, "update": 5, "stat": 6, "start": 7, "stop": 8}
_MODES = {"system": 0, "sys": 0, "target": 1, "tgt": 1, "logicalunit": 2, "lu": 2, "portal": 3, "pt": 3,
          "lld": 4, "session": 5, "sess": 5, "connection": 6, "conn": 6, "account": 7}
MODE_SYSTEM, MODE_PORTAL, OP_DELETE = _MODES["system"], _MODES["portal"], _OPS["delete"]

# enum tgtadm_errno, in order, with tgtadm's words for each
_REASONS = (
    "success", "unknown error", "out of memory", "can't find the driver", "can't find the target",
    "can't find the logical unit", "can't find the session", "can't find the connection",
    "can't find the binding", "this target already exists", "this logical unit number already exists",
    "this binding already exists", "this access control rule already exists",
    "this access control rule does not exist", "this account already exists", "can't find the account",
    "too many accounts", "invalid request", "this target already has an outgoing account",
    "this target is still active", "this logical unit is still active", "this driver is busy",
    "this operation isn't supported", "unknown parameter", "this device has Prevent Removal set",
)

# struct tgtadm_req: mode, op, lld[64], len, tid, sid, lun, cid, host_no, device_type, ac_dir, pack, force
_REQUEST = struct.Struct("=ii64sIiQQIIIIII")
_RESPONSE = struct.Struct("=II")  # err, len (header included)
_NO_LUN = 2**64 - 1
_EXIT_FAILED = errno.EINVAL  # tgtadm's exit status when tgtd refuses a request

# option -> parameter key, in the order tgtadm writes them
_PARAMS = (("--backing-store", "path"), ("--bstype", "bstype"), ("--bsopts", "bsopts"),
           ("--bsoflags", "bsoflags"), ("--blocksize", "blocksize"), ("--targetname", "targetname"),
           ("--initiator-address", "initiator-address"), ("--initiator-name", "initiator-name"),
           ("--user", "user"), ("--password", "password"))
_SHORT = {"-b": "--backing-store", "-E": "--bstype", "-S": "--bsopts", "-f": "--bsoflags", "-y": "--blocksize",
          "-T": "--targetname", "-I": "--initiator-address", "-Q": "--initiator-name", "-u": "--user",
          "-p": "--password", "-o": "--op", "-m": "--mode", "-t": "--tid", "-l": "--lun", "-L": "--lld",
          "-P": "--params", "-n": "--name", "-v": "--value", "-C": "--control-port", "-F": "--force",
          "-O": "--outgoing"}
_LONG = set(_SHORT.values()) | {"--sid", "--cid"}
_VALUED = _LONG - {"--force", "--outgoing"}


def parse_args(args: Sequence[str]) -> dict[str, str | bool]:
    """tgtadm's options as {long name: value}; --force and --outgoing are flags."""
    options: dict[str, str | bool] = {}
    items = iter(args)
    for item in items:
        name = _SHORT.get(item) or _long_name(item)
        if name in ("--force", "--outgoing"):
            options[name] = True
        elif name in _VALUED:
            value = next(items, None)
            if value is None:
                raise ValueError(f"tgtadm option {item} needs a value")
            options[name] = value
        else:
            raise ValueError(f"tgtadm option {item!r} is not understood here")
    return options


def _long_name(item: str) -> str:
    """getopt_long's rule: a long option may be shortened while it stays unambiguous
    (Shoal itself writes "--param")."""
    if item in _LONG or not item.startswith("--"):
        return item
    matches = [name for name in _LONG if name.startswith(item)]
    return matches[0] if len(matches) == 1 else item


def encode_request(args: Sequence[str]) -> tuple[int, int, bytes]:
    """(mode, op, the bytes tgtadm would write to tgtd for `args`)."""
    options = parse_args(args)
    try:
        op, mode = _OPS[str(options["--op"])], _MODES[str(options["--mode"])]
    except KeyError:
        raise ValueError(f"tgtadm needs a known --op and --mode, got {args!r}") from None
    params = []
    if "--name" in options:
        params.append(f"{options['--name']}={options.get('--value')}")
    params += [f"{key}={options[option]}" for option, key in _PARAMS if option in options]
    if "--params" in options:  # the trailing ',' is tgtadm's too
        params.append(f"{'portalOps' if mode == MODE_PORTAL else 'targetOps'} {options['--params']},")
    body = (",".join(params) + "\0").encode() if params else b""
    header = _REQUEST.pack(
        mode, op, str(options.get("--lld", "")).encode()[:64], _REQUEST.size + len(body),
        int(options.get("--tid", -1)), int(options.get("--sid", 0)), int(options.get("--lun", _NO_LUN)),
        int(options.get("--cid", 0)), 0,  # host_no
        0,  # device_type: TYPE_DISK
        1 if options.get("--outgoing") else 0, 0, 1 if options.get("--force") else 0,
    )
    return mode, op, header + body


class TgtSocket:
    """tgtadm's requests sent straight to tgtd's socket on its host: `connect(path,
    timeout)` gives a stream to it (a host's connect_unix; NoSocketAccess from it
    goes to the caller, which then falls back to tgtadm)."""

    def __init__(self, control_port: int, connect, host_name: str = "local", socket_path: str = SOCKET_PATH):
        self.path = f"{socket_path}.{control_port}"
        self.control_port = control_port
        self.connect = connect
        self.host_name = host_name

    def run(self, args: Sequence[str], *, check: bool = True, timeout: float = 30.0,
            retry: Retry | None = None) -> CommandResult:
        """`tgtadm -C <port> *args`, answered as tgtadm would answer it; `retry`
        as a host's run takes it."""
        return run_with_retry(lambda a: self._once(a, check, timeout), tuple(args), check, retry)

    def _once(self, args: Sequence[str], check: bool, timeout: float) -> CommandResult:
        argv = ("tgtadm", "-C", str(self.control_port), *args)  # for logs and errors: what it stands for
        token = STATS.started(argv)
        start = time.monotonic()
        mode, op, request = encode_request(args)
        try:
            returncode, stdout, stderr = self._exchange(request, timeout)
            if returncode == 0 and (mode, op) == (MODE_SYSTEM, OP_DELETE):
                self._wait_stopped(timeout)
        except OSError as exc:  # no daemon on that port, or it went away mid-request
            code = exc.errno or errno.ECONNREFUSED
            returncode, stdout, stderr = code, "", f"tgtadm: can't send the request to tgtd, {exc.strerror or exc}\n"
        result = CommandResult(argv, returncode, stdout, stderr, time.monotonic() - start)
        STATS.finished(token, result.duration, returncode == 0)
        log_result(self.host_name, result, expected_failure=not check)
        return result

    def _exchange(self, request: bytes, timeout: float) -> tuple[int, str, str]:
        with self.connect(self.path, timeout) as sock:
            sock.sendall(request)
            err, length = _RESPONSE.unpack(_receive(sock, _RESPONSE.size))
            if err:
                reason = _REASONS[err] if err < len(_REASONS) else "(unknown tgtadm_errno)"
                return _EXIT_FAILED, "", f"tgtadm: {reason}\n"
            text = _receive(sock, length - _RESPONSE.size) if length > _RESPONSE.size else b""
            return 0, text.split(b"\0", 1)[0].decode(errors="replace"), ""

    def _wait_stopped(self, timeout: float) -> None:
        """After "delete system", tgtadm waits until tgtd no longer accepts: so does this."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.connect(self.path, timeout).close()
            except OSError:
                return
            time.sleep(0.1)


def _receive(sock, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(left)
        if not chunk:
            raise ConnectionResetError(errno.ECONNRESET, "tgtd closed the socket")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
