#!/usr/bin/env python3
"""The kernel's side of synack's interop tests: one TCP connection with scripted behaviour.

Connects to HOST PORT, or listens on HOST PORT (printing "listening" once ready) and
takes one connection. Then, concurrently, sends --send bytes of the pattern i % 251 (or, with
--echo, sends back whatever arrives) and reads until end of stream. Prints one line of key=value pairs:
bytes and SHA-256 each way, how many times end of stream was seen, the socket addresses, and
an "error" (an errno name such as ECONNREFUSED or ECONNRESET) if the connection failed.
"""
import argparse
import errno
import hashlib
import socket
import struct
import sys
import threading

PATTERN = bytes(range(251)) * 1024  # 257,024 bytes; a multiple of 251, so chunks line up


def errname(e):
    return errno.errorcode.get(e.errno, str(e)) if isinstance(e, OSError) and e.errno else type(e).__name__


def report(out):
    print(" ".join("%s=%s" % (k, str(v).lower() if isinstance(v, bool) else v) for k, v in out.items()), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["connect", "listen"])
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--send", type=int, default=0, help="bytes of pattern to send")
    p.add_argument("--echo", action="store_true", help="send back what arrives")
    p.add_argument("--shut", choices=["after-send", "after-eof", "never"], default="after-send",
                   help="when to shut down the write side")
    p.add_argument("--send-after-eof", action="store_true", help="start sending once the peer's FIN arrived")
    p.add_argument("--abort-after", type=int, help="after receiving this many bytes, close with SO_LINGER 0 (RST)")
    p.add_argument("--timeout", type=float, default=150)
    a = p.parse_args()

    family = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    out = {"sent": 0, "recv": 0, "eofs": 0}
    sent_hash, recv_hash = hashlib.sha256(), hashlib.sha256()
    try:
        if a.role == "connect":
            s = socket.socket(family, socket.SOCK_STREAM)
            s.settimeout(a.timeout)
            s.connect((a.host, a.port))
        else:
            ls = socket.socket(family, socket.SOCK_STREAM)
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind((a.host, a.port))
            ls.listen(1)
            print("listening", flush=True)
            ls.settimeout(a.timeout)
            s, _ = ls.accept()
            ls.close()
            s.settimeout(a.timeout)
    except OSError as e:
        out["error"] = errname(e)
        report(out)
        return 0
    try:
        out["local"] = "%s:%d" % s.getsockname()[:2]
        out["peer"] = "%s:%d" % s.getpeername()[:2]
    except OSError as e:
        # Reset between the handshake and here (a forwarder whose destination refused):
        # the socket is already closed; SO_ERROR says why.
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        out["error"] = errno.errorcode.get(err, errname(e)) if err else errname(e)
        report(out)
        return 0

    eof = threading.Event()
    lock = threading.Lock()

    def send_pattern():
        try:
            if a.send_after_eof:
                eof.wait(a.timeout)
            left = a.send
            while left > 0:
                chunk = memoryview(PATTERN)[: min(left, len(PATTERN))]
                s.sendall(chunk)
                with lock:
                    sent_hash.update(chunk)
                    out["sent"] += len(chunk)
                left -= len(chunk)
            if a.shut == "after-send":
                s.shutdown(socket.SHUT_WR)
        except OSError as e:
            out.setdefault("error", errname(e))

    sender = None
    if not a.echo:
        sender = threading.Thread(target=send_pattern)
        sender.start()
    try:
        while True:
            data = s.recv(65536)
            if not data:
                out["eofs"] += 1
                eof.set()
                # End of stream is sticky: a second read must see it again, and no data.
                if s.recv(65536):
                    out["data_after_eof"] = True
                break
            recv_hash.update(data)
            out["recv"] += len(data)
            if a.echo:
                s.sendall(data)
                sent_hash.update(data)
                out["sent"] += len(data)
            if a.abort_after is not None and out["recv"] >= a.abort_after:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
                out["aborted"] = True
                break
        if a.echo or a.shut == "after-eof":
            s.shutdown(socket.SHUT_WR)
    except OSError as e:
        out.setdefault("error", errname(e))
        eof.set()
    if sender:
        sender.join(a.timeout)
    out["sent_sha256"] = sent_hash.hexdigest()
    out["recv_sha256"] = recv_hash.hexdigest()
    if not out.get("aborted"):
        s.close()
    report(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
