import java.io.BufferedReader;
import java.io.Closeable;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Pattern;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.data.Stat;

/**
 * Apache Curator 5.4 recipes against a ZooKeeper-protocol server.
 *
 * <pre>
 * java -Dzookeeper.sasl.client=false -cp build:JARS CuratorCompat --connect HOST:PORT [options]
 *   --server NAME            label used in messages (zk, raftzk)
 *   --cases REGEX            run only the cases whose name matches (find())
 *   --short-session-ms N     session timeout of the session-expiry cases (default 4000,
 *                            the servers' minimum with tickTime 2000)
 *   --case-timeout-s N       default per-case timeout (cases may set their own)
 *   --cluster                run the cluster cases against the ensemble in --connect; members are
 *                            killed/restarted through "CTRL ..." lines on stdout answered on stdin
 *   --cluster-pending REASON report every cluster case as PENDING with REASON
 *   --list                   print the case names and exit
 * </pre>
 *
 * Output: one "PASS name", "FAIL name: reason" or "PENDING name: reason" line per case, a latency
 * report, then "N passed, N failed, N pending". Exit status 1 if any case failed.
 */
public class CuratorCompat {

    // ------------------------------------------------------------------ configuration

    static final class Config {
        String connect;
        String server = "server";
        Pattern cases;
        int shortSessionMs = 4000;
        int caseTimeoutS = 90;
        boolean cluster;
        String clusterPending;
        boolean list;
    }

    static Config CFG;
    static final PrintStream OUT = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true,
            StandardCharsets.UTF_8);
    static final BufferedReader IN = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    /** unique root of this run: every case works under ROOT/<case name> */
    static final String ROOT = "/curator-compat-" + UUID.randomUUID().toString().substring(0, 8);

    // ------------------------------------------------------------------ cases

    interface Body {
        void run(Ctx ctx) throws Exception;
    }

    record Case(String name, int timeoutS, Body body) {
    }

    static final class CaseFailure extends RuntimeException {
        CaseFailure(String msg) {
            super(msg);
        }
    }

    static final class CasePending extends RuntimeException {
        CasePending(String msg) {
            super(msg);
        }
    }

    static List<Case> standaloneCases() {
        List<Case> l = new ArrayList<>();
        LockCases.register(l);
        ElectionCases.register(l);
        RecipeCases.register(l);
        WatchSessionCases.register(l);
        return l;
    }

    static List<Case> clusterCases() {
        List<Case> l = new ArrayList<>();
        ClusterCases.register(l);
        return l;
    }

    // ------------------------------------------------------------------ assertions and waiting

    static void check(boolean cond, String fmt, Object... args) {
        if (!cond) {
            throw new CaseFailure(args.length == 0 ? fmt : String.format(Locale.ROOT, fmt, args));
        }
    }

    static CaseFailure fail(String fmt, Object... args) {
        return new CaseFailure(args.length == 0 ? fmt : String.format(Locale.ROOT, fmt, args));
    }

    interface Cond {
        boolean get() throws Exception;
    }

    /** Polls cond every 10 ms until true; throws a CaseFailure naming `what` after timeoutMs. */
    static void waitFor(String what, long timeoutMs, Cond cond) throws Exception {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
        while (true) {
            if (cond.get()) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw fail("timed out after %d ms waiting for %s", timeoutMs, what);
            }
            Thread.sleep(10);
        }
    }

    /** true if cond became true within timeoutMs (no failure). */
    static boolean becomes(long timeoutMs, Cond cond) throws Exception {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
        while (System.nanoTime() < deadline) {
            if (cond.get()) {
                return true;
            }
            Thread.sleep(10);
        }
        return cond.get();
    }

    static long nowMs() {
        return System.nanoTime() / 1_000_000L;
    }

    static double msSince(long startNanos) {
        return (System.nanoTime() - startNanos) / 1e6;
    }

    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static String s(byte[] d) {
        return d == null ? null : new String(d, StandardCharsets.UTF_8);
    }

    static String seqSuffix(String node) {
        return node.substring(node.length() - 10);
    }

    // ------------------------------------------------------------------ clients

    static CuratorFramework newClient(String connect, int sessionMs) throws Exception {
        CuratorFramework c = CuratorFrameworkFactory.builder()
                .connectString(connect)
                .sessionTimeoutMs(sessionMs)
                .connectionTimeoutMs(Math.min(sessionMs, 10_000))
                .retryPolicy(new ExponentialBackoffRetry(50, 10, 1000))
                .build();
        c.start();
        if (!c.blockUntilConnected(20, TimeUnit.SECONDS)) {
            c.close();
            throw fail("client could not connect to %s within 20 s", connect);
        }
        return c;
    }

    static long sessionId(CuratorFramework c) throws Exception {
        return c.getZookeeperClient().getZooKeeper().getSessionId();
    }

    /** Records connection states of a client, in order. */
    static final class StateLog {
        final List<ConnectionState> states = new CopyOnWriteArrayList<>();

        StateLog(CuratorFramework c) {
            c.getConnectionStateListenable().addListener((cl, st) -> states.add(st));
        }

        boolean saw(ConnectionState s) {
            return states.contains(s);
        }

        int count(ConnectionState s) {
            int n = 0;
            for (ConnectionState x : states) {
                if (x == s) {
                    n++;
                }
            }
            return n;
        }

        ConnectionState last() {
            return states.isEmpty() ? null : states.get(states.size() - 1);
        }

        @Override
        public String toString() {
            return states.toString();
        }
    }

    /** A watcher that records every non-connection event as "Type path". */
    static final class Rec implements Watcher {
        final List<String> events = new CopyOnWriteArrayList<>();
        final List<WatchedEvent> raw = new CopyOnWriteArrayList<>();

        @Override
        public void process(WatchedEvent e) {
            raw.add(e);
            if (e.getType() != Event.EventType.None) {
                events.add(e.getType() + " " + e.getPath());
            }
        }

        List<String> snapshot() {
            return new ArrayList<>(events);
        }
    }

    /**
     * Returns once every watch event the server sent to this client before now has been delivered:
     * sets a one-time watch on a marker node, changes it through the same client and waits for
     * the marker's event (events are delivered in order on one connection and one event thread).
     */
    static void drain(CuratorFramework c, String markerParent) throws Exception {
        String marker = markerParent + "/drain-" + UUID.randomUUID().toString().substring(0, 8);
        c.create().creatingParentsIfNeeded().forPath(marker, b("0"));
        java.util.concurrent.CountDownLatch got = new java.util.concurrent.CountDownLatch(1);
        c.getData().usingWatcher((Watcher) e -> {
            if (e.getType() != Watcher.Event.EventType.None) {
                got.countDown();
            }
        }).forPath(marker);
        c.delete().forPath(marker);
        check(got.await(10, TimeUnit.SECONDS), "drain: marker event for %s not delivered within 10 s", marker);
    }

    // ------------------------------------------------------------------ the per-case context

    static final class Ctx {
        final String name;
        final String base;
        final CuratorFramework admin;
        final String connect;
        final int shortSessionMs;
        final List<AutoCloseable> closeables = Collections.synchronizedList(new ArrayList<>());
        final ExecutorService pool = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r);
            t.setDaemon(true);
            return t;
        });
        volatile String stage = "start";
        final List<String> notes = new CopyOnWriteArrayList<>();

        Ctx(String name, String base, CuratorFramework admin) {
            this.name = name;
            this.base = base;
            this.admin = admin;
            this.connect = CFG.connect;
            this.shortSessionMs = CFG.shortSessionMs;
        }

        String path(String rel) {
            return base + "/" + rel;
        }

        void stage(String s) {
            stage = s;
        }

        void note(String fmt, Object... args) {
            notes.add(String.format(Locale.ROOT, fmt, args));
        }

        <T extends AutoCloseable> T track(T c) {
            closeables.add(c);
            return c;
        }

        CuratorFramework client() throws Exception {
            return client(connect, 15_000);
        }

        CuratorFramework client(int sessionMs) throws Exception {
            return client(connect, sessionMs);
        }

        CuratorFramework client(String connectString, int sessionMs) throws Exception {
            return track(newClient(connectString, sessionMs));
        }

        TcpProxy proxy() throws Exception {
            String[] hp = connect.split(",")[0].split(":");
            return track(new TcpProxy(hp[0], Integer.parseInt(hp[1])));
        }

        ChildProc child(String... args) throws Exception {
            return track(ChildProc.start(name, args));
        }

        interface Task<T> {
            T call() throws Exception;
        }

        <T> Future<T> async(Task<T> t) {
            return pool.submit(() -> t.call());
        }

        Future<Void> run(Task<Void> t) {
            return async(t);
        }

        static <T> T join(Future<T> f, long timeoutMs, String what) throws Exception {
            try {
                return f.get(timeoutMs, TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                throw fail("timed out after %d ms waiting for %s", timeoutMs, what);
            } catch (ExecutionException e) {
                Throwable c = e.getCause();
                if (c instanceof Exception) {
                    throw (Exception) c;
                }
                throw new RuntimeException(c);
            }
        }

        static void joinAll(List<? extends Future<?>> fs, long timeoutMs, String what) throws Exception {
            long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
            for (Future<?> f : fs) {
                long left = Math.max(1, (deadline - System.nanoTime()) / 1_000_000L);
                join(f, left, what);
            }
        }

        /** Closes recipes and clients (last first), kills children, removes the base path. */
        void cleanup() throws Exception {
            pool.shutdownNow();
            List<AutoCloseable> cs;
            synchronized (closeables) {
                cs = new ArrayList<>(closeables);
                closeables.clear();
            }
            Collections.reverse(cs);
            for (AutoCloseable c : cs) {
                try {
                    c.close();
                } catch (Throwable t) {
                    // recipes may already be closed, or their client gone: fine here
                }
            }
            Exception last = null;
            for (int i = 0; i < 20; i++) {
                try {
                    if (admin.checkExists().forPath(base) != null) {
                        admin.delete().deletingChildrenIfNeeded().forPath(base);
                    }
                    if (admin.checkExists().forPath(base) == null) {
                        return;
                    }
                } catch (KeeperException.NoNodeException e) {
                    return;
                } catch (Exception e) {
                    last = e;
                }
                Thread.sleep(100);
            }
            throw fail("cleanup: %s still exists after deleting it (%s)", base, last);
        }
    }

    // ------------------------------------------------------------------ latency statistics

    static final Map<String, List<Double>> STATS = new ConcurrentHashMap<>();
    static final List<String> STAT_ORDER = new CopyOnWriteArrayList<>();

    static void stat(String metric, double ms) {
        STATS.computeIfAbsent(metric, k -> {
            STAT_ORDER.add(k);
            return new CopyOnWriteArrayList<>();
        }).add(ms);
    }

    static double pct(List<Double> sorted, double p) {
        if (sorted.isEmpty()) {
            return Double.NaN;
        }
        int rank = (int) Math.ceil(p / 100.0 * sorted.size());
        return sorted.get(Math.max(0, Math.min(sorted.size() - 1, rank - 1)));
    }

    static void printLatencyReport(Map<String, Double> caseTimes) {
        OUT.println();
        OUT.println("--- latency report (" + CFG.server + ", ms) ---");
        for (String k : STAT_ORDER) {
            List<Double> v = new ArrayList<>(STATS.get(k));
            Collections.sort(v);
            OUT.printf(Locale.ROOT, "latency %-58s n=%-4d p50=%8.1f p99=%8.1f max=%8.1f%n", k, v.size(),
                    pct(v, 50), pct(v, 99), v.get(v.size() - 1));
        }
        OUT.println("--- case times (s) ---");
        for (Map.Entry<String, Double> e : caseTimes.entrySet()) {
            OUT.printf(Locale.ROOT, "time %-44s %6.1f%n", e.getKey(), e.getValue());
        }
    }

    // ------------------------------------------------------------------ cluster control

    /** Asks the launcher to act on the ensemble ("kill-leader", "restart I"); returns its answer. */
    static synchronized String control(String cmd) throws Exception {
        OUT.println("CTRL " + cmd);
        String reply = IN.readLine();
        if (reply == null) {
            throw fail("launcher closed stdin instead of answering CTRL %s", cmd);
        }
        if (!reply.startsWith("OK")) {
            throw fail("launcher answered CTRL %s with: %s", cmd, reply);
        }
        return reply.substring(2).trim();
    }

    // ------------------------------------------------------------------ main

    static String describe(Throwable t) {
        StringBuilder sb = new StringBuilder(t.getClass().getSimpleName());
        if (t.getMessage() != null) {
            sb.append(": ").append(t.getMessage());
        }
        if (t.getCause() != null && t.getCause() != t) {
            sb.append(" (cause ").append(describe(t.getCause())).append(")");
        }
        return sb.toString();
    }

    public static void main(String[] args) throws Exception {
        Config cfg = new Config();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--connect" -> cfg.connect = args[++i];
                case "--server" -> cfg.server = args[++i];
                case "--cases" -> cfg.cases = Pattern.compile(args[++i]);
                case "--short-session-ms" -> cfg.shortSessionMs = Integer.parseInt(args[++i]);
                case "--case-timeout-s" -> cfg.caseTimeoutS = Integer.parseInt(args[++i]);
                case "--cluster" -> cfg.cluster = true;
                case "--cluster-pending" -> cfg.clusterPending = args[++i];
                case "--list" -> cfg.list = true;
                default -> {
                    System.err.println("unknown argument " + args[i]);
                    System.exit(2);
                }
            }
        }
        CFG = cfg;
        List<Case> cases = (cfg.cluster || cfg.clusterPending != null) ? clusterCases() : standaloneCases();
        if (cfg.cases != null) {
            cases.removeIf(c -> !cfg.cases.matcher(c.name()).find());
        }
        if (cfg.list) {
            for (Case c : cases) {
                OUT.println(c.name());
            }
            return;
        }
        int passed = 0, failed = 0, pending = 0;
        Map<String, Double> caseTimes = new LinkedHashMap<>();
        if (cfg.clusterPending != null) {
            for (Case c : cases) {
                OUT.println("PENDING " + c.name() + ": " + cfg.clusterPending);
                pending++;
            }
            OUT.printf("%d passed, %d failed, %d pending%n", passed, failed, pending);
            return;
        }
        if (cfg.connect == null) {
            System.err.println("--connect HOST:PORT is required");
            System.exit(2);
        }
        OUT.println("# curator compat against " + cfg.server + " at " + cfg.connect + ", root " + ROOT
                + ", " + cases.size() + " cases");
        CuratorFramework admin = newClient(cfg.connect, 30_000);
        admin.create().creatingParentsIfNeeded().forPath(ROOT);
        for (Case c : cases) {
            String base = ROOT + "/" + c.name();
            Ctx ctx = new Ctx(c.name(), base, admin);
            long t0 = System.nanoTime();
            String result;
            System.err.println("==== case " + c.name() + " start");
            try {
                admin.create().creatingParentsIfNeeded().forPath(base);
                ExecutorService ex = Executors.newSingleThreadExecutor(r -> {
                    Thread t = new Thread(r, "case-" + c.name());
                    t.setDaemon(true);
                    return t;
                });
                Future<?> f = ex.submit(() -> {
                    c.body().run(ctx);
                    return null;
                });
                int timeout = c.timeoutS() > 0 ? c.timeoutS() : cfg.caseTimeoutS;
                try {
                    f.get(timeout, TimeUnit.SECONDS);
                    result = "PASS";
                } catch (TimeoutException e) {
                    f.cancel(true);
                    result = "FAIL: case timed out after " + timeout + " s (stage: " + ctx.stage + ")";
                } catch (ExecutionException e) {
                    Throwable cause = e.getCause();
                    if (cause instanceof CasePending) {
                        result = "PENDING: " + cause.getMessage();
                    } else if (cause instanceof CaseFailure) {
                        result = "FAIL: " + cause.getMessage() + " (stage: " + ctx.stage + ")";
                    } else {
                        cause.printStackTrace();
                        result = "FAIL: " + describe(cause) + " (stage: " + ctx.stage + ")";
                    }
                } finally {
                    ex.shutdownNow();
                }
            } catch (Exception e) {
                e.printStackTrace();
                result = "FAIL: setup: " + describe(e);
            }
            try {
                ctx.cleanup();
            } catch (Exception e) {
                e.printStackTrace();
                if (result.equals("PASS")) {
                    result = "FAIL: " + describe(e);
                }
            }
            caseTimes.put(c.name(), msSince(t0) / 1000.0);
            System.err.println("==== case " + c.name() + " end: " + result);
            if (result.equals("PASS")) {
                passed++;
                OUT.println("PASS " + c.name());
            } else if (result.startsWith("PENDING")) {
                pending++;
                OUT.println("PENDING " + c.name() + result.substring("PENDING".length()));
            } else {
                failed++;
                OUT.println("FAIL " + c.name() + result.substring("FAIL".length()));
            }
            for (String n : ctx.notes) {
                OUT.println("  note " + c.name() + ": " + n);
            }
        }
        try {
            admin.delete().deletingChildrenIfNeeded().forPath(ROOT);
        } catch (Exception e) {
            OUT.println("  note: could not remove " + ROOT + ": " + describe(e));
        }
        admin.close();
        printLatencyReport(caseTimes);
        OUT.printf("%d passed, %d failed, %d pending%n", passed, failed, pending);
        OUT.flush();
        System.exit(failed > 0 ? 1 : 0);
    }

    /** Closes quietly. */
    static void closeQuietly(Closeable c) {
        try {
            if (c != null) {
                c.close();
            }
        } catch (Exception e) {
            // ignore
        }
    }

    static Stat stat(CuratorFramework c, String path) throws Exception {
        return c.checkExists().forPath(path);
    }
}
