"""A kazoo client in its own process, for cases where a client must die without closing
its session (SIGKILL), or freeze (SIGSTOP) while the rest of the world goes on.

    python3 actor.py --hosts HOST:PORT[,...] [--timeout SECONDS] [--fast-reconnect]

Prints ``READY <session id hex>`` once connected, then reads one command per line on
stdin and answers on stdout (one line each, flushed); ``STATE <state>`` lines report every
kazoo connection state change as it happens. ``ERROR <command> <exception>`` on failure.

    ping                 exists("/")                 -> PONG
    session              the current session id      -> SESSION <hex>
    lock PATH ID         kazoo Lock.acquire()        -> ACQUIRED <node> <czxid>
    trylock PATH ID      Lock.acquire(blocking=False)-> TRYLOCK True|False
    held                 is my lock node still mine? -> HELD yes|no <why>
    release              Lock.release()              -> RELEASED <bool>
    write VALUE          what a lock holder that believes it still holds the lock sends to
                         the protected resource (no server call: its token is the czxid of
                         its lock node, remembered at acquisition)
                                                     -> WRITE <token> <value>
    fenced PATH VALUE    the fenced write of raftzk's README "Locks and fencing": one
                         transaction that checks the lock node (its version at acquisition)
                         and sets PATH's data; the server refuses it once the lock node is
                         gone             -> FENCED ok | FENCED refused <exception class>
    elect PATH ID        kazoo Election.run in a thread; the leader function blocks
                                                     -> ELECTING, later LEADER <id>
    party KIND PATH ID   Party / ShallowParty join   -> JOINED
    register PATH DATA   an ephemeral node           -> REGISTERED <path>
    quit                 stop + close                -> BYE
"""

import argparse
import sys
import threading
import time

from kazoo.client import KazooClient


def out(*parts):
    sys.stdout.write(" ".join(str(p) for p in parts) + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", required=True)
    ap.add_argument("--timeout", type=float, default=4.0)
    ap.add_argument("--fast-reconnect", action="store_true")
    args = ap.parse_args()

    kw = {}
    if args.fast_reconnect:
        kw["connection_retry"] = {
            "max_tries": -1, "delay": 0.1, "backoff": 1.5, "max_delay": 0.3, "max_jitter": 0.1,
        }
    zk = KazooClient(hosts=args.hosts, timeout=args.timeout, **kw)
    zk.add_listener(lambda state: out("STATE", state))
    zk.start(timeout=30)
    out("READY", "%x" % zk.client_id[0])

    lock = None
    token = None
    lock_version = None
    parties = []
    hold_forever = threading.Event()

    for line in sys.stdin:
        parts = line.strip().split(" ", 3)
        if not parts or not parts[0]:
            continue
        cmd = parts[0]
        try:
            if cmd == "ping":
                zk.exists("/")
                out("PONG", time.monotonic())
            elif cmd == "session":
                out("SESSION", "%x" % zk.client_id[0])
            elif cmd in ("lock", "trylock"):
                lock = zk.Lock(parts[1], parts[2] if len(parts) > 2 else "")
                if cmd == "trylock":
                    got = lock.acquire(blocking=False)
                    if got:
                        st = zk.exists(lock.path + "/" + lock.node)
                        token, lock_version = st.czxid, st.version
                    out("TRYLOCK", got)
                else:
                    assert lock.acquire(timeout=60)
                    st = zk.exists(lock.path + "/" + lock.node)
                    token, lock_version = st.czxid, st.version
                    out("ACQUIRED", lock.node, token)
            elif cmd == "held":
                if lock is None or lock.node is None:
                    out("HELD", "no", "no-lock")
                else:
                    st = zk.exists(lock.path + "/" + lock.node)
                    if st is None:
                        out("HELD", "no", "node-gone")
                    elif st.ephemeralOwner != zk.client_id[0]:
                        out("HELD", "no", "owner=%x,me=%x" % (st.ephemeralOwner, zk.client_id[0]))
                    elif lock._get_predecessor(lock.node) is not None:
                        out("HELD", "no", "has-predecessor")
                    else:
                        out("HELD", "yes", lock.node)
            elif cmd == "release":
                out("RELEASED", lock.release())
            elif cmd == "write":
                out("WRITE", token, parts[1] if len(parts) > 1 else "")
            elif cmd == "fenced":
                t = zk.transaction()
                t.check(lock.path + "/" + lock.node, lock_version)
                t.set_data(parts[1], parts[2].encode() if len(parts) > 2 else b"")
                try:
                    results = t.commit()
                except Exception as e:  # the session is gone, the connection is lost
                    out("FENCED", "refused", type(e).__name__)
                else:
                    failed = [r for r in results if isinstance(r, Exception)]
                    if failed:
                        out("FENCED", "refused", type(failed[0]).__name__)
                    else:
                        out("FENCED", "ok")
            elif cmd == "elect":
                election = zk.Election(parts[1], parts[2])

                def lead(ident=parts[2]):
                    out("LEADER", ident)
                    hold_forever.wait()

                threading.Thread(target=election.run, args=(lead,), daemon=True).start()
                out("ELECTING")
            elif cmd == "party":
                kind = {"party": zk.Party, "shallow": zk.ShallowParty}[parts[1]]
                p = kind(parts[2], parts[3])
                p.join()
                parties.append(p)
                out("JOINED")
            elif cmd == "register":
                path = zk.create(parts[1], parts[2].encode() if len(parts) > 2 else b"",
                                 ephemeral=True, makepath=True)
                out("REGISTERED", path)
            elif cmd == "quit":
                zk.stop()
                zk.close()
                out("BYE")
                return
            else:
                out("ERROR", cmd, "unknown command")
        except Exception as e:  # reported to the test, which fails
            out("ERROR", cmd, repr(e))


if __name__ == "__main__":
    main()
