#!/usr/bin/env python3
"""bench/summary.py OUT: the goals table of one bench/all.sh run, as Markdown.

Reads OUT/compare.json (cargo bench --bench compare), OUT/results.txt (the "NAME VALUE" lines
the bench scripts record through bench/lib.sh's `result`) and OUT/machine.txt. Every goal of
the performance issues is one row: the figure, the goal, and whether this run met it; a
figure the run did not produce is shown as "not measured" (and counts as not met).
"""

import json
import sys
from pathlib import Path


def number(v):
    """A float from '12.3', '61%' (as 61.0) or None."""
    if v is None:
        return None
    try:
        return float(str(v).rstrip("%"))
    except ValueError:
        return None


def main():
    out = Path(sys.argv[1])
    rows = {}
    try:
        for r in json.loads((out / "compare.json").read_text())["rows"]:
            rows[r["name"]] = r
    except (OSError, ValueError, KeyError):
        pass
    res = {}
    try:
        for line in (out / "results.txt").read_text().splitlines():
            name, _, value = line.partition(" ")
            res[name] = value.strip()
    except OSError:
        pass

    def cmp(name, field):
        return number(rows.get(name, {}).get(field))

    def ratio(a, b):
        return None if a is None or not b else a / b

    goals = []

    def goal(what, figure, text, met, shown=None):
        """One row: `figure` (a number or None), how it reads (`shown`), the goal and the test."""
        if figure is None:
            goals.append((what, "not measured", text, "no"))
            return
        goals.append((what, shown if shown is not None else f"{figure:.2f}", text,
                      "**yes**" if met(figure) else "no"))

    for name, mtu, want in [
        ("bulk_mtu1500_64k", 1500, 2.0),
        ("bulk_mtu1500_1m", 1500, 2.0),
        ("bulk_mtu65535_64k", 65535, 1.5),
        ("bulk_mtu65535_1m", 65535, 1.5),
    ]:
        s, m = cmp(name, "synack"), cmp(name, "smoltcp")
        r = ratio(s, m)
        goal(f"{name}: synack / smoltcp (MB/s {s or 0:,.0f} / {m or 0:,.0f})", r,
             f"≥ {want}×", lambda x, w=want: x >= w, None if r is None else f"{r:.2f}×")
    s, m = cmp("lifecycles", "synack"), cmp("lifecycles", "smoltcp")
    r = ratio(s, m)
    goal(f"lifecycles/s, fresh via a listener / smoltcp's reused pair ({s or 0:,.0f} / {m or 0:,.0f})",
         r, "≥ 2×", lambda x: x >= 2, None if r is None else f"{r:.2f}×")
    idle = ratio(cmp("lifecycles_idle_100k", "synack"), s)
    goal("lifecycles with 100,000 idle / with none", idle, "≥ 80 %", lambda x: x >= 0.8,
         None if idle is None else f"{100 * idle:.0f} %")
    b = cmp("bytes_per_idle_conn", "synack")
    goal("bytes per idle established connection", b, "≤ 512", lambda x: x <= 512,
         None if b is None else f"{b:,.0f}")
    b = cmp("bytes_idle_1m", "synack")
    goal("1,000,000 idle connections", b, "< 1 GiB", lambda x: x < 2**30,
         None if b is None else f"{b / 2**30:.2f} GiB")
    r = number(rows.get("lossy_goodput", {}).get("ratio"))
    goal("lossy goodput, synack BBR / smoltcp CUBIC", r, "≥ 1.5×", lambda x: x >= 1.5,
         None if r is None else f"{r:.1f}×")
    c = cmp("lossy_goodput_vs_capacity", "synack")
    goal("lossy goodput / path capacity", c, "≥ 70 %", lambda x: x >= 70,
         None if c is None else f"{c:.1f} %")

    def tun(tag):
        return number(res.get(f"tun.{tag}"))

    for tag, veth, what in [
        ("tun-discard-offload", "veth-discard", "kernel → synack over TUN (offloads) / veth"),
        ("tun-source-offload", "veth-source", "synack → kernel over TUN (offloads) / veth"),
    ]:
        r = ratio(tun(tag), tun(veth))
        goal(f"{what} (Gbit/s {tun(tag) or 0:.1f} / {tun(veth) or 0:.1f})", r, "≥ 50 %",
             lambda x: x >= 0.5, None if r is None else f"{100 * r:.0f} %")
    r = ratio(tun("tun-discard"), tun("smol-discard"))
    goal(f"plain TUN, kernel → stack, synack / smoltcp (Gbit/s {tun('tun-discard') or 0:.1f} / "
         f"{tun('smol-discard') or 0:.1f})", r, "≥ 1.5×", lambda x: x >= 1.5,
         None if r is None else f"{r:.2f}×")

    peak = number(res.get("memory.peak_rss_mib"))
    goal(f"10,000 concurrent echo connections over TUN: peak RSS, MiB (stack's own peak "
         f"{res.get('memory.stack_peak_mib', '?')} MiB)", peak, "≤ 256 MiB", lambda x: x <= 256)
    intact = res.get("memory.intact")
    goals.append(("… every byte intact", intact or "not measured", "all",
                  "**yes**" if intact == "yes" else "no"))
    back = ratio(number(res.get("memory.after_rss_mib")), number(res.get("memory.idle_rss_mib")))
    goal("… RSS once they close / idle baseline", back, "≤ 1.5×", lambda x: x <= 1.5,
         None if back is None else f"{back:.2f}×")

    sh1, sh2 = number(res.get("shards.tput.1")), number(res.get("shards.tput.2"))
    r = ratio(sh2, sh1)
    goal(f"2 shards / 1 shard, many connections (Gbit/s {sh2 or 0:.1f} / {sh1 or 0:.1f})", r,
         "≥ 1.7×", lambda x: x >= 1.7, None if r is None else f"{r:.2f}×")

    for n in ("1", "8"):
        for d in ("up", "down"):
            r = number(res.get(f"forward.{n}-{d}.ratio"))
            goal(f"forward / kernel routing, {n} connection{'s' if n != '1' else ''} {d}", r,
                 "≥ 50 %", lambda x: x >= 50, None if r is None else f"{r:.0f} %")
    for mode, what in (("discard", "kernel → synack"), ("source", "synack → kernel")):
        r = ratio(number(res.get(f"api.tokio-{mode}")), number(res.get(f"api.serve-{mode}")))
        goal(f"tokio API / serve, {what}", r, "≥ 80 %", lambda x: x >= 0.8,
             None if r is None else f"{100 * r:.0f} %")

    try:
        print(" · ".join((out / "machine.txt").read_text().split("\n")).strip(" ·"))
        print()
    except OSError:
        pass
    print("| figure | this run | goal | met? |")
    print("|---|---|---|---|")
    for what, shown, text, met in goals:
        print(f"| {what} | {shown} | {text} | {met} |")


if __name__ == "__main__":
    main()
