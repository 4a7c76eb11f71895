"""`python -m tests.chaos [--events N] [--uploads N] ...`: one chaos run; the table on stdout;
exit 1 on any loss, double effect, fault not injected or state not recovered."""

from __future__ import annotations

import argparse
import logging
import sys
import time

from tests.chaos.run import ALL_FAULTS, LONG_S3_OUTAGE_S, ChaosOptions, long_s3_outage, render, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    d = ChaosOptions()
    parser.add_argument("--events", type=int, default=d.events, help="at least this many domain events")
    parser.add_argument("--uploads", type=int, default=d.uploads)
    parser.add_argument("--courses", type=int, default=d.courses)
    parser.add_argument("--faults", default=",".join(ALL_FAULTS), help=f"comma-separated subset of {ALL_FAULTS}")
    parser.add_argument("--kafka-down", type=float, default=d.kafka_down_s, help="seconds the broker stays down")
    parser.add_argument("--postgres-down", type=float, default=d.postgres_down_s)
    parser.add_argument("--s3-down", type=float, default=d.s3_down_s)
    parser.add_argument("--settle-timeout", type=float, default=d.settle_timeout_s)
    parser.add_argument("--keep", action="store_true", help="keep the private stack's folder (logs)")
    parser.add_argument("--function-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for every function, e.g. TRANSIENT_WAIT_S=0 (repeatable)")
    parser.add_argument("--long-s3-outage", action="store_true",
                        help=f"only an S3 outage of at least {LONG_S3_OUTAGE_S:.0f} s, longer than every wait and "
                             "retry (short waits, 30 s sweep grace): dead letters expected, nothing lost")
    args = parser.parse_args(argv)
    faults = tuple(f.strip() for f in args.faults.split(",") if f.strip())
    unknown = set(faults) - set(ALL_FAULTS)
    if unknown:
        parser.error(f"unknown faults: {sorted(unknown)}")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    opts = ChaosOptions(events=args.events, uploads=args.uploads, courses=args.courses, faults=faults,
                        kafka_down_s=args.kafka_down, postgres_down_s=args.postgres_down, s3_down_s=args.s3_down,
                        settle_timeout_s=args.settle_timeout, keep=args.keep,
                        function_env=dict(kv.split("=", 1) for kv in args.function_env))
    if args.long_s3_outage:
        opts = long_s3_outage(opts)
    started = time.strftime("%Y-%m-%d %H:%M:%S")

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    result = run(opts, log)
    scenario = f" --long-s3-outage ({opts.s3_down_s:.0f} s, env {opts.function_env})" if opts.long_s3_outage else ""
    print(f"\nchaos run started {started}: --events {opts.events} --uploads {opts.uploads}{scenario}\n", flush=True)
    print(render(result), flush=True)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
