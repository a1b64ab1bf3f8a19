import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;

/**
 * Three-member ensemble: clients connected to every member, the ensemble's leader member killed
 * mid-run (through the launcher: "CTRL kill-leader" / "CTRL restart I").
 */
final class ClusterCases extends CuratorCompat {

    static void register(List<Case> l) {
        l.add(new Case("cluster.mutex.leader-member-killed", 240, ClusterCases::mutexLeaderKill));
        l.add(new Case("cluster.latch.leader-member-killed", 240, ClusterCases::latchLeaderKill));
    }

    static int killedIndex(String reply) {
        for (String kv : reply.split(" ")) {
            if (kv.startsWith("killed=")) {
                return Integer.parseInt(kv.substring(7));
            }
        }
        throw fail("launcher reply without killed=: %s", reply);
    }

    static void mutexLeaderKill(Ctx ctx) throws Exception {
        final int C = 6;
        String lock = ctx.path("lock");
        List<CuratorFramework> cs = new ArrayList<>();
        for (int i = 0; i < C; i++) {
            cs.add(ctx.client(ctx.connect, 15_000));
        }
        LockCases.Guard g = new LockCases.Guard();
        AtomicInteger done = new AtomicInteger(), doneAfterKill = new AtomicInteger(), errors = new AtomicInteger();
        List<Long> completions = new CopyOnWriteArrayList<>();
        List<String> errorKinds = new CopyOnWriteArrayList<>();
        AtomicLong killAt = new AtomicLong();
        java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        List<Future<Void>> fs = new ArrayList<>();
        for (int i = 0; i < C; i++) {
            InterProcessMutex m = new InterProcessMutex(cs.get(i), lock);
            fs.add(ctx.run(() -> {
                while (!stop.get()) {
                    boolean got;
                    try {
                        got = m.acquire(30, TimeUnit.SECONDS);
                    } catch (Exception e) {
                        errors.incrementAndGet();
                        if (errorKinds.size() < 10) {
                            errorKinds.add("acquire: " + describe(e));
                        }
                        Thread.sleep(100);
                        continue;
                    }
                    if (!got) {
                        continue;
                    }
                    try {
                        g.critical(2);
                        done.incrementAndGet();
                        completions.add(System.nanoTime());
                        if (killAt.get() != 0) {
                            doneAfterKill.incrementAndGet();
                        }
                    } finally {
                        try {
                            m.release();
                        } catch (Exception e) {
                            errors.incrementAndGet();
                            if (errorKinds.size() < 10) {
                                errorKinds.add("release: " + describe(e));
                            }
                        }
                    }
                }
                return null;
            }));
        }
        waitFor("30 lock acquisitions before the kill", 60_000, () -> done.get() >= 30);
        ctx.stage("killing the ensemble's leader member");
        long killRequested = System.nanoTime();
        String reply = control("kill-leader"); // answers once the survivors elected a new leader
        killAt.set(System.nanoTime());
        int killed = killedIndex(reply);
        ctx.note("launcher: %s", reply);
        try {
            waitFor("30 lock acquisitions after the leader member was killed", 120_000, () -> doneAfterKill.get() >= 30);
        } finally {
            stop.set(true);
        }
        Ctx.joinAll(fs, 60_000, "lock workers to stop");
        g.verify(done.get());
        // the longest pause between two lock acquisitions from the kill request on
        long prev = 0, maxGap = 0;
        for (long t : completions) {
            if (t >= killRequested && prev != 0) {
                maxGap = Math.max(maxGap, t - prev);
            }
            prev = t;
        }
        stat("cluster: longest lock-acquisition gap around the leader-member kill", maxGap / 1e6);
        ctx.note("%d acquisitions (%d after the kill), %d client errors %s", done.get(), doneAfterKill.get(), errors.get(), errorKinds);
        ctx.stage("restarting the killed member");
        control("restart " + killed);
    }

    static void latchLeaderKill(Ctx ctx) throws Exception {
        final int N = 4;
        String path = ctx.path("latch");
        ElectionCases.LatchSet set = ctx.track(new ElectionCases.LatchSet());
        List<CuratorFramework> cs = new ArrayList<>();
        for (int i = 0; i < N; i++) {
            CuratorFramework c = ctx.client(ctx.connect, 15_000);
            cs.add(c);
            ctx.track(set.add(c, path, "p" + i)).start();
        }
        set.startSampling();
        String first = set.waitForOneLeader(30_000);
        ctx.stage("killing the ensemble's leader member");
        long tKill = System.nanoTime(); // the kill request (the launcher answers after re-election)
        String reply = control("kill-leader");
        int killed = killedIndex(reply);
        ctx.note("launcher: %s; latch leader before: %s", reply, first);
        long[] stableSince = {0};
        String[] leader = {null};
        waitFor("every client connected and one latch leader for 2 s", 120_000, () -> {
            boolean allConnected = true;
            for (CuratorFramework c : cs) {
                allConnected &= c.getZookeeperClient().isConnected();
            }
            List<String> ls = set.leaders();
            if (!allConnected || ls.size() != 1 || (leader[0] != null && !leader[0].equals(ls.get(0)))) {
                stableSince[0] = 0;
                leader[0] = ls.size() == 1 ? ls.get(0) : null;
                return false;
            }
            if (stableSince[0] == 0) {
                stableSince[0] = System.nanoTime();
                leader[0] = ls.get(0);
            }
            return System.nanoTime() - stableSince[0] > 2_000_000_000L;
        });
        stat("cluster: LeaderLatch leader stable (2 s) after the leader-member kill request", (stableSince[0] - tKill) / 1e6);
        set.close();
        set.verify();
        for (LeaderLatch l : set.latches.values()) {
            check(l.getLeader().getId().equals(leader[0]), "%s sees %s as leader, latch state says %s", l.getId(), l.getLeader().getId(), leader[0]);
        }
        ctx.note("latch leader after the kill: %s", leader[0]);
        ctx.stage("restarting the killed member");
        control("restart " + killed);
    }
}
