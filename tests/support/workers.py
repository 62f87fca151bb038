"""gunicorn's workers seen from outside: their PIDs (children of the master), memory and
listening sockets."""
from __future__ import annotations

import re
from pathlib import Path


def worker_pids(server) -> list[int]:
    """The master's child processes, i.e. the gunicorn workers now alive (sorted)."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return sorted(int(child) for child in children)


def rss_bytes(pid: int) -> int:
    """Resident memory (VmRSS) of a process."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024


def booted_workers(server) -> list[int]:
    """Every worker PID gunicorn has booted so far, from its log ("Booting worker with pid")."""
    return [int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)",
                                           server.log_path.read_text(errors="replace"))]


def listen_queues(port: int) -> list[int]:
    """One entry per socket listening on TCP `port` (each worker has its own): how many
    connections the kernel holds for it that no worker has accepted yet."""
    queues = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state, queue = line.split()[1], line.split()[3], line.split()[4]
        if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
            queues.append(int(queue.split(":")[1], 16))
    return queues
