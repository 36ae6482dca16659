# SPDX-License-Identifier: MIT
"""Exact counts of a running server's system calls: perf stat of the
syscall tracepoints.

strace -c stops the traced server at every call (about 150 µs a call on this
VM), so the server it watches runs 20 to 50 times slower than its client and
always finds the next request or connection waiting: its counts leave out the
calls a server makes when it catches up with its client (the accept4 that
fails with EAGAIN, the epoll_wait that sleeps). perf stat counts in the kernel
and stops no one.

Each named call is counted by its own tracepoint (syscalls:sys_enter_NAME),
which fires for that call only, and every call by raw_syscalls:sys_enter;
the difference is "other". These are one event group, which perf turns on
and off and reads as one, so the difference is exact. The failures of the
calls that fail in normal serving are counted apart, by
syscalls:sys_exit_NAME filtered on a negative return value. A
call made while counting costs two or three tracepoint hits, not a stop. (Events
filtering raw_syscalls on each call's number, tried first, cost every call
a filter per named call and slowed the server enough to change how it
batches: under wrk keep-alive, hellod made 0.011 epoll_wait calls per
request counted that way, 0.250 counted this way, 2026-12-04.)
"""

import errno
import os
import select

# The calls hellod, nginx and h2o make while serving (what strace -c -f saw of
# them over every benchmark mode), and the allocation calls a change could
# bring in. Any other call counts in "other". Each named call costs perf
# about 40 ms to take its tracepoints down at the end, so the list is short.
NAMED_CALLS = ("accept4", "read", "recvfrom", "writev", "sendto", "sendmsg", "close",
               "epoll_wait", "epoll_ctl", "futex", "brk", "mmap", "mprotect", "setsockopt",
               "pread64", "openat")
# The named calls whose failures are counted: those that fail in normal
# serving (accept4's EAGAIN, h2o's openat of a missing file).
FAILING_CALLS = ("accept4", "epoll_ctl", "openat")
OTHER = "other"


def count_command(output_path, pids, control_fifo, ack_fifo, names=NAMED_CALLS,
                  failing=FAILING_CALLS):
    """perf stat of each named call, of every call and of the failing calls'
    failures, started with its events off: enable_counting() turns them on
    once perf has attached, so the count starts when asked."""
    group = ",".join([f"syscalls:sys_enter_{name}" for name in names] +
                     ["raw_syscalls:sys_enter"])
    events = ["-e", "{" + group + "}"]
    for name in failing:
        events += ["-e", f"syscalls:sys_exit_{name}", "--filter", "ret < 0"]
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


def read_counts(output_path, names=NAMED_CALLS, failing=FAILING_CALLS):
    """perf stat -x, output of count_command -> (total calls, {name: calls},
    {name: failed calls}), leaving out the names never called or never failed.
    The events come out in the order they were given."""
    counts = []
    with open(output_path) as f:
        for line in f:
            fields = line.strip().split(",")
            if len(fields) > 2 and fields[2].startswith(("syscalls:", "raw_syscalls:")):
                if not fields[0].isdigit():
                    raise ValueError(f"perf stat could not count {fields[2]}: {line.strip()}")
                counts.append(int(fields[0]))
    if len(counts) != len(names) + 1 + len(failing):
        raise ValueError(f"{output_path}: {len(counts)} counts for {len(names)} names")
    calls, total, failures = counts[:len(names)], counts[len(names)], counts[len(names) + 1:]
    other = total - sum(calls)
    assert other >= 0, "the group's events are read together: none can count more than all"
    by_name = {name: n for name, n in zip(names, calls) if n}
    if other:
        by_name[OTHER] = other
    failed = {name: n for name, n in zip(failing, failures) if n}
    return total, by_name, failed
