"""A stream to a unix socket on an SSH host, carried by the SSH connection itself:
OpenSSH's `direct-streamlocal@openssh.com` channel (the `ssh -L port:/path` of
OpenSSH >= 6.7; PROTOCOL, section 2.4). No process runs on the host for it, so a
daemon's control socket answers a request for the price of one round trip.

paramiko opens channels of any kind but adds the fields only of the kinds it knows;
this kind needs three after the common ones (the socket's path, then a reserved
string and a reserved uint32). They are added to paramiko's own CHANNEL_OPEN message
on its way out, by the thread that opens the channel (paramiko sends it from the
caller's thread), so every other message and channel is left as paramiko made it.
"""

from __future__ import annotations

import errno
import logging
import re
import struct
import threading

from .runner import NoSocketAccess

KIND = "direct-streamlocal@openssh.com"
_MSG_CHANNEL_OPEN = 90
_OPEN_PREFIX = bytes([_MSG_CHANNEL_OPEN]) + struct.pack(">I", len(KIND)) + KIND.encode()
_ADMINISTRATIVELY_PROHIBITED = 1  # SSH_OPEN_ADMINISTRATIVELY_PROHIBITED (RFC 4254)

_opening = threading.local()  # .path: the socket the channel this thread opens goes to
_REFUSAL = re.compile(r"Secsh channel (\d+) open FAILED")


class _QuietRefusals(logging.Filter):
    """paramiko logs every refused channel at ERROR. A stream refused because
    nothing listens at the socket is an answer (a daemon that is down, asked by the
    daemon watch every second), raised to the caller as ConnectionRefusedError:
    not logged. The record comes from the transport's own thread, which is the
    Transport, holding the ids of the streams being opened."""

    def filter(self, record: logging.LogRecord) -> bool:
        refused = _REFUSAL.match(str(record.msg))
        opening = getattr(threading.current_thread(), "_shoal_streams_opening", ())
        return not (refused and int(refused.group(1)) in opening)


logging.getLogger("paramiko.transport").addFilter(_QuietRefusals())


def open_unix_stream(transport, path: str, timeout: float):
    """A paramiko Channel connected to `path` on the host (sendall, recv, settimeout,
    close). Raises ConnectionRefusedError when nothing accepts at `path` (as a
    connect() there would), NoSocketAccess when sshd will not forward to unix sockets
    for this login (AllowStreamLocalForwarding no, DisableForwarding, a restricted key)."""
    import paramiko

    _add_fields_to(transport)
    _opening.path, _opening.chanid = path, None
    try:
        chan = transport.open_channel(KIND, timeout=timeout)
    except paramiko.ChannelException as exc:
        if exc.code == _ADMINISTRATIVELY_PROHIBITED:
            raise NoSocketAccess(f"sshd refused a stream to {path}: {exc.text}") from None
        raise ConnectionRefusedError(errno.ECONNREFUSED, f"{path} on the SSH host: {exc.text}") from None
    finally:
        _opening.path = None
        transport._shoal_streams_opening.discard(_opening.chanid)
    chan.settimeout(timeout)
    return chan


def _add_fields_to(transport) -> None:
    """Wrap the transport's sender once: a CHANNEL_OPEN of KIND from a thread in
    open_unix_stream gets its fields."""
    if getattr(transport, "_shoal_streamlocal", False):
        return
    send = transport._send_user_message
    transport._shoal_streams_opening = set()  # channel ids: a refusal of these is not logged

    def send_user_message(message):
        path = getattr(_opening, "path", None)
        raw = message.asbytes()
        if path is not None and raw.startswith(_OPEN_PREFIX):
            # the sender's channel id follows the kind
            _opening.chanid = struct.unpack_from(">I", raw, len(_OPEN_PREFIX))[0]
            transport._shoal_streams_opening.add(_opening.chanid)
            message.add_string(path)
            message.add_string("")  # reserved
            message.add_int(0)  # reserved
            _opening.path = None  # one channel per call
        return send(message)

    transport._send_user_message = send_user_message
    transport._shoal_streamlocal = True
