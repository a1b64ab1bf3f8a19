"""What processes and the machine did, read from /proc: the readers every benchmark script
shares (bench/matrix.py, bench/scale.py, bench/single_client.py)."""

import os
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid):
    """utime + stime of `pid` (all its threads), seconds; 0.0 once it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return (int(rest[11]) + int(rest[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def rss_mib(pid):
    """Resident memory of `pid`, MiB; 0.0 once it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def machine_busy_s():
    """CPU seconds the whole machine spent busy (steal included, iowait not), /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    steal = fields[7] if len(fields) > 7 else 0
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def fdatasync_times(directory, n, payload=b"x" * 100):
    """Seconds of each of `n` appends of `payload` + fdatasync on `directory`'s filesystem."""
    path = os.path.join(directory, "fsync-probe")
    times = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            os.write(fd, payload)
            os.fdatasync(fd)
            times.append(time.perf_counter() - t0)
    finally:
        os.close(fd)
        os.unlink(path)
    return times
