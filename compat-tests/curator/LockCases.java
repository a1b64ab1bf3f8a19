import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.locks.InterProcessLock;
import org.apache.curator.framework.recipes.locks.InterProcessMultiLock;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.locks.InterProcessReadWriteLock;
import org.apache.curator.framework.recipes.locks.InterProcessSemaphoreMutex;
import org.apache.zookeeper.data.Stat;

/** Locks and fencing: InterProcessMutex, ReadWriteLock, SemaphoreMutex, MultiLock, session death. */
final class LockCases extends CuratorCompat {

    static void register(List<Case> l) {
        l.add(new Case("lock.mutex.exclusion", 120, LockCases::mutexExclusion));
        l.add(new Case("lock.mutex.reentrant", 60, LockCases::mutexReentrant));
        l.add(new Case("lock.mutex.acquire-timeout", 60, LockCases::mutexTimeout));
        l.add(new Case("lock.mutex.fifo", 90, LockCases::mutexFifo));
        l.add(new Case("lock.rwlock", 120, LockCases::readWriteLock));
        l.add(new Case("lock.semaphore-mutex", 90, LockCases::semaphoreMutex));
        l.add(new Case("lock.multilock", 60, LockCases::multiLock));
        l.add(new Case("lock.released-on-session-expiry", 120, LockCases::releasedOnExpiry));
        l.add(new Case("lock.kept-across-connection-loss", 120, LockCases::keptAcrossConnectionLoss));
        l.add(new Case("lock.kept-across-short-sigstop", 120, LockCases::keptAcrossShortStop));
        l.add(new Case("fencing.tokens-increase", 90, LockCases::fencingTokens));
        l.add(new Case("fencing.paused-holder-rejected", 120, LockCases::fencingPausedHolder));
        l.add(new Case("latency.lock", 180, LockCases::lockLatency));
    }

    /** Lock-protected work with an exclusion check: fails the case if anyone else is inside. */
    static final class Guard {
        final AtomicInteger inside = new AtomicInteger();
        final AtomicInteger violations = new AtomicInteger();
        final AtomicInteger maxInside = new AtomicInteger();
        int counter; // guarded by the distributed lock only

        void critical(int sleepMs) throws InterruptedException {
            int n = inside.incrementAndGet();
            maxInside.accumulateAndGet(n, Math::max);
            if (n != 1) {
                violations.incrementAndGet();
            }
            int v = counter;
            if (sleepMs > 0) {
                Thread.sleep(sleepMs);
            } else {
                Thread.yield();
            }
            counter = v + 1;
            inside.decrementAndGet();
        }

        void verify(int expected) {
            check(violations.get() == 0, "mutual exclusion violated %d times (up to %d holders inside at once)",
                    violations.get(), maxInside.get());
            check(counter == expected, "shared counter is %d, expected %d (lost updates: exclusion broken)", counter,
                    expected);
        }
    }

    static List<CuratorFramework> clients(Ctx ctx, int n) throws Exception {
        List<CuratorFramework> l = new ArrayList<>();
        Set<Long> sessions = new HashSet<>();
        for (int i = 0; i < n; i++) {
            CuratorFramework c = ctx.client();
            l.add(c);
            sessions.add(sessionId(c));
        }
        check(sessions.size() == n, "%d clients share sessions: %d distinct session ids", n, sessions.size());
        return l;
    }

    static List<String> children(CuratorFramework c, String path) throws Exception {
        if (c.checkExists().forPath(path) == null) {
            return List.of();
        }
        return c.getChildren().forPath(path);
    }

    // ---------------------------------------------------------------- InterProcessMutex

    static void mutexExclusion(Ctx ctx) throws Exception {
        final int C = 12, K = 15;
        String lock = ctx.path("lock");
        List<CuratorFramework> cs = clients(ctx, C);
        Guard g = new Guard();
        CyclicBarrier start = new CyclicBarrier(C);
        List<Future<Void>> fs = new ArrayList<>();
        ctx.stage("12 clients x 15 lock/increment/unlock");
        for (int i = 0; i < C; i++) {
            final int id = i;
            InterProcessMutex m = new InterProcessMutex(cs.get(i), lock);
            fs.add(ctx.run(() -> {
                start.await(30, TimeUnit.SECONDS);
                for (int k = 0; k < K; k++) {
                    check(m.acquire(60, TimeUnit.SECONDS), "client %d: acquire timed out (60 s)", id);
                    try {
                        g.critical(k % 3 == 0 ? 1 : 0);
                    } finally {
                        m.release();
                    }
                }
                return null;
            }));
        }
        Ctx.joinAll(fs, 110_000, "all lock clients to finish");
        g.verify(C * K);
        ctx.note("%d acquisitions by %d sessions, max holders inside %d", C * K, C, g.maxInside.get());
        waitFor("every lock node deleted", 10_000, () -> children(ctx.admin, lock).isEmpty());
    }

    static void mutexReentrant(Ctx ctx) throws Exception {
        String lock = ctx.path("lock");
        CuratorFramework a = ctx.client(), b = ctx.client();
        InterProcessMutex ma = new InterProcessMutex(a, lock);
        InterProcessMutex mb = new InterProcessMutex(b, lock);
        check(ma.acquire(10, TimeUnit.SECONDS), "first acquire failed");
        check(ma.acquire(10, TimeUnit.SECONDS), "re-entrant acquire by the holding thread failed");
        check(ma.isAcquiredInThisProcess() && ma.isOwnedByCurrentThread(), "holder does not see itself as owner");
        Collection<String> parts = ma.getParticipantNodes();
        check(parts.size() == 1, "re-entrant acquire must not create a second lock node: %s", parts);
        check(!mb.acquire(300, TimeUnit.MILLISECONDS), "another session acquired a held lock");
        ma.release();
        check(ma.isAcquiredInThisProcess(), "one release of a twice-acquired lock released it");
        check(!mb.acquire(300, TimeUnit.MILLISECONDS), "another session acquired the lock after one of two releases");
        check(ma.getParticipantNodes().size() == 1, "lock nodes after failed attempts: %s", ma.getParticipantNodes());
        ma.release();
        check(!ma.isAcquiredInThisProcess(), "lock still held after two releases");
        check(mb.acquire(10, TimeUnit.SECONDS), "other session could not acquire after full release");
        try {
            ma.release();
            throw fail("release of a lock not held did not throw");
        } catch (IllegalMonitorStateException expected) {
            // Curator's contract
        }
        mb.release();
        check(children(ctx.admin, lock).isEmpty(), "lock nodes left: %s", children(ctx.admin, lock));
    }

    static void mutexTimeout(Ctx ctx) throws Exception {
        String lock = ctx.path("lock");
        CuratorFramework a = ctx.client(), b = ctx.client(), c = ctx.client();
        InterProcessMutex ma = new InterProcessMutex(a, lock);
        check(ma.acquire(10, TimeUnit.SECONDS), "holder could not acquire");
        InterProcessMutex mb = new InterProcessMutex(b, lock);
        InterProcessMutex mc = new InterProcessMutex(c, lock);
        ctx.stage("two contenders with acquire(1 s) while held");
        Future<Long> fb = ctx.async(() -> {
            long t0 = System.nanoTime();
            check(!mb.acquire(1, TimeUnit.SECONDS), "contender b acquired a held lock");
            return (System.nanoTime() - t0) / 1_000_000L;
        });
        Future<Long> fc = ctx.async(() -> {
            long t0 = System.nanoTime();
            check(!mc.acquire(1500, TimeUnit.MILLISECONDS), "contender c acquired a held lock");
            return (System.nanoTime() - t0) / 1_000_000L;
        });
        long wb = Ctx.join(fb, 20_000, "acquire(1 s) to return");
        long wc = Ctx.join(fc, 20_000, "acquire(1.5 s) to return");
        check(wb >= 900 && wc >= 1400, "acquire(timeout) returned false early: %d ms / %d ms", wb, wc);
        waitFor("the timed-out contenders' lock nodes to be deleted", 10_000,
                () -> children(ctx.admin, lock).size() == 1);
        ma.release();
        Future<Void> f = ctx.run(() -> {
            check(mb.acquire(10, TimeUnit.SECONDS), "contender could not acquire after release");
            mb.release();
            return null;
        });
        Ctx.join(f, 20_000, "contender after release");
    }

    static void mutexFifo(Ctx ctx) throws Exception {
        final int W = 8;
        String lock = ctx.path("lock");
        CuratorFramework h = ctx.client();
        TokenMutex holder = new TokenMutex(h, lock);
        check(holder.acquire(10, TimeUnit.SECONDS), "holder could not acquire");
        List<CuratorFramework> cs = clients(ctx, W);
        List<String> nodeOf = new ArrayList<>();
        List<Integer> order = new CopyOnWriteArrayList<>();
        Guard g = new Guard();
        List<Future<Void>> fs = new ArrayList<>();
        Set<String> known = new HashSet<>(holder.getParticipantNodes());
        ctx.stage("queueing 8 waiters one after another");
        for (int i = 0; i < W; i++) {
            final int id = i;
            InterProcessMutex m = new InterProcessMutex(cs.get(i), lock);
            fs.add(ctx.run(() -> {
                check(m.acquire(60, TimeUnit.SECONDS), "waiter %d: acquire timed out", id);
                try {
                    order.add(id);
                    g.critical(10);
                } finally {
                    m.release();
                }
                return null;
            }));
            final int want = i + 2;
            waitFor("waiter " + i + "'s lock node", 10_000, () -> holder.getParticipantNodes().size() == want);
            List<String> now = new ArrayList<>(holder.getParticipantNodes());
            now.removeAll(known);
            check(now.size() == 1, "expected one new lock node, got %s", now);
            nodeOf.add(now.get(0));
            known.add(now.get(0));
        }
        List<String> sorted = new ArrayList<>(holder.getParticipantNodes());
        check(sorted.get(0).equals(holder.node()), "holder's node %s is not first in %s", holder.node(), sorted);
        ctx.stage("releasing the holder");
        holder.release();
        Ctx.joinAll(fs, 60_000, "waiters");
        g.verify(W);
        List<Integer> bySeq = new ArrayList<>();
        for (int i = 0; i < W; i++) {
            bySeq.add(i);
        }
        bySeq.sort((x, y) -> seqSuffix(nodeOf.get(x)).compareTo(seqSuffix(nodeOf.get(y))));
        check(order.equals(bySeq), "acquisition order %s differs from lock node sequence order %s (nodes %s)", order,
                bySeq, nodeOf);
    }

    // ---------------------------------------------------------------- InterProcessReadWriteLock

    static void readWriteLock(Ctx ctx) throws Exception {
        final int R = 5;
        String lock = ctx.path("rw");
        List<CuratorFramework> rc = clients(ctx, R);
        CuratorFramework wc = ctx.client();
        InterProcessReadWriteLock w = new InterProcessReadWriteLock(wc, lock);
        ctx.stage("5 readers hold the read lock together");
        CyclicBarrier allIn = new CyclicBarrier(R + 1);
        CountDownLatch releaseReaders = new CountDownLatch(1);
        List<Future<Void>> fs = new ArrayList<>();
        for (int i = 0; i < R; i++) {
            final int id = i;
            InterProcessReadWriteLock l = new InterProcessReadWriteLock(rc.get(i), lock);
            fs.add(ctx.run(() -> {
                check(l.readLock().acquire(20, TimeUnit.SECONDS), "reader %d: read lock not granted", id);
                try {
                    allIn.await(20, TimeUnit.SECONDS); // fails unless all readers are inside together
                    releaseReaders.await(30, TimeUnit.SECONDS);
                } finally {
                    l.readLock().release();
                }
                return null;
            }));
        }
        try {
            allIn.await(25, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw fail("the %d readers were not all inside the read lock together (%s)", R, e);
        }
        check(!w.writeLock().acquire(500, TimeUnit.MILLISECONDS), "write lock granted while %d readers hold the read lock", R);
        releaseReaders.countDown();
        Ctx.joinAll(fs, 20_000, "readers to release");
        ctx.stage("writer excludes readers");
        check(w.writeLock().acquire(10, TimeUnit.SECONDS), "write lock not granted after readers left");
        InterProcessReadWriteLock r0 = new InterProcessReadWriteLock(rc.get(0), lock);
        Future<Boolean> rf = ctx.async(() -> {
            boolean got = r0.readLock().acquire(500, TimeUnit.MILLISECONDS);
            if (got) {
                r0.readLock().release();
            }
            return got;
        });
        check(!Ctx.join(rf, 10_000, "reader attempt"), "read lock granted to another session while the write lock is held");
        // Curator allows the write-lock holder to take the read lock (downgrade)
        check(w.readLock().acquire(5, TimeUnit.SECONDS), "write-lock holder could not take the read lock");
        w.writeLock().release();
        w.readLock().release();

        ctx.stage("mixed stress: 3 writers and 4 readers");
        List<CuratorFramework> sc = clients(ctx, 3);
        AtomicInteger readers = new AtomicInteger(), writers = new AtomicInteger(), bad = new AtomicInteger();
        AtomicInteger maxReaders = new AtomicInteger();
        List<Future<Void>> gs = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            InterProcessReadWriteLock l = new InterProcessReadWriteLock(sc.get(i), lock);
            gs.add(ctx.run(() -> {
                for (int k = 0; k < 6; k++) {
                    check(l.writeLock().acquire(60, TimeUnit.SECONDS), "writer: acquire timed out");
                    try {
                        if (writers.incrementAndGet() != 1 || readers.get() != 0) {
                            bad.incrementAndGet();
                        }
                        Thread.sleep(3);
                        writers.decrementAndGet();
                    } finally {
                        l.writeLock().release();
                    }
                }
                return null;
            }));
        }
        for (int i = 0; i < 4; i++) {
            InterProcessReadWriteLock l = new InterProcessReadWriteLock(rc.get(i), lock);
            gs.add(ctx.run(() -> {
                for (int k = 0; k < 6; k++) {
                    check(l.readLock().acquire(60, TimeUnit.SECONDS), "reader: acquire timed out");
                    try {
                        maxReaders.accumulateAndGet(readers.incrementAndGet(), Math::max);
                        if (writers.get() != 0) {
                            bad.incrementAndGet();
                        }
                        Thread.sleep(5);
                        readers.decrementAndGet();
                    } finally {
                        l.readLock().release();
                    }
                }
                return null;
            }));
        }
        Ctx.joinAll(gs, 100_000, "read/write stress");
        check(bad.get() == 0, "read/write exclusion violated %d times", bad.get());
        ctx.note("stress: max readers inside together %d", maxReaders.get());
    }

    // ---------------------------------------------------------------- InterProcessSemaphoreMutex

    static void semaphoreMutex(Ctx ctx) throws Exception {
        String lock = ctx.path("smutex");
        CuratorFramework a = ctx.client(), b = ctx.client();
        InterProcessSemaphoreMutex sa = new InterProcessSemaphoreMutex(a, lock);
        InterProcessSemaphoreMutex sb = new InterProcessSemaphoreMutex(b, lock);
        check(sa.acquire(10, TimeUnit.SECONDS), "first acquire failed");
        check(!sa.acquire(500, TimeUnit.MILLISECONDS), "InterProcessSemaphoreMutex is not re-entrant, yet a second acquire succeeded");
        check(sa.isAcquiredInThisProcess(), "holder lost the lock after its failed re-entrant attempt");
        check(!sb.acquire(500, TimeUnit.MILLISECONDS), "another session acquired a held semaphore mutex");
        sa.release();
        check(sb.acquire(10, TimeUnit.SECONDS), "other session could not acquire after release");
        // not thread-bound: another thread of the holder's process may release it
        Future<Void> rel = ctx.run(() -> {
            sb.release();
            return null;
        });
        Ctx.join(rel, 10_000, "release from another thread");

        ctx.stage("4 sessions x 8 exclusive sections");
        List<CuratorFramework> cs = clients(ctx, 4);
        Guard g = new Guard();
        List<Future<Void>> fs = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            InterProcessSemaphoreMutex m = new InterProcessSemaphoreMutex(cs.get(i), lock);
            fs.add(ctx.run(() -> {
                for (int k = 0; k < 8; k++) {
                    check(m.acquire(60, TimeUnit.SECONDS), "acquire timed out");
                    try {
                        g.critical(1);
                    } finally {
                        m.release();
                    }
                }
                return null;
            }));
        }
        Ctx.joinAll(fs, 80_000, "semaphore mutex clients");
        g.verify(32);
    }

    // ---------------------------------------------------------------- InterProcessMultiLock

    static void multiLock(Ctx ctx) throws Exception {
        String p1 = ctx.path("m1"), p2 = ctx.path("m2");
        CuratorFramework a = ctx.client(), b = ctx.client();
        InterProcessMultiLock multi = new InterProcessMultiLock(a, List.of(p1, p2));
        check(multi.acquire(10, TimeUnit.SECONDS), "multi-lock not acquired");
        check(multi.isAcquiredInThisProcess(), "multi-lock holder does not see itself as owner");
        for (String p : List.of(p1, p2)) {
            InterProcessMutex m = new InterProcessMutex(b, p);
            check(!m.acquire(300, TimeUnit.MILLISECONDS), "%s acquired by another session while the multi-lock holds it", p);
        }
        multi.release();
        InterProcessMutex b1 = new InterProcessMutex(b, p1), b2 = new InterProcessMutex(b, p2);
        check(b1.acquire(5, TimeUnit.SECONDS) && b2.acquire(5, TimeUnit.SECONDS), "locks not free after multi-lock release");
        b1.release();
        ctx.stage("multi-lock while one member lock is held elsewhere");
        // b holds p2: the multi-lock must fail as a whole and leave p1 free
        check(!multi.acquire(700, TimeUnit.MILLISECONDS), "multi-lock acquired although %s is held by another session", p2);
        check(!multi.isAcquiredInThisProcess(), "failed multi-lock still reports itself held");
        CuratorFramework c = ctx.client();
        InterProcessMutex c1 = new InterProcessMutex(c, p1);
        check(c1.acquire(5, TimeUnit.SECONDS), "%s left held by a failed multi-lock acquire", p1);
        c1.release();
        b2.release();
        check(multi.acquire(5, TimeUnit.SECONDS), "multi-lock not acquired once both locks are free");
        multi.release();
    }

    // ---------------------------------------------------------------- session death of the holder

    static final class Acquirer {
        volatile long acquiredAt; // nanoTime, 0 = not yet
        volatile long token;
        Future<Void> f;
    }

    /** Starts a contender that acquires, records time and token, waits for `go`, then releases. */
    static Acquirer contender(Ctx ctx, CuratorFramework c, String lock, CountDownLatch releaseGo) {
        Acquirer a = new Acquirer();
        TokenMutex m = new TokenMutex(c, lock);
        a.f = ctx.run(() -> {
            check(m.acquire(60, TimeUnit.SECONDS), "contender: acquire timed out (60 s)");
            long at = System.nanoTime();
            a.token = m.token();
            a.acquiredAt = at; // published last: acquiredAt != 0 means token is set
            try {
                releaseGo.await(60, TimeUnit.SECONDS);
            } finally {
                m.release();
            }
            return null;
        });
        return a;
    }

    static void releasedOnExpiry(Ctx ctx) throws Exception {
        String lock = ctx.path("lock");
        ctx.stage("child JVM acquiring the lock");
        ChildProc h = ctx.child("lock", ctx.connect, Integer.toString(ctx.shortSessionMs), lock);
        String[] acq = h.expect("ACQUIRED", 60_000).split(" ");
        String holderNode = acq[1];
        long negotiated = Long.parseLong(acq[4]);
        CuratorFramework c = ctx.client();
        CountDownLatch go = new CountDownLatch(1);
        Acquirer a = contender(ctx, c, lock, go);
        waitFor("contender's lock node", 10_000, () -> children(ctx.admin, lock).size() == 2);
        ctx.stage("SIGKILL of the holder JVM");
        long tKill = System.nanoTime();
        h.kill9();
        Thread.sleep(negotiated / 3);
        check(a.acquiredAt == 0, "lock acquired %.0f ms after the holder's SIGKILL: its session (timeout %d ms) cannot have expired",
                msSince(tKill), negotiated);
        check(ctx.admin.checkExists().forPath(holderNode) != null, "holder's ephemeral lock node vanished %.0f ms after SIGKILL (timeout %d ms)",
                msSince(tKill), negotiated);
        ctx.stage("waiting for the holder's session to expire");
        waitFor("the contender to acquire after the holder's session expired", 40_000, () -> a.acquiredAt != 0);
        double after = (a.acquiredAt - tKill) / 1e6;
        stat("lock handover after holder SIGKILL (session expiry)", after);
        check(after >= negotiated / 2.0, "lock acquired %.0f ms after the holder's SIGKILL; its session timeout is %d ms", after, negotiated);
        check(ctx.admin.checkExists().forPath(holderNode) == null, "holder's lock node %s still exists after handover", holderNode);
        go.countDown();
        Ctx.join(a.f, 10_000, "contender release");
        ctx.note("handover %.0f ms after SIGKILL (negotiated timeout %d ms)", after, negotiated);
    }

    static void keptAcrossConnectionLoss(Ctx ctx) throws Exception {
        String lock = ctx.path("lock");
        TcpProxy px = ctx.proxy();
        ChildProc h = ctx.child("lock", px.connectString(), Integer.toString(ctx.shortSessionMs), lock);
        String[] acq = h.expect("ACQUIRED", 60_000).split(" ");
        String holderNode = acq[1];
        long negotiated = Long.parseLong(acq[4]);
        CuratorFramework c = ctx.client();
        CountDownLatch go = new CountDownLatch(1);
        Acquirer a = contender(ctx, c, lock, go);
        waitFor("contender's lock node", 10_000, () -> children(ctx.admin, lock).size() == 2);
        long t0 = System.nanoTime();
        for (int r = 0; r < 2; r++) {
            ctx.stage("cutting the holder's TCP connection, round " + r);
            px.cutAll();
            h.expect("STATE SUSPENDED", 10_000);
            h.expect("STATE RECONNECTED", 20_000);
        }
        ctx.stage("holder reconnected; waiting past the session timeout");
        Thread.sleep(negotiated + 2000);
        check(!h.printed("STATE LOST"), "holder's session was lost across a short connection loss: %s", h.allLines);
        check(a.acquiredAt == 0, "another client acquired the lock %.0f ms after the holder's connection was cut; the holder's session is alive",
                (a.acquiredAt - t0) / 1e6);
        Stat st = ctx.admin.checkExists().forPath(holderNode);
        check(st != null, "holder's lock node %s vanished although its session survived", holderNode);
        check(Long.toHexString(st.getEphemeralOwner()).equals(acq[3]), "holder's node owner %x, session %s",
                st.getEphemeralOwner(), acq[3]);
        ctx.stage("holder releases");
        h.send("release");
        h.expect("RELEASED", 20_000);
        waitFor("contender to acquire after release", 20_000, () -> a.acquiredAt != 0);
        go.countDown();
        Ctx.join(a.f, 10_000, "contender release");
    }

    static void keptAcrossShortStop(Ctx ctx) throws Exception {
        String lock = ctx.path("lock");
        final int session = 10_000, stopMs = 2000;
        ChildProc h = ctx.child("lock", ctx.connect, Integer.toString(session), lock);
        String[] acq = h.expect("ACQUIRED", 60_000).split(" ");
        String holderNode = acq[1];
        CuratorFramework c = ctx.client();
        CountDownLatch go = new CountDownLatch(1);
        Acquirer a = contender(ctx, c, lock, go);
        waitFor("contender's lock node", 10_000, () -> children(ctx.admin, lock).size() == 2);
        ctx.stage("SIGSTOP of the holder for 2 s (session timeout 10 s)");
        h.sigstop();
        try {
            Thread.sleep(stopMs);
        } finally {
            h.sigcont();
        }
        Thread.sleep(3000);
        check(!h.printed("STATE LOST"), "holder's session lost after a %d ms pause (timeout %d ms): %s", stopMs, session, h.allLines);
        check(a.acquiredAt == 0, "another client acquired the lock while the holder's session was alive");
        Stat st = ctx.admin.checkExists().forPath(holderNode);
        check(st != null && Long.toHexString(st.getEphemeralOwner()).equals(acq[3]), "holder's lock node changed: %s", st);
        h.send("release");
        h.expect("RELEASED", 20_000);
        waitFor("contender to acquire after release", 20_000, () -> a.acquiredAt != 0);
        go.countDown();
        Ctx.join(a.f, 10_000, "contender release");
    }

    // ---------------------------------------------------------------- fencing

    /** A protected resource: accepts a write only with a token above every token it accepted. */
    static final class FencedRegister {
        long last = Long.MIN_VALUE;
        final List<String> log = new ArrayList<>();

        synchronized boolean write(long token, String who) {
            boolean ok = token > last;
            if (ok) {
                last = token;
            }
            log.add(who + ":" + Long.toHexString(token) + (ok ? ":ok" : ":REJECTED"));
            return ok;
        }
    }

    static void fencingTokens(Ctx ctx) throws Exception {
        final int C = 6, ROUNDS = 2;
        String lock = ctx.path("lock");
        List<CuratorFramework> cs = clients(ctx, C);
        FencedRegister reg = new FencedRegister();
        List<Long> tokens = new CopyOnWriteArrayList<>();
        AtomicInteger rejected = new AtomicInteger();
        Guard g = new Guard();
        CyclicBarrier start = new CyclicBarrier(C);
        List<Future<Void>> fs = new ArrayList<>();
        for (int i = 0; i < C; i++) {
            final int id = i;
            TokenMutex m = new TokenMutex(cs.get(i), lock);
            fs.add(ctx.run(() -> {
                start.await(30, TimeUnit.SECONDS);
                for (int r = 0; r < ROUNDS; r++) {
                    check(m.acquire(60, TimeUnit.SECONDS), "client %d: acquire timed out", id);
                    try {
                        long t = m.token();
                        tokens.add(t);
                        if (!reg.write(t, "c" + id)) {
                            rejected.incrementAndGet();
                        }
                        g.critical(5);
                    } finally {
                        m.release();
                    }
                }
                return null;
            }));
        }
        Ctx.joinAll(fs, 80_000, "lock holders");
        g.verify(C * ROUNDS);
        check(rejected.get() == 0, "%d holders' writes rejected: their czxid tokens did not increase (%s)", rejected.get(), reg.log);
        for (int i = 1; i < tokens.size(); i++) {
            check(tokens.get(i) > tokens.get(i - 1), "token of holder %d (%x) not above the previous holder's (%x)", i,
                    tokens.get(i), tokens.get(i - 1));
        }
        check(!reg.write(tokens.get(0), "stale"), "a stale token was accepted");
    }

    static void fencingPausedHolder(Ctx ctx) throws Exception {
        String lock = ctx.path("lock");
        FencedRegister reg = new FencedRegister();
        AtomicLong contenderWroteAt = new AtomicLong();
        AtomicInteger oldAccepted = new AtomicInteger(), oldAcceptedLate = new AtomicInteger(), oldRejectedLate = new AtomicInteger();
        // The resource inside ZooKeeper: the holder writes it through a transaction that checks
        // its lock node first (the fenced write of README "Locks and fencing").
        String resource = ctx.path("resource");
        ctx.admin.create().creatingParentsIfNeeded().forPath(resource, "init".getBytes(StandardCharsets.UTF_8));
        AtomicInteger fencedOk = new AtomicInteger(), fencedOkLate = new AtomicInteger(), fencedRefusedLate = new AtomicInteger();
        List<String> lateOutcomes = new CopyOnWriteArrayList<>();
        ChildProc h = ctx.child("lock", ctx.connect, Integer.toString(ctx.shortSessionMs), lock, resource);
        h.tickListeners.add(line -> {
            String[] f = line.split(" ");
            long token = Long.parseLong(f[1]);
            boolean late = contenderWroteAt.get() != 0;
            if (f.length > 3) {
                boolean fencedAccepted = f[3].equals("fenced=ok");
                if (fencedAccepted) {
                    fencedOk.incrementAndGet();
                }
                if (late) {
                    (fencedAccepted ? fencedOkLate : fencedRefusedLate).incrementAndGet();
                    lateOutcomes.add(f[3]);
                }
            }
            boolean ok = reg.write(token, "old");
            if (ok) {
                oldAccepted.incrementAndGet();
            }
            if (late) {
                (ok ? oldAcceptedLate : oldRejectedLate).incrementAndGet();
            }
        });
        String[] acq = h.expect("ACQUIRED", 60_000).split(" ");
        long oldToken = Long.parseLong(acq[2]);
        long negotiated = Long.parseLong(acq[4]);
        waitFor("the holder's first fenced write", 10_000, () -> oldAccepted.get() > 0 && fencedOk.get() > 0);
        CuratorFramework c = ctx.client();
        CountDownLatch go = new CountDownLatch(1);
        Acquirer a = contender(ctx, c, lock, go);
        waitFor("contender's lock node", 10_000, () -> children(ctx.admin, lock).size() == 2);
        ctx.stage("SIGSTOP of the holder past its session timeout");
        long tStop = System.nanoTime();
        h.sigstop();
        try {
            waitFor("the contender to acquire while the old holder is paused", 40_000, () -> a.acquiredAt != 0);
            double after = (a.acquiredAt - tStop) / 1e6;
            check(after >= negotiated / 2.0, "lock acquired %.0f ms after the holder paused; its session timeout is %d ms", after, negotiated);
            check(a.token > oldToken, "new holder's token %x is not above the old holder's %x", a.token, oldToken);
            check(reg.write(a.token, "new"), "new holder's write rejected (%s)", reg.log);
            ctx.admin.setData().forPath(resource, "new".getBytes(StandardCharsets.UTF_8));
            contenderWroteAt.set(System.nanoTime());
        } finally {
            ctx.stage("SIGCONT of the old holder");
            h.sigcont();
        }
        waitFor("the old holder to write again after SIGCONT", 20_000, () -> oldRejectedLate.get() + oldAcceptedLate.get() >= 3);
        check(oldAcceptedLate.get() == 0, "the paused old holder's writes were accepted after the new holder's (%s)", reg.log);
        waitFor("the old holder's fenced writes after SIGCONT", 20_000, () -> fencedRefusedLate.get() + fencedOkLate.get() >= 3);
        check(fencedOkLate.get() == 0, "the server took the paused old holder's fenced write after the new holder's: %s", lateOutcomes);
        String data = new String(ctx.admin.getData().forPath(resource), StandardCharsets.UTF_8);
        check(data.equals("new"), "the resource holds %s, not the new holder's write", data);
        h.expect("STATE LOST", 30_000); // its client learns that the session expired
        go.countDown();
        Ctx.join(a.f, 10_000, "contender release");
        ctx.note("old token %x, new token %x, %d stale writes rejected; server-fenced writes refused after the pause: %d %s",
                oldToken, a.token, oldRejectedLate.get(), fencedRefusedLate.get(),
                lateOutcomes.stream().distinct().collect(java.util.stream.Collectors.toList()));
    }

    // ---------------------------------------------------------------- latency

    static void lockLatency(Ctx ctx) throws Exception {
        String lock1 = ctx.path("one");
        CuratorFramework c = ctx.client();
        InterProcessMutex m = new InterProcessMutex(c, lock1);
        ctx.stage("1 client, 120 acquire+release");
        for (int i = 0; i < 120; i++) {
            long t0 = System.nanoTime();
            check(m.acquire(10, TimeUnit.SECONDS), "acquire of a free lock timed out");
            m.release();
            if (i >= 20) {
                stat("lock acquire+release, 1 client", msSince(t0));
            }
        }
        ctx.stage("16 clients x 10 acquire+release");
        String lock = ctx.path("sixteen");
        List<CuratorFramework> cs = clients(ctx, 16);
        Guard g = new Guard();
        CyclicBarrier start = new CyclicBarrier(16);
        List<Future<Void>> fs = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            InterProcessLock l = new InterProcessMutex(cs.get(i), lock);
            fs.add(ctx.run(() -> {
                start.await(30, TimeUnit.SECONDS);
                for (int k = 0; k < 10; k++) {
                    long t0 = System.nanoTime();
                    check(l.acquire(60, TimeUnit.SECONDS), "acquire timed out");
                    try {
                        g.critical(0);
                    } finally {
                        l.release();
                    }
                    stat("lock acquire+release, 16 clients contending", msSince(t0));
                }
                return null;
            }));
        }
        Ctx.joinAll(fs, 150_000, "16 lock clients");
        g.verify(160);
    }
}
