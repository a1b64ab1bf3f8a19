"""kazoo Election: exactly one leader at a time; a new leader when the leader's client
stops or its session dies."""

import threading
import time

from conftest import EXPIRY_BOUND, SESSION_TIMEOUT
from recipetools import Inside, run_threads, wait_for


def _run_quietly(election, lead, done, errors):
    """election.run(lead) in a daemon thread; errors raised after `done` is set (the test
    is over and its clients are closing) are ignored, earlier ones are recorded."""

    def run():
        try:
            election.run(lead)
        except Exception as e:
            if not done.is_set():
                errors.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_exactly_one_leader_at_a_time(make_client, zk, base):
    ep = base + "/election"
    n = 6
    clients = [make_client() for _ in range(n)]
    inside = Inside()
    led = []

    def contend(i):
        e = clients[i].Election(ep, "c%d" % i)

        def lead():
            inside.enter(i)
            led.append(i)
            time.sleep(0.15)
            inside.leave()

        e.run(lead)  # returns after lead() returns (leadership given up)

    errors = run_threads([lambda i=i: contend(i) for i in range(n)], timeout=120)
    assert errors == []
    assert inside.violations == []
    assert sorted(led) == list(range(n))  # everyone led exactly once
    assert zk.get_children(ep) == []


def test_reelection_when_leader_client_stops(make_client, zk, base):
    ep = base + "/election"
    clients = [make_client() for _ in range(3)]
    leaders = []
    cond = threading.Condition()
    forever = threading.Event()
    errors = []

    def contend(i):
        e = clients[i].Election(ep, "c%d" % i)

        def lead():
            with cond:
                leaders.append(i)
                cond.notify_all()
            forever.wait()

        _run_quietly(e, lead, forever, errors)
        return e

    elections = [contend(0)]
    with cond:
        assert cond.wait_for(lambda: leaders == [0], 30)
    for i in (1, 2):  # queue them in order
        elections.append(contend(i))
        wait_for(lambda i=i: len(zk.get_children(ep)) == i + 1, timeout=30, what="c%d queued" % i)
    assert elections[1].contenders() == ["c0", "c1", "c2"]
    time.sleep(0.3)
    assert leaders == [0]

    clients[0].stop()  # the leader's session closes; its node goes
    with cond:
        assert cond.wait_for(lambda: len(leaders) == 2, 30), leaders
    assert leaders == [0, 1]  # the next in line, and only it
    time.sleep(0.5)
    assert leaders == [0, 1]
    assert elections[2].contenders() == ["c1", "c2"]
    assert errors == []
    forever.set()


def test_reelection_when_leader_session_dies(actors, make_client, zk, base, metrics):
    """The leader (a subprocess) is SIGKILLed: a new leader after its session expires,
    not before; the time from the kill to the new leader is reported."""
    ep = base + "/election"
    leader = actors(name="leader")
    leader.call("elect %s L" % ep, "ELECTING")
    leader.expect("LEADER L", timeout=30)

    clients = [make_client() for _ in range(2)]
    new_leaders = []
    cond = threading.Condition()
    forever = threading.Event()
    errors = []
    elections = []
    for i, c in enumerate(clients):
        e = c.Election(ep, "f%d" % i)
        elections.append(e)

        def lead(i=i):
            with cond:
                new_leaders.append((i, time.monotonic()))
                cond.notify_all()
            forever.wait()

        _run_quietly(e, lead, forever, errors)
        wait_for(lambda i=i: len(zk.get_children(ep)) == i + 2, timeout=30, what="follower queued")
    assert elections[0].contenders() == ["L", "f0", "f1"]

    leader.call("ping", "PONG")
    t_kill = time.monotonic()
    leader.kill()
    with cond:
        assert not cond.wait_for(lambda: new_leaders, 0.75 * SESSION_TIMEOUT), \
            "a new leader %.2f s after the old one died" % (new_leaders[0][1] - t_kill)
        assert cond.wait_for(lambda: new_leaders, 40), "no new leader"
    i, t_new = new_leaders[0]
    assert i == 0
    assert 0.95 * SESSION_TIMEOUT <= t_new - t_kill <= EXPIRY_BOUND, t_new - t_kill
    metrics.add("election_after_session_death", t_new - t_kill)
    time.sleep(0.5)
    assert len(new_leaders) == 1
    assert elections[1].contenders() == ["f0", "f1"]
    assert errors == []
    forever.set()
