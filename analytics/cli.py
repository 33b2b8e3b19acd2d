"""``siaga-analytics``: replay recorded CSVs through the detectors; fit a site's rain threshold.

Scoring the detectors on labelled scenarios is a dev tool: ``siaga-sim evaluate``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tomllib
from dataclasses import fields
from pathlib import Path

from siaga.analytics.config import AnalyticsConfig
from siaga.analytics.config_load import load_config
from siaga.analytics.errors import ConfigError, ReplayInputError
from siaga.analytics.registry import REGISTRY
from siaga.analytics.replay import replay, stderr_progress

EX_DATAERR = 65
EX_NOINPUT = 66
EX_CONFIG = 78
ANALYTICS_KEYS = {f.name for f in fields(AnalyticsConfig)}


def load_config_file(path: str | None) -> AnalyticsConfig:
    """A TOML file holding an ``[analytics]`` table (a gateway config) or only its content."""
    if path is None:
        return load_config({})
    with open(path, "rb") as f:
        data = tomllib.load(f)
    if "analytics" in data:
        return load_config(data["analytics"])
    # A bare analytics table, or a gateway config without one (then: defaults).
    return load_config(data if set(data) <= ANALYTICS_KEYS else {})


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="siaga-analytics", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("replay", help="run a CSV through the detectors")
    r.add_argument("input", help="CSV: timestamp,value or timestamp,node,channel,value")
    r.add_argument("-o", "--output", required=True, help="output CSV ('-' for stdout)")
    r.add_argument("--config", help="TOML with an [analytics] table")
    r.add_argument("--detector", choices=sorted(REGISTRY), help="only this detector")
    r.add_argument("--channel", default="value",
                   help="channel of a single timestamp,value series (default: value)")
    c = sub.add_parser("calibrate-rain", help="fit a site's E-D rain threshold and score it")
    c.add_argument("rain", help="RAIN.csv: timestamp,rain_mm (hourly or daily) or the replay "
                   "layout timestamp,node,channel,value")
    c.add_argument("landslides", help="LANDSLIDES.csv: date[,time][,site]")
    c.add_argument("-o", "--output", required=True, help="TOML snippet to write ('-': stdout)")
    c.add_argument("--site", default="site", help="the site the threshold applies to")
    c.add_argument("--node", default="series", help="the site's rain gauge node")
    c.add_argument("--probability", type=float, default=0.05,
                   help="non-exceedance probability of the chosen curve (default 0.05)")
    c.add_argument("--train-until", help="fit before this date (YYYY-MM-DD), score after it")
    c.add_argument("--dry-gap-h", type=float, default=None,
                   help="hours without rain that end an event (default: 6 for hourly, "
                   "24 for daily records)")
    c.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples")
    c.add_argument("--antecedent", action="store_true",
                   help="also fit the cumulative threshold P3 + w P15 >= a (3-day rain and "
                   "the 15 days before) and score the curve and it together")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "calibrate-rain":
        from siaga.analytics.calibrate_command import calibrate_rain

        return calibrate_rain(args, " ".join(["siaga-analytics", *(argv or sys.argv[1:])]))
    try:
        cfg = load_config_file(args.config)
    except ConfigError as exc:
        print(f"siaga-analytics: config error: {exc}", file=sys.stderr)
        return EX_CONFIG
    except (OSError, tomllib.TOMLDecodeError) as exc:
        print(f"siaga-analytics: cannot read config {args.config}: {exc}", file=sys.stderr)
        return EX_CONFIG
    try:
        return _replay(args, cfg)
    except BrokenPipeError:
        # The reader of -o - went away (| head): stop quietly, as a Unix filter does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # fd 1 even if sys.stdout is closed
        return 141


def _replay(args: argparse.Namespace, cfg: AnalyticsConfig) -> int:
    started = time.perf_counter()
    try:
        size = os.path.getsize(args.input)
        inp = open(args.input, encoding="utf-8", newline="")  # noqa: SIM115
    except OSError as exc:
        print(f"siaga-analytics: cannot open {args.input}: {exc}", file=sys.stderr)
        return EX_NOINPUT
    out_path = Path(args.output)
    try:
        with inp, (sys.stdout if args.output == "-" else
                   open(out_path, "w", encoding="utf-8", newline="")) as out:
            report = replay(inp, out, cfg, path=args.input, detector=args.detector,
                            channel=args.channel, progress=stderr_progress(size // 30))
    except ReplayInputError as exc:
        print(f"siaga-analytics: {exc}", file=sys.stderr)
        return EX_DATAERR
    for line, text in report.bad_lines:
        print(f"siaga-analytics: {args.input}:{line}: skipped unparseable row {text!r}",
              file=sys.stderr)
    took = time.perf_counter() - started
    print(f"siaga-analytics: {report.rows - report.skipped} rows replayed, {report.skipped} "
          f"skipped, {took:.2f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
