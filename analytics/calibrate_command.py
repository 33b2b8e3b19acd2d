"""``siaga-analytics calibrate-rain``: read, fit, score, print the table, write the snippet."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime, time

import numpy as np

from siaga.analytics.antecedent_calibration import (
    above_antecedent,
    antecedent_sums,
    at_landslides,
    fit_antecedent,
)
from siaga.analytics.errors import CalibrationError, RainRecordError
from siaga.analytics.rain_calibration import (
    PROBABILITIES,
    evaluate,
    fit_ed,
    rain_events,
    skill_table,
    snippet,
    triggering,
)
from siaga.analytics.rain_record import DAY, HOUR, read_landslides, read_rain
from siaga.analytics.rainfall_thresholds import AntecedentThreshold

EX_DATAERR = 65
EX_USAGE = 64


def _say(text: str) -> None:
    print(f"siaga-analytics: {text}", file=sys.stderr)


def calibrate_rain(args: argparse.Namespace, command: str) -> int:
    if not 0 < args.probability < 1:
        _say("--probability must be between 0 and 1 (e.g. 0.05)")
        return EX_USAGE
    split = None
    if args.train_until:
        try:
            split = datetime.combine(date.fromisoformat(args.train_until), time(),
                                     UTC).timestamp()
        except ValueError:
            _say(f"--train-until {args.train_until!r}: want YYYY-MM-DD")
            return EX_USAGE
    try:
        _say(f"reading {args.rain}")
        rec = read_rain(args.rain, None if args.node == "series" else args.node)
        slides = read_landslides(args.landslides, args.site if args.site != "site" else None)
    except OSError as exc:
        _say(f"cannot read: {exc}")
        return 66
    except RainRecordError as exc:
        _say(str(exc))
        return EX_DATAERR
    first, last = rec.end[0] - rec.step_s, rec.end[-1]
    inside = [s for s in slides if first < s.at <= last]
    if len(inside) < len(slides):
        _say(f"{len(slides) - len(inside)} landslides fall outside the rain record "
             "and are left out")
    step = "daily" if rec.step_s == DAY else "hourly"
    _say(f"{len(rec.mm)} {step} totals over {rec.years:.1f} years, {len(inside)} landslides")
    gap_s = (args.dry_gap_h * HOUR if args.dry_gap_h is not None
             else (DAY if rec.step_s == DAY else 6 * HOUR))
    if gap_s < rec.step_s:
        _say(f"--dry-gap-h {args.dry_gap_h:g} is shorter than the record's interval "
             f"({rec.step_s / HOUR:g} h): every wet interval would be an event of its own")
        return EX_USAGE
    fit_rec, fit_slides, test_rec, test_slides = rec, inside, rec, inside
    if split is not None:
        if not first < split < last:
            _say(f"--train-until {args.train_until} is outside the record")
            return EX_USAGE
        fit_rec, test_rec = rec.before(split), rec.after(split)
        fit_slides = [s for s in inside if s.at <= split]
        test_slides = [s for s in inside if s.at > split]
    ev = rain_events(fit_rec, gap_s)
    d, e, dry = triggering(fit_rec, ev, fit_slides)

    def progress(frac: float) -> None:
        print(f"\rsiaga-analytics: bootstrap {frac:4.0%}", end="", file=sys.stderr)

    fits = {}
    try:
        for p in sorted({*PROBABILITIES, args.probability}):
            fits[p] = fit_ed(d, e, p, n_boot=args.bootstrap if p == args.probability else 0,
                             skipped_dry=dry,
                             progress=progress if p == args.probability else None)
    except CalibrationError as exc:
        _say(str(exc))
        return EX_DATAERR
    print("", file=sys.stderr)
    test_ev = rain_events(test_rec, gap_s) if split is not None else ev
    chosen = fits[args.probability]
    antes: dict[float, AntecedentThreshold] = {}
    also: dict[float, np.ndarray | None] = dict.fromkeys(fits)
    if args.antecedent:
        # Sums over the whole record, so the scored part keeps its first fortnight's past.
        whole = antecedent_sums(rec)
        fit_sums = tuple(x[rec.end <= split] if split is not None else x for x in whole)
        test_sums = tuple(x[rec.end > split] if split is not None else x for x in whole)
        p_short, p_long = at_landslides(fit_rec, ev, fit_slides, (fit_sums[0], fit_sums[1]))
        try:
            for p in fits:
                antes[p] = fit_antecedent(p_short, p_long, p)
                also[p] = above_antecedent(test_ev, (test_sums[0], test_sums[1]), antes[p])
        except CalibrationError as exc:
            _say(str(exc))
            return EX_DATAERR
    rows = [evaluate(test_rec, test_ev, test_slides, f.a, f.b, p, chosen.d_min_h,
                     chosen.d_max_h, also=also[p]) for p, f in fits.items()]
    where = (f"out of sample: after {args.train_until}, {test_rec.years:.1f} years, "
             f"{len(test_slides)} landslides" if split is not None else
             "in sample (use --train-until for out-of-sample skill)")
    print(f"E-D thresholds E = a D^b fitted on {chosen.n_events} landslides with rain "
          f"({dry} without rain left out); warned = rain above the curve within 72 h "
          f"before the landslide; scored {where}")
    ante = antes.get(args.probability)
    if ante is not None:
        print(f"with the cumulative threshold P3 + w P15 >= a beside each curve (either "
              f"warns); chosen: a = {ante.short_mm:.1f} mm, w = {ante.long_weight:.2f}")
    print(skill_table(rows, args.probability))
    text = snippet(chosen, site=args.site, node=args.node, command=command, dry_gap_s=gap_s,
                   antecedent=ante)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
        _say(f"wrote {args.output}")
    return 0
