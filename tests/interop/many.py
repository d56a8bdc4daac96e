#!/usr/bin/env python3
"""Many concurrent kernel-socket echo clients, for synack's interop tests and bench/lossless.sh.

  many.py HOST PORT --conns N --concurrency C --bytes B [--timeout SECS] [--fail-fast]

Opens N connections to an echo server, at most C at a time. Each sends B bytes (a pattern that
differs per connection), shuts down its write side, reads until end of stream, checks that
what came back has the SHA-256 of what was sent, and closes. Prints one line of key=value
pairs: conns, ok (connections whose echo matched), failed, errors (errno name: count, comma
separated), secs.
"""
import argparse
import asyncio
import collections
import errno
import hashlib
import sys
import time


def errname(e):
    if isinstance(e, OSError) and e.errno:
        return errno.errorcode.get(e.errno, str(e.errno))
    return type(e).__name__


def payload(i, n):
    seed = (i * 2654435761) & 0xFF
    return bytes((seed + k) % 251 for k in range(n))


async def one(i, a, errors):
    data = payload(i, a.bytes)
    r, w = await asyncio.wait_for(asyncio.open_connection(a.host, a.port), a.timeout)
    try:
        w.write(data)
        await w.drain()
        w.write_eof()
        got = await asyncio.wait_for(r.read(), a.timeout)
    finally:
        w.close()
    if hashlib.sha256(got).digest() != hashlib.sha256(data).digest():
        errors["mismatch"] += 1
        return False
    return True


async def main_async(a):
    sem = asyncio.Semaphore(a.concurrency)
    errors = collections.Counter()

    async def guarded(i):
        async with sem:
            if errors and a.fail_fast:
                errors["skipped"] += 1
                return False
            try:
                return await one(i, a, errors)
            except Exception as e:  # noqa: BLE001 - every failure is reported by name
                errors[errname(e)] += 1
                return False

    start = time.monotonic()
    results = await asyncio.gather(*(guarded(i) for i in range(a.conns)))
    ok = sum(results)
    out = {
        "conns": a.conns,
        "ok": ok,
        "failed": a.conns - ok,
        "errors": ",".join("%s:%d" % kv for kv in sorted(errors.items())) or "-",
        "secs": "%.3f" % (time.monotonic() - start),
    }
    print(" ".join("%s=%s" % kv for kv in out.items()), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--conns", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=1000)
    p.add_argument("--bytes", type=int, default=1000)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--fail-fast", action="store_true", help="start no more connections after a failure")
    a = p.parse_args()
    asyncio.run(main_async(a))
    return 0


if __name__ == "__main__":
    sys.exit(main())
