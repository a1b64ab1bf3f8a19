import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A loopback TCP proxy between a client and the server, so that a test can break a client's
 * connection without touching its session: {@link #cutAll()} closes every proxied connection (the
 * client reconnects through the proxy with the same session), {@link #block()} also refuses new
 * ones (accepts and closes at once) until {@link #unblock()}, so the session can be made to expire
 * on the server while its client is still alive; {@link #cutClientSideOnly()} closes only the
 * client's side, leaving the server a stale, silent connection for the session (a NAT drop).
 */
public final class TcpProxy implements AutoCloseable {
    private final String targetHost;
    private final int targetPort;
    private final ServerSocket listener;
    private final Set<Pair> pairs = ConcurrentHashMap.newKeySet();
    private volatile boolean blocked;
    private volatile boolean closed;
    final AtomicInteger accepted = new AtomicInteger();
    final AtomicInteger refused = new AtomicInteger();
    /** server sides left open by cutClientSideOnly(), and how many of them the server has closed */
    final AtomicInteger staleOpened = new AtomicInteger();
    final AtomicInteger staleClosedByServer = new AtomicInteger();

    /** One proxied connection; halfOpen: the client side was cut, the server side left open. */
    private static final class Pair {
        final Socket client;
        final Socket server;
        volatile boolean halfOpen;

        Pair(Socket client, Socket server) {
            this.client = client;
            this.server = server;
        }
    }

    public TcpProxy(String targetHost, int targetPort) throws IOException {
        this.targetHost = targetHost;
        this.targetPort = targetPort;
        this.listener = new ServerSocket();
        this.listener.setReuseAddress(true);
        this.listener.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        Thread t = new Thread(this::acceptLoop, "proxy-accept-" + port());
        t.setDaemon(true);
        t.start();
    }

    public int port() {
        return listener.getLocalPort();
    }

    public String connectString() {
        return "127.0.0.1:" + port();
    }

    private void acceptLoop() {
        while (!closed) {
            Socket client;
            try {
                client = listener.accept();
            } catch (IOException e) {
                return;
            }
            if (blocked) {
                refused.incrementAndGet();
                closeQuietly(client);
                continue;
            }
            Socket server;
            try {
                server = new Socket(targetHost, targetPort);
                server.setTcpNoDelay(true);
                client.setTcpNoDelay(true);
            } catch (IOException e) {
                closeQuietly(client);
                continue;
            }
            accepted.incrementAndGet();
            Pair pair = new Pair(client, server);
            pairs.add(pair);
            pump(pair, true);
            pump(pair, false);
        }
    }

    private void pump(Pair pair, boolean clientToServer) {
        Socket from = clientToServer ? pair.client : pair.server;
        Socket to = clientToServer ? pair.server : pair.client;
        Thread t = new Thread(() -> {
            byte[] buf = new byte[65536];
            boolean serverClosed = false;
            try {
                InputStream in = from.getInputStream();
                OutputStream out = to.getOutputStream();
                int n;
                while ((n = in.read(buf)) >= 0) {
                    if (!clientToServer && pair.halfOpen) {
                        continue; // drain what the server still sends to the cut-off client
                    }
                    try {
                        out.write(buf, 0, n);
                        out.flush();
                    } catch (IOException e) {
                        if (!clientToServer && pair.halfOpen) {
                            continue;
                        }
                        throw e;
                    }
                }
                serverClosed = !clientToServer;
            } catch (IOException e) {
                serverClosed = !clientToServer && pair.halfOpen && !closed && !pair.server.isClosed();
            } finally {
                if (clientToServer && pair.halfOpen) {
                    closeQuietly(pair.client); // leave the server side open and silent
                } else {
                    if (serverClosed && pair.halfOpen) {
                        staleClosedByServer.incrementAndGet();
                    }
                    closeQuietly(from);
                    closeQuietly(to);
                    pairs.remove(pair);
                }
            }
        }, "proxy-pump");
        t.setDaemon(true);
        t.start();
    }

    /** Closes every proxied connection (both sides); new connections are still accepted. */
    public void cutAll() {
        for (Pair p : pairs) {
            closeQuietly(p.client);
            closeQuietly(p.server);
        }
    }

    /**
     * Closes only the client side of every proxied connection: the server keeps a stale, silent
     * connection for the session, while the client reconnects through the proxy.
     */
    public void cutClientSideOnly() {
        for (Pair p : pairs) {
            if (!p.halfOpen) {
                p.halfOpen = true;
                staleOpened.incrementAndGet();
                closeQuietly(p.client);
            }
        }
    }

    /** Cuts every connection and refuses new ones until unblock(). */
    public void block() {
        blocked = true;
        cutAll();
    }

    public void unblock() {
        blocked = false;
    }

    @Override
    public void close() {
        closed = true;
        closeQuietly(listener);
        cutAll();
    }

    private static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception e) {
            // ignore
        }
    }
}
