# SPDX-License-Identifier: MIT
"""Exact counts of a running server's system calls: perf stat of the
raw_syscalls tracepoints.

strace -c stops the traced server at every call (about 150 µs a call on this
VM), so the server it watches runs 20 to 50 times slower than its client and
always finds the next request or connection waiting: its counts leave out the
calls a server makes when it catches up with its client (the accept4 that
fails with EAGAIN, the epoll_wait that sleeps). perf stat counts in the kernel
and stops no one.

Each named call has an event that filters raw_syscalls:sys_enter on its
number, and one that counts its failures (raw_syscalls:sys_exit whose return
value is negative); one more event counts the calls of every other number
("other"). perf turns its events on and off one after the other, so a
separate event for the total would disagree with the sum of the others by the
calls made in between.
"""

import errno
import os
import re
import select

# Where the kernel's system-call numbers are written down (linux-libc-dev).
SYSCALL_NUMBERS_HEADER = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"

# The calls hellod, nginx and h2o make while serving (what strace -c -f saw of
# them over every benchmark mode), and the ones a change could bring in
# (allocation, timers, the other read and write calls).
NAMED_CALLS = ("accept4", "accept", "read", "recvfrom", "recvmsg", "readv", "write", "writev",
               "sendto", "sendmsg", "sendfile", "close", "shutdown", "epoll_wait",
               "epoll_pwait", "epoll_ctl", "futex", "brk", "mmap", "munmap", "mprotect",
               "madvise", "setsockopt", "getsockopt", "getpeername", "fcntl", "ioctl",
               "pread64", "openat", "newfstatat", "clock_gettime")
OTHER = "other"


def syscall_numbers(header=SYSCALL_NUMBERS_HEADER):
    """{call name: number} from the kernel's header."""
    with open(header) as f:
        return {m.group(1): int(m.group(2))
                for m in re.finditer(r"^#define __NR_(\w+) (\d+)$", f.read(), re.MULTILINE)}


def count_command(output_path, pids, control_fifo, ack_fifo, names=NAMED_CALLS):
    """perf stat of each named call, its failures and every other call, started
    with its events off: enable_counting() turns them on once perf has
    attached, so the count starts when asked."""
    numbers = [syscall_numbers()[name] for name in names]
    events = []
    for number in numbers:
        events += ["-e", "raw_syscalls:sys_enter", "--filter", f"id == {number}",
                   "-e", "raw_syscalls:sys_exit", "--filter", f"id == {number} && ret < 0"]
    events += ["-e", "raw_syscalls:sys_enter", "--filter",
               " && ".join(f"id != {number}" for number in numbers)]
    return (["perf", "stat", "-x,", "-o", output_path, "-D", "-1",
             "--control", f"fifo:{control_fifo},{ack_fifo}", "-p", ",".join(map(str, pids))]
            + events)


def enable_counting(control_fifo, ack_fifo):
    """True once perf stat has enabled its events (it acknowledges on ack_fifo);
    False while it has not opened its control fifo yet."""
    try:
        control = os.open(control_fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as error:
        if error.errno == errno.ENXIO:  # no reader yet
            return False
        raise
    ack = os.open(ack_fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        os.write(control, b"enable\n")
        ready, _, _ = select.select([ack], [], [], 10)
        return bool(ready) and os.read(ack, 16).startswith(b"ack")
    finally:
        os.close(control)
        os.close(ack)


def read_counts(output_path, names=NAMED_CALLS):
    """perf stat -x, output of count_command -> (total calls, {name: calls},
    {name: failed calls}), leaving out the names never called or never failed.
    The events come out in the order they were given."""
    counts = []
    with open(output_path) as f:
        for line in f:
            fields = line.strip().split(",")
            if len(fields) > 2 and fields[2].startswith("raw_syscalls:"):
                if not fields[0].isdigit():
                    raise ValueError(f"perf stat could not count {fields[2]}: {line.strip()}")
                counts.append(int(fields[0]))
    if len(counts) != 2 * len(names) + 1:
        raise ValueError(f"{output_path}: {len(counts)} counts for {len(names)} names")
    calls, failures, other = counts[0:-1:2], counts[1:-1:2], counts[-1]
    by_name = {name: n for name, n in zip(names, calls) if n}
    if other:
        by_name[OTHER] = other
    failed = {name: n for name, n in zip(names, failures) if n}
    return sum(by_name.values()), by_name, failed
