#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Load clients for the e2e restart and upgrade steps (standard library only).

`rate`: a new connection per request at a steady rate (about 200 per second),
bounded in count and time, recording every failure with its time and kind:
refused, reset, timeout (connect or response), bad_status, short_read (the
connection ended before the whole response), or another OS error by name.

`keepalive`: persistent connections held open across a restart: idle ones
(one answered request, then waiting) and busy ones (one request after
another). Records how each connection ends (FIN, reset, `Connection: close`
on a response, a request left unanswered) and how long a retry on a new
connection takes.

`burst`: as many requests as fast as the server answers them, on a few
keep-alive connections, each writing a batch of requests at once
(pipelined) and reading their responses before the next batch. Counts the
200s; it ends when all are answered (or at its time bound), not at the end
of stdin.

All print `ready` on stdout once running and stop when stdin reaches end of
file (or at their bounds), then print one JSON object on stdout. Times are
CLOCK_MONOTONIC seconds, which every process on the machine shares, so the
caller can relate them to what it did. Usable as a module too.
"""

import argparse
import asyncio
import json
import os
import sys
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: e2e\r\nUser-Agent: hellod-e2e-load\r\n"
MAX_HEAD = 64 * 1024


class ShortRead(Exception):
    """The connection ended before the whole response arrived."""

    def __init__(self, message, received):
        super().__init__(message)
        self.received = received  # bytes of the response that did arrive


class BadResponse(Exception):
    """The response could not be parsed as HTTP/1.1."""


async def read_response(reader):
    """One response: (status, {lower-case name: value}, body); raises ShortRead."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        raise ShortRead(f"{len(error.partial)} bytes of head, then end of stream",
                        len(error.partial)) from None
    except asyncio.LimitOverrunError:
        raise BadResponse("response head too long") from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise BadResponse(f"status line {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    try:
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError as error:
        raise ShortRead(f"{len(error.partial)} of {length} body bytes",
                        len(head) + len(error.partial)) from None
    return int(parts[1]), headers, body


def failure_kind(error):
    """The kind of a failed request, from its exception."""
    if isinstance(error, ConnectionRefusedError):
        return "refused"
    if isinstance(error, ConnectionResetError):
        return "reset"
    if isinstance(error, (asyncio.TimeoutError, TimeoutError)):
        return "timeout"
    if isinstance(error, ShortRead):
        return "short_read"
    if isinstance(error, BadResponse):
        return "bad_response"
    if isinstance(error, OSError) and error.errno is not None:
        import errno  # pylint: disable=import-outside-toplevel
        return errno.errorcode.get(error.errno, f"errno_{error.errno}").lower()
    return type(error).__name__


def stdin_closed():
    """A future done when the caller closes our stdin (its way of saying stop).

    Never done when stdin cannot be polled (e.g. /dev/null): then only the
    bounds stop the load.
    """
    loop = asyncio.get_running_loop()
    closed = loop.create_future()
    fd = sys.stdin.fileno()

    def on_readable():
        if not os.read(fd, 4096):
            loop.remove_reader(fd)
            if not closed.done():
                closed.set_result(None)

    try:
        loop.add_reader(fd, on_readable)
    except (PermissionError, ValueError):
        pass
    return closed


# --------------------------------------------------------------------------
# rate: a new connection per request


async def one_request(host, port, timeout, record):
    """Connects, sends one GET with Connection: close, reads the response; fills record."""
    writer = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        record["connected"] = time.monotonic()
        writer.write(REQUEST + b"Connection: close\r\n\r\n")
        status, headers, body = await asyncio.wait_for(read_response(reader), timeout)
        record["status"] = status
        record["server"] = headers.get("server", "")
        record["body"] = body.decode("utf-8", "replace")
        record["kind"] = "ok" if status == 200 else "bad_status"
    except Exception as error:  # pylint: disable=broad-except  # every failure is data
        record["kind"] = failure_kind(error)
        if record["kind"] == "timeout":
            record["kind"] = "timeout" if "connected" in record else "connect_timeout"
        record["detail"] = str(error) or type(error).__name__
    finally:
        record["end"] = time.monotonic()
        if writer is not None:
            writer.close()


async def rate_load(host, port, rate, count, duration, timeout, announce=True):
    """Runs the rate load; returns the list of request records."""
    records, tasks = [], []
    stop = stdin_closed() if announce else asyncio.get_running_loop().create_future()
    started = time.monotonic()
    if announce:
        print("ready", flush=True)
    for i in range(count):
        due = started + i / rate
        if due - started >= duration or stop.done():
            break
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.wait([stop], timeout=delay)
            if stop.done():
                break
        record = {"start": time.monotonic()}
        records.append(record)
        tasks.append(asyncio.ensure_future(one_request(host, port, timeout, record)))
    if tasks:
        await asyncio.wait(tasks)
    stop.cancel()
    return records


def summarise(records, rate=None):
    """Counts by kind, failures with their times, latency and what was served."""
    kinds, bodies, servers = {}, {}, {}
    for record in records:
        kinds[record["kind"]] = kinds.get(record["kind"], 0) + 1
        if record["kind"] == "ok":
            bodies[record["body"]] = bodies.get(record["body"], 0) + 1
            servers[record["server"]] = servers.get(record["server"], 0) + 1
    latencies = sorted(r["end"] - r["start"] for r in records if r["kind"] == "ok")

    def percentile(p):
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2) \
            if latencies else None

    first = records[0]["start"] if records else 0.0
    last = records[-1]["start"] if records else 0.0
    return {
        "requests": len(records),
        "ok": kinds.get("ok", 0),
        "failed": len(records) - kinds.get("ok", 0),
        "kinds": kinds,
        "first_start": first,
        "last_start": last,
        "achieved_rate": round((len(records) - 1) / (last - first), 1) if last > first else None,
        "target_rate": rate,
        "latency_ms": {"p50": percentile(0.5), "p99": percentile(0.99),
                       "max": round(latencies[-1] * 1000, 2) if latencies else None},
        "bodies": bodies,
        "servers": servers,
        "failures": [{k: r.get(k) for k in ("start", "connected", "end", "kind", "detail")}
                     for r in records if r["kind"] != "ok"],
        # (start, connected or None, end, ok) of every request, to count the
        # ones in flight at a moment the caller knows.
        "timeline": [(round(r["start"], 4), round(r["connected"], 4) if "connected" in r
                      else None, round(r["end"], 4), r["kind"] == "ok") for r in records],
    }


def in_flight(summary, moment):
    """Requests connected before moment and not yet finished at it."""
    return sum(1 for start, connected, end, _ in summary["timeline"]
               if connected is not None and connected <= moment < end)


def max_in_flight(summary, first, last):
    """The most requests in flight at any moment from first to last.

    The count only rises at a connect, so the moments to look at are first
    and every connect between first and last.
    """
    moments = [first] + [connected for _, connected, _, _ in summary["timeline"]
                         if connected is not None and first <= connected <= last]
    return max(in_flight(summary, moment) for moment in moments)


def failures_text(summary, origin):
    """One line per kind: count, and the failures' times relative to origin."""
    by_kind = {}
    for failure in summary["failures"]:
        by_kind.setdefault(failure["kind"], []).append(failure["start"] - origin)
    return ", ".join(f"{kind} {len(times)} (at {min(times):+.2f}..{max(times):+.2f} s)"
                     for kind, times in sorted(by_kind.items())) or "none"


# --------------------------------------------------------------------------
# keepalive: persistent connections across a restart


async def get(reader, writer):
    writer.write(REQUEST + b"\r\n")
    return await read_response(reader)


async def retry(host, port, timeout):
    """A new connection and one request right after a keep-alive one ended."""
    began = time.monotonic()
    record = {"start": began}
    await one_request(host, port, timeout, record)
    return {"kind": record["kind"], "ms": round((record["end"] - began) * 1000, 2),
            "detail": record.get("detail")}


async def idle_connection(host, port, timeout, ready, events):
    """One answered request, then idle until the server ends the connection."""
    reader, writer = await asyncio.open_connection(host, port)
    await get(reader, writer)
    ready.release()
    try:
        data = await reader.read(1)
        how = "fin" if data == b"" else f"unexpected bytes {data!r}"
    except Exception as error:  # pylint: disable=broad-except
        how = failure_kind(error)
    ended = time.monotonic()
    writer.close()
    events.append({"type": "idle", "end": ended, "how": how,
                   "retry": await retry(host, port, timeout)})


async def busy_connection(host, port, timeout, pause, stop, events):
    """Requests one after another on one connection; a new one when it ends."""
    while not stop.done():
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        except Exception as error:  # pylint: disable=broad-except
            events.append({"type": "busy_connect", "end": time.monotonic(),
                           "how": failure_kind(error), "retry": None})
            await asyncio.wait([stop], timeout=pause)
            continue
        served = 0
        try:
            while not stop.done():
                if reader.at_eof():  # the server closed while we paused: nothing lost
                    events.append({"type": "busy", "end": time.monotonic(), "sent": None,
                                   "how": "fin_between_requests", "served_before": served,
                                   "retry": await retry(host, port, timeout)})
                    break
                sent = time.monotonic()
                try:
                    status, headers, _ = await asyncio.wait_for(get(reader, writer), timeout)
                except Exception as error:  # pylint: disable=broad-except
                    # Nothing of a response: the server closed as the request
                    # went out (the race of RFC 9112 section 9.3.1; the client
                    # retries). Part of one: a truncated response.
                    nothing = not isinstance(error, ShortRead) or error.received == 0
                    events.append({"type": "busy", "end": time.monotonic(), "sent": sent,
                                   "how": ("unanswered_" if nothing else "truncated_")
                                          + failure_kind(error),
                                   "served_before": served,
                                   "retry": await retry(host, port, timeout)})
                    break
                served += 1
                if headers.get("connection", "").lower() == "close" or status != 200:
                    closed = await reader.read(1)
                    events.append({"type": "busy", "end": time.monotonic(), "sent": sent,
                                   "how": f"connection_close_header status {status}, then "
                                          + ("fin" if closed == b"" else "more bytes"),
                                   "served_before": served,
                                   "retry": await retry(host, port, timeout)})
                    break
                await asyncio.wait([stop], timeout=pause)
        finally:
            writer.close()


async def keepalive_load(host, port, idle, busy, rate, duration, timeout):
    events = []
    ready = asyncio.Semaphore(0)
    stop = stdin_closed()
    idle_tasks = [asyncio.ensure_future(idle_connection(host, port, timeout, ready, events))
                  for _ in range(idle)]
    for _ in range(idle):
        await asyncio.wait_for(ready.acquire(), timeout)
    busy_tasks = [asyncio.ensure_future(busy_connection(host, port, timeout, busy / rate,
                                                        stop, events)) for _ in range(busy)]
    print("ready", flush=True)
    await asyncio.wait([stop], timeout=duration)
    if not stop.done():
        stop.cancel()
    await asyncio.wait(busy_tasks, timeout=timeout)
    await asyncio.wait(idle_tasks, timeout=0.5)
    for task in idle_tasks:  # still idle: the server never ended them
        if not task.done():
            task.cancel()
            events.append({"type": "idle", "end": None, "how": "still_open", "retry": None})
    # A busy connection that cannot reconnect tries every pause: count those.
    reconnects = {}
    for event in (e for e in events if e["type"] == "busy_connect"):
        seen = reconnects.setdefault(event["how"], {"count": 0, "first": event["end"]})
        seen["count"] += 1
        seen["last"] = event["end"]
    return {"events": [e for e in events if e["type"] != "busy_connect"],
            "busy_reconnect_failures": reconnects}


# --------------------------------------------------------------------------
# burst: pipelined batches on keep-alive connections


async def burst_connection(host, port, count, batch, timeout, statuses):
    """count requests for /page, batch at a time; each status lands in statuses.
    A response with `Connection: close` (limits.keepalive_requests) ends the
    connection: the rest go on a new one."""
    request = b"GET /page HTTP/1.1\r\nHost: e2e\r\nUser-Agent: hellod-e2e-burst\r\n\r\n"
    while count > 0:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        try:
            count = await burst_batches(reader, writer, request, count, batch, timeout, statuses)
        finally:
            writer.close()


async def burst_batches(reader, writer, request, count, batch, timeout, statuses):
    """Batches on one connection until count are answered or it is closed;
    returns how many are left."""
    while count > 0:
        now = min(batch, count)
        writer.write(request * now)
        for _ in range(now):
            status, headers, _ = await asyncio.wait_for(read_response(reader), timeout)
            statuses[status] = statuses.get(status, 0) + 1
            count -= 1
            if headers.get("connection") == "close":
                return count
    return count


async def burst_load(host, port, count, connections, duration, timeout, announce=True):
    statuses = {}
    if announce:
        print("ready", flush=True)
    began = time.monotonic()
    shares = [count // connections + (i < count % connections) for i in range(connections)]
    tasks = [asyncio.ensure_future(burst_connection(host, port, share, 64, timeout, statuses))
             for share in shares]
    done, pending = await asyncio.wait(tasks, timeout=duration)
    for task in pending:
        task.cancel()
    errors = sorted({repr(task.exception()) for task in done if task.exception()})
    return {"sent": count, "statuses": {str(k): v for k, v in statuses.items()},
            "seconds": time.monotonic() - began, "errors": errors,
            "unfinished": len(pending)}


# --------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("rate", "keepalive", "burst"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--rate", type=float, default=200.0,
                        help="requests per second (keepalive: of all busy connections)")
    parser.add_argument("--count", type=int, default=20000,
                        help="rate: at most this many; burst: exactly this many")
    parser.add_argument("--connections", type=int, default=8, help="burst: connections")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds, at most")
    parser.add_argument("--timeout", type=float, default=10.0, help="per connect and response")
    parser.add_argument("--idle", type=int, default=8, help="keepalive: idle connections")
    parser.add_argument("--busy", type=int, default=4, help="keepalive: busy connections")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.mode == "rate":
        records = asyncio.run(rate_load(args.host, args.port, args.rate, args.count,
                                        args.duration, args.timeout))
        result = summarise(records, args.rate)
    elif args.mode == "burst":
        result = asyncio.run(burst_load(args.host, args.port, args.count, args.connections,
                                        args.duration, args.timeout))
    else:
        result = asyncio.run(keepalive_load(args.host, args.port, args.idle, args.busy,
                                            args.rate, args.duration, args.timeout))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
