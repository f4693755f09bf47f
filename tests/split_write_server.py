"""A tiny keep-alive HTTP/1.1 server that writes every response's headers and body in
two separate send() calls with Nagle's algorithm left on (no TCP_NODELAY): the
classic write-write-read pattern. The body waits in the kernel for the ACK of the
headers, and the client's delayed ACK holds that ACK up to ~40 ms. A thread per
connection; it does no work per request, so its CPU stays near zero.

    python tests/split_write_server.py PORT_FILE [--nodelay] [--delay SECONDS]

Listens on a free port of 127.0.0.1, writes the port to PORT_FILE, serves until killed.
With --nodelay it sets TCP_NODELAY: the same two writes, no stall (the control).
With --delay it waits that long before each response: a slow endpoint."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time

BODY = b"hello from the split-write server\n"
HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(BODY)


def serve_connection(conn: socket.socket, nodelay: bool, delay_s: float) -> None:
    if nodelay:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buffer = b""
    with conn:
        while True:
            while b"\r\n\r\n" not in buffer:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                buffer += chunk
            _, _, buffer = buffer.partition(b"\r\n\r\n")  # GET only: no request body
            time.sleep(delay_s)
            try:
                conn.sendall(HEADERS)
                conn.sendall(BODY)
            except OSError:
                return


def main() -> None:
    port_file = sys.argv[1]
    nodelay = "--nodelay" in sys.argv[2:]
    delay_s = float(sys.argv[sys.argv.index("--delay") + 1]) if "--delay" in sys.argv else 0.0
    listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(listener.getsockname()[1]))
    os.replace(tmp, port_file)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve_connection, args=(conn, nodelay, delay_s), daemon=True).start()


if __name__ == "__main__":
    main()
