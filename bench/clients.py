# SPDX-License-Identifier: MIT
"""Small load clients for what wrk cannot do with a fixed request count.

  hold PORT COUNT        open COUNT keep-alive connections, one request each,
                         print "ready COUNT" once every response has arrived,
                         then hold them until stdin closes (or 300 s pass).
  batches PORT BATCHES DEPTH CONNECTIONS
                         send BATCHES batches of DEPTH pipelined requests in one
                         write each, spread over CONNECTIONS connections (one
                         thread each), reading all DEPTH responses before the
                         next batch; prints "done REQUESTS".

Both use the same request as bench/alloc_count.cpp (GET /p1, the path every
client of the benchmark asks for), framed by Content-Length.
"""

import resource
import selectors
import socket
import sys
import threading
import time

REQUEST = (b"GET /p1 HTTP/1.1\r\nHost: bench\r\nUser-Agent: hellod-bench\r\n"
           b"Accept: */*\r\n\r\n")
HOLD_LIMIT_SECONDS = 300
IO_TIMEOUT_SECONDS = 30


def raise_nofile():
    """Lifts the soft descriptor limit to the hard one (20000 here)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def complete_responses(buffer):
    """(number of complete responses at the start of buffer, bytes they take)."""
    count, offset = 0, 0
    while True:
        head_end = buffer.find(b"\r\n\r\n", offset)
        if head_end < 0:
            return count, offset
        head = bytes(buffer[offset:head_end]).lower()
        start = head.find(b"content-length:")
        if start < 0:
            raise RuntimeError("response without Content-Length")
        length = int(head[start + 15:].split(b"\r\n", 1)[0])
        end = head_end + 4 + length
        if end > len(buffer):
            return count, offset
        count, offset = count + 1, end


def read_responses(sock, expected, buffer):
    """Reads from sock until buffer holds `expected` whole responses, then drops them.

    Callers have exactly `expected` requests outstanding, so more is an error.
    """
    while True:
        count, used = complete_responses(buffer)
        if count > expected:
            raise RuntimeError(f"{count} responses to {expected} requests")
        if count == expected:
            del buffer[:used]
            return
        data = sock.recv(65536)
        if not data:
            raise RuntimeError("server closed the connection")
        buffer += data


def hold(port, count):
    """Opens count connections, one answered request each, and keeps them open."""
    raise_nofile()
    selector = selectors.DefaultSelector()
    sockets = []
    batch = 500  # stays well under the listen backlog
    for first in range(0, count, batch):
        opened = []
        for _ in range(min(batch, count - first)):
            sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_SECONDS)
            sock.sendall(REQUEST)
            opened.append(sock)
        for sock in opened:
            read_responses(sock, 1, bytearray())
        sockets += opened
    print(f"ready {len(sockets)}", flush=True)
    for sock in sockets:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    selector.register(sys.stdin, selectors.EVENT_READ)
    deadline = time.monotonic() + HOLD_LIMIT_SECONDS
    while time.monotonic() < deadline:
        for key, _ in selector.select(timeout=1):
            if key.fileobj is sys.stdin:
                return
            raise RuntimeError("the server closed an idle connection")


def batches(port, total_batches, depth, connections):
    """Pipelined round trips over several connections; returns requests answered."""
    payload = REQUEST * depth
    shares = [total_batches // connections + (1 if i < total_batches % connections else 0)
              for i in range(connections)]
    errors = []

    def run(share):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_SECONDS) as sock:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                buffer = bytearray()
                for _ in range(share):
                    sock.sendall(payload)
                    read_responses(sock, depth, buffer)
        except Exception as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return total_batches * depth


def main(argv):
    if len(argv) == 3 and argv[0] == "hold":
        hold(int(argv[1]), int(argv[2]))
    elif len(argv) == 5 and argv[0] == "batches":
        print(f"done {batches(*map(int, argv[1:]))}", flush=True)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
