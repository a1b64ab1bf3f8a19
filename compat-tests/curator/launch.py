"""Run the Curator compat program (CuratorCompat, compiled into build/) against one server kind.

    python3 launch.py zk|raftzk [--cluster] [--results DIR] [--timeout S] [-- CuratorCompat args]

Standalone: starts the server with servers.py, runs every standalone case, stops the server.
With --cluster also: starts a 3-member ensemble with ensemble.py and runs the cluster cases,
answering the program's "CTRL kill-leader" / "CTRL restart I" lines on its stdin; for raftzk,
the same cases run against a raftzk cluster (ensemble.start_raftzk_cluster); a kind without a
cluster would raise ClusterPending and its cluster cases would be reported PENDING.
Without --cluster the cluster cases are not run, and a line says so.

Writes results/curator-<kind>.log (the program's stdout), results/curator-<kind>-client.log (its
stderr: Curator/ZooKeeper client logs, stack traces) and results/curator-<kind>-server.log (the
server's log; -ensemble-<i>.log for ensemble members). Prints a final line
"SUMMARY <kind> <passed> passed, <failed> failed, <pending> pending (<secs> s)" and exits 1 if a
case failed or the program did not finish.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
COMPAT = os.path.dirname(HERE)
sys.path.insert(0, COMPAT)

import ensemble  # noqa: E402
import servers  # noqa: E402

JARS = [
    "/usr/share/java/curator-recipes.jar",
    "/usr/share/java/curator-x-discovery.jar",
    "/usr/share/java/slf4j-simple.jar",
]
SUMMARY_RE = re.compile(r"^(\d+) passed, (\d+) failed, (\d+) pending$")


def classpath():
    return ":".join([os.path.join(HERE, "build")] + JARS)


def java_argv(extra):
    return [
        "java",
        "-Xmx512m",
        "-XX:+UseSerialGC",
        "-Dzookeeper.sasl.client=false",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
        "-Dorg.slf4j.simpleLogger.showDateTime=true",
        "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
        "-Dorg.slf4j.simpleLogger.logFile=System.err",
        "-cp",
        classpath(),
        "CuratorCompat",
    ] + extra


def run_program(argv, out_log, err_log, timeout, control=None):
    """Runs the program, echoing and logging stdout; answers CTRL lines with control(cmd).
    Returns (exit status or None on timeout, (passed, failed, pending) or None)."""
    summary = None
    with open(out_log, "a") as out, open(err_log, "a") as err:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        timed_out = [False]

        def kill():
            timed_out[0] = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            for line in proc.stdout:
                line = line.rstrip("\n")
                if line.startswith("CTRL "):
                    cmd = line[5:].strip()
                    print("  [launcher] %s" % cmd, flush=True)
                    try:
                        reply = "OK " + (control(cmd) if control else "")
                    except Exception as e:  # noqa: BLE001 - reported to the program
                        reply = "ERR %s" % e
                    print("  [launcher] -> %s" % reply, flush=True)
                    out.write("  [launcher] %s -> %s\n" % (cmd, reply))
                    proc.stdin.write(reply + "\n")
                    proc.stdin.flush()
                    continue
                print(line, flush=True)
                out.write(line + "\n")
                out.flush()
                m = SUMMARY_RE.match(line)
                if m:
                    summary = tuple(int(x) for x in m.groups())
            rc = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                kill()
                proc.wait()
        if timed_out[0]:
            msg = "launcher: the program did not finish within %d s and was killed" % timeout
            print(msg, flush=True)
            out.write(msg + "\n")
            return None, summary
        return rc, summary


def copy_log(src, dst):
    try:
        shutil.copyfile(src, dst)
    except OSError:
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("server", choices=["zk", "raftzk"])
    ap.add_argument("--cluster", action="store_true")
    ap.add_argument("--results", default=os.path.join(COMPAT, "results"))
    ap.add_argument("--timeout", type=int, default=int(os.environ.get("CURATOR_TIMEOUT", "1200")))
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    a = ap.parse_args(argv)
    kind = a.server
    os.makedirs(a.results, exist_ok=True)
    out_log = os.path.join(a.results, "curator-%s.log" % kind)
    err_log = os.path.join(a.results, "curator-%s-client.log" % kind)
    for p in (out_log, err_log):
        open(p, "w").close()
    tmp = tempfile.mkdtemp(prefix="curator-%s-" % kind)
    t0 = time.monotonic()
    totals = [0, 0, 0]
    broken = []

    # --- standalone
    try:
        srv = servers.start_server(kind, tmp)
    except servers.ServerStartError as e:
        print("launcher: %s did not start: %s" % (kind, e), flush=True)
        return 1
    print("=== curator cases against %s (%s, pid %d, log %s) ===" % (kind, srv.hostport, srv.pid, srv.log_path), flush=True)
    try:
        rc, summary = run_program(
            java_argv(["--connect", srv.hostport, "--server", kind] + extra), out_log, err_log, a.timeout
        )
    finally:
        alive = srv.alive()
        srv.stop()
        copy_log(srv.log_path, os.path.join(a.results, "curator-%s-server.log" % kind))
    if not alive:
        print("launcher: the %s server was not running at the end of the run (exit %s)" % (kind, srv.proc.returncode), flush=True)
        broken.append("server died")
    if summary is None:
        broken.append("standalone run ended without a summary (exit %s)" % rc)
    else:
        totals = [x + y for x, y in zip(totals, summary)]

    # --- cluster
    if a.cluster:
        print("=== curator cluster cases against %s ===" % kind, flush=True)
        pending = None
        ens = None
        try:
            ens = ensemble.start_ensemble(kind, tmp)
        except ensemble.ClusterPending as e:
            pending = str(e)
        except servers.ServerStartError as e:
            print("launcher: ensemble did not start: %s" % e, flush=True)
        if pending is not None:
            rc, summary = run_program(java_argv(["--cluster-pending", pending] + extra), out_log, err_log, 120)
        else:
            if ens is None:
                summary = None
                rc = None
            else:
                def control(cmd):
                    if cmd == "kill-leader":
                        i = ens.leader_index(timeout=60)
                        ens.kill(i)
                        j = ens.leader_index(timeout=90)
                        return "killed=%d newleader=%d" % (i, j)
                    if cmd.startswith("restart "):
                        i = int(cmd.split()[1])
                        ens.restart(i, timeout=90)
                        return "restarted=%d" % i
                    raise ValueError("unknown control command %r" % cmd)

                print("ensemble %s (leader member %d)" % (ens.connect_string, ens.leader_index()), flush=True)
                try:
                    rc, summary = run_program(
                        java_argv(["--cluster", "--connect", ens.connect_string, "--server", kind + "-ensemble"] + extra),
                        out_log,
                        err_log,
                        min(a.timeout, 900),
                        control=control,
                    )
                finally:
                    ens.stop()
                    for m in ens.members:
                        copy_log(m.log_path, os.path.join(a.results, "curator-%s-ensemble-%d.log" % (kind, m.index + 1)))
        if summary is None:
            broken.append("cluster run ended without a summary (exit %s)" % rc)
        else:
            totals = [x + y for x, y in zip(totals, summary)]
    else:
        print("(cluster cases not run: pass --cluster)", flush=True)

    if sum(totals) == 0 and not broken:
        broken.append("no case ran")
    secs = time.monotonic() - t0
    shutil.rmtree(tmp, ignore_errors=True)
    line = "SUMMARY %s %d passed, %d failed, %d pending (%.0f s)%s" % (
        kind, totals[0], totals[1], totals[2], secs, ("; " + "; ".join(broken)) if broken else "")
    print(line, flush=True)
    with open(out_log, "a") as f:
        f.write(line + "\n")
    return 1 if (totals[1] > 0 or broken) else 0


if __name__ == "__main__":
    sys.exit(main())
