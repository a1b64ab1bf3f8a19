import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderLatchListener;
import org.apache.curator.framework.recipes.leader.LeaderSelector;
import org.apache.curator.framework.recipes.leader.LeaderSelectorListenerAdapter;
import org.apache.curator.framework.recipes.leader.Participant;
import org.apache.zookeeper.Watcher;

/** Leader election: LeaderLatch and LeaderSelector, handover on close and on session death. */
final class ElectionCases extends CuratorCompat {

    static void register(List<Case> l) {
        l.add(new Case("election.latch.handover-on-close", 90, ElectionCases::latchHandover));
        l.add(new Case("election.latch.leader-session-dies", 120, ElectionCases::latchSessionDeath));
        l.add(new Case("election.selector.rotation-and-abrupt-close", 120, ElectionCases::selectorRotation));
        l.add(new Case("election.selector.leader-session-expires", 120, ElectionCases::selectorExpiry));
    }

    /** LeaderLatches of this JVM, sampled every few ms: never more than one leader. */
    static final class LatchSet implements AutoCloseable {
        final Map<String, LeaderLatch> latches = new ConcurrentHashMap<>();
        final Set<String> dead = ConcurrentHashMap.newKeySet();
        final Map<String, Long> becameLeaderAt = new ConcurrentHashMap<>();
        final AtomicInteger samples = new AtomicInteger();
        final List<String> violations = new CopyOnWriteArrayList<>();
        volatile boolean stop;
        Thread sampler;

        LeaderLatch add(CuratorFramework c, String path, String id) throws Exception {
            LeaderLatch l = new LeaderLatch(c, path, id);
            l.addListener(new LeaderLatchListener() {
                @Override
                public void isLeader() {
                    becameLeaderAt.put(id, System.nanoTime());
                }

                @Override
                public void notLeader() {
                }
            });
            latches.put(id, l);
            return l;
        }

        List<String> leaders() {
            List<String> out = new ArrayList<>();
            for (Map.Entry<String, LeaderLatch> e : latches.entrySet()) {
                LeaderLatch l = e.getValue();
                if (!dead.contains(e.getKey()) && l.getState() == LeaderLatch.State.STARTED && l.hasLeadership()) {
                    out.add(e.getKey());
                }
            }
            return out;
        }

        void startSampling() {
            sampler = new Thread(() -> {
                while (!stop) {
                    List<String> ls = leaders();
                    samples.incrementAndGet();
                    if (ls.size() > 1 && violations.size() < 20) {
                        violations.add(ls.toString());
                    }
                    try {
                        Thread.sleep(3);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }, "latch-sampler");
            sampler.setDaemon(true);
            sampler.start();
        }

        String waitForOneLeader(long timeoutMs) throws Exception {
            AtomicReference<String> who = new AtomicReference<>();
            waitFor("exactly one leader among " + latches.keySet(), timeoutMs, () -> {
                List<String> ls = leaders();
                if (ls.size() == 1) {
                    who.set(ls.get(0));
                    return true;
                }
                return false;
            });
            return who.get();
        }

        void verify() {
            check(violations.isEmpty(), "more than one LeaderLatch had leadership at once: %s", violations);
            check(samples.get() > 20, "sampler ran only %d times", samples.get());
        }

        @Override
        public void close() {
            stop = true;
        }
    }

    static void latchHandover(Ctx ctx) throws Exception {
        final int N = 5;
        String path = ctx.path("latch");
        LatchSet set = ctx.track(new LatchSet());
        List<LeaderLatch> all = new ArrayList<>();
        for (int i = 0; i < N; i++) {
            all.add(ctx.track(set.add(ctx.client(), path, "p" + i)));
        }
        set.startSampling();
        for (LeaderLatch l : all) {
            l.start();
        }
        ctx.stage("first election among 5");
        String leader = set.waitForOneLeader(20_000);
        for (LeaderLatch l : all) {
            waitFor("every participant to see the same leader", 10_000, () -> l.getLeader().getId().equals(set.leaders().get(0)));
            // start() is asynchronous: a participant may still be creating its node when the
            // first leader is known (the check used to race with that, on both servers).
            waitFor("every participant to see all " + N, 10_000, () -> l.getParticipants().size() == N);
        }
        while (set.latches.size() - set.dead.size() > 1) {
            LeaderLatch cur = set.latches.get(leader);
            List<Participant> parts = new ArrayList<>(cur.getParticipants());
            check(parts.get(0).isLeader() && parts.get(0).getId().equals(leader), "participant order %s, leader %s", parts, leader);
            String expectedNext = parts.get(1).getId();
            ctx.stage("closing leader " + leader);
            long t0 = System.nanoTime();
            cur.close();
            set.dead.add(leader);
            String next = set.waitForOneLeader(20_000);
            waitFor("the new leader's isLeader callback", 10_000, () -> set.becameLeaderAt.containsKey(next));
            stat("election after leader close (LeaderLatch.close)", (set.becameLeaderAt.get(next) - t0) / 1e6);
            check(next.equals(expectedNext), "after %s closed, %s became leader; the next node in sequence belongs to %s", leader, next, expectedNext);
            leader = next;
            Thread.sleep(200); // let the sampler watch the settled state too
        }
        set.close();
        set.verify();
    }

    static void latchSessionDeath(Ctx ctx) throws Exception {
        String path = ctx.path("latch");
        ctx.stage("child JVM becomes leader");
        ChildProc h = ctx.child("latch", ctx.connect, Integer.toString(ctx.shortSessionMs), path, "jvm");
        String[] started = h.expect("STARTED", 60_000).split(" ");
        String childNode = started[1];
        long negotiated = Long.parseLong(started[2]);
        waitFor("the child JVM to report leadership", 20_000, () -> h.printed("LEADER"));
        LatchSet set = ctx.track(new LatchSet());
        List<LeaderLatch> all = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            LeaderLatch l = ctx.track(set.add(ctx.client(), path, "p" + i));
            l.start();
            all.add(l);
        }
        set.startSampling();
        for (LeaderLatch l : all) {
            waitFor("participants to register", 10_000, () -> l.getOurPath() != null);
            waitFor("everyone to see the JVM participant as leader", 10_000, () -> l.getLeader().getId().equals("jvm"));
        }
        check(set.leaders().isEmpty(), "a participant has leadership while the child JVM leads: %s", set.leaders());
        AtomicLong deletedAt = new AtomicLong();
        ctx.admin.checkExists().usingWatcher((Watcher) e -> {
            if (e.getType() == Watcher.Event.EventType.NodeDeleted) {
                deletedAt.set(System.nanoTime());
            }
        }).forPath(childNode);
        ctx.stage("SIGKILL of the leader JVM");
        long tKill = System.nanoTime();
        h.kill9();
        Thread.sleep(negotiated / 3);
        check(set.leaders().isEmpty(), "a new leader %s was elected %.0f ms after the old leader's SIGKILL (session timeout %d ms)",
                set.leaders(), msSince(tKill), negotiated);
        String leader = set.waitForOneLeader(40_000);
        waitFor("the new leader's isLeader callback", 10_000, () -> set.becameLeaderAt.containsKey(leader));
        long at = set.becameLeaderAt.get(leader);
        double fromKill = (at - tKill) / 1e6;
        check(fromKill >= negotiated / 2.0, "new leader %.0f ms after SIGKILL, session timeout %d ms", fromKill, negotiated);
        stat("election after leader SIGKILL (LeaderLatch, incl. session timeout)", fromKill);
        if (deletedAt.get() != 0) {
            stat("election after the dead leader's node was deleted (LeaderLatch)", (at - deletedAt.get()) / 1e6);
        }
        check(deletedAt.get() != 0, "no NodeDeleted event for the dead leader's node %s", childNode);
        Thread.sleep(300);
        check(set.leaders().equals(List.of(leader)), "leaders after re-election: %s", set.leaders());
        set.close();
        set.verify();
        ctx.note("re-elected %s %.0f ms after SIGKILL (negotiated timeout %d ms)", leader, fromKill, negotiated);
    }

    /** LeaderSelector participants with a concurrency check inside takeLeadership. */
    static final class Selectors {
        final Set<String> inside = ConcurrentHashMap.newKeySet();
        final Set<String> dead = ConcurrentHashMap.newKeySet();
        final List<String> terms = new CopyOnWriteArrayList<>();
        final List<String> violations = new CopyOnWriteArrayList<>();
        final Map<String, Long> enteredAt = new ConcurrentHashMap<>();
        final Map<String, Long> exitedAt = new ConcurrentHashMap<>();
        final AtomicReference<String> holding = new AtomicReference<>();
        volatile boolean hold;
        volatile int termMs = 100;

        LeaderSelector make(CuratorFramework c, String path, String id) {
            LeaderSelector s = new LeaderSelector(c, path, new LeaderSelectorListenerAdapter() {
                @Override
                public void takeLeadership(CuratorFramework client) throws Exception {
                    inside.add(id);
                    enteredAt.put(id, System.nanoTime());
                    List<String> live = new ArrayList<>();
                    for (String x : inside) {
                        if (!dead.contains(x)) {
                            live.add(x);
                        }
                    }
                    if (live.size() > 1) {
                        violations.add(id + " entered while " + live + " inside");
                    }
                    terms.add(id);
                    try {
                        if (hold) {
                            holding.set(id);
                            while (hold && !dead.contains(id)) {
                                Thread.sleep(5);
                            }
                        } else {
                            Thread.sleep(termMs);
                        }
                    } finally {
                        inside.remove(id);
                        exitedAt.put(id, System.nanoTime());
                    }
                }
            });
            s.setId(id);
            return s;
        }
    }

    static void selectorRotation(Ctx ctx) throws Exception {
        final int N = 4;
        String path = ctx.path("selector");
        Selectors sel = new Selectors();
        List<CuratorFramework> cs = new ArrayList<>();
        List<LeaderSelector> ss = new ArrayList<>();
        for (int i = 0; i < N; i++) {
            CuratorFramework c = ctx.client();
            cs.add(c);
            LeaderSelector s = ctx.track(sel.make(c, path, "s" + i));
            s.autoRequeue();
            ss.add(s);
        }
        ctx.stage("rotation of leadership terms");
        for (LeaderSelector s : ss) {
            s.start();
        }
        waitFor("12 leadership terms", 60_000, () -> sel.terms.size() >= 12);
        List<String> first = new ArrayList<>(sel.terms.subList(0, 12));
        Map<String, Integer> count = new HashMap<>();
        for (String t : first) {
            count.merge(t, 1, Integer::sum);
        }
        for (int i = 0; i < N; i++) {
            check(count.getOrDefault("s" + i, 0) >= 2, "requeued LeaderSelectors are served in queue order, yet s%d led %d of 12 terms: %s", i,
                    count.getOrDefault("s" + i, 0), first);
        }
        ctx.stage("abrupt close of the leader's client");
        sel.holding.set(null);
        sel.hold = true;
        waitFor("a leader holding leadership", 20_000, () -> sel.holding.get() != null);
        String l = sel.holding.get();
        int li = Integer.parseInt(l.substring(1));
        int termsBefore = sel.terms.size();
        sel.dead.add(l);
        long t0 = System.nanoTime();
        cs.get(li).close(); // no LeaderSelector.close(): the session just ends
        waitFor("another participant to take leadership after the leader's client closed", 20_000,
                () -> sel.terms.size() > termsBefore);
        String next = sel.terms.get(termsBefore);
        stat("election after leader client closed (LeaderSelector)", (sel.enteredAt.get(next) - t0) / 1e6);
        check(!next.equals(l), "closed participant %s led again", l);
        sel.hold = false;
        int mark = sel.terms.size();
        waitFor("3 more terms among the survivors", 30_000, () -> sel.terms.size() >= mark + 3);
        for (String t : sel.terms.subList(mark, mark + 3)) {
            check(!t.equals(l), "closed participant %s led after its session ended", l);
        }
        check(sel.violations.isEmpty(), "two LeaderSelector participants inside takeLeadership at once: %s", sel.violations);
    }

    static void selectorExpiry(Ctx ctx) throws Exception {
        String path = ctx.path("selector");
        Selectors sel = new Selectors();
        sel.hold = true;
        TcpProxy px = ctx.proxy();
        CuratorFramework c0 = ctx.client(px.connectString(), ctx.shortSessionMs);
        long negotiated = c0.getZookeeperClient().getZooKeeper().getSessionTimeout();
        LeaderSelector s0 = ctx.track(sel.make(c0, path, "s0"));
        s0.start();
        waitFor("s0 to lead", 20_000, () -> "s0".equals(sel.holding.get()));
        List<LeaderSelector> others = new ArrayList<>();
        for (int i = 1; i <= 2; i++) {
            LeaderSelector s = ctx.track(sel.make(ctx.client(), path, "s" + i));
            s.start();
            others.add(s);
        }
        waitFor("three participants queued", 10_000, () -> s0.getParticipants().size() == 3);
        ctx.stage("cutting the leader's connection for good");
        long tCut = System.nanoTime();
        px.block();
        waitFor("the cut-off leader to be interrupted (SUSPENDED)", 20_000, () -> sel.exitedAt.containsKey("s0"));
        Thread.sleep(Math.max(0, negotiated / 3 - (long) msSince(tCut)));
        check(sel.terms.size() == 1, "another participant led %.0f ms after the leader's connection was cut (session timeout %d ms): %s",
                msSince(tCut), negotiated, sel.terms);
        waitFor("a new leader after the old session expired", 40_000, () -> sel.terms.size() >= 2);
        String next = sel.terms.get(1);
        double after = (sel.enteredAt.get(next) - tCut) / 1e6;
        check(after >= negotiated / 2.0, "new leader %.0f ms after the cut, session timeout %d ms", after, negotiated);
        stat("election after leader session expiry (LeaderSelector, connection cut)", after);
        check(sel.exitedAt.get("s0") < sel.enteredAt.get(next), "old leader left takeLeadership after the new one entered");
        check(sel.violations.isEmpty(), "two LeaderSelector participants inside takeLeadership at once: %s", sel.violations);
        sel.hold = false;
        px.unblock();
    }
}
