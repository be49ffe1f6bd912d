"""`zfs send | zfs receive` that picks up where a cut transfer stopped.

Where both ends have receive resume tokens (kernel OpenZFS: `Features.resumable_send`),
the receive runs with `-s`: when the stream is cut (the send killed, Shoal
crashed, the connection lost), the target keeps what it received and shows a
`receive_resume_token`, and the next attempt sends only the rest with
`zfs send -t <token>`. A token that does not lead to the snapshot wanted now
(another snapshot, or one the source no longer holds) is dropped with
`zfs receive -A` and the stream starts over.

Without tokens (zfs-fuse) a cut receive leaves nothing behind: ZFS discards
it, and the next attempt sends everything again. The callers remove a whole
copy before a full stream; a partial one with a token they leave for the
resume (`partial_copy`).

On zfs-fuse the daemon writes and reads the streams itself: killing the
`zfs send` client does not cut a stream, only the end of the process joining
the two (a crash of Shoal) does.

A stream cut while Shoal runs (a process killed, a connection dropped) goes
again in place, a few times with a back-off (send_stream), rather than failing
the flow around it, which would revert and throw the partial copy away; a
crash leaves the same state to the flow resumed after the restart.

The streams are hosts.transfer's: two processes joined by Shoal, counted for
progress, stopped by their flow's cancel.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from shoal.drivers.base import DriverError
from shoal.hosts import CommandError
from shoal.hosts.transfer import TransferCut, transfer
from shoal.hosts.transfer import pause as transfer_pause

from . import commands as cmd
from .zfs import Zfs, ZfsError, ZfsNotFound

log = logging.getLogger("shoal.drivers.zfs")

TOKEN = "receive_resume_token"
RETRIES = 3  # a cut stream goes again this many times before its caller fails (and reverts)
FIRST_PAUSE = 1.0  # seconds before the first retry; doubled before each next
_TONAME = re.compile(r"^\s*toname\s*=\s*(\S+)\s*$", re.MULTILINE)
_BYTES = re.compile(r"^\s*bytes\s*=\s*(0x[0-9a-fA-F]+|\d+)\s*$", re.MULTILINE)


def _resumes(zfs: Zfs) -> bool:
    return zfs.features().resumable_send


def pending(target: Zfs, dataset: str) -> str | None:
    """The resume token a cut `receive -s` left on `dataset`, if any (none where
    ZFS has no tokens). A cut full stream leaves `dataset` itself, partial; a cut
    incremental leaves `dataset` as it was, with the partial state beside it."""
    if not _resumes(target):
        return None
    try:
        value = target.get(dataset, [TOKEN]).get(TOKEN, "-")
    except ZfsNotFound:
        return None
    return None if value in ("", "-") else value


def partial_copy(target: Zfs, dataset: str) -> bool:
    """`dataset` is what a cut full stream left to resume (a token, no snapshot
    yet): a caller about to send a full copy keeps it instead of removing it."""
    if pending(target, dataset) is None:
        return False
    try:
        return not target.snapshots(dataset)
    except ZfsNotFound:
        return False


def abort(target: Zfs, dataset: str) -> None:
    """Drop the partial state of a cut receive (`zfs receive -A`); a partial new
    dataset that ZFS will not abort (it holds no snapshot: nothing of it is
    whole) is destroyed."""
    try:
        target.host.run(["zfs", "receive", "-A", dataset])
        return
    except CommandError as exc:
        failure = exc
    try:
        if not target.snapshots(dataset):
            target.destroy(dataset, recursive=True)
            return
    except ZfsError:
        pass
    raise DriverError(f"could not drop the partial receive on {dataset}: {failure}") from None


def _token_leads_to(source: Zfs, token: str) -> tuple[str | None, int]:
    """The snapshot a token resumes (`zfs send -nv -t`), if the source can still
    send it, and how many bytes of its stream the target holds already."""
    try:
        result = source.host.run(["zfs", "send", "-nv", "-t", token])
    except CommandError as exc:
        log.info("resume token no longer usable on %s: %s", source.host.name, exc.stderr.strip())
        return None, 0
    text = result.stdout + "\n" + result.stderr
    name, done = _TONAME.search(text), _BYTES.search(text)
    return (name.group(1) if name else None), (int(done.group(1), 0) if done else 0)


def _on_the_way(source: Zfs, resumed: str, snapshot: str, since: str | None, intermediates: bool) -> bool:
    """Whether `resumed` is `snapshot`, or (a stream with `intermediates`) one of
    the snapshots between `since` and it, which that stream brings along."""
    if resumed == snapshot:
        return True
    dataset = snapshot.split("@", 1)[0]
    if not intermediates or resumed.split("@", 1)[0] != dataset:
        return False
    order = [row["name"] for row in source.snapshots(dataset)]
    if resumed not in order or snapshot not in order:
        return False
    after = order.index(since) if since in order else -1
    return after < order.index(resumed) < order.index(snapshot)


def send_stream(source: Zfs, snapshot: str, since: str | None, target: Zfs, dataset: str,
                progress: Callable[[int], None] | None = None, what: str = "zfs send",
                intermediates: bool = False) -> int:
    """`zfs send [-i|-I since] snapshot | zfs receive [-s] [-F] dataset` between the
    two Zfs hosts, resuming a transfer to `dataset` that was cut before. An
    incremental overwrites what changed on the target since `since` (`-F`);
    with `intermediates` every snapshot in between comes along. (Share
    replicas and migrations, volume migrations.)

    A stream cut on its way (an end killed, the connection lost: TransferCut)
    goes again, at most RETRIES times, after a pause that doubles each time
    and that a cancel ends at once (hosts.transfer.Stopped, never retried):
    from its resume token where ZFS keeps one, else from the start (zfs-fuse
    discards a cut receive) -- or not at all when what was cut arrived whole
    all the same (zfs-fuse's daemon carries a stream on when a client of it is
    killed). Returns the bytes this call sent, cut attempts included;
    `progress` counts from where a resumed stream stood and never goes back,
    so a caller's progress goes on from the cut attempt's."""
    progress = _onward(progress)
    sent = 0
    for attempt in range(RETRIES + 1):
        if attempt:
            transfer_pause(FIRST_PAUSE * 2 ** (attempt - 1))
            since, done = _after_cut(source, snapshot, since, intermediates, target, dataset)
            if done:
                log.info("%s: the cut stream arrived whole on %s", what, dataset)
                return sent
        tally = [0]
        try:
            return sent + _send(source, snapshot, since, target, dataset, progress, what, intermediates, tally)
        except TransferCut as cut:
            sent += tally[0] + cut.bytes
            if attempt == RETRIES:
                raise DriverError(f"{what} failed: the stream was cut {attempt + 1} times; last: {cut}") from None
            log.warning("%s: stream cut (%s); sending again (retry %d of %d)", what, cut, attempt + 1, RETRIES)
    raise AssertionError("unreachable")


def _onward(progress: Callable[[int], None] | None) -> Callable[[int], None] | None:
    """`progress`, told only of counts above the highest so far (a stream sent
    again from its start counts up from 0 once more)."""
    if progress is None:
        return None
    highest = [0]

    def report(count: int) -> None:
        if count >= highest[0]:
            highest[0] = count
            progress(count)

    return report


def _after_cut(source: Zfs, snapshot: str, since: str | None, intermediates: bool, target: Zfs,
               dataset: str) -> tuple[str | None, bool]:
    """Where the next attempt starts from: (since, done). Done when the target
    holds `snapshot` already; an `-I` stream goes on from the newest snapshot
    between `since` and `snapshot` that the cut attempt completed."""
    try:
        held = [row["name"].split("@", 1)[1] for row in target.snapshots(dataset)]
    except ZfsNotFound:
        return since, False
    if snapshot.split("@", 1)[1] in held:
        return since, True
    if since is None or not intermediates or not held:
        return since, False
    order = [row["name"] for row in source.snapshots(snapshot.split("@", 1)[0])]
    newest = f"{snapshot.split('@', 1)[0]}@{held[-1]}"
    if since in order and snapshot in order and newest in order[order.index(since) + 1:order.index(snapshot)]:
        return newest, False
    return since, False


def _send(source: Zfs, snapshot: str, since: str | None, target: Zfs, dataset: str,
          progress: Callable[[int], None] | None, what: str, intermediates: bool, tally: list[int]) -> int:
    """One attempt of send_stream; `tally` counts the bytes of its finished streams."""
    resumable = _resumes(source) and _resumes(target)
    moved = 0
    token = pending(target, dataset)
    if token is not None:
        resumed, held = _token_leads_to(source, token) if resumable else (None, 0)
        if resumed and _on_the_way(source, resumed, snapshot, since, intermediates):
            log.info("%s: resuming the cut stream of %s into %s after %d bytes", what, resumed, dataset, held)
            moved = _run(source, ["zfs", "send", "-t", token], target, _receive(dataset, True, resumable),
                         _from(held, progress), what)
            tally[0] = moved
            if resumed == snapshot:
                return moved
            since = resumed  # the rest of the -I stream, from the snapshot just completed
            progress = _from(held + moved, progress)
        else:
            log.info("%s: dropping a partial receive on %s that does not lead to %s", what, dataset, snapshot)
            abort(target, dataset)
    return moved + _run(source, cmd.send(snapshot, since, intermediates), target,
                        _receive(dataset, since is not None, resumable), progress, what)


def _from(offset: int, progress: Callable[[int], None] | None) -> Callable[[int], None] | None:
    return None if progress is None else (lambda sent: progress(offset + sent))


def _receive(dataset: str, force: bool, resumable: bool) -> list[str]:
    argv = cmd.receive(dataset, force)
    return [*argv[:2], "-s", *argv[2:]] if resumable else argv


def _run(source: Zfs, producer: list[str], target: Zfs, consumer: list[str],
         progress: Callable[[int], None] | None, what: str) -> int:
    try:
        return transfer(source.host, producer, target.host, consumer, progress=progress).bytes
    except TransferCut:
        raise  # send_stream decides
    except CommandError as exc:
        raise DriverError(f"{what} failed: {exc}") from None
