"""A run as one ZIP, in memory: what the app's "Everything (ZIP)" download holds and
what its upload reads back (a server restart loses in-memory runs; a visitor keeps
the ZIP and uploads it again).

The files are those of :meth:`RunResult.save` (config.toml, summary.json, meta.json
and the CSVs). Reading is for untrusted bytes: size-limited before and after
decompression, only the known file names (no paths, no ``..``, at most one folder
level), parsed from memory (nothing is written to disk), and an error is one line
that never quotes the content.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pandas as pd

from .config import SimConfig, check_nesting
from .events import complete as complete_events
from .hotkeys import FILES as HOT_FILES
from .hotkeys import load_frames, save_frames
from .results import RunResult, with_rates

FILES = (
    "config.toml",
    "summary.json",
    "meta.json",
    "timeseries.csv",
    "node_timeseries.csv",
    "nodes.csv",
    "events.csv",
    "latency_histogram.csv",
)
#: Files a saved run may hold (older runs lack them): the hot-key sketches, the database samples.
OPTIONAL = (*HOT_FILES, "database_timeseries.csv")
#: Uncompressed bytes allowed per compressed byte limit (a zip bomb stops here).
EXPANSION = 20


class ArchiveError(ValueError):
    """An uploaded run that cannot be read: one line, no content quoted."""


def run_to_zip(result: RunResult) -> bytes:
    """``result`` as ZIP bytes (the files of RunResult.save), built in memory."""
    files: dict[str, str] = {
        "config.toml": result.config.to_toml(),
        "summary.json": json.dumps(result.summary, indent=2) + "\n",
        "meta.json": json.dumps({"status": result.status, "sim_time_s": result.sim_time_s}, indent=2) + "\n",
        "timeseries.csv": result.timeseries().to_csv(index=False),
        "node_timeseries.csv": result.node_timeseries().to_csv(index=False),
        "nodes.csv": result.nodes().to_csv(index=False),
        "events.csv": result.events().to_csv(index=False),
        "latency_histogram.csv": result.latency_histogram().to_csv(index=False),
        "database_timeseries.csv": result.database_timeseries().to_csv(index=False),
    }
    if result._hot is not None:  # noqa: SLF001 - the archive writes what RunResult.save writes
        files |= {name: frame.to_csv(index=False) for name, frame in save_frames(result._hot).items()}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(files):
            zf.writestr(name, files[name])
    return buf.getvalue()


def _members(zf: zipfile.ZipFile, name: str, max_bytes: int) -> dict[str, zipfile.ZipInfo]:
    found: dict[str, zipfile.ZipInfo] = {}
    infos = zf.infolist()
    if len(infos) > 4 * (len(FILES) + len(OPTIONAL)):
        raise ArchiveError(f"{name} holds {len(infos)} files; a saved run has {len(FILES) + len(OPTIONAL)}")
    total = 0
    for info in infos:
        if info.is_dir():
            continue
        parts = info.filename.replace("\\", "/").split("/")
        if info.filename.startswith("/") or ".." in parts or len(parts) > 2 or ":" in info.filename:
            raise ArchiveError(f"{name} holds a file outside the run's folder; upload the ZIP the app downloaded")
        base = parts[-1]
        if base not in FILES and base not in OPTIONAL:
            continue  # a stray file (e.g. an OS's metadata): ignored
        if base in found:
            raise ArchiveError(f"{name} holds {base} twice")
        total += info.file_size
        if total > EXPANSION * max_bytes:
            raise ArchiveError(f"{name} expands to more than {EXPANSION * max_bytes:,} bytes")
        found[base] = info
    missing = [f for f in FILES if f not in found]
    if missing:
        raise ArchiveError(f"{name} is not a saved cachesim run (missing {', '.join(missing)})")
    return found


def _read(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    with zf.open(info) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:  # the header lied about the size
        raise ArchiveError(f"{info.filename.rsplit('/', 1)[-1]} expands beyond its stated size")
    return data


def run_from_zip(data: bytes, *, max_bytes: int, name: str = "the upload") -> RunResult:
    """A RunResult from ZIP bytes; raises ArchiveError (one line) for anything else."""
    if len(data) > max_bytes:
        raise ArchiveError(f"{name} is {len(data):,} bytes; at most {max_bytes:,} are accepted")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise ArchiveError(f"{name} is not a ZIP file") from None
    with zf:
        members = _members(zf, name, max_bytes)
        try:
            raw = {base: _read(zf, info, info.file_size) for base, info in members.items()}
        except ArchiveError:
            raise
        except (zipfile.BadZipFile, OSError, RuntimeError, ValueError, EOFError):
            raise ArchiveError(f"{name} is damaged (a file could not be decompressed)") from None
    return _parse(raw, name)


def _text(raw: dict[str, bytes], base: str, name: str) -> str:
    try:
        return raw[base].decode("utf-8")
    except UnicodeDecodeError:
        raise ArchiveError(f"{name}: {base} is not UTF-8 text") from None


def _json(raw: dict[str, bytes], base: str, name: str) -> Any:
    text = _text(raw, base, name)
    try:
        check_nesting(text, base)
        return json.loads(text)
    except (ValueError, RecursionError):
        raise ArchiveError(f"{name}: {base} is not valid JSON") from None


def _csv(raw: dict[str, bytes], base: str, name: str, **kwargs: Any) -> pd.DataFrame:
    try:
        return pd.read_csv(io.BytesIO(raw[base]), **kwargs)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        raise ArchiveError(f"{name}: {base} is not a readable CSV of a saved run") from None


def _hot(raw: dict[str, bytes], name: str, config: SimConfig) -> Any:
    frames = {
        base: _csv(raw, base, name, dtype={"node": str, "kind": str, "home": str}) for base in HOT_FILES if base in raw
    }
    try:
        return load_frames(config, frames)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ArchiveError(f"{name}: the hot-key files do not fit the run") from None


def _parse(raw: dict[str, bytes], name: str) -> RunResult:
    from pydantic import ValidationError

    try:
        config = SimConfig.from_toml(_text(raw, "config.toml", name), source="config.toml")
    except (ValidationError, ValueError):
        raise ArchiveError(f"{name}: config.toml is not a valid config") from None
    summary, meta = _json(raw, "summary.json", name), _json(raw, "meta.json", name)
    if not isinstance(summary, dict) or not isinstance(meta, dict):
        raise ArchiveError(f"{name}: summary.json and meta.json must be JSON objects")
    status = meta.get("status")
    try:
        sim_time_s = float(meta.get("sim_time_s"))
    except (TypeError, ValueError):
        raise ArchiveError(f"{name}: meta.json has no sim_time_s") from None
    if status not in ("finished", "stopped", "running", "ready"):
        raise ArchiveError(f"{name}: meta.json has an unknown status")
    events = _csv(
        raw,
        "events.csv",
        name,
        keep_default_na=False,
        dtype={"kind": str, "source": str, "target": str, "message": str, "target_kind": str},
    )
    try:
        events["t"] = events["t"].astype(float)
        events = complete_events(events)  # an archive made before target_kind and ends_at existed
    except (KeyError, ValueError, TypeError):
        raise ArchiveError(f"{name}: events.csv has no numeric t column") from None
    result = RunResult(
        config=config,
        summary=summary,
        status=status,
        sim_time_s=sim_time_s,
        _timeseries=with_rates(_csv(raw, "timeseries.csv", name)),
        _node_timeseries=_csv(raw, "node_timeseries.csv", name, dtype={"name": str}),
        _nodes=_csv(raw, "nodes.csv", name, dtype={"node": str}),
        _events=events,
        _latency=_csv(raw, "latency_histogram.csv", name),
        _db=_csv(raw, "database_timeseries.csv", name) if "database_timeseries.csv" in raw else None,
        _hot=_hot(raw, name, config),
    )
    try:  # the charts and the analyst read these columns: fail here, with one line
        result.timeseries()["t"]
        result.events()[["t", "kind", "message"]]
    except (KeyError, ValueError, TypeError):
        raise ArchiveError(f"{name}: the run's tables lack the expected columns") from None
    return result
