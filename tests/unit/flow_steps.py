"""Steps and factories for tests/unit/test_flows.py (importable by name, as
taskflow rebuilds a flow from its factory's name after a restart)."""

from __future__ import annotations

import threading

from taskflow.patterns import linear_flow

from shoal.hosts import LocalHost
from shoal.hosts.transfer import transfer
from shoal.services.common.flows import FlowTask, context


class Record(FlowTask):
    def execute(self, item):
        context("journal").append(("do", self.name, item))
        if context("fail_at") == self.name:
            raise RuntimeError(f"{self.name} failed")

    def revert(self, item, **kwargs):
        context("journal").append(("undo", self.name, item))


class Stream(FlowTask):
    """Streams /dev/zero into a sleeping consumer until cancelled."""

    def execute(self, item):
        context("streaming").set()
        host = LocalHost()
        transfer(host, ["cat", "/dev/zero"], host, ["sleep", "600"])

    def revert(self, item, **kwargs):
        context("journal").append(("undo", self.name, item))


def three_steps(tag):
    return linear_flow.Flow(f"three-{tag}").add(Record("one"), Record("two"), Record("three"))


def streaming(tag):
    return linear_flow.Flow(f"stream-{tag}").add(Record("before"), Stream("stream"))


__all__ = ["three_steps", "streaming", "threading"]
