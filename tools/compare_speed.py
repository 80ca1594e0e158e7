#!/usr/bin/env python3
"""Compares two varnorm_bench binaries (a base revision and the working tree) benchmark by benchmark.

Runs them alternately, ROUNDS times each, with the same filter, keeps each benchmark's fastest real time per
binary, and prints new/base time ratios: a refactor must leave every row within noise. The rows are sorted
by ratio, slowest first. Usage:
  tools/compare_speed.py BASE_BINARY NEW_BINARY [--rounds 3] [--filter REGEX] [--min-time 0.05] [--cpu N]
--cpu N runs both binaries on CPU N only, for one-thread rows (a virtual machine's CPUs can differ in speed).
tools/compare_speed.sh builds the two binaries from a revision and the working tree and calls this script.
"""
import argparse
import json
import os
import subprocess
import sys


def run(binary, regex, min_time, cpu):
    pin = None if cpu is None else (lambda: os.sched_setaffinity(0, {cpu}))
    out = subprocess.run([binary, f"--benchmark_filter={regex}", f"--benchmark_min_time={min_time}",
                          "--benchmark_format=json"], check=True, capture_output=True, text=True,
                         preexec_fn=pin).stdout
    return {b["name"]: b["real_time"] for b in json.loads(out)["benchmarks"] if b.get("run_type") == "iteration"}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--filter", default=r"^(forward|backward|backward_recompute|step)/N[A-Z]+/"
                                            r"(AUTO|TWO_PASS|WELFORD)/.*threads:1/")
    parser.add_argument("--min-time", default="0.05")
    parser.add_argument("--cpu", type=int, default=None)
    args = parser.parse_args()
    best = {"base": {}, "new": {}}
    for round_index in range(args.rounds):
        for label, binary in (("base", args.base), ("new", args.new)) if round_index % 2 == 0 else \
                (("new", args.new), ("base", args.base)):
            for name, time in run(binary, args.filter, args.min_time, args.cpu).items():
                best[label][name] = min(time, best[label].get(name, float("inf")))
        print(f"round {round_index + 1} of {args.rounds} done", file=sys.stderr)
    rows = sorted(((best["new"][n] / best["base"][n], n) for n in best["base"] if n in best["new"]), reverse=True)
    print("| benchmark | base | new | new/base |")
    print("|---|---|---|---|")
    for ratio, name in rows:
        print(f"| {name} | {best['base'][name]:.4g} | {best['new'][name]:.4g} | {ratio:.3f} |")
    ratios = [r for r, _ in rows]
    if ratios:
        geo = 1.0
        for r in ratios:
            geo *= r
        print(f"\n{len(ratios)} benchmarks; new/base: geometric mean {geo ** (1 / len(ratios)):.3f}, "
              f"slowest {ratios[0]:.3f}, fastest {ratios[-1]:.3f}")


if __name__ == "__main__":
    main()
