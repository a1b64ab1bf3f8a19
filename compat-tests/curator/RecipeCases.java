import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.atomic.AtomicValue;
import org.apache.curator.framework.recipes.atomic.DistributedAtomicLong;
import org.apache.curator.framework.recipes.barriers.DistributedBarrier;
import org.apache.curator.framework.recipes.barriers.DistributedDoubleBarrier;
import org.apache.curator.framework.recipes.cache.ChildData;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.cache.NodeCache;
import org.apache.curator.framework.recipes.locks.InterProcessSemaphoreV2;
import org.apache.curator.framework.recipes.locks.Lease;
import org.apache.curator.framework.recipes.nodes.GroupMember;
import org.apache.curator.framework.recipes.queue.DistributedIdQueue;
import org.apache.curator.framework.recipes.queue.DistributedPriorityQueue;
import org.apache.curator.framework.recipes.queue.DistributedQueue;
import org.apache.curator.framework.recipes.queue.QueueBuilder;
import org.apache.curator.framework.recipes.queue.QueueConsumer;
import org.apache.curator.framework.recipes.queue.QueueSerializer;
import org.apache.curator.framework.recipes.shared.SharedCount;
import org.apache.curator.framework.recipes.shared.SharedCountListener;
import org.apache.curator.framework.recipes.shared.SharedCountReader;
import org.apache.curator.framework.recipes.shared.VersionedValue;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.RetryNTimes;
import org.apache.curator.x.discovery.ServiceCache;
import org.apache.curator.x.discovery.ServiceDiscovery;
import org.apache.curator.x.discovery.ServiceDiscoveryBuilder;
import org.apache.curator.x.discovery.ServiceInstance;
import org.apache.curator.x.discovery.ServiceProvider;
import org.apache.curator.x.discovery.details.JsonInstanceSerializer;
import org.apache.curator.x.discovery.strategies.RoundRobinStrategy;

/** Semaphores, barriers, counters, queues, group membership, configuration, service discovery. */
final class RecipeCases extends CuratorCompat {

    static void register(List<Case> l) {
        l.add(new Case("semaphore.v2.leases", 120, RecipeCases::semaphoreV2));
        l.add(new Case("barrier.distributed", 60, RecipeCases::barrier));
        l.add(new Case("barrier.double", 60, RecipeCases::doubleBarrier));
        l.add(new Case("counter.distributed-atomic-long", 120, RecipeCases::atomicLong));
        l.add(new Case("counter.shared-count", 90, RecipeCases::sharedCount));
        l.add(new Case("queue.distributed", 90, RecipeCases::distributedQueue));
        l.add(new Case("queue.priority", 60, RecipeCases::priorityQueue));
        l.add(new Case("queue.id", 60, RecipeCases::idQueue));
        l.add(new Case("group.member", 90, RecipeCases::groupMember));
        l.add(new Case("config.curator-cache-and-node-cache", 120, RecipeCases::configCache));
        l.add(new Case("discovery.register-query-unregister", 60, RecipeCases::discovery));
        l.add(new Case("discovery.instance-vanishes-on-session-expiry", 90, RecipeCases::discoveryExpiry));
    }

    // ---------------------------------------------------------------- InterProcessSemaphoreV2

    static void semaphoreV2(Ctx ctx) throws Exception {
        final int N = 3;
        String path = ctx.path("sem");
        List<CuratorFramework> cs = LockCases.clients(ctx, 4);
        List<InterProcessSemaphoreV2> sems = new ArrayList<>();
        for (CuratorFramework c : cs) {
            sems.add(new InterProcessSemaphoreV2(c, path, N));
        }
        ctx.stage("3 leases held by 3 sessions, a 4th must wait");
        List<Lease> held = new ArrayList<>();
        for (int i = 0; i < N; i++) {
            Lease l = sems.get(i).acquire(10, TimeUnit.SECONDS);
            check(l != null, "lease %d of %d not granted", i + 1, N);
            held.add(l);
        }
        check(sems.get(3).acquire(700, TimeUnit.MILLISECONDS) == null, "a 4th lease was granted with maxLeases %d", N);
        check(sems.get(0).getParticipantNodes().size() == N, "lease nodes %s", sems.get(0).getParticipantNodes());
        sems.get(0).returnLease(held.remove(0));
        Lease l4 = sems.get(3).acquire(10, TimeUnit.SECONDS);
        check(l4 != null, "lease not granted after one was returned");
        held.add(l4);
        for (Lease l : held) {
            l.close();
        }
        Collection<Lease> two = sems.get(0).acquire(2, 10, TimeUnit.SECONDS);
        check(two != null && two.size() == 2, "acquire(2) returned %s", two);
        check(sems.get(1).acquire(2, 700, TimeUnit.MILLISECONDS) == null, "acquire(2) granted with one lease free");
        sems.get(0).returnAll(two);

        ctx.stage("8 sessions x 6 leases, never more than 3 held");
        List<CuratorFramework> more = LockCases.clients(ctx, 8);
        AtomicInteger holding = new AtomicInteger(), max = new AtomicInteger(), over = new AtomicInteger();
        CyclicBarrier start = new CyclicBarrier(8);
        List<Future<Void>> fs = new ArrayList<>();
        for (CuratorFramework c : more) {
            InterProcessSemaphoreV2 s = new InterProcessSemaphoreV2(c, path, N);
            fs.add(ctx.run(() -> {
                start.await(30, TimeUnit.SECONDS);
                for (int k = 0; k < 6; k++) {
                    Lease l = s.acquire(60, TimeUnit.SECONDS);
                    check(l != null, "lease acquire timed out");
                    try {
                        int n = holding.incrementAndGet();
                        max.accumulateAndGet(n, Math::max);
                        if (n > N) {
                            over.incrementAndGet();
                        }
                        Thread.sleep(15);
                        holding.decrementAndGet();
                    } finally {
                        s.returnLease(l);
                    }
                }
                return null;
            }));
        }
        Ctx.joinAll(fs, 100_000, "semaphore clients");
        check(over.get() == 0, "more than %d leases held at once (max %d, %d times)", N, max.get(), over.get());
        check(max.get() >= 2, "leases never overlapped (max %d): the semaphore serialised everyone", max.get());
        ctx.note("max leases held at once %d of %d", max.get(), N);
        waitFor("lease nodes removed", 10_000, () -> sems.get(0).getParticipantNodes().isEmpty());
    }

    // ---------------------------------------------------------------- barriers

    static void barrier(Ctx ctx) throws Exception {
        String path = ctx.path("barrier");
        CuratorFramework c0 = ctx.client();
        DistributedBarrier b0 = new DistributedBarrier(c0, path);
        b0.setBarrier();
        check(!new DistributedBarrier(ctx.client(), path).waitOnBarrier(300, TimeUnit.MILLISECONDS),
                "waitOnBarrier(300 ms) passed a set barrier");
        AtomicInteger passed = new AtomicInteger();
        List<Future<Boolean>> fs = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            DistributedBarrier b = new DistributedBarrier(ctx.client(), path);
            fs.add(ctx.async(() -> {
                boolean ok = b.waitOnBarrier(30, TimeUnit.SECONDS);
                passed.incrementAndGet();
                return ok;
            }));
        }
        Thread.sleep(700);
        check(passed.get() == 0, "%d waiters passed a barrier that is still set", passed.get());
        ctx.stage("removing the barrier");
        b0.removeBarrier();
        for (Future<Boolean> f : fs) {
            check(Ctx.join(f, 20_000, "waiters to pass the removed barrier"), "waitOnBarrier returned false after removal");
        }
        check(new DistributedBarrier(ctx.client(), path).waitOnBarrier(1, TimeUnit.SECONDS), "waitOnBarrier on a removed barrier did not pass");
    }

    static void doubleBarrier(Ctx ctx) throws Exception {
        final int N = 5;
        String path = ctx.path("dbarrier");
        List<DistributedDoubleBarrier> bs = new ArrayList<>();
        for (int i = 0; i < N; i++) {
            bs.add(new DistributedDoubleBarrier(ctx.client(), path, N));
        }
        AtomicInteger entered = new AtomicInteger(), left = new AtomicInteger();
        List<Future<Void>> fs = new ArrayList<>();
        CountDownLatch goLeave = new CountDownLatch(1);
        CountDownLatch lastMayLeave = new CountDownLatch(1);
        for (int i = 0; i < N; i++) {
            DistributedDoubleBarrier b = bs.get(i);
            final boolean last = i == N - 1;
            if (last) {
                Thread.sleep(700);
                check(entered.get() == 0, "%d members passed enter() before all %d arrived", entered.get(), N);
            }
            fs.add(ctx.run(() -> {
                check(b.enter(30, TimeUnit.SECONDS), "enter() timed out");
                entered.incrementAndGet();
                goLeave.await(30, TimeUnit.SECONDS);
                if (last) {
                    lastMayLeave.await(30, TimeUnit.SECONDS);
                }
                check(b.leave(30, TimeUnit.SECONDS), "leave() timed out");
                left.incrementAndGet();
                return null;
            }));
        }
        waitFor("all members to pass enter()", 20_000, () -> entered.get() == N);
        ctx.stage("4 of 5 leave");
        goLeave.countDown();
        Thread.sleep(700);
        check(left.get() == 0, "%d members passed leave() while one member is still inside", left.get());
        lastMayLeave.countDown();
        Ctx.joinAll(fs, 30_000, "members to leave");
        check(left.get() == N, "left %d of %d", left.get(), N);
    }

    // ---------------------------------------------------------------- counters

    static void atomicLong(Ctx ctx) throws Exception {
        final int C = 8, K = 25;
        String path = ctx.path("counter");
        List<CuratorFramework> cs = LockCases.clients(ctx, C);
        Set<Long> seen = ConcurrentHashMap.newKeySet();
        AtomicInteger dup = new AtomicInteger(), retries = new AtomicInteger(), tries = new AtomicInteger();
        CyclicBarrier start = new CyclicBarrier(C);
        List<Future<Void>> fs = new ArrayList<>();
        for (CuratorFramework c : cs) {
            DistributedAtomicLong al = new DistributedAtomicLong(c, path, new RetryNTimes(1000, 3));
            fs.add(ctx.run(() -> {
                start.await(30, TimeUnit.SECONDS);
                for (int k = 0; k < K; k++) {
                    AtomicValue<Long> v;
                    while (!(v = al.increment()).succeeded()) {
                        retries.incrementAndGet();
                    }
                    tries.addAndGet(v.getStats().getOptimisticTries());
                    check(v.postValue() == v.preValue() + 1, "increment %d -> %d", v.preValue(), v.postValue());
                    if (!seen.add(v.postValue())) {
                        dup.incrementAndGet();
                    }
                }
                return null;
            }));
        }
        Ctx.joinAll(fs, 110_000, "atomic increments");
        check(dup.get() == 0, "%d increments returned a value another increment also returned", dup.get());
        DistributedAtomicLong r = new DistributedAtomicLong(ctx.client(), path, new RetryNTimes(3, 10));
        AtomicValue<Long> v = r.get();
        check(v.succeeded() && v.postValue() == (long) C * K, "counter is %d after %d concurrent increments", v.postValue(), C * K);
        Set<Long> want = new TreeSet<>();
        for (long i = 1; i <= C * K; i++) {
            want.add(i);
        }
        check(new TreeSet<>(seen).equals(want), "increments did not return exactly 1..%d", C * K);
        check(r.compareAndSet((long) C * K, 1000L).succeeded(), "compareAndSet with the current value failed");
        check(!r.compareAndSet((long) C * K, 2000L).succeeded(), "compareAndSet with a stale value succeeded");
        check(r.get().postValue() == 1000L, "value after compareAndSet: %d", r.get().postValue());
        ctx.note("%d optimistic tries for %d increments (%d gave up and were redone)", tries.get(), C * K, retries.get());
    }

    static void sharedCount(Ctx ctx) throws Exception {
        final int C = 6, K = 10;
        String path = ctx.path("count");
        SharedCount observer = ctx.track(new SharedCount(ctx.client(), path, 0));
        List<Integer> observed = new CopyOnWriteArrayList<>();
        observer.addListener(new SharedCountListener() {
            @Override
            public void countHasChanged(SharedCountReader r, int newCount) {
                observed.add(newCount);
            }

            @Override
            public void stateChanged(CuratorFramework client, ConnectionState newState) {
            }
        });
        observer.start();
        List<SharedCount> counts = new ArrayList<>();
        for (int i = 0; i < C; i++) {
            SharedCount sc = ctx.track(new SharedCount(ctx.client(), path, 0));
            sc.start();
            counts.add(sc);
        }
        AtomicInteger conflicts = new AtomicInteger();
        CyclicBarrier start = new CyclicBarrier(C);
        List<Future<Void>> fs = new ArrayList<>();
        for (SharedCount sc : counts) {
            fs.add(ctx.run(() -> {
                start.await(30, TimeUnit.SECONDS);
                for (int k = 0; k < K; k++) {
                    while (true) {
                        VersionedValue<Integer> v = sc.getVersionedValue();
                        if (sc.trySetCount(v, v.getValue() + 1)) {
                            break;
                        }
                        conflicts.incrementAndGet();
                    }
                }
                return null;
            }));
        }
        Ctx.joinAll(fs, 80_000, "shared count increments");
        SharedCount fresh = ctx.track(new SharedCount(ctx.client(), path, 0));
        fresh.start();
        check(fresh.getCount() == C * K, "shared count is %d after %d versioned increments", fresh.getCount(), C * K);
        waitFor("the observer to see " + C * K, 10_000, () -> observer.getCount() == C * K);
        for (int i = 1; i < observed.size(); i++) {
            check(observed.get(i) > observed.get(i - 1), "observer saw the count go %d -> %d", observed.get(i - 1), observed.get(i));
        }
        counts.get(0).setCount(7);
        waitFor("the observer to see setCount(7)", 10_000, () -> observer.getCount() == 7);
        ctx.note("%d version conflicts, observer saw %d changes", conflicts.get(), observed.size());
    }

    // ---------------------------------------------------------------- queues

    static final QueueSerializer<String> STR = new QueueSerializer<>() {
        @Override
        public byte[] serialize(String item) {
            return b(item);
        }

        @Override
        public String deserialize(byte[] bytes) {
            return s(bytes);
        }
    };

    static final class Consumed implements QueueConsumer<String> {
        final Map<String, Integer> count = new ConcurrentHashMap<>();
        final List<String> order = new CopyOnWriteArrayList<>();
        final AtomicInteger total = new AtomicInteger();

        @Override
        public void consumeMessage(String message) {
            count.merge(message, 1, Integer::sum);
            order.add(message);
            total.incrementAndGet();
        }

        @Override
        public void stateChanged(CuratorFramework client, ConnectionState newState) {
        }

        void verifyExactlyOnce(Set<String> expected) {
            List<String> dups = new ArrayList<>();
            for (Map.Entry<String, Integer> e : count.entrySet()) {
                if (e.getValue() != 1) {
                    dups.add(e.getKey() + "x" + e.getValue());
                }
            }
            check(dups.isEmpty(), "items delivered more than once: %s", dups);
            Set<String> missing = new TreeSet<>(expected);
            missing.removeAll(count.keySet());
            check(missing.isEmpty(), "items never delivered: %s", missing);
            Set<String> extra = new TreeSet<>(count.keySet());
            extra.removeAll(expected);
            check(extra.isEmpty(), "unexpected items delivered: %s", extra);
        }
    }

    static void distributedQueue(Ctx ctx) throws Exception {
        final int P = 3, K = 30;
        String path = ctx.path("queue"), lock = ctx.path("queue-lock");
        Consumed got = new Consumed();
        for (int i = 0; i < 3; i++) {
            DistributedQueue<String> q = ctx.track(QueueBuilder.builder(ctx.client(), got, STR, path).lockPath(lock).buildQueue());
            q.start();
        }
        Set<String> expected = new HashSet<>();
        List<Future<Void>> fs = new ArrayList<>();
        for (int p = 0; p < P; p++) {
            final int pid = p;
            DistributedQueue<String> q = ctx.track(QueueBuilder.builder(ctx.client(), null, STR, path).putInBackground(false).buildQueue());
            q.start();
            for (int k = 0; k < K; k++) {
                expected.add("p" + p + "-" + k);
            }
            fs.add(ctx.run(() -> {
                for (int k = 0; k < K; k++) {
                    q.put("p" + pid + "-" + k);
                }
                return null;
            }));
        }
        Ctx.joinAll(fs, 60_000, "producers");
        waitFor("all " + P * K + " items consumed", 60_000, () -> got.total.get() >= P * K);
        Thread.sleep(500);
        got.verifyExactlyOnce(expected);
        waitFor("the queue to be empty", 10_000, () -> LockCases.children(ctx.admin, path).isEmpty());
    }

    static void priorityQueue(Ctx ctx) throws Exception {
        String path = ctx.path("pqueue");
        DistributedPriorityQueue<String> producer = ctx.track(
                QueueBuilder.builder(ctx.client(), null, STR, path).putInBackground(false).buildPriorityQueue(0));
        producer.start();
        List<Integer> prios = new ArrayList<>();
        for (int i = -10; i < 20; i++) {
            prios.add(i * 3);
        }
        Collections.shuffle(prios, new java.util.Random(42));
        Set<String> expected = new HashSet<>();
        for (int p : prios) {
            producer.put("prio" + p, p);
            expected.add("prio" + p);
        }
        Consumed got = new Consumed();
        DistributedPriorityQueue<String> consumer = ctx.track(QueueBuilder.builder(ctx.client(), got, STR, path).buildPriorityQueue(0));
        consumer.start();
        waitFor("all items consumed", 30_000, () -> got.total.get() >= prios.size());
        got.verifyExactlyOnce(expected);
        List<Integer> sorted = new ArrayList<>(prios);
        Collections.sort(sorted);
        List<String> want = new ArrayList<>();
        for (int p : sorted) {
            want.add("prio" + p);
        }
        check(got.order.equals(want), "pre-filled priority queue consumed in order %s, expected %s", got.order, want);
    }

    static void idQueue(Ctx ctx) throws Exception {
        String path = ctx.path("idqueue");
        DistributedIdQueue<String> producer = ctx.track(
                QueueBuilder.builder(ctx.client(), null, STR, path).putInBackground(false).buildIdQueue());
        producer.start();
        Set<String> expected = new HashSet<>();
        for (int i = 0; i < 30; i++) {
            producer.put("item" + i, "id" + i);
            expected.add("item" + i);
        }
        check(producer.remove("id3") == 1, "remove(id3) did not remove exactly one item");
        check(producer.remove("id17") == 1, "remove(id17) did not remove exactly one item");
        check(producer.remove("no-such-id") == 0, "remove of an unknown id removed something");
        expected.remove("item3");
        expected.remove("item17");
        Consumed got = new Consumed();
        for (int i = 0; i < 2; i++) {
            DistributedIdQueue<String> q = ctx.track(QueueBuilder.builder(ctx.client(), got, STR, path).buildIdQueue());
            q.start();
        }
        waitFor("28 items consumed", 30_000, () -> got.total.get() >= expected.size());
        Thread.sleep(500);
        got.verifyExactlyOnce(expected);
    }

    // ---------------------------------------------------------------- group membership

    static void groupMember(Ctx ctx) throws Exception {
        String path = ctx.path("group");
        TcpProxy px = ctx.proxy();
        GroupMember a = ctx.track(new GroupMember(ctx.client(), path, "a", b("pa")));
        GroupMember bm = ctx.track(new GroupMember(ctx.client(), path, "b", b("pb")));
        CuratorFramework cc = ctx.client(px.connectString(), ctx.shortSessionMs);
        StateLog cstates = new StateLog(cc);
        GroupMember c = ctx.track(new GroupMember(cc, path, "c", b("pc")));
        a.start();
        bm.start();
        c.start();
        for (GroupMember g : List.of(a, bm, c)) {
            waitFor("every member to see a, b, c", 20_000, () -> g.getCurrentMembers().keySet().equals(Set.of("a", "b", "c")));
        }
        check("pc".equals(s(bm.getCurrentMembers().get("c"))), "payload of c seen by b: %s", s(bm.getCurrentMembers().get("c")));
        ctx.stage("a leaves (close)");
        a.close();
        waitFor("b to see a leave", 10_000, () -> bm.getCurrentMembers().keySet().equals(Set.of("b", "c")));
        ctx.stage("c's connection cut until its session expires");
        long t0 = System.nanoTime();
        px.block();
        Thread.sleep(ctx.shortSessionMs / 3);
        check(bm.getCurrentMembers().containsKey("c"), "c vanished %.0f ms after its connection was cut (session timeout %d ms)",
                msSince(t0), ctx.shortSessionMs);
        waitFor("b to see c vanish after its session expired", 40_000, () -> bm.getCurrentMembers().keySet().equals(Set.of("b")));
        double gone = msSince(t0);
        check(gone >= ctx.shortSessionMs / 2.0, "c vanished %.0f ms after the cut, session timeout %d", gone, ctx.shortSessionMs);
        waitFor("c's client to report LOST", 20_000, () -> cstates.saw(ConnectionState.LOST));
        ctx.stage("c reconnects with a new session; its PersistentNode comes back");
        px.unblock();
        waitFor("b to see c again", 40_000, () -> bm.getCurrentMembers().keySet().equals(Set.of("b", "c")));
        c.setThisData(b("pc2"));
        waitFor("b to see c's new payload", 10_000, () -> "pc2".equals(s(bm.getCurrentMembers().get("c"))));
    }

    // ---------------------------------------------------------------- configuration

    static void configCache(Ctx ctx) throws Exception {
        String cfg = ctx.path("config");
        CuratorFramework w = ctx.client();
        w.create().forPath(cfg, b("v0"));
        List<String> cacheSeen = new CopyOnWriteArrayList<>();
        Map<String, Long> cacheAt = new ConcurrentHashMap<>();
        List<String> treeEvents = new CopyOnWriteArrayList<>();
        CuratorCache cache = ctx.track(CuratorCache.build(ctx.client(), cfg));
        CountDownLatch cacheInit = new CountDownLatch(1);
        cache.listenable().addListener(new CuratorCacheListener() {
            @Override
            public void event(Type type, ChildData oldData, ChildData data) {
                long now = System.nanoTime();
                if (data != null && data.getPath().equals(cfg) && type == Type.NODE_CHANGED) {
                    String v = s(data.getData());
                    cacheSeen.add(v);
                    cacheAt.putIfAbsent(v, now);
                } else {
                    ChildData d = data != null ? data : oldData;
                    treeEvents.add(type + " " + d.getPath().substring(cfg.length()));
                }
            }

            @Override
            public void initialized() {
                cacheInit.countDown();
            }
        });
        cache.start();
        check(cacheInit.await(20, TimeUnit.SECONDS), "CuratorCache not initialised within 20 s");
        NodeCache nc = ctx.track(new NodeCache(ctx.client(), cfg));
        List<String> ncSeen = new CopyOnWriteArrayList<>();
        Map<String, Long> ncAt = new ConcurrentHashMap<>();
        nc.getListenable().addListener(() -> {
            long now = System.nanoTime();
            ChildData d = nc.getCurrentData();
            if (d != null) {
                String v = s(d.getData());
                ncSeen.add(v);
                ncAt.putIfAbsent(v, now);
            }
        });
        nc.start(true);
        check("v0".equals(s(nc.getCurrentData().getData())), "NodeCache initial data %s", nc.getCurrentData());
        treeEvents.clear();
        ctx.stage("40 changes, each awaited");
        List<String> want = new ArrayList<>();
        for (int i = 1; i <= 40; i++) {
            String v = "v" + i;
            want.add(v);
            w.setData().forPath(cfg, b(v));
            long done = System.nanoTime();
            waitFor("CuratorCache to see " + v, 10_000, () -> cacheAt.containsKey(v));
            waitFor("NodeCache to see " + v, 10_000, () -> ncAt.containsKey(v));
            stat("config notification latency, CuratorCache (setData reply -> listener)", Math.max(0, (cacheAt.get(v) - done) / 1e6));
            stat("config notification latency, NodeCache (setData reply -> listener)", Math.max(0, (ncAt.get(v) - done) / 1e6));
        }
        check(withoutV0(cacheSeen).equals(want), "CuratorCache saw %s, expected every change in order %s", cacheSeen, want);
        check(withoutV0(ncSeen).equals(want), "NodeCache saw %s, expected every change in order %s", ncSeen, want);
        ctx.stage("burst of 30 unawaited changes");
        int c0 = cacheSeen.size(), n0 = ncSeen.size();
        for (int i = 41; i <= 70; i++) {
            w.setData().forPath(cfg, b("v" + i));
        }
        waitFor("both caches to see the last value v70", 15_000, () -> cacheAt.containsKey("v70") && ncAt.containsKey("v70"));
        checkIncreasing("CuratorCache", cacheSeen.subList(c0, cacheSeen.size()));
        checkIncreasing("NodeCache", ncSeen.subList(n0, ncSeen.size()));
        ctx.stage("child keys created and deleted");
        // each step awaited: CuratorCache re-reads a node on every event, so unawaited steps on one
        // node may fold into one event, and events of different nodes may be reordered
        w.create().forPath(cfg + "/k1", b("1"));
        check(becomes(10_000, () -> treeEvents.size() >= 1), "CuratorCache did not see k1 created: %s", treeEvents);
        w.create().forPath(cfg + "/k2", b("2"));
        check(becomes(10_000, () -> treeEvents.size() >= 2), "CuratorCache did not see k2 created: %s", treeEvents);
        w.setData().forPath(cfg + "/k1", b("11"));
        check(becomes(10_000, () -> treeEvents.size() >= 3), "CuratorCache did not see k1 changed: %s", treeEvents);
        w.delete().forPath(cfg + "/k2");
        check(becomes(10_000, () -> treeEvents.size() >= 4), "CuratorCache did not see k2 deleted: %s", treeEvents);
        List<String> wantTree = List.of("NODE_CREATED /k1", "NODE_CREATED /k2", "NODE_CHANGED /k1", "NODE_DELETED /k2");
        Thread.sleep(200);
        check(treeEvents.equals(wantTree), "CuratorCache tree events %s, expected %s", treeEvents, wantTree);
        check("11".equals(s(cache.get(cfg + "/k1").map(ChildData::getData).orElse(null))), "cache content of k1");
    }

    /** The values seen, consecutive repeats folded, the initial v0 left out. */
    static List<String> withoutV0(List<String> l) {
        List<String> out = new ArrayList<>();
        for (String x : l) {
            if (!x.equals("v0") && (out.isEmpty() || !out.get(out.size() - 1).equals(x))) {
                out.add(x);
            }
        }
        return out;
    }

    static void checkIncreasing(String who, List<String> seen) {
        int last = 40;
        for (String v : seen) {
            int n = Integer.parseInt(v.substring(1));
            check(n >= last, "%s saw the configuration go back from v%d to %s: %s", who, last, v, seen);
            last = n;
        }
    }

    // ---------------------------------------------------------------- service discovery

    static ServiceDiscovery<String> discoveryFor(Ctx ctx, CuratorFramework c, String base, ServiceInstance<String> me) throws Exception {
        ServiceDiscoveryBuilder<String> b = ServiceDiscoveryBuilder.builder(String.class).client(c).basePath(base)
                .serializer(new JsonInstanceSerializer<>(String.class));
        if (me != null) {
            b = b.thisInstance(me);
        }
        ServiceDiscovery<String> d = ctx.track(b.build());
        d.start();
        return d;
    }

    static ServiceInstance<String> inst(String id, int port, String payload) throws Exception {
        return ServiceInstance.<String>builder().name("svc").id(id).address("127.0.0.1").port(port).payload(payload).build();
    }

    static Set<String> ids(Collection<ServiceInstance<String>> l) {
        Set<String> s = new TreeSet<>();
        for (ServiceInstance<String> i : l) {
            s.add(i.getId());
        }
        return s;
    }

    static void discovery(Ctx ctx) throws Exception {
        String base = ctx.path("services");
        List<CuratorFramework> pcs = new ArrayList<>();
        List<ServiceDiscovery<String>> providers = new ArrayList<>();
        for (int i = 1; i <= 3; i++) {
            CuratorFramework c = ctx.client();
            pcs.add(c);
            providers.add(discoveryFor(ctx, c, base, inst("i" + i, 9000 + i, "payload" + i)));
        }
        ServiceDiscovery<String> q = discoveryFor(ctx, ctx.client(), base, null);
        ServiceCache<String> cache = ctx.track(q.serviceCacheBuilder().name("svc").build());
        cache.start();
        ServiceProvider<String> prov = ctx.track(q.serviceProviderBuilder().serviceName("svc").providerStrategy(new RoundRobinStrategy<>()).build());
        prov.start();
        check(q.queryForNames().contains("svc"), "queryForNames: %s", q.queryForNames());
        check(ids(q.queryForInstances("svc")).equals(Set.of("i1", "i2", "i3")), "instances %s", ids(q.queryForInstances("svc")));
        ServiceInstance<String> i2 = q.queryForInstance("svc", "i2");
        check(i2 != null && i2.getPort() == 9002 && "payload2".equals(i2.getPayload()), "queryForInstance(i2) = %s", i2);
        waitFor("the service cache to hold 3 instances", 10_000, () -> cache.getInstances().size() == 3);
        waitFor("the provider to see 3 instances", 10_000, () -> prov.getAllInstances().size() == 3);
        Set<String> rr = new HashSet<>();
        for (int k = 0; k < 3; k++) {
            rr.add(prov.getInstance().getId());
        }
        check(rr.size() == 3, "round-robin provider returned %s in 3 calls", rr);
        ctx.stage("unregister i1");
        providers.get(0).unregisterService(inst("i1", 9001, "payload1"));
        check(ids(q.queryForInstances("svc")).equals(Set.of("i2", "i3")), "after unregister: %s", ids(q.queryForInstances("svc")));
        waitFor("the cache to drop i1", 10_000, () -> ids(cache.getInstances()).equals(Set.of("i2", "i3")));
        ctx.stage("i2's session ends (client closed without unregistering)");
        pcs.get(1).close();
        waitFor("i2 to vanish when its session ended", 10_000, () -> ids(q.queryForInstances("svc")).equals(Set.of("i3")));
        waitFor("the cache to drop i2", 10_000, () -> ids(cache.getInstances()).equals(Set.of("i3")));
        ctx.stage("update i3");
        providers.get(2).updateService(inst("i3", 9003, "payload3b"));
        check("payload3b".equals(q.queryForInstance("svc", "i3").getPayload()), "updated payload not seen");
        waitFor("the cache to see i3's new payload", 10_000,
                () -> cache.getInstances().size() == 1 && "payload3b".equals(cache.getInstances().get(0).getPayload()));
    }

    static void discoveryExpiry(Ctx ctx) throws Exception {
        String base = ctx.path("services");
        TcpProxy px = ctx.proxy();
        CuratorFramework pc = ctx.client(px.connectString(), ctx.shortSessionMs);
        StateLog st = new StateLog(pc);
        discoveryFor(ctx, pc, base, inst("x1", 9101, "px"));
        discoveryFor(ctx, ctx.client(), base, inst("x2", 9102, "py"));
        ServiceDiscovery<String> q = discoveryFor(ctx, ctx.client(), base, null);
        ServiceCache<String> cache = ctx.track(q.serviceCacheBuilder().name("svc").build());
        cache.start();
        waitFor("both instances cached", 10_000, () -> ids(cache.getInstances()).equals(Set.of("x1", "x2")));
        ctx.stage("x1's connection cut until its session expires");
        long t0 = System.nanoTime();
        px.block();
        Thread.sleep(ctx.shortSessionMs / 3);
        check(ids(q.queryForInstances("svc")).contains("x1"), "x1 vanished %.0f ms after the cut (session timeout %d)", msSince(t0), ctx.shortSessionMs);
        waitFor("x1 to vanish after its session expired", 40_000, () -> ids(q.queryForInstances("svc")).equals(Set.of("x2")));
        check(msSince(t0) >= ctx.shortSessionMs / 2.0, "x1 vanished %.0f ms after the cut", msSince(t0));
        waitFor("the cache to drop x1", 10_000, () -> ids(cache.getInstances()).equals(Set.of("x2")));
        waitFor("x1's client to report LOST", 20_000, () -> st.saw(ConnectionState.LOST));
        ctx.stage("x1 reconnects; ServiceDiscovery re-registers it");
        px.unblock();
        waitFor("x1 to be re-registered", 40_000, () -> ids(q.queryForInstances("svc")).equals(Set.of("x1", "x2")));
        waitFor("the cache to see x1 again", 10_000, () -> ids(cache.getInstances()).equals(Set.of("x1", "x2")));
    }
}
