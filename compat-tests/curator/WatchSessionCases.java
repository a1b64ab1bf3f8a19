import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.curator.framework.api.transaction.CuratorTransactionResult;
import org.apache.curator.framework.api.transaction.OperationType;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.data.Stat;

/** Watches (one-time, persistent, across a reconnect), sessions, TTL nodes, containers, transactions. */
final class WatchSessionCases extends CuratorCompat {

    static void register(List<Case> l) {
        l.add(new Case("watch.one-time", 60, WatchSessionCases::oneTime));
        l.add(new Case("watch.persistent-and-recursive", 60, WatchSessionCases::persistent));
        l.add(new Case("watch.re-registered-after-reconnect", 90, WatchSessionCases::reconnect));
        l.add(new Case("session.resumed-while-stale-connection-open", 90, WatchSessionCases::staleConnection));
        l.add(new Case("session.ephemerals-on-close", 60, WatchSessionCases::ephemeralsOnClose));
        l.add(new Case("session.ephemerals-on-expiry", 90, WatchSessionCases::ephemeralsOnExpiry));
        l.add(new Case("session.ttl-nodes-reaped", 90, WatchSessionCases::ttl));
        l.add(new Case("session.containers-reaped", 90, WatchSessionCases::containers));
        l.add(new Case("transaction.all-or-nothing", 60, WatchSessionCases::transaction));
    }

    static void checkEvents(String who, Rec r, List<String> want) {
        check(r.snapshot().equals(want), "%s received %s, expected %s", who, r.snapshot(), want);
    }

    // ---------------------------------------------------------------- watches

    static void oneTime(Ctx ctx) throws Exception {
        CuratorFramework w = ctx.client(), m = ctx.client();
        String p = ctx.path("data"), q = ctx.path("missing"), r = ctx.path("parent"), drain = ctx.path("drain");
        m.create().forPath(p, b("0"));
        m.create().forPath(r);
        Rec d = new Rec(), e = new Rec(), c = new Rec();
        check("0".equals(s(w.getData().usingWatcher(d).forPath(p))), "getData with a watch returned the wrong data");
        check(w.checkExists().usingWatcher(e).forPath(q) == null, "exists on a missing node returned a Stat");
        check(w.getChildren().usingWatcher(c).forPath(r).isEmpty(), "getChildren of an empty node");
        m.setData().forPath(p, b("1"));
        m.setData().forPath(p, b("2"));
        m.create().forPath(q);
        m.delete().forPath(q);
        m.create().forPath(r + "/c1");
        m.create().forPath(r + "/c2");
        drain(w, drain);
        checkEvents("data watch", d, List.of("NodeDataChanged " + p));
        checkEvents("exists watch", e, List.of("NodeCreated " + q));
        checkEvents("child watch", c, List.of("NodeChildrenChanged " + r));

        ctx.stage("data watch and delete, child watch and delete of the parent");
        Rec d2 = new Rec(), c2 = new Rec();
        w.getData().usingWatcher(d2).forPath(p);
        w.getChildren().usingWatcher(c2).forPath(r);
        m.delete().forPath(p);
        m.delete().deletingChildrenIfNeeded().forPath(r);
        drain(w, drain);
        checkEvents("data watch on delete", d2, List.of("NodeDeleted " + p));
        checkEvents("child watch on parent delete", c2, List.of("NodeChildrenChanged " + r));

        ctx.stage("removeWatches");
        String p2 = ctx.path("data2");
        m.create().forPath(p2, b("x"));
        Rec d3 = new Rec();
        w.getData().usingWatcher(d3).forPath(p2);
        w.watchers().remove(d3).forPath(p2);
        m.setData().forPath(p2, b("y"));
        drain(w, drain);
        check(!d3.snapshot().contains("NodeDataChanged " + p2), "a removed watch fired: %s", d3.snapshot());
        try {
            w.watchers().remove(d3).forPath(p2);
            throw fail("removing a watch that is not set did not fail");
        } catch (KeeperException.NoWatcherException expected) {
            // ZooKeeper answers NoWatcher
        }
    }

    static void persistent(Ctx ctx) throws Exception {
        // one client per mode: ZooKeeper keeps one watch mode per (path, connection), so a second
        // addWatch on the same path from the same client replaces the first one's mode
        CuratorFramework w = ctx.client(), w2 = ctx.client(), m = ctx.client();
        String p = ctx.path("p"), drain = ctx.path("drain");
        m.create().forPath(p, b("0"));
        Rec pw = new Rec(), rw = new Rec();
        w.watchers().add().withMode(AddWatchMode.PERSISTENT).usingWatcher(pw).forPath(p);
        w2.watchers().add().withMode(AddWatchMode.PERSISTENT_RECURSIVE).usingWatcher(rw).forPath(p);
        for (int i = 1; i <= 3; i++) {
            m.setData().forPath(p, b("" + i));
        }
        m.create().forPath(p + "/a");
        m.create().forPath(p + "/a/b");
        m.setData().forPath(p + "/a/b", b("x"));
        m.delete().forPath(p + "/a/b");
        m.delete().forPath(p + "/a");
        drain(w, drain);
        drain(w2, drain);
        String dc = "NodeDataChanged " + p;
        checkEvents("persistent watch", pw, List.of(dc, dc, dc, "NodeChildrenChanged " + p, "NodeChildrenChanged " + p));
        checkEvents("persistent recursive watch", rw, List.of(dc, dc, dc, "NodeCreated " + p + "/a", "NodeCreated " + p + "/a/b",
                "NodeDataChanged " + p + "/a/b", "NodeDeleted " + p + "/a/b", "NodeDeleted " + p + "/a"));
        ctx.stage("removing the persistent watch");
        w.watchers().remove(pw).ofType(Watcher.WatcherType.Any).forPath(p);
        int pwBefore = pw.snapshot().size(), rwBefore = rw.snapshot().size();
        m.setData().forPath(p, b("9"));
        drain(w, drain);
        drain(w2, drain);
        List<String> pwAfter = pw.snapshot().subList(pwBefore, pw.snapshot().size());
        check(!pwAfter.contains(dc), "removed persistent watch still fired: %s", pwAfter);
        check(rw.snapshot().subList(rwBefore, rw.snapshot().size()).equals(List.of(dc)), "recursive watch after removal of the other: %s",
                rw.snapshot());
    }

    /**
     * Two clients behind one proxy (w1 has only one-time watches, so its ZooKeeper client resends
     * them with SetWatches; w2 also has a persistent recursive watch, so SetWatches2). Their
     * connections are cut, changes are made, they reconnect with the same sessions, and every
     * watch must fire exactly as ZooKeeper decides from the client's last zxid: data watches by
     * mzxid, child watches by pzxid, exists watches by existence; unchanged ones stay armed.
     */
    static void reconnect(Ctx ctx) throws Exception {
        TcpProxy px = ctx.proxy();
        CuratorFramework w1 = ctx.client(px.connectString(), 15_000), w2 = ctx.client(px.connectString(), 15_000);
        StateLog st1 = new StateLog(w1), st2 = new StateLog(w2);
        CuratorFramework m = ctx.client();
        String p = ctx.path("p"), p2 = ctx.path("p2"), p3 = ctx.path("p3"), u = ctx.path("u");
        String q = ctx.path("q"), q2 = ctx.path("q2"), r = ctx.path("r"), r2 = ctx.path("r2"), y = ctx.path("y");
        String t = ctx.path("tree"), drain = ctx.path("drain");
        for (String n : List.of(p, p2, p3, u, r, r2, y, t)) {
            m.create().forPath(n, b("0"));
        }
        m.create().forPath(y + "/c", b("0"));
        for (int i = 1; i <= 3; i++) {
            m.setData().forPath(u, b("" + i)); // changed by another session before the watch is set
        }
        long s1 = sessionId(w1), s2 = sessionId(w2);
        Rec dp = new Rec(), dp2 = new Rec(), eq = new Rec(), cr = new Rec();
        w1.getData().usingWatcher(dp).forPath(p);
        w1.getData().usingWatcher(dp2).forPath(p2);
        w1.checkExists().usingWatcher(eq).forPath(q);
        w1.getChildren().usingWatcher(cr).forPath(r);
        Rec dp3 = new Rec(), du = new Rec(), eq2 = new Rec(), cr2 = new Rec(), cy = new Rec(), rw = new Rec();
        w2.getData().usingWatcher(dp3).forPath(p3);
        check("3".equals(s(w2.getData().usingWatcher(du).forPath(u))), "u's data");
        w2.checkExists().usingWatcher(eq2).forPath(q2);
        w2.getChildren().usingWatcher(cr2).forPath(r2);
        w2.getChildren().usingWatcher(cy).forPath(y);
        w2.watchers().add().withMode(AddWatchMode.PERSISTENT_RECURSIVE).usingWatcher(rw).forPath(t);
        ctx.stage("cutting both watchers' connections");
        px.block();
        waitFor("both watching clients to notice the disconnect", 20_000,
                () -> st1.saw(ConnectionState.SUSPENDED) && st2.saw(ConnectionState.SUSPENDED));
        m.setData().forPath(p, b("1"));              // data watch: NodeDataChanged
        m.delete().forPath(p2);                      // data watch: NodeDeleted
        m.create().forPath(p3 + "/child");           // data watch, only pzxid moved: nothing
        m.create().forPath(q);                       // exists watch: NodeCreated
        m.create().forPath(q2);                      // exists watch, created and deleted: nothing
        m.delete().forPath(q2);
        m.create().forPath(r + "/c");                // child watch: NodeChildrenChanged
        m.delete().forPath(r2);                      // child watch: NodeDeleted
        m.setData().forPath(y, b("1"));              // child watch, only mzxid moved: nothing
        m.setData().forPath(y + "/c", b("1"));
        m.setData().forPath(t, b("during"));         // persistent watch: not replayed
        m.create().forPath(t + "/during");
        List<Rec> all = List.of(dp, dp2, eq, cr, dp3, du, eq2, cr2, cy, rw);
        for (Rec x : all) {
            check(x.snapshot().isEmpty(), "an event was delivered while disconnected: %s", x.snapshot());
        }
        ctx.stage("reconnecting with the same sessions");
        px.unblock();
        waitFor("RECONNECTED", 30_000, () -> st1.saw(ConnectionState.RECONNECTED) && st2.saw(ConnectionState.RECONNECTED));
        check(sessionId(w1) == s1 && sessionId(w2) == s2, "a client got a new session instead of resuming its own");
        check(!st1.saw(ConnectionState.LOST) && !st2.saw(ConnectionState.LOST), "session lost across a short disconnect: %s %s", st1, st2);
        drain(w1, drain);
        drain(w2, drain);
        checkEvents("data watch on a node changed while disconnected", dp, List.of("NodeDataChanged " + p));
        checkEvents("data watch on a node deleted while disconnected", dp2, List.of("NodeDeleted " + p2));
        checkEvents("exists watch on a node created while disconnected", eq, List.of("NodeCreated " + q));
        checkEvents("child watch on a node that got a child while disconnected", cr, List.of("NodeChildrenChanged " + r));
        checkEvents("child watch on a node deleted while disconnected", cr2, List.of("NodeDeleted " + r2));
        checkEvents("data watch on a node whose children (only) changed while disconnected", dp3, List.of());
        checkEvents("data watch on a node changed before the watch was set", du, List.of());
        checkEvents("exists watch on a node created and deleted while disconnected", eq2, List.of());
        checkEvents("child watch on a node whose data (only) changed while disconnected", cy, List.of());
        // ZooKeeper re-registers persistent watches on reconnect but does not replay what they missed
        checkEvents("persistent recursive watch, for changes made while disconnected", rw, List.of());
        ctx.stage("the watches that did not fire are armed again");
        m.setData().forPath(p3, b("x"));
        m.setData().forPath(u, b("x"));
        m.create().forPath(q2);
        m.create().forPath(y + "/d");
        m.setData().forPath(t, b("after"));
        m.create().forPath(t + "/after");
        drain(w2, drain);
        checkEvents("re-armed data watch", dp3, List.of("NodeDataChanged " + p3));
        checkEvents("re-armed data watch on u", du, List.of("NodeDataChanged " + u));
        checkEvents("re-armed exists watch", eq2, List.of("NodeCreated " + q2));
        checkEvents("re-armed child watch", cy, List.of("NodeChildrenChanged " + y));
        checkEvents("persistent recursive watch after the reconnect", rw, List.of("NodeDataChanged " + t, "NodeCreated " + t + "/after"));
        ctx.note("proxy connections accepted %d, refused while blocked %d", px.accepted.get(), px.refused.get());
    }

    // ---------------------------------------------------------------- sessions

    /**
     * The client's side of its connection is cut while the server's side stays open and silent
     * (a NAT or firewall drop): the client resumes its session on a new connection while the
     * server still holds the old one. Watches must fire on the new connection, the session and
     * its ephemerals must live on past the session timeout.
     */
    static void staleConnection(Ctx ctx) throws Exception {
        TcpProxy px = ctx.proxy();
        final int session = 6000;
        CuratorFramework w = ctx.client(px.connectString(), session);
        long negotiated = w.getZookeeperClient().getZooKeeper().getSessionTimeout();
        StateLog st = new StateLog(w);
        CuratorFramework m = ctx.client();
        String p = ctx.path("p"), e = ctx.path("e"), drain = ctx.path("drain");
        m.create().forPath(p, b("0"));
        w.create().withMode(CreateMode.EPHEMERAL).forPath(e);
        long sid = sessionId(w);
        Rec d = new Rec();
        w.getData().usingWatcher(d).forPath(p);
        ctx.stage("cutting only the client's side of the connection");
        px.cutClientSideOnly();
        waitFor("the client to reconnect", 30_000, () -> st.saw(ConnectionState.RECONNECTED));
        check(sessionId(w) == sid, "the client got a new session %x instead of resuming %x", sessionId(w), sid);
        Thread.sleep(500);
        m.setData().forPath(p, b("1"));
        check(becomes(10_000, () -> !d.snapshot().isEmpty()),
                "the data watch did not fire on the resumed connection (the server still holds the stale one; stale closed by server: %d)",
                px.staleClosedByServer.get());
        checkEvents("data watch", d, List.of("NodeDataChanged " + p));
        ctx.stage("idle past the session timeout on the new connection");
        Rec d2 = new Rec();
        w.getData().usingWatcher(d2).forPath(p);
        Thread.sleep(negotiated + 2000);
        check(!st.saw(ConnectionState.LOST), "session lost while its client was connected: %s", st);
        Stat es = m.checkExists().forPath(e);
        check(es != null && es.getEphemeralOwner() == sid, "ephemeral of the resumed session: %s", es);
        m.setData().forPath(p, b("2"));
        drain(w, drain);
        checkEvents("data watch set after the resume", d2, List.of("NodeDataChanged " + p));
        // ZooKeeper closes a session's old connection when the session re-attaches elsewhere
        check(px.staleClosedByServer.get() == px.staleOpened.get(), "the server kept %d of %d stale connections of a resumed session open",
                px.staleOpened.get() - px.staleClosedByServer.get(), px.staleOpened.get());
    }

    static void ephemeralsOnClose(Ctx ctx) throws Exception {
        CuratorFramework c = ctx.client(), o = ctx.client();
        String e1 = ctx.path("e1");
        c.create().withMode(CreateMode.EPHEMERAL).forPath(e1, b("x"));
        String e2 = c.create().withMode(CreateMode.EPHEMERAL_SEQUENTIAL).forPath(ctx.path("es-"));
        Stat st = o.checkExists().forPath(e1);
        check(st != null && st.getEphemeralOwner() == sessionId(c), "ephemeral owner %s, session %x", st, sessionId(c));
        List<String> mine = c.getZookeeperClient().getZooKeeper().getEphemerals(ctx.base);
        check(new TreeSet<>(mine).equals(new TreeSet<>(List.of(e1, e2))), "getEphemerals(%s) = %s", ctx.base, mine);
        Rec r1 = new Rec(), r2 = new Rec();
        o.checkExists().usingWatcher(r1).forPath(e1);
        o.checkExists().usingWatcher(r2).forPath(e2);
        try {
            c.create().forPath(e1 + "/child");
            throw fail("created a child of an ephemeral node");
        } catch (KeeperException.NoChildrenForEphemeralsException expected) {
            // ok
        }
        ctx.stage("closing the owner");
        c.close();
        waitFor("NodeDeleted for both ephemerals", 10_000, () -> r1.snapshot().size() == 1 && r2.snapshot().size() == 1);
        check(o.checkExists().forPath(e1) == null && o.checkExists().forPath(e2) == null, "ephemerals survived their session's close");
    }

    static void ephemeralsOnExpiry(Ctx ctx) throws Exception {
        TcpProxy px = ctx.proxy();
        CuratorFramework c = ctx.client(px.connectString(), ctx.shortSessionMs);
        StateLog st = new StateLog(c);
        long negotiated = c.getZookeeperClient().getZooKeeper().getSessionTimeout();
        CuratorFramework o = ctx.client();
        String e1 = ctx.path("e1");
        long session = sessionId(c);
        c.create().withMode(CreateMode.EPHEMERAL).forPath(e1);
        java.util.concurrent.atomic.AtomicLong deletedAt = new java.util.concurrent.atomic.AtomicLong();
        o.checkExists().usingWatcher((Watcher) ev -> {
            if (ev.getType() == Watcher.Event.EventType.NodeDeleted) {
                deletedAt.set(System.nanoTime());
            }
        }).forPath(e1);
        ctx.stage("cutting the owner's connection until its session expires");
        long t0 = System.nanoTime();
        px.block();
        Thread.sleep(negotiated / 3);
        check(o.checkExists().forPath(e1) != null, "ephemeral vanished %.0f ms after its owner's connection was cut (session timeout %d ms)",
                msSince(t0), negotiated);
        waitFor("the ephemeral to vanish after the session expired", 40_000, () -> deletedAt.get() != 0);
        double after = (deletedAt.get() - t0) / 1e6;
        check(after >= negotiated / 2.0, "ephemeral deleted %.0f ms after the cut, session timeout %d ms", after, negotiated);
        stat("ephemeral deleted after owner's connection cut (session expiry)", after);
        waitFor("the owner's client to report LOST", 20_000, () -> st.saw(ConnectionState.LOST));
        ctx.stage("the owner reconnects with a new session");
        px.unblock();
        waitFor("the owner's client to reconnect", 30_000, () -> st.last() == ConnectionState.RECONNECTED);
        check(sessionId(c) != session, "client resumed an expired session %x", session);
        c.create().withMode(CreateMode.EPHEMERAL).forPath(e1);
        check(o.checkExists().forPath(e1).getEphemeralOwner() == sessionId(c), "new ephemeral not owned by the new session");
        ctx.note("ephemeral deleted %.0f ms after the cut (negotiated timeout %d ms)", after, negotiated);
    }

    static void ttl(Ctx ctx) throws Exception {
        CuratorFramework c = ctx.client();
        String t1 = ctx.path("t1"), t3 = ctx.path("t3");
        c.create().withTtl(500).withMode(CreateMode.PERSISTENT_WITH_TTL).forPath(t1, b("x"));
        String t2 = c.create().withTtl(500).withMode(CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL).forPath(ctx.path("t2-"));
        check(t2.matches(".*/t2-\\d{10}$"), "sequential TTL node name %s", t2);
        c.create().withTtl(500).withMode(CreateMode.PERSISTENT_WITH_TTL).forPath(t3);
        c.create().forPath(t3 + "/child");
        Stat st = c.checkExists().forPath(t1);
        // ZooKeeper keeps the TTL in the node's ephemeralOwner but reports 0 to clients
        check(st != null && st.getEphemeralOwner() == 0, "TTL node ephemeralOwner %x, expected 0 as ZooKeeper reports it",
                st == null ? 0 : st.getEphemeralOwner());
        ctx.stage("waiting for the TTL nodes to be reaped");
        waitFor("TTL nodes without children to be reaped", 30_000,
                () -> c.checkExists().forPath(t1) == null && c.checkExists().forPath(t2) == null);
        Thread.sleep(2500);
        check(c.checkExists().forPath(t3) != null, "a TTL node with a child was reaped");
        c.delete().forPath(t3 + "/child");
        waitFor("the TTL node to be reaped once its child is gone", 30_000, () -> c.checkExists().forPath(t3) == null);
    }

    static void containers(Ctx ctx) throws Exception {
        CuratorFramework c = ctx.client();
        String cont = ctx.path("cont"), a = cont + "/a", leaf = a + "/leaf", empty = ctx.path("empty");
        c.create().creatingParentContainersIfNeeded().forPath(leaf, b("x"));
        // ZooKeeper marks containers in ephemeralOwner internally but reports 0 to clients
        for (String x : List.of(cont, a, leaf)) {
            Stat st = c.checkExists().forPath(x);
            check(st != null && st.getEphemeralOwner() == 0, "%s: ephemeralOwner %s, expected 0 as ZooKeeper reports it", x, st);
        }
        c.createContainers(empty);
        check(c.checkExists().forPath(empty) != null, "createContainers made nothing");
        Thread.sleep(2500);
        check(c.checkExists().forPath(cont) != null && c.checkExists().forPath(a) != null, "a container with children was reaped");
        ctx.stage("deleting the only leaf");
        c.delete().forPath(leaf);
        waitFor("the emptied containers to be reaped", 30_000, () -> c.checkExists().forPath(a) == null && c.checkExists().forPath(cont) == null);
        check(c.checkExists().forPath(empty) != null, "a container that never had a child was reaped");
    }

    // ---------------------------------------------------------------- transactions

    static void transaction(Ctx ctx) throws Exception {
        CuratorFramework c = ctx.client();
        String a = ctx.path("a"), bb = ctx.path("b"), d = ctx.path("d"), x = ctx.path("x");
        c.create().forPath(a, b("a0"));
        c.create().forPath(bb, b("b0"));
        c.create().forPath(d);
        ctx.stage("a transaction whose last op (check) fails");
        try {
            c.transaction().forOperations(
                    c.transactionOp().create().forPath(x, b("x")),
                    c.transactionOp().setData().forPath(a, b("a1")),
                    c.transactionOp().check().withVersion(5).forPath(bb));
            throw fail("a transaction with a failing version check succeeded");
        } catch (KeeperException.BadVersionException e) {
            List<OpResult> rs = e.getResults();
            check(rs != null && rs.size() == 3, "failed multi results: %s", rs);
            int[] codes = new int[3];
            for (int i = 0; i < 3; i++) {
                check(rs.get(i) instanceof OpResult.ErrorResult, "result %d of a failed multi is %s", i, rs.get(i));
                codes[i] = ((OpResult.ErrorResult) rs.get(i)).getErr();
            }
            check(codes[0] == 0 && codes[1] == 0 && codes[2] == KeeperException.Code.BADVERSION.intValue(),
                    "per-op errors of the failed multi: %s", java.util.Arrays.toString(codes));
        }
        check(c.checkExists().forPath(x) == null, "create of a failed transaction was applied");
        Stat sa = new Stat();
        check("a0".equals(s(c.getData().storingStatIn(sa).forPath(a))) && sa.getVersion() == 0, "setData of a failed transaction was applied");
        ctx.stage("a transaction whose first op fails");
        try {
            c.transaction().forOperations(
                    c.transactionOp().create().forPath(a, b("dup")),
                    c.transactionOp().delete().forPath(d));
            throw fail("a transaction creating an existing node succeeded");
        } catch (KeeperException.NodeExistsException e) {
            // ok
        }
        check(c.checkExists().forPath(d) != null, "delete of a failed transaction was applied");
        ctx.stage("a successful transaction");
        List<CuratorOp> ops = new ArrayList<>();
        ops.add(c.transactionOp().create().forPath(x, b("x")));
        ops.add(c.transactionOp().create().withMode(CreateMode.PERSISTENT_SEQUENTIAL).forPath(ctx.path("s-"), b("s")));
        ops.add(c.transactionOp().setData().withVersion(0).forPath(a, b("a1")));
        ops.add(c.transactionOp().delete().forPath(d));
        ops.add(c.transactionOp().check().withVersion(0).forPath(bb));
        List<CuratorTransactionResult> res = c.transaction().forOperations(ops);
        check(res.size() == 5, "results %s", res);
        List<OperationType> types = new ArrayList<>();
        for (CuratorTransactionResult r : res) {
            types.add(r.getType());
        }
        check(types.equals(List.of(OperationType.CREATE, OperationType.CREATE, OperationType.SET_DATA, OperationType.DELETE, OperationType.CHECK)),
                "result types %s", types);
        check(x.equals(res.get(0).getResultPath()), "create result path %s", res.get(0).getResultPath());
        check(res.get(1).getResultPath() != null && res.get(1).getResultPath().matches(".*/s-\\d{10}$"), "sequential create result path %s",
                res.get(1).getResultPath());
        check(res.get(2).getResultStat() != null && res.get(2).getResultStat().getVersion() == 1, "setData result stat %s", res.get(2).getResultStat());
        check("x".equals(s(c.getData().forPath(x))) && "a1".equals(s(c.getData().forPath(a))) && c.checkExists().forPath(d) == null,
                "transaction effects not all visible");
        Set<String> kids = new TreeSet<>(c.getChildren().forPath(ctx.base));
        check(kids.size() == 4 && kids.containsAll(Set.of("a", "b", "x")), "children after the transactions: %s", kids);
    }
}
