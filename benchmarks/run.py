"""``python -m benchmarks.run`` (``make bench``): each figure beside its raw baseline.

1. Posting rate through ``core.ledger.posting.post`` against plain ``sqlite3`` writing
   the same rows (see :mod:`benchmarks.posting`).
2. The aged trial balance over 1,000,000 charges on 100,000 accounts against one
   hand-written SQL query (see :mod:`benchmarks.atb`; the data is generated once
   and cached under /tmp, see :mod:`benchmarks.atb_data`).

Baselines are measured in the same run, interleaved with the figures they stand
beside, so the ratios hold on any machine. Targets are printed, never asserted: the
script exits 0 whether they are met or not. It exits 1 only if the two sides of a
comparison did not produce the same result (then the figures mean nothing).

3. Customer search over 100,000 customers, p95 per kind of search, beside the same
   SQL in plain ``sqlite3`` (see :mod:`benchmarks.search`).
4. Import posting rate: ``core.ledger.bulk.post_batch`` of 200,000 charges in one
   transaction against plain ``sqlite3`` ``executemany`` of the same rows (see
   :mod:`benchmarks.imports`; ``--imports N`` or ``ARBOT_BENCH_IMPORTS=N`` for a
   quick run).
5. The whole ``arbot import charges FILE.csv`` of 200,000 charge lines against plain
   ``csv`` + ``sqlite3`` writing the same rows from the same file (see
   :mod:`benchmarks.import_cli`; the same ``--imports N``).

6. The patient bot: a Telegram update in, the reply's Bot API call out, on a database
   of 100,000 patients, p95 latency and updates/s beside a bare aiogram handler on the
   same fakes and HTTP path (see :mod:`benchmarks.patient`; ``--profile`` adds the
   conversation's cProfile, ``--patient-postgres URL`` a second run on PostgreSQL).

7. Dunning over 100,000 accounts: ``queue_dunning`` deciding and queueing every
   message, time and peak memory, beside the same set-based SQL through plain
   ``sqlite3``; a second run the same day must queue nothing (see
   :mod:`benchmarks.dunning`; ``--dunning-runs N``).

Options: ``--only posting|atb|search|imports|import-cli|patient|dunning``,
``--postings N``, ``--imports N``,
``--import-rounds N``, ``--atb-runs N``, ``--show-sql``
(core's ATB SQL, the hand-written SQL and both query plans), and
``--try-index "CREATE INDEX ..."`` (time core's ATB on a copy with that index too).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MB = 1024 * 1024

POSTING_TARGET = 0.15
ATB_SECONDS_TARGET = 1.0
ATB_RATIO_TARGET = 2.5
ATB_MB_TARGET = 150


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


# --- 1. posting rate --------------------------------------------------------------------


@dataclass
class PostingResult:
    n: int
    seconds: dict[str, list[float]]  # side -> seconds per round
    per_round: int
    statements: Counter[str]
    hops: Counter[str] | None
    sample: int
    same_rows: dict[str, str]  # side -> "" when its rows equal the API's, else what differs
    raw_checks: str

    def rate(self, side: str) -> float:
        return self.n / sum(self.seconds[side])

    def rounds(self, side: str) -> str:
        return " / ".join(f"{self.per_round / t:,.0f}" for t in self.seconds[side])

    @property
    def ratio(self) -> float:
        return self.rate("api") / self.rate("raw")


async def bench_posting(n: int, warmup: int, rounds: int) -> PostingResult:
    from benchmarks.posting import AioPoster, ApiPoster, RawPoster, check_raw, compare, prepare

    with tempfile.TemporaryDirectory(prefix="arbot-bench-post-") as tmp:
        paths = {side: Path(tmp) / f"{side}.db" for side in ("api", "raw", "aio")}
        api = ApiPoster(paths["api"], await prepare(paths["api"]))
        raw = RawPoster(paths["raw"], await prepare(paths["raw"]))
        aio = await AioPoster(paths["aio"], await prepare(paths["aio"])).open()

        async def run(side: str, start: int, count: int) -> float:
            if side == "api":
                return await api.run(start, count)
            if side == "raw":
                return raw.run(start, count)
            return await aio.run(start, count)

        sides = ["api", "raw", "aio"]
        try:
            for side in sides:
                await run(side, 0, warmup)
            start, per_round = warmup, n // rounds
            seconds: dict[str, list[float]] = {side: [] for side in sides}
            for r in range(rounds):
                # rotate which side goes first, so drift in the machine evens out
                for side in sides[r % 3 :] + sides[: r % 3]:
                    seconds[side].append(await run(side, start, per_round))
                start += per_round
            sample = 100
            statements = await api.count_statements(start, sample)
            hops = await api.count_hops(start + sample, sample)
            for side in ("raw", "aio"):  # the same postings, so the files stay comparable
                await run(side, start, 2 * sample)
        finally:
            await api.close()
            raw.close()
            await aio.close()
        same = {side: compare(paths["api"], paths[side]) for side in ("raw", "aio")}
        checks = await check_raw(paths["raw"])
    return PostingResult(
        n=per_round * rounds,
        seconds=seconds,
        per_round=per_round,
        statements=statements,
        hops=hops,
        sample=sample,
        same_rows=same,
        raw_checks=checks,
    )


def print_posting(p: PostingResult) -> None:
    from benchmarks.posting import RAW_STATEMENTS

    for side, label in (
        ("api", "api  core.ledger.posting.post        "),
        ("raw", "raw  sqlite3, same rows              "),
        ("aio", "info aiosqlite, same rows, no SQLAlchemy"),
    ):
        print(
            f"  {label}: {p.rate(side):7,.0f} postings/s  {1e3 / p.rate(side):5.2f} ms each"
            f"   rounds {p.rounds(side)}"
        )
    print(f"  ratio api/raw: {p.ratio:.3f}   (target >= {POSTING_TARGET})")
    total = sum(p.statements.values()) / p.sample
    print(
        f"  SQL statements per API posting: {total:g} executed by the driver, + COMMIT"
        f" (sent through the DB-API, not an execute) = {total + 1:g};"
        f" raw side: {RAW_STATEMENTS} incl. BEGIN and COMMIT"
    )
    for label, count in p.statements.most_common():
        print(f"      {count / p.sample:4g} x {label}")
    if p.hops is not None:
        hops = sum(p.hops.values()) / p.sample
        detail = ", ".join(f"{name} {count / p.sample:g}" for name, count in p.hops.most_common())
        print(
            f"  aiosqlite worker-thread round trips per API posting: {hops:g} ({detail});"
            " the aiosqlite side makes 9"
        )
    for side, differs in p.same_rows.items():
        print(
            f"  {side} rows equal to the API's: {'NO: ' + differs if differs else 'yes'}"
            " (every row of every ledger table; timestamps and the hashes over them excluded)"
        )
    print(f"  core's checks on the raw database: {p.raw_checks}")


# --- 2. ATB -------------------------------------------------------------------------------


@dataclass
class AtbResult:
    api: list[dict[str, Any]]
    hand: list[dict[str, Any]]
    tried: list[dict[str, Any]] = field(default_factory=list)

    @staticmethod
    def median(runs: list[dict[str, Any]]) -> float:
        return float(statistics.median(r["seconds"] for r in runs))

    @property
    def api_seconds(self) -> float:
        return self.median(self.api)

    @property
    def hand_seconds(self) -> float:
        return self.median(self.hand)

    @property
    def api_peak_mb(self) -> float:
        return float(max(r["peak"] for r in self.api)) / MB

    @property
    def api_delta_mb(self) -> float:
        return float(max(r["peak"] - r["rss_before"] for r in self.api)) / MB

    @property
    def ratio(self) -> float:
        return self.api_seconds / self.hand_seconds


def _same(runs: list[dict[str, Any]]) -> bool:
    keys = ("accounts", "total", "buckets", "digest")
    return all(all(r[k] == runs[0][k] for k in keys) for r in runs)


def bench_atb(runs: int, try_index: str | None, show_sql: bool) -> AtbResult:
    from benchmarks import atb
    from benchmarks.atb_data import AS_OF, CACHE

    if not CACHE.exists():  # in a process of its own, so this one stays small
        subprocess.run([sys.executable, "-m", "benchmarks.atb_data"], check=True)
    hand_db = atb.ensure_hand_copy()
    print(f"  data: {CACHE}, schema as migrated, read by both sides")
    if show_sql:
        core = atb.core_sql(AS_OF, "USD")
        hand = atb.hand_sql(AS_OF, "USD")
        print("\n-- core's ATB statement:\n" + core)
        print("-- its plan:\n   " + "\n   ".join(atb.query_plan(CACHE, core)))
        print("\n-- hand-written:\n" + hand)
        print("-- its plan:\n   " + "\n   ".join(atb.query_plan(hand_db, hand)) + "\n")
    tried_db = atb.copy_with_index(try_index) if try_index else None
    # one untimed run each: the OS page cache then holds both files
    atb.run_child("api", CACHE)
    atb.run_child("hand", hand_db)
    result = AtbResult([], [])
    for r in range(runs):
        order = [("api", CACHE, result.api), ("hand", hand_db, result.hand)]
        if tried_db is not None:
            order.append(("api", tried_db, result.tried))
        for mode, path, into in order if r % 2 == 0 else reversed(order):
            into.append(atb.run_child(mode, path))
    if tried_db is not None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{tried_db}{suffix}").unlink(missing_ok=True)
    return result


def _times(runs: list[dict[str, Any]]) -> str:
    return " / ".join(f"{r['seconds']:.2f}" for r in runs)


def print_atb(a: AtbResult, try_index: str | None) -> bool:
    api, hand = a.api[0], a.hand[0]
    times = _times
    print(
        f"  api  aged_trial_balance (db.read(), summary + detail): median {a.api_seconds:.2f} s"
        f"   runs {times(a.api)}"
    )
    print(
        f"       peak RSS {a.api_peak_mb:.0f} MB (process RSS before the query"
        f" {api['rss_before'] / MB:.0f} MB, so the query added {a.api_delta_mb:.0f} MB;"
        " VmHWM of the child"
        + (", reset just before the query)" if api["peak_reset"] else ", since exec)")
    )
    print(
        f"  hand one SQL query + fetchall (sqlite3): median {a.hand_seconds:.2f} s"
        f"   runs {times(a.hand)}; peak RSS {max(r['peak'] for r in a.hand) / MB:.0f} MB"
    )
    print(f"  ratio api/hand: {a.ratio:.2f}   (target <= {ATB_RATIO_TARGET})")
    if a.tried:
        print(
            f"  api on a copy with [{try_index}]: median {a.median(a.tried):.2f} s"
            f"   runs {times(a.tried)}   ({a.median(a.tried) / a.api_seconds:.2f}x the"
            " schema as migrated)"
        )
    consistent = _same(a.api) and _same(a.hand) and _same(a.api + a.tried)
    same_rows = api["digest"] == hand["digest"]
    same = (
        api["total"] == hand["total"]
        and api["accounts"] == hand["accounts"]
        and api["buckets"] == hand["buckets"]
        and same_rows
    )
    print(
        f"  check: totals api {api['total']:,} / hand {hand['total']:,} minor units;"
        f" account rows api {api['accounts']:,} / hand {hand['accounts']:,};"
        f" bucket totals {'equal' if api['buckets'] == hand['buckets'] else 'DIFFER'};"
        f" every row equal: {'yes' if same_rows else 'NO'};"
        f" repeat runs identical: {'yes' if consistent else 'NO'}"
        f"  => {'SAME' if same and consistent else 'MISMATCH'}"
    )
    return same and consistent


# --- main ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument(
        "--only",
        choices=["posting", "atb", "search", "imports", "import-cli", "patient", "dunning"],
    )
    parser.add_argument("--postings", type=int, default=3000, help="timed postings per side")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--imports", type=int, help="charges per import batch (200,000)")
    parser.add_argument("--import-rounds", type=int, default=2, help="timed batches per side")
    parser.add_argument("--atb-runs", type=int, default=3, help="timed ATB runs per side")
    parser.add_argument("--dunning-runs", type=int, default=3, help="timed dunning runs")
    parser.add_argument("--show-sql", action="store_true")
    parser.add_argument("--try-index", metavar="SQL")
    parser.add_argument("--profile", action="store_true", help="cProfile the patient bot")
    parser.add_argument(
        "--patient-postgres",
        metavar="URL",
        help="also run the patient bot on PostgreSQL (an admin URL of the server)",
    )
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        from benchmarks.atb import child

        child(*args.child)
        return 0

    started = time.perf_counter()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"arbot benchmarks: Python {platform.python_version()}, SQLite {sqlite3.sqlite_version},"
        f" {os.cpu_count()} CPUs, load average {load}"
    )
    posting: PostingResult | None = None
    atb: AtbResult | None = None
    ok = True
    if args.only in (None, "posting"):
        print(
            f"\n[1] posting rate: {args.warmup} warm-up then {args.postings} timed postings"
            " per side, 3 interleaved rounds, one transaction each"
        )
        posting = asyncio.run(bench_posting(args.postings, args.warmup, 3))
        print_posting(posting)
        ok &= not any(posting.same_rows.values())
    if args.only in (None, "atb"):
        print(
            "\n[2] ATB over 1,000,000 charges (+ payments) on 100,000 accounts,"
            f" {args.atb_runs} interleaved runs per side, each in its own process"
        )
        atb = bench_atb(args.atb_runs, args.try_index, args.show_sql)
        ok &= print_atb(atb, args.try_index)

    search_ok: bool | None = None
    if args.only in (None, "search"):
        from benchmarks.search import CUSTOMERS, QUERIES, bench_search, print_search

        print(f"\n[3] customer search over {CUSTOMERS:,} customers, {QUERIES} queries per kind")
        search_ok = print_search(bench_search())

    imports = None
    if args.only in (None, "imports"):
        from benchmarks.imports import bench_imports, charges_from_env, print_imports

        n = args.imports or charges_from_env()
        print(
            f"\n[4] import posting rate: {n:,} charges in one transaction per side,"
            f" {args.import_rounds} interleaved rounds, each on a fresh copy"
        )
        imports = asyncio.run(bench_imports(n, args.import_rounds))
        print_imports(imports)
        ok &= not imports.differs

    cli = None
    if args.only in (None, "import-cli"):
        from benchmarks.import_cli import bench_import_cli, print_import_cli
        from benchmarks.imports import charges_from_env

        n = args.imports or charges_from_env()
        print(
            f"\n[5] arbot import charges: {n:,} charge lines from one CSV file per side,"
            f" {args.import_rounds} interleaved rounds, each on a fresh copy"
        )
        cli = bench_import_cli(n, args.import_rounds)
        print_import_cli(cli)
        ok &= not cli.differs

    patients = []
    if args.only in (None, "patient"):
        from benchmarks.patient import bench_patient, print_patient

        for postgres in (None, args.patient_postgres) if args.patient_postgres else (None,):
            where = "PostgreSQL" if postgres else "SQLite"
            print(f"\n[6] patient bot: Telegram update in, reply out, 100,000 patients, {where}")
            patient = asyncio.run(bench_patient(profile=args.profile, postgres=postgres))
            print_patient(patient)
            ok &= patient.ok
            patients.append(patient)

    dunning = None
    if args.only in (None, "dunning"):
        from benchmarks.dunning import bench_dunning, print_dunning

        print(
            "\n[7] dunning over 100,000 accounts (about 390,000 items): decide and queue"
            f" every message, {args.dunning_runs} interleaved runs per side, each in its"
            " own process on a fresh copy"
        )
        dunning = bench_dunning(args.dunning_runs)
        ok &= print_dunning(dunning)

    print(
        f"\nsummary ({time.perf_counter() - started:.0f} s;"
        f" load average now {os.getloadavg()[0]:.2f}):"
    )
    if posting is not None:
        api, raw, ratio = posting.rate("api"), posting.rate("raw"), posting.ratio
        print(
            f"  posting rate: api {api:,.0f}/s   raw sqlite3 {raw:,.0f}/s   ratio {ratio:.3f}"
            f" (target >= {POSTING_TARGET}: {_verdict(ratio >= POSTING_TARGET)})"
        )
    if atb is not None:
        t, x, t2, ratio = atb.api_seconds, atb.api_peak_mb, atb.hand_seconds, atb.ratio
        print(
            f"  ATB 1M items: api {t:.2f} s, peak RSS {x:.0f} MB   hand-written {t2:.2f} s"
            f"   ratio {ratio:.2f} (target <= {ATB_RATIO_TARGET}:"
            f" {_verdict(ratio <= ATB_RATIO_TARGET)}, T < {ATB_SECONDS_TARGET:g} s:"
            f" {_verdict(t < ATB_SECONDS_TARGET)}, X < {ATB_MB_TARGET} MB:"
            f" {_verdict(x < ATB_MB_TARGET)}; peak minus RSS before the query"
            f" {atb.api_delta_mb:.0f} MB)"
        )
    if search_ok is not None:
        print(f"  customer search: p95 under 20 ms for every kind: {_verdict(search_ok)}")
    if imports is not None:
        from benchmarks.imports import IMPORT_TARGET

        api, raw, ratio = imports.rate("api"), imports.rate("raw"), imports.ratio
        print(
            f"  import of {imports.n:,} charges: post_batch {api:,.0f}/s   raw sqlite3"
            f" {raw:,.0f}/s   ratio {ratio:.3f}"
            f" (target >= {IMPORT_TARGET}: {_verdict(ratio >= IMPORT_TARGET)})"
        )
    if cli is not None:
        from benchmarks.import_cli import TARGET

        print(
            f"  arbot import charges of {cli.n:,} lines: {cli.rate('arbot'):,.0f}/s   raw"
            f" csv + sqlite3 {cli.rate('raw'):,.0f}/s   ratio {cli.ratio:.3f}"
            f" (target >= {TARGET}: {_verdict(cli.ratio >= TARGET)})"
        )
    for patient in patients:
        from benchmarks.patient import summary_line

        print(summary_line(patient, _verdict))
    if dunning is not None:
        from benchmarks.dunning import summary_line as dunning_line

        print(dunning_line(dunning, _verdict))
    if not ok:
        print("  RESULTS DIFFER between a figure and its baseline: the comparison is void")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
