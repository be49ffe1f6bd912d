"""The argument lines tgt_bulk writes for xargs: tgtadm's own options in the
per-target path's order, and only for values xargs reads as they are."""

from __future__ import annotations

import dataclasses

from shoal.exports.iscsi import tgt_bulk
from shoal.exports.iscsi.base import Chap, IscsiTarget

TARGET = IscsiTarget("k", "iqn.2026-11.org.shoal:volume-k", "/pool/volume-k/disk", Chap("user-k", "s3cret_k"),
                     initiators=("iqn.1993-08.org.debian:01:aa", "iqn.1993-08.org.debian:01:aa"))


def test_a_target_from_nothing_in_order():
    assert tgt_bulk.request_lines([(7, TARGET)]) == [
        "--op new --mode target --tid 7 -T iqn.2026-11.org.shoal:volume-k",
        "--op new --mode logicalunit --tid 7 --lun 1 --bstype rdwr -b /pool/volume-k/disk",
        "--op new --mode account --user user-k --password s3cret_k",
        "--op bind --mode account --tid 7 --user user-k",
        "--op bind --mode target --tid 7 -Q iqn.1993-08.org.debian:01:aa",
    ]


def test_values_xargs_would_split_or_unquote_are_left_to_the_per_target_path():
    assert tgt_bulk.plain(TARGET)
    for field, value in (("backing", "/pool/a b/disk"), ("iqn", "iqn.x:'y'"), ("backing", '/p/"q"'),
                         ("backing", "/p/back\\slash"), ("backing", "/p/new\nline")):
        assert not tgt_bulk.plain(dataclasses.replace(TARGET, **{field: value})), value
    assert not tgt_bulk.plain(dataclasses.replace(TARGET, chap=Chap("user", "with space")))
    assert not tgt_bulk.plain(dataclasses.replace(TARGET, initiators=("iqn.x y",)))
