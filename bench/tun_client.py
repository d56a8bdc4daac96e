#!/usr/bin/env python3
"""The one client (and kernel-side server) of bench/tun.sh.

  tun_client.py send HOST PORT SECS      connect, send for SECS, print Gbit/s sent
  tun_client.py recv HOST PORT SECS      connect, receive for SECS, print Gbit/s received
  tun_client.py serve-discard ADDR PORT  accept connections, read and drop (the veth sink)
  tun_client.py serve-source ADDR PORT   accept connections, send until the peer goes

Both ends move data in 1 MiB send()/recv_into() calls on one TCP connection.
"""

import socket
import sys
import time

CHUNK = 1 << 20


def send(host, port, secs):
    s = socket.create_connection((host, port))
    data = bytes(i % 251 for i in range(CHUNK))
    sent = 0
    start = time.monotonic()
    end = start + secs
    while time.monotonic() < end:
        sent += s.send(data)
    elapsed = time.monotonic() - start
    s.shutdown(socket.SHUT_WR)
    s.settimeout(10)
    while s.recv(CHUNK):
        pass
    s.close()
    return sent, elapsed


def recv(host, port, secs):
    s = socket.create_connection((host, port))
    buf = bytearray(CHUNK)
    got = 0
    start = time.monotonic()
    end = start + secs
    while time.monotonic() < end:
        n = s.recv_into(buf)
        if n == 0:
            break
        got += n
    elapsed = time.monotonic() - start
    s.close()
    return got, elapsed


def serve(addr, port, source):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(8)
    print("listening", flush=True)
    data = bytes(i % 251 for i in range(CHUNK))
    buf = bytearray(CHUNK)
    while True:
        c, _ = ls.accept()
        try:
            if source:
                while True:
                    c.send(data)
            else:
                while c.recv_into(buf):
                    pass
        except OSError:
            pass
        c.close()


def main():
    cmd = sys.argv[1]
    if cmd in ("send", "recv"):
        host, port, secs = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
        n, elapsed = (send if cmd == "send" else recv)(host, port, secs)
        print(f"{n * 8 / elapsed / 1e9:.2f}")
    elif cmd in ("serve-discard", "serve-source"):
        serve(sys.argv[2], int(sys.argv[3]), cmd == "serve-source")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
