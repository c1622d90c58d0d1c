"""The command line: ``python -m cachesim scenarios | run | sweep | replay``.

Bad input (an unknown scenario, a bad ``--set``, a missing or malformed file, a
capacity of 0, ...) exits with status 2 after one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any, NoReturn

__all__ = ["main"]

EXIT_OK, EXIT_USAGE = 0, 2
_PROG = "cachesim"


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``cachesim: error: ...``), exit 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); the exit status."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
        return int(args.handler(args))
    except UsageError as err:
        return _fail(str(err))
    except KeyboardInterrupt:
        print(f"{_PROG}: interrupted", file=sys.stderr)
        return 130
    except RecursionError:  # a backstop: configs are checked for nesting before parsing
        return _fail("the input nests too deeply")
    except BrokenPipeError:  # e.g. `python -m cachesim scenarios | head -1`
        sys.stderr.close()
        return EXIT_OK


def _fail(message: str) -> int:
    line = " ".join(message.split())  # one line, whatever the message held
    print(f"{_PROG}: error: {line}", file=sys.stderr)
    return EXIT_USAGE


def _build_parser() -> _Parser:
    parser = _Parser(prog=_PROG, description="Simulate distributed caches; replay cache traces.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("scenarios", help="list the built-in scenarios")
    p.add_argument("--json", action="store_true", help="print {name: description} as JSON")
    p.set_defaults(handler=_cmd_scenarios)

    p = sub.add_parser("run", help="run a simulation and print its summary")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--scenario", metavar="NAME",
                        help="a built-in scenario (default: baseline)")
    source.add_argument("--config", metavar="FILE.toml", help="a config file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="set a config field by its dotted name, e.g. cluster.nodes=8 (repeatable)")
    p.add_argument("--out", metavar="DIR", help="save the whole result to DIR")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(handler=_cmd_run)

    p = sub.add_parser("sweep", help="run a config over a grid of values and seeds")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--scenario", metavar="NAME", help="a built-in scenario (default: baseline)")
    source.add_argument("--config", metavar="FILE.toml", help="a config file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="set a config field for every run (repeatable)")
    p.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2,...", required=True,
                   help="a field and the values to try, e.g. cluster.nodes=2,4,8 (repeatable: a grid)")
    p.add_argument("--seeds", type=_positive_int, default=1, metavar="N",
                   help="runs per grid point, seeds seed..seed+N-1 (default 1)")
    p.add_argument("--jobs", type=_positive_int, default=1, metavar="N", help="parallel worker processes")
    p.add_argument("--csv", metavar="FILE", help="also write every run's row to FILE")
    p.add_argument("--json", action="store_true", help="print every run's row as JSON lines")
    p.set_defaults(handler=_cmd_sweep)

    from cachesim.policies import EVICTION_POLICIES

    p = sub.add_parser("replay", help="replay a trace through one eviction policy")
    p.add_argument("trace", metavar="TRACE",
                   help="a CSV (key[,time,size,op]) or oracleGeneral .bin file")
    p.add_argument("--policy", required=True, choices=list(EVICTION_POLICIES),
                   help="eviction policy")
    p.add_argument("--capacity", required=True, type=_positive_int, metavar="N",
                   help="cache capacity: objects, or bytes with --bytes")
    p.add_argument("--bytes", dest="use_bytes", action="store_true",
                   help="capacity in bytes, objects take their trace sizes")
    p.add_argument("--json", action="store_true",
                   help='print {"requests", "hits", "misses", "miss_ratio"} as JSON')
    p.set_defaults(handler=_cmd_replay)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


# -- scenarios ------------------------------------------------------------------------


def _cmd_scenarios(args: argparse.Namespace) -> int:
    import cachesim

    described = {name: cachesim.scenario_description(name) for name in cachesim.list_scenarios()}
    if args.json:
        print(json.dumps(described, indent=2))
    else:
        width = max(map(len, described), default=0)
        for name, text in described.items():
            print(f"{name:<{width}}  {' '.join(text.split())}")
    return EXIT_OK


# -- run ------------------------------------------------------------------------------


def _cmd_run(args: argparse.Namespace) -> int:
    import cachesim

    cfg, label = _load_config(args)
    try:
        sim = cachesim.Simulation(cfg)
    except (ValueError, OSError) as err:  # e.g. a workload trace that cannot be read
        raise UsageError(str(err)) from None
    _run_with_progress(sim, cfg.duration_s)
    res = sim.result()
    summary = {k: _jsonable(v) for k, v in res.summary.items()}
    saved = None
    if args.out:
        try:
            saved = res.save(args.out)
        except OSError as err:
            raise UsageError(f"cannot save the run to {args.out}: {err.strerror or err}") from None
    if args.json:
        print(json.dumps(summary, allow_nan=False))
    else:
        print(f"{label}: {res.sim_time_s:g} s simulated ({res.status}), "
              f"summary after warmup_s={cfg.warmup_s:g}")
        _print_table(summary.items())
        if saved is not None:
            print(f"saved to {saved}")
    return EXIT_OK


def _cmd_sweep(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    import cachesim
    from cachesim.sweeps import aggregate, sweep, sweep_configs

    cfg, label = _load_config(args)
    grid: dict[str, list[str]] = {}
    for item in args.vary:
        key, values = _parse_override(item)
        grid[key] = [v.strip() for v in values.split(",") if v.strip()]
        if not grid[key]:
            raise UsageError(f"--vary {key} has no values (e.g. {key}=2,4,8)")
    try:
        sweep_configs(cfg, grid, args.seeds)  # validate every point before running any
    except ValidationError as err:
        raise UsageError(cachesim.format_validation_error(err)) from None
    except ValueError as err:
        raise UsageError(str(err)) from None
    try:
        table = sweep(cfg, grid, seeds=args.seeds, processes=args.jobs)
    except (ValueError, OSError) as err:  # e.g. a workload trace that is missing or unreadable
        raise UsageError(_one_line(err)) from None
    if args.csv:
        try:
            table.to_csv(args.csv, index=False)
        except OSError as err:
            raise UsageError(f"cannot write {args.csv}: {err.strerror or err}") from None
    if args.json:
        for row in table.to_dict(orient="records"):
            print(json.dumps({k: _jsonable(v) for k, v in row.items()}, allow_nan=False))
        return EXIT_OK
    agg = aggregate(table, list(grid))
    print(f"{label}: {len(table)} runs ({len(agg)} points x {args.seeds} seeds)")
    print(agg.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    return EXIT_OK


def _load_config(args: argparse.Namespace) -> tuple[Any, str]:
    from pydantic import ValidationError

    import cachesim

    try:
        if args.config:
            cfg, label = cachesim.SimConfig.load(args.config), str(args.config)
        else:
            label = args.scenario or "baseline"
            cfg = cachesim.load_scenario(label)
        overrides = dict(_parse_override(item) for item in args.overrides)
        if overrides:
            cfg = cfg.with_overrides(overrides)
    except ValidationError as err:
        raise UsageError(cachesim.format_validation_error(err)) from None
    except ValueError as err:  # ConfigError and friends: already one clear line
        raise UsageError(str(err)) from None
    return cfg, label


def _one_line(err: BaseException) -> str:
    """An error as one line: its message, else its type."""
    text = " ".join(str(err).split())
    return text or type(err).__name__


def _parse_override(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UsageError(f"--set expects KEY=VALUE (e.g. cluster.nodes=8), got {item!r}")
    return key, value


def _run_with_progress(sim: Any, duration_s: float, stream: IO[str] | None = None) -> None:
    """Drive ``sim.stream()``; draw a bar on ``stream`` (stderr) if it is a terminal and
    the run has taken longer than half a second."""
    out = sys.stderr if stream is None else stream
    show = out.isatty()
    start = time.monotonic()
    last_draw = 0.0
    drawn = False
    try:
        for snap in sim.stream():
            if not show:
                continue
            now = time.monotonic()
            if now - start < 0.5 or now - last_draw < 0.1:
                continue
            last_draw = now
            drawn = True
            out.write("\r" + _progress_line(snap.t, duration_s, now - start))
            out.flush()
    finally:
        if drawn:
            out.write("\r\x1b[K")
            out.flush()


def _progress_line(t: float, duration_s: float, elapsed: float, width: int = 30) -> str:
    frac = min(max(t / duration_s, 0.0), 1.0) if duration_s > 0 else 1.0
    filled = int(round(frac * width))
    return (f"[{'#' * filled}{'.' * (width - filled)}] {frac:4.0%}  "
            f"t={t:,.1f}/{duration_s:,.1f} s  {elapsed:,.1f} s elapsed")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _print_table(rows: Iterable[tuple[str, Any]]) -> None:
    rows = list(rows)
    width = max((len(k) for k, _ in rows), default=0)
    for key, value in rows:
        print(f"{key:<{width}}  {_fmt(value)}")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        size = abs(value)
        if size >= 1e15:
            return f"{value:.6g}"
        return f"{value:.4f}" if size < 10 else f"{value:.2f}" if size < 1000 else f"{value:,.1f}"
    return str(value)


# -- replay ---------------------------------------------------------------------------


def _cmd_replay(args: argparse.Namespace) -> int:
    from cachesim.replay import replay
    from cachesim.traces import TraceError, read_trace

    try:
        trace = read_trace(args.trace)
    except TraceError as err:
        raise UsageError(str(err)) from None
    result = replay(trace, args.policy, args.capacity, use_bytes=args.use_bytes)
    if args.json:
        print(json.dumps(result.to_dict()))
        return EXIT_OK
    unit = "bytes" if args.use_bytes else "objects"
    rows: list[tuple[str, Any]] = [
        ("trace", f"{Path(args.trace).name} ({trace.format})"),
        ("policy", args.policy),
        ("capacity", f"{args.capacity:,} {unit}"),
        *result.to_dict().items(),
    ]
    if trace.zero_size_skipped:
        rows.append(("skipped (size 0)", trace.zero_size_skipped))
    _print_table(rows)
    return EXIT_OK
