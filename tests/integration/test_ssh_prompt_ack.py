"""SSH connections acknowledge what they read at once.

sshd leaves Nagle on for a connection without a terminal: an answer that reaches
it in two writes (tgtd writes a reply's header and its body apart) goes out as
two packets, the second held until the first is ACKed, and Linux delays that ACK
on a connection where requests follow answers -- 40 ms and more per request.
Counted, not timed: in a network namespace of the test's own (nothing else
sends there), the kernel's count of delayed ACKs (TcpExt DelayedACKs) over
request/answer exchanges against a server that answers as tgtd behind sshd does.
That SSHHost's connections use this socket: test_ssh_host.py."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

EXCHANGES = 20

COUNT = r"""
import socket, subprocess, sys, threading
from shoal.hosts.ssh import _PromptAckSocket

subprocess.run(["ip", "link", "set", "lo", "up"], check=True)

def delayed_acks():
    lines = open("/proc/net/netstat").read().splitlines()
    for head, values in zip(lines[::2], lines[1::2]):
        if head.startswith("TcpExt:"):
            return int(dict(zip(head.split()[1:], values.split()[1:]))["DelayedACKs"])

def exchanges(kind, count):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def serve():
        conn, _ = server.accept()
        while conn.recv(64):
            conn.send(b"header")  # two writes, Nagle on: as sshd forwards tgtd's answer
            conn.send(b"body")
        conn.close()

    thread = threading.Thread(target=serve)
    thread.start()
    client = kind(socket.AF_INET, socket.SOCK_STREAM)
    client.connect(server.getsockname())
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    before = delayed_acks()
    for _ in range(count):
        client.send(b"request")
        answer = b""
        while len(answer) < len(b"headerbody"):
            answer += client.recv(64)
    after = delayed_acks()
    client.close()
    thread.join()
    server.close()
    return after - before

count = int(sys.argv[1])
print(exchanges(socket.socket, count), exchanges(_PromptAckSocket, count))
"""


def delayed_acks_in_own_namespace() -> tuple[int, int]:
    """(delayed ACKs of a plain socket, of the SSH connections' socket) over EXCHANGES each."""
    if not shutil.which("unshare") or not shutil.which("ip"):
        pytest.skip("unshare and ip are needed for a network namespace of the test's own")
    result = subprocess.run(["unshare", "--net", "--", sys.executable, "-c", COUNT, str(EXCHANGES)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    plain, prompt = map(int, result.stdout.split())
    return plain, prompt


def test_an_answer_in_two_writes_is_not_held_for_a_delayed_ack():
    plain, prompt = delayed_acks_in_own_namespace()
    # The setting reproduces the stall: a plain socket lets the kernel delay its ACKs.
    assert plain >= EXCHANGES // 2, f"only {plain} delayed ACKs in {EXCHANGES} exchanges with a plain socket"
    assert prompt == 0, f"{prompt} delayed ACKs in {EXCHANGES} exchanges"

