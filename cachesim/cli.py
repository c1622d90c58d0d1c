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

    p = sub.add_parser("eval-analyst", help="score an OpenAI-compatible model on the analyst's question bank")
    p.add_argument(
        "--base-url",
        required=True,
        metavar="URL",
        help="the server's OpenAI-compatible API, e.g. http://localhost:8000/v1",
    )
    p.add_argument("--model", required=True, metavar="NAME", help="the model name the server expects")
    p.add_argument(
        "--api-key",
        metavar="KEY",
        default=None,
        help="the API key (default: $OPENAI_API_KEY; local servers may need none)",
    )
    p.add_argument(
        "--scenario",
        action="append",
        metavar="NAME",
        help="only the questions over this built-in scenario (repeatable)",
    )
    p.add_argument(
        "--timeout", type=float, default=120.0, metavar="S", help="seconds to wait for each answer (default 120)"
    )
    p.add_argument("--show", action="store_true", help="print each answer too")
    p.set_defaults(handler=_cmd_eval_analyst)

    p = sub.add_parser("scenarios", help="list the built-in scenarios")
    p.add_argument("--json", action="store_true", help="print {name: description} as JSON")
    p.set_defaults(handler=_cmd_scenarios)

    p = sub.add_parser("run", help="run a simulation and print its summary")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--scenario", metavar="NAME", help="a built-in scenario (default: baseline)")
    source.add_argument("--config", metavar="FILE.toml", help="a config file")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a config field by its dotted name, e.g. cluster.nodes=8 (repeatable)",
    )
    p.add_argument("--out", metavar="DIR", help="save the whole result to DIR")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(handler=_cmd_run)

    p = sub.add_parser("sweep", help="run a config over a grid of values x replications, with 95%% CIs")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--scenario", metavar="NAME", help="a built-in scenario (default: baseline)")
    source.add_argument("--config", metavar="FILE.toml", help="a config file")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a config field for every run (repeatable)",
    )
    p.add_argument(
        "--vary",
        action="append",
        default=[],
        metavar="KEY=VALUES",
        required=True,
        help="a field and its values: a list cluster.nodes=2,4,8, a range cluster.capacity=100:1000:100 "
        "or a geometric range cluster.capacity=100:3200:*2 (repeatable: a grid)",
    )
    p.add_argument(
        "--seeds",
        "--reps",
        dest="seeds",
        type=_positive_int,
        default=1,
        metavar="N",
        help="replications per grid point; their seeds are derived from the config's seed (default 1)",
    )
    p.add_argument(
        "--jobs",
        type=_positive_int,
        default=None,
        metavar="N",
        help="local worker processes (default: all cores; 1 runs them one by one here)",
    )
    p.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run on a Dask cluster: a scheduler address (tcp://host:8786) or 'local' for a "
        "LocalCluster (default: $DASK_SCHEDULER_ADDRESS when set)",
    )
    p.add_argument(
        "--target-ci",
        metavar="METRIC=HALF_WIDTH",
        help="adaptive replications: add seeds until METRIC's 95%% CI half-width is at most "
        "HALF_WIDTH, e.g. hit_ratio=0.005",
    )
    p.add_argument(
        "--max-reps",
        type=_positive_int,
        default=30,
        metavar="N",
        help="with --target-ci: at most N replications per point (default 30)",
    )
    p.add_argument("--csv", metavar="FILE", help="also write every run's row to FILE")
    p.add_argument("--parquet", metavar="FILE", help="also write every run's row to FILE as Parquet (needs pyarrow)")
    p.add_argument("--json", action="store_true", help="print every run's row as JSON lines")
    p.set_defaults(handler=_cmd_sweep)

    from cachesim.policies import EVICTION_POLICIES

    p = sub.add_parser("replay", help="replay a trace through one eviction policy")
    p.add_argument("trace", metavar="TRACE", help="a CSV (key[,time,size,op]) or oracleGeneral .bin file")
    p.add_argument("--policy", required=True, choices=list(EVICTION_POLICIES), help="eviction policy")
    p.add_argument(
        "--capacity",
        required=True,
        type=_positive_int,
        metavar="N",
        help="cache capacity: objects, or bytes with --bytes",
    )
    p.add_argument(
        "--bytes", dest="use_bytes", action="store_true", help="capacity in bytes, objects take their trace sizes"
    )
    p.add_argument("--json", action="store_true", help='print {"requests", "hits", "misses", "miss_ratio"} as JSON')
    p.set_defaults(handler=_cmd_replay)

    p = sub.add_parser("mrc", help="miss-ratio curves of a trace (exact LRU, SHARDS, replay)")
    p.add_argument("trace", metavar="TRACE", help="a CSV or oracleGeneral file (optionally .zst), or sample:NAME")
    p.add_argument("--policy", default="lru", metavar="P1,P2", help="eviction policies, comma-separated (default lru)")
    p.add_argument(
        "--sizes",
        default="",
        metavar="S1,S2,...",
        help="cache sizes (objects, or bytes with --bytes; k/M/G suffixes); "
        "default: 20 sizes from 1 to the whole trace",
    )
    p.add_argument(
        "--bytes", dest="use_bytes", action="store_true", help="sizes in bytes, objects take their trace sizes"
    )
    p.add_argument(
        "--sample", type=float, default=None, metavar="RATE", help="SHARDS spatial sampling rate in (0, 1], e.g. 0.01"
    )
    p.add_argument(
        "--jobs",
        type=_positive_int,
        default=None,
        metavar="N",
        help="worker processes for the non-LRU replays (default: the CPUs)",
    )
    p.add_argument("--json", action="store_true", help="print the curves as one JSON object")
    p.set_defaults(handler=_cmd_mrc)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


# -- eval-analyst ---------------------------------------------------------------------


def _cmd_eval_analyst(args: argparse.Namespace) -> int:
    """Run the question bank (cachesim.analyst.bank) against a model and print the score."""
    import os

    from pydantic import SecretStr

    from cachesim.analyst import LLM, Answer, LLMSettings, answer_events
    from cachesim.analyst.bank import RUN_OVERRIDES, bank_runs, evaluate

    unknown = [s for s in args.scenario or () if s not in RUN_OVERRIDES]
    if unknown:
        raise UsageError(f"--scenario: unknown {unknown[0]!r}; the bank covers {', '.join(RUN_OVERRIDES)}")
    if not args.timeout > 0:
        raise UsageError("--timeout must be > 0 seconds")
    key = args.api_key or os.environ.get("OPENAI_API_KEY")
    settings = LLMSettings(
        model=args.model,
        api_key=SecretStr(key) if key else None,
        base_url=args.base_url,
        timeout_s=args.timeout,
        max_retries=1,
    )
    print(f"simulating the bank's runs: {', '.join(args.scenario or RUN_OVERRIDES)}", file=sys.stderr)
    runs = bank_runs(args.scenario)

    def answer(scenario: str, run: Any, question: str) -> str:
        run_id = f"run-1 · {scenario}"
        ans = Answer(LLM)
        for ev in answer_events(run_id, {run_id: run}, question, mode=LLM, settings=settings):
            ans.feed(ev)
        if ans.error is not None:
            return f"(no answer: {ans.error.message})"
        return ans.text

    score = evaluate(answer, runs)
    for (_case, text, _), line in zip(score.results, score.lines(), strict=False):
        print(line)
        if args.show:
            print("    " + "\n    ".join(text.splitlines()))
    print(score.lines()[-1])
    return EXIT_OK


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
        print(f"{label}: {res.sim_time_s:g} s simulated ({res.status}), summary after warmup_s={cfg.warmup_s:g}")
        _print_table(summary.items())
        if saved is not None:
            print(f"saved to {saved}")
    return EXIT_OK


def _cmd_sweep(args: argparse.Namespace) -> int:
    import threading

    from pydantic import ValidationError

    import cachesim
    from cachesim.executors import ExecutorError, make_executor
    from cachesim.sweeps import KEY_METRICS, Adaptive, aggregate, failure_text, plan_sweep, run_sweep, save_table

    cfg, label = _load_config(args)
    grid = dict(_parse_override(item) for item in args.vary)
    adaptive = None
    try:
        plan = plan_sweep(cfg, grid, args.seeds)  # validate every point before running any
        if cfg.workload.trace and "workload.trace" not in grid:
            # One trace for every run: a missing or bad one is one line before any run.
            # A varied trace is per point: a bad one fails its runs, reported, the rest go on.
            from cachesim.samples import resolve_trace

            try:
                resolve_trace(cfg.workload.trace)
            except (ValueError, OSError) as err:
                raise UsageError(_one_line(err)) from None
        if args.target_ci:
            metric, sep, target = args.target_ci.partition("=")
            if not sep or metric.strip() not in KNOWN_METRICS:
                raise UsageError(
                    f"--target-ci expects METRIC=HALF_WIDTH with METRIC one of "
                    f"{', '.join(KNOWN_METRICS)}, got {args.target_ci!r}"
                )
            try:
                half = float(target)
            except ValueError:
                raise UsageError(f"--target-ci: the half-width must be a number, got {target!r}") from None
            adaptive = Adaptive(metric.strip(), half, max_replications=max(args.max_reps, 2))
        for path in (args.csv, args.parquet):
            if path:
                _check_writable(path)
    except ValidationError as err:
        raise UsageError(cachesim.format_validation_error(err)) from None
    except ValueError as err:
        raise UsageError(str(err)) from None
    try:
        executor = make_executor(args.jobs if args.jobs is not None else None, args.dask)
    except ExecutorError as err:
        raise UsageError(str(err)) from None
    bar = _SweepBar(sys.stderr)
    stop = threading.Event()
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["result"] = run_sweep(plan, executor, progress=bar, stop=stop, adaptive=adaptive)
        except BaseException as exc:  # reported by the main thread
            box["error"] = exc

    worker = threading.Thread(target=work, name="cachesim-sweep", daemon=True)
    interrupted = False
    try:
        worker.start()
        while worker.is_alive():
            try:
                worker.join(0.2)
            except KeyboardInterrupt:  # keep what finished
                interrupted = True
                stop.set()
    finally:
        bar.clear()
        executor.close()
    if "error" in box:
        raise box["error"]
    result = box["result"]
    table = result.table
    for failure in result.failures:
        print(f"{_PROG}: run failed: {' '.join(failure_text(failure).split())}", file=sys.stderr)
    try:
        for path in (args.csv, args.parquet):
            if path:
                save_table(table, path)
    except OSError as err:
        raise UsageError(f"cannot write the sweep table: {err.strerror or err}") from None
    except ValueError as err:
        raise UsageError(str(err)) from None
    if args.json:
        for row in table.to_dict(orient="records"):
            print(json.dumps({k: _jsonable(v) for k, v in row.items()}, allow_nan=False))
    else:
        agg = aggregate(table, list(plan.keys), KEY_METRICS) if len(table) else table
        reps = sorted(set(agg["runs"])) if len(table) else [0]
        per_point = str(reps[0]) if len(reps) == 1 else f"{reps[0]}-{reps[-1]}"
        print(
            f"{label}: {len(table)} runs ({len(agg)} points x {per_point} seeds) on {result.executor}"
            f" in {result.elapsed_s:.1f} s" + (f"; {len(result.failures)} failed" if result.failures else "")
        )
        if len(table):
            cols = [*plan.keys, "runs"] + [f"{m}_{s}" for m in KEY_METRICS for s in ("mean", "ci") if f"{m}_{s}" in agg]
            print(agg[cols].to_string(index=False, float_format=lambda x: f"{x:.4g}"))
            print("(_ci: half-width of the 95% Student-t confidence interval over the replications)")
    if interrupted or result.cancelled:
        print(f"{_PROG}: interrupted: kept the {len(table)} runs that had finished", file=sys.stderr)
        return 130
    return EXIT_OK if len(table) or not result.failures else 1


KNOWN_METRICS = (
    "issued",
    "completed",
    "failed",
    "hits",
    "misses",
    "hit_ratio",
    "stale_reads",
    "latency_mean_ms",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "throughput_rps",
    "db_reads",
    "db_writes",
    "latency_max_ms",
    "timeouts",
    "retries",
    "stale_read_ratio",
    "db_load_rps",
    "byte_hit_ratio",
)


def _check_writable(path: str) -> None:
    p = Path(path)
    if p.suffix.lower() not in (".csv", ".parquet"):
        raise UsageError(f"{path}: a sweep table is written as .csv or .parquet")
    if not p.parent.is_dir():
        raise UsageError(f"cannot write {path}: no such directory {str(p.parent)!r}")


class _SweepBar:
    """A sweep's progress on a terminal: ``[####....] 12/40 runs, 1 failed, ETA 8 s``,
    redrawn at most ten times a second; nothing when the stream is not a terminal."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.show = stream.isatty()
        self.last = 0.0
        self.drawn = False

    def __call__(self, progress: Any) -> None:
        if not self.show:
            return
        now = time.monotonic()
        if now - self.last < 0.1 and progress.done < progress.total:
            return
        self.last = now
        self.drawn = True
        self.stream.write("\r" + sweep_progress_line(progress) + "\x1b[K")
        self.stream.flush()

    def clear(self) -> None:
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def sweep_progress_line(progress: Any, width: int = 30) -> str:
    """One line for a sweep's :class:`cachesim.sweeps.Progress`."""
    filled = int(round(progress.fraction * width))
    eta = progress.eta_s
    return (
        f"[{'#' * filled}{'.' * (width - filled)}] {progress.done}/{progress.total} runs"
        + (f", {progress.failed} failed" if progress.failed else "")
        + (f", ETA {eta:,.0f} s" if eta is not None and progress.done < progress.total else "")
        + f"  {progress.elapsed_s:,.1f} s elapsed"
    )


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
    return (
        f"[{'#' * filled}{'.' * (width - filled)}] {frac:4.0%}  "
        f"t={t:,.1f}/{duration_s:,.1f} s  {elapsed:,.1f} s elapsed"
    )


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


# -- mrc ------------------------------------------------------------------------------

_SIZE_SUFFIXES = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}


def _parse_sizes(text: str) -> list[int]:
    out: list[int] = []
    for item in text.split(","):
        raw = item.strip().replace("_", "").lower()
        mult = 1
        if raw and raw[-1] in _SIZE_SUFFIXES:
            raw, mult = raw[:-1], _SIZE_SUFFIXES[raw[-1]]
        try:
            value = float(raw) * mult
        except ValueError:
            raise UsageError(f"--sizes: {item.strip()!r} is not a cache size") from None
        if not math.isfinite(value) or value < 1 or value != int(value) or value > 2**62:
            raise UsageError(f"--sizes: {item.strip()!r} must be a whole number >= 1")
        out.append(int(value))
    return out


def _cmd_mrc(args: argparse.Namespace) -> int:
    import numpy as np

    from cachesim.mrc import default_sizes, miss_ratio_curve
    from cachesim.policies import EVICTION_POLICIES
    from cachesim.samples import resolve_trace
    from cachesim.traces import TraceError

    policies = [p.strip().lower() for p in args.policy.split(",") if p.strip()]
    if not policies:
        raise UsageError("--policy: give at least one policy")
    for name in policies:
        if name not in EVICTION_POLICIES:
            known = ", ".join(EVICTION_POLICIES)
            raise UsageError(f"--policy: unknown policy {name!r} (choose from {known})")
    rate = args.sample
    if rate is not None and not (math.isfinite(rate) and 0 < rate <= 1):
        raise UsageError(f"--sample: the rate must be in (0, 1], got {rate}")
    if args.sizes.strip():
        sizes = np.array(_parse_sizes(args.sizes), dtype=np.int64)
    try:
        trace = resolve_trace(args.trace)
    except TraceError as err:
        raise UsageError(str(err)) from None
    if not args.sizes.strip():
        sizes = default_sizes(trace, use_bytes=args.use_bytes, points=20)
    curves = [
        miss_ratio_curve(trace, name, sizes, use_bytes=args.use_bytes, sample_rate=rate, jobs=args.jobs)
        for name in policies
    ]
    unit = "bytes" if args.use_bytes else "objects"
    if args.json:
        print(
            json.dumps(
                {
                    "trace": args.trace,
                    "requests": len(trace),
                    "unit": unit,
                    "curves": [c.to_dict() for c in curves],
                    "capacity_for_90pct_hits": {c.policy: c.capacity_for(0.9) for c in curves},
                }
            )
        )
        return EXIT_OK
    print(
        f"{args.trace}: {len(trace):,} requests; miss ratio by cache size ({unit})"
        + (f", SHARDS at rate {rate:g}" if rate is not None and rate < 1 else "")
    )
    header = [f"{'size':>14}"] + [f"{c.policy:>9}" for c in curves]
    print(" ".join(header))
    for i, size in enumerate(curves[0].sizes):
        print(" ".join([f"{int(size):>14,}"] + [f"{c.miss_ratios[i]:>9.4f}" for c in curves]))
    for c in curves:
        cap = c.capacity_for(0.9)
        lowest = float(c.miss_ratios.min())
        answer = (
            f"{cap:,} {unit}" if cap is not None else f"not reached on these sizes (lowest miss ratio {lowest:.4f})"
        )
        print(f"{c.policy}: 90% hit ratio at {answer}")
    return EXIT_OK
