"""Password hashing at the lowest CPU priority.

A password hash is slow by design (PBKDF2: about 0.4 s of a core here). Computed in the request's own
thread it competes on equal terms with everything else on the machine, so during a sign-in flood each
attempt the throttle still lets through (an address's first few, before its limits trip) took a core
away from the whiteboard's heartbeats for as long as it hashed (bench/login_flood.py, README). Here every
hash is computed in one thread per process whose nice value is 19 and scheduling policy SCHED_IDLE (on
Linux per-thread attributes): the kernel gives it whatever CPU nothing else wants, so on a busy machine a
sign-in takes a little longer and heartbeats do not wait behind it. On an idle machine nothing changes.
The hashes themselves are Django's.
"""

import concurrent.futures
import contextlib
import os
import threading

from django.contrib.auth.hashers import PBKDF2PasswordHasher

NICE = 19  # the lowest priority

_pools: dict[int, concurrent.futures.ThreadPoolExecutor] = {}  # per process id: threads do not survive a fork
_lock = threading.Lock()


def _lower_priority() -> None:
    # Elsewhere than Linux the hash still runs, at normal priority.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, 0, NICE)  # 0: this thread (Linux)
    # SCHED_IDLE as well: a nice-19 thread still holds its core for a few milliseconds when a heartbeat's
    # thread or the event loop wakes up, and a beat wakes several; the kernel preempts an idle-policy
    # thread for any other at once. (Any thread may lower itself to it; the hash then runs when a core is
    # otherwise idle, on a busy machine later than at nice 19.)
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    pid = os.getpid()
    pool = _pools.get(pid)
    if pool is None:
        with _lock:
            pool = _pools.get(pid) or concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="password-hash", initializer=_lower_priority
            )
            _pools[pid] = pool
    return pool


class LowPriorityPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """Django's PBKDF2-SHA256 (the same algorithm name and hashes: existing passwords verify), computed in
    this process's low-priority hashing thread. Listed in PASSWORD_HASHERS instead of Django's own."""

    def encode(self, password, salt, iterations=None):
        return _pool().submit(super().encode, password, salt, iterations).result()
