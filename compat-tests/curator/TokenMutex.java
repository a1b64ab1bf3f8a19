import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.zookeeper.data.Stat;

/** An InterProcessMutex that tells its holder its own lock node and that node's czxid (the fencing token). */
public class TokenMutex extends InterProcessMutex {
    private final CuratorFramework client;

    public TokenMutex(CuratorFramework client, String path) {
        super(client, path);
        this.client = client;
    }

    /** The lock node the calling thread holds (null if it holds none). */
    public String node() {
        return getLockPath();
    }

    /** The czxid of the calling thread's lock node, read from the server. */
    public long token() throws Exception {
        String n = getLockPath();
        if (n == null) {
            throw new IllegalStateException("lock not held by this thread");
        }
        Stat st = client.checkExists().forPath(n);
        if (st == null) {
            throw new IllegalStateException("own lock node " + n + " does not exist");
        }
        return st.getCzxid();
    }
}
