import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderLatchListener;
import org.apache.curator.retry.ExponentialBackoffRetry;

/**
 * The other JVM of the session-death cases (started by ChildProc). One ZooKeeper session:
 *
 * <pre>
 * lock  CONNECT SESSION_MS LOCK_PATH [RESOURCE]
 *                                        acquire an InterProcessMutex, print
 *                                        "ACQUIRED node czxid sessionIdHex negotiatedTimeoutMs", then
 *                                        "TICK czxid n" every 50 ms (a holder that keeps writing with its
 *                                        fencing token); with RESOURCE each tick also sets RESOURCE's data
 *                                        through the fenced write raftzk's README gives (a transaction:
 *                                        check the lock node's version, then setData) and the line ends
 *                                        "fenced=ok" or "fenced=<KeeperException code>"; stdin: "release", "exit"
 * latch CONNECT SESSION_MS LATCH_PATH ID a LeaderLatch: "STARTED ourPath negotiatedTimeoutMs", "LEADER",
 *                                        "NOTLEADER";
 *                                        stdin: "close", "exit"
 * </pre>
 * Every connection state change is printed as "STATE name". It never closes its session unless told.
 */
public final class CuratorChild {
    static final PrintStream OUT = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true,
            StandardCharsets.UTF_8);

    public static void main(String[] args) throws Exception {
        String mode = args[0];
        String connect = args[1];
        int sessionMs = Integer.parseInt(args[2]);
        String path = args[3];
        CuratorFramework client = CuratorFrameworkFactory.builder()
                .connectString(connect)
                .sessionTimeoutMs(sessionMs)
                .connectionTimeoutMs(Math.min(sessionMs, 10_000))
                .retryPolicy(new ExponentialBackoffRetry(50, 10, 1000))
                .build();
        client.getConnectionStateListenable().addListener((c, s) -> OUT.println("STATE " + s));
        client.start();
        if (!client.blockUntilConnected(30, TimeUnit.SECONDS)) {
            OUT.println("ERROR not connected");
            System.exit(3);
        }
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        if (mode.equals("lock")) {
            TokenMutex m = new TokenMutex(client, path);
            m.acquire();
            String node = m.node();
            long token = m.token();
            OUT.println("ACQUIRED " + node + " " + token + " "
                    + Long.toHexString(client.getZookeeperClient().getZooKeeper().getSessionId()) + " "
                    + client.getZookeeperClient().getZooKeeper().getSessionTimeout());
            String resource = args.length > 4 ? args[4] : null;
            org.apache.zookeeper.data.Stat lockStat = client.checkExists().forPath(node);
            int lockVersion = lockStat == null ? -1 : lockStat.getVersion();
            Thread ticker = new Thread(() -> {
                long n = 0;
                while (true) {
                    String fenced = "";
                    if (resource != null) {
                        try {
                            client.transaction().forOperations(
                                    client.transactionOp().check().withVersion(lockVersion).forPath(node),
                                    client.transactionOp().setData().forPath(resource,
                                            ("old-" + n).getBytes(StandardCharsets.UTF_8)));
                            fenced = " fenced=ok";
                        } catch (org.apache.zookeeper.KeeperException e) {
                            fenced = " fenced=" + e.code();
                        } catch (Exception e) {
                            fenced = " fenced=" + e.getClass().getSimpleName();
                        }
                    }
                    OUT.println("TICK " + token + " " + (n++) + fenced);
                    try {
                        Thread.sleep(50);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }, "ticker");
            ticker.setDaemon(true);
            ticker.start();
            String line;
            while ((line = in.readLine()) != null) {
                if (line.equals("release")) {
                    ticker.interrupt();
                    ticker.join();
                    m.release();
                    OUT.println("RELEASED");
                } else if (line.equals("exit")) {
                    break;
                }
            }
        } else if (mode.equals("latch")) {
            LeaderLatch latch = new LeaderLatch(client, path, args[4]);
            latch.addListener(new LeaderLatchListener() {
                @Override
                public void isLeader() {
                    OUT.println("LEADER");
                }

                @Override
                public void notLeader() {
                    OUT.println("NOTLEADER");
                }
            });
            latch.start();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (latch.getOurPath() == null && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            OUT.println("STARTED " + latch.getOurPath() + " "
                    + client.getZookeeperClient().getZooKeeper().getSessionTimeout());
            String line;
            while ((line = in.readLine()) != null) {
                if (line.equals("close")) {
                    latch.close();
                    OUT.println("CLOSED");
                } else if (line.equals("exit")) {
                    break;
                }
            }
        } else {
            OUT.println("ERROR unknown mode " + mode);
            System.exit(2);
        }
        client.close();
        OUT.println("BYE");
        System.exit(0);
    }
}
