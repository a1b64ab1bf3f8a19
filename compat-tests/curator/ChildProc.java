import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * A separate JVM running {@link CuratorChild} (its own ZooKeeper session), driven over its
 * stdin/stdout: the test can SIGSTOP, SIGCONT and SIGKILL it. Lines starting with "TICK" go to the
 * tick listeners only; every other line is queued for {@link #expect}.
 */
public final class ChildProc implements AutoCloseable {
    final Process proc;
    final String label;
    private final Writer stdin;
    private final LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();
    final List<String> allLines = new CopyOnWriteArrayList<>();
    final List<Consumer<String>> tickListeners = new CopyOnWriteArrayList<>();

    private ChildProc(Process p, String label) {
        this.proc = p;
        this.label = label;
        this.stdin = new OutputStreamWriter(p.getOutputStream(), StandardCharsets.UTF_8);
        Thread t = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    if (line.startsWith("TICK")) {
                        for (Consumer<String> c : tickListeners) {
                            c.accept(line);
                        }
                    } else {
                        allLines.add(line);
                        lines.add(line);
                    }
                }
            } catch (Exception e) {
                // process gone
            }
            lines.add("EOF");
        }, "child-reader-" + label);
        t.setDaemon(true);
        t.start();
    }

    static ChildProc start(String label, String... args) throws Exception {
        String java = System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
        List<String> cmd = new ArrayList<>(List.of(java,
                "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx96m",
                "-Dzookeeper.sasl.client=false",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                "-Dorg.slf4j.simpleLogger.showDateTime=true",
                "-Dorg.slf4j.simpleLogger.logFile=System.err",
                "-cp", System.getProperty("java.class.path"),
                "CuratorChild"));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.redirectError(ProcessBuilder.Redirect.INHERIT);
        return new ChildProc(pb.start(), label + "/" + args[0]);
    }

    long pid() {
        return proc.pid();
    }

    /** Waits for the next queued line starting with prefix (skipping others); fails on EOF. */
    String expect(String prefix, long timeoutMs) throws Exception {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
        while (true) {
            long left = (deadline - System.nanoTime()) / 1_000_000L;
            if (left <= 0) {
                throw CuratorCompat.fail("child %s: no '%s' line within %d ms (lines: %s)", label, prefix, timeoutMs, allLines);
            }
            String l = lines.poll(left, TimeUnit.MILLISECONDS);
            if (l == null) {
                continue;
            }
            if (l.startsWith(prefix)) {
                return l;
            }
            if (l.equals("EOF")) {
                lines.add("EOF");
                throw CuratorCompat.fail("child %s exited (status %s) before printing '%s' (lines: %s)", label,
                        proc.isAlive() ? "?" : String.valueOf(proc.exitValue()), prefix, allLines);
            }
        }
    }

    boolean printed(String prefix) {
        for (String l : allLines) {
            if (l.startsWith(prefix)) {
                return true;
            }
        }
        return false;
    }

    synchronized void send(String cmd) throws Exception {
        stdin.write(cmd + "\n");
        stdin.flush();
    }

    void signal(String sig) throws Exception {
        Process k = new ProcessBuilder("kill", "-" + sig, Long.toString(proc.pid())).redirectErrorStream(true).start();
        if (!k.waitFor(10, TimeUnit.SECONDS) || k.exitValue() != 0) {
            throw CuratorCompat.fail("kill -%s %d failed", sig, proc.pid());
        }
    }

    void sigstop() throws Exception {
        signal("STOP");
    }

    void sigcont() throws Exception {
        signal("CONT");
    }

    /** SIGKILL (no close, no closeSession) and reap. */
    void kill9() throws Exception {
        proc.destroyForcibly();
        proc.waitFor(10, TimeUnit.SECONDS);
    }

    @Override
    public void close() throws Exception {
        if (proc.isAlive()) {
            try {
                signal("CONT");
            } catch (Exception e) {
                // ignore
            }
            proc.destroyForcibly();
            proc.waitFor(10, TimeUnit.SECONDS);
        }
    }
}
