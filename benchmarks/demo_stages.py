"""Where the demo's time goes: each rule's share of job time, and the time between and around jobs.

Reads a finished run's benchmark files (``results/benchmarks/**.tsv``, Snakemake's own per-job
measurement: wall seconds of the job's process, CPU seconds, peak RSS) and its Snakemake log
(``.snakemake/log/*.snakemake.log``: when each job started and finished) and writes a table per
rule: jobs, summed job seconds, share of all job seconds, CPU seconds, the longest job. Then:

- core-seconds held: each job's seconds times the threads Snakemake granted it (the log's
  ``threads:``), against the CPU seconds it used;
- wall: the first job's start to the last job's finish (the log's timestamps, 1 s resolution),
  against held core-seconds / cores; the rest is cores no job held (dependency waits,
  Snakemake's scheduling and file checks), attributed to the rules running then;
- start-up: each job's own process start (Python, torch and the package imported) is inside its
  job seconds; ``--startup-s`` (measured separately, e.g. ``python -c 'import torch, echo2ecg'``)
  times the job count estimates that share.

    .venv/bin/python benchmarks/demo_stages.py --root . --cores 2 --startup-s 2.1 \\
        --out benchmarks/results/demo_stages.md

Figures only; never asserted in tests.
"""
from __future__ import annotations

import argparse
import datetime as dt
import re
from pathlib import Path

import pandas as pd

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
JOB_START = re.compile(r"^(?:local)?(?:rule|checkpoint|localcheckpoint) (\w+):$")
JOB_ID = re.compile(r"^\s+jobid: (\d+)$")
THREADS = re.compile(r"^\s+threads: (\d+)$")
FINISHED = re.compile(r"^Finished jobid: (\d+)")


def job_times(log_path: Path) -> pd.DataFrame:
    """One row per job of a Snakemake log: jobid, rule, threads, started, finished (datetimes)."""
    rows: dict[int, dict] = {}
    stamp, pending_rule, last = None, None, None
    for line in log_path.read_text().splitlines():
        if m := STAMP.match(line):
            stamp = dt.datetime.strptime(" ".join(m.group(1).split()), "%a %b %d %H:%M:%S %Y")
        elif m := JOB_START.match(line):
            pending_rule = m.group(1)
        elif (m := JOB_ID.match(line)) and pending_rule:
            last = int(m.group(1))
            rows[last] = {"jobid": last, "rule": pending_rule, "started": stamp, "threads": 1}
            pending_rule = None
        elif (m := THREADS.match(line)) and last is not None:
            rows[last]["threads"] = int(m.group(1))
        elif m := FINISHED.match(line):
            if int(m.group(1)) in rows:
                rows[int(m.group(1))]["finished"] = stamp
    return pd.DataFrame(list(rows.values()))


def idle_cores_by_rule(times: pd.DataFrame, cores: int) -> pd.Series:
    """Core-seconds no job held (the threads Snakemake granted, per second), attributed to the rules
    running then (split evenly between them; 'none' when no job ran): which stages serialise the run."""
    start = times["started"].min()
    spans = [((r.started - start).total_seconds(), (r.finished - start).total_seconds(), r.rule, min(r.threads, cores))
             for r in times.itertuples(index=False)]
    end = int(max(span[1] for span in spans))
    idle: dict[str, float] = {}
    for second in range(end):
        running = [(rule, threads) for s, f, rule, threads in spans if s <= second < f]
        free = max(0, cores - sum(threads for _, threads in running))
        running = [rule for rule, _ in running]
        if not free:
            continue
        for rule in running or ["none"]:
            idle[rule] = idle.get(rule, 0.0) + free / max(1, len(running))
    return pd.Series(idle).sort_values(ascending=False)


def benchmark_table(benchmarks: Path) -> pd.DataFrame:
    """One row per benchmark file: rule (first path part under benchmarks/, or the file's stem), s,
    cpu_time, max_rss (MB)."""
    rows = []
    for path in sorted(benchmarks.rglob("*.tsv")):
        rel = path.relative_to(benchmarks)
        rule = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        table = pd.read_csv(path, sep="\t")
        rows.append({"rule": rule, "file": str(rel), "s": float(table["s"].iloc[-1]),
                     "cpu_time": float(table["cpu_time"].iloc[-1]) if "cpu_time" in table else float("nan"),
                     "max_rss": float(table["max_rss"].iloc[-1]) if "max_rss" in table else float("nan")})
    return pd.DataFrame(rows)


def stage_table(bench: pd.DataFrame, threads: dict[str, int]) -> pd.DataFrame:
    bench = bench.assign(threads=bench["rule"].map(threads).fillna(1).astype(int))
    bench = bench.assign(held=bench["s"] * bench["threads"])
    table = bench.groupby("rule").agg(jobs=("s", "size"), threads=("threads", "max"), job_s=("s", "sum"),
                                      held=("held", "sum"), cpu_s=("cpu_time", "sum"), longest_s=("s", "max"),
                                      peak_rss_mb=("max_rss", "max"))
    table["share"] = table["held"] / table["held"].sum()
    return table.sort_values("held", ascending=False)


def report(root: Path, cores: int, startup_s: float | None, log_path: Path | None) -> str:
    bench = benchmark_table(root / "results" / "benchmarks")
    logs = sorted((root / ".snakemake" / "log").glob("*.snakemake.log"))
    log_path = log_path or (logs[-1] if logs else None)
    times = job_times(log_path).dropna(subset=["started", "finished"]) if log_path else pd.DataFrame()
    threads = times.groupby("rule")["threads"].max().to_dict() if len(times) else {}
    stages = stage_table(bench, threads)
    lines = ["| rule | jobs | threads | job s | core-s held | share of core-s | CPU s | longest job s | peak RSS MB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for rule, r in stages.iterrows():
        lines.append(f"| {rule} | {r.jobs} | {r.threads} | {r.job_s:.0f} | {r.held:.0f} | {100 * r.share:.1f} % | "
                     f"{r.cpu_s:.0f} | {r.longest_s:.0f} | {r.peak_rss_mb:.0f} |")
    held = stages["held"].sum()
    lines += ["", f"- jobs with a benchmark file: {len(bench)}; summed job time {bench['s'].sum():.0f} s; core-seconds "
                  f"held (job time x threads granted) {held:.0f}; CPU used {bench['cpu_time'].sum():.0f} s "
                  f"({100 * bench['cpu_time'].sum() / held:.0f} % of what was held)"]
    if len(times):
        wall = (times["finished"].max() - times["started"].min()).total_seconds()
        lines += [f"- wall (first job start to last job finish, {log_path.name}): {wall:.0f} s ({wall / 60:.1f} min)",
                  f"- held core-seconds / {cores} cores: {held / cores:.0f} s ({held / cores / 60:.1f} min); the rest of "
                  f"the wall, {wall - held / cores:.0f} s, is cores no job held (dependency waits, scheduling)"]
        idle = idle_cores_by_rule(times, cores)
        lines.append("- core-seconds no job held, by the rules running then: " + ", ".join(
            f"{rule} {seconds:.0f}" for rule, seconds in idle.head(8).items()))
    if startup_s:
        lines.append(f"- process start-up inside job time: {len(bench)} jobs x {startup_s:.2f} s = "
                     f"{len(bench) * startup_s:.0f} s ({100 * len(bench) * startup_s / bench['s'].sum():.0f} % of job time)")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path("."), help="the workflow's directory after a run")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--startup-s", type=float, default=None, help="one job process's start-up, measured apart")
    parser.add_argument("--log", type=Path, default=None, help="the run's Snakemake log (default: the newest)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    text = report(args.root, args.cores, args.startup_s, args.log)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
