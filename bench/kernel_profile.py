# SPDX-License-Identifier: MIT
"""Where a server's CPU time goes, per system call: perf record -g samples.

Each sample is a slice of CPU time (cpu-clock: its period in ns) with its
call stack. A sample whose stack passes through a system call (the function
do_syscall_64 calls: __x64_sys_NAME, or ksys_NAME, __sys_NAME, do_NAME it
tail-calls) is that call's, whatever it runs below it: on loopback the
sender's call also delivers the packet to the receiving socket in a softirq.
The rest is the user space's, the system-call entry and exit code's, page
faults', interrupts' or other kernel work's.

A second run counts the calls (bench/syscall_counter.py), apart from the
first because counting every call slows them all down a little: a place's
time over its count tells a dearer call from a more frequent one.
"""

import collections
import re
import subprocess

KERNEL_ADDRESS = 0xffff800000000000
# The function do_syscall_64 calls is the call's own: __x64_sys_NAME, or the
# implementation it tail-calls into (ksys_read, __sys_sendmsg, do_epoll_wait).
SYSCALL_FUNCTION = re.compile(
    r"^(?:__x64_sys_|__ia32_sys_|__se_sys_|__do_sys_|ksys_|__sys_|do_sys_|do_)([a-z0-9_]+)")
# Newer kernels call it through a dispatch switch, x64_sys_call.
DISPATCH = {"x64_sys_call"}

USER = "user space"
ENTRY_EXIT = "syscall entry/exit"
PAGE_FAULTS = "page faults"
INTERRUPTS = "interrupts"
OTHER_KERNEL = "other kernel"


def syscall_of(symbols):
    """The system call a kernel stack (leaf first) is in, ENTRY_EXIT for the
    entry and exit code itself, or None outside any system call."""
    if "do_syscall_64" not in symbols:
        return None
    callees = [s for s in symbols[:symbols.index("do_syscall_64")] if s not in DISPATCH]
    match = SYSCALL_FUNCTION.match(callees[-1]) if callees else None
    return match.group(1) if match else ENTRY_EXIT


def place(frames):
    """Where one sample's time went; frames are (address, symbol), leaf first."""
    if not frames or int(frames[0][0], 16) < KERNEL_ADDRESS:
        return USER
    symbols = [symbol for _, symbol in frames]
    syscall = syscall_of(symbols)
    if syscall is not None:
        return syscall
    if any("page_fault" in symbol for symbol in symbols):
        return PAGE_FAULTS
    if any(word in symbol for symbol in symbols for word in ("irq", "sysvec", "softirq")):
        return INTERRUPTS
    return OTHER_KERNEL


def parse_script(text):
    """perf script -F period,ip,sym (of a -g recording) -> {place: CPU ns}."""
    totals = collections.Counter()
    for block in text.split("\n\n"):
        lines = [line.strip() for line in block.strip().splitlines()]
        if not lines or not lines[0].isdigit():
            continue
        frames = []
        for line in lines[1:]:
            address, _, symbol = line.partition(" ")
            frames.append((address, symbol.strip()))
        totals[place(frames)] += int(lines[0])
    return totals


def record_command(data_path, pids, frequency):
    return ["perf", "record", "-q", "-g", "-F", str(frequency), "-o", data_path,
            "-p", ",".join(map(str, pids))]


def read_recording(data_path, timeout=300):
    """The recording's samples by place: {place: CPU ns}."""
    text = subprocess.run(["perf", "script", "-i", data_path, "-F", "period,ip,sym"],
                          capture_output=True, text=True, timeout=timeout, check=True).stdout
    return parse_script(text)
