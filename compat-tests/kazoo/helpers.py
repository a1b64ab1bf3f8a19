"""Helpers shared by the kazoo compat tests (no fixtures here)."""

import threading
import time
import uuid


def wait_for(cond, timeout=30.0, interval=0.05, what="condition"):
    """Poll cond() until it returns a truthy value; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


class WatchRecorder:
    """A kazoo watch function that records every event it receives."""

    def __init__(self):
        self.events = []
        self.cond = threading.Condition()

    def __call__(self, event):
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def wait(self, n=1, timeout=30.0):
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.events) >= n, timeout)
        assert ok, "expected %d watch event(s), got %r" % (n, self.events)
        return self.events[n - 1]


def drain_watches(client, base):
    """Return once every watch callback queued so far for `client` has run.

    kazoo runs watch callbacks in order on one thread; so after a fresh watch
    set now fires and its callback has run, every earlier event has been
    delivered too."""
    marker = "%s/drain-%s" % (base, uuid.uuid4().hex[:8])
    rec = WatchRecorder()
    assert client.exists(marker, watch=rec) is None
    client.create(marker)
    rec.wait(1)
    client.delete(marker)
