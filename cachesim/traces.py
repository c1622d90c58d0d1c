"""Cache traces: CSV files and libCacheSim ``oracleGeneral`` binary files.

:func:`read_trace` (a path) and :func:`read_trace_bytes` (bytes in memory, e.g. an
upload) turn either into a :class:`Trace` of numpy arrays, read in bulk (pandas for
CSV, a numpy structured dtype for binary; no Python loop per request). Either may be
zstd-compressed (detected by its magic bytes; decompressed in memory, bounded by
``max_bytes``).

- CSV: a header row with a ``key`` column and optionally ``time``, ``size`` and ``op``
  (``read``/``write``, or ``get``/``set``, any case); other columns are ignored. Integer
  keys are kept as they are; any other keys are factorised to ints in first-seen order.
- oracleGeneral: little-endian 24-byte records ``<IQIq`` = (uint32 time, uint64 obj_id,
  uint32 size, int64 next_access_vtime). Object ids are reinterpreted as int64.

Like libCacheSim's readers (``ignore_size_zero_req``, on by default), requests whose
size is 0 are dropped; :attr:`Trace.zero_size_skipped` says how many. Sizes are kept per
request: replay in bytes mode inserts an object with the size of the request that
missed and keeps it on hits, as libCacheSim does (oracleGeneral files already pin each
object to its first-seen size; raw CSV sizes may vary).

Every problem raises :class:`TraceError` with one line naming the file and the CSV line
or binary record.
"""

from __future__ import annotations

import codecs
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "ORACLE_GENERAL_DTYPE",
    "Trace",
    "TraceError",
    "is_binary_trace",
    "next_access_vtime",
    "read_trace",
    "read_trace_bytes",
    "write_trace",
]

#: One libCacheSim oracleGeneral record (24 bytes, little-endian, packed).
ORACLE_GENERAL_DTYPE = np.dtype([("time", "<u4"), ("obj_id", "<u8"), ("size", "<u4"), ("next_access_vtime", "<i8")])
_SNIFF_BYTES = 8192
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
#: The default bound on a decompressed trace (bytes): a small upload cannot expand
#: without limit.
MAX_DECOMPRESSED_BYTES = 2 * 1024**3
_OPS = {"read": False, "get": False, "write": True, "set": True}


class TraceError(ValueError):
    """A trace file that cannot be read; the message is one line naming the place."""


@dataclass(frozen=True, eq=False)
class Trace:
    """A request sequence. ``keys`` and ``sizes`` are int64, ``times`` float64 (or None),
    ``is_write`` bool (or None); all of the same length."""

    keys: np.ndarray
    sizes: np.ndarray
    times: np.ndarray | None = None
    is_write: np.ndarray | None = None
    source: str = ""
    format: str = "csv"  # "csv" | "oracleGeneral" | "sample"
    zero_size_skipped: int = 0

    def __len__(self) -> int:
        return int(self.keys.shape[0])

    @property
    def n_objects(self) -> int:
        """Distinct keys."""
        return int(np.unique(self.keys).shape[0])


def is_binary_trace(path: str | Path) -> bool:
    """oracleGeneral by name (``.bin``, or ``oracleGeneral`` in a name not ending in
    ``.csv``; a ``.zst`` suffix is looked through), else by content that is not UTF-8
    text."""
    path = Path(path)
    if _binary_by_name(path.name) is not None:
        return True
    with path.open("rb") as f:
        head = f.read(_SNIFF_BYTES)
    return _binary_by_content(head)


def _binary_by_name(name: str) -> bool | None:
    """True/False when the name says which format, None when it does not."""
    lower = name.lower()
    if lower.endswith(".zst"):
        lower = lower[:-4]
    suffix = Path(lower).suffix
    if suffix == ".bin" or (suffix != ".csv" and "oraclegeneral" in lower):
        return True
    if suffix == ".csv":
        return False
    return None


def _binary_by_content(head: bytes) -> bool:
    head = head[:_SNIFF_BYTES]
    if b"\x00" in head:
        return True
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return True
    return False


def read_trace(path: str | Path, *, max_bytes: int = MAX_DECOMPRESSED_BYTES) -> Trace:
    """Read a CSV or oracleGeneral trace file, optionally zstd-compressed (see the
    module docstring)."""
    path = Path(path)
    if not path.exists():
        raise TraceError(f"{path}: no such file")
    if not path.is_file():
        raise TraceError(f"{path}: not a file")
    try:
        with path.open("rb") as f:
            magic = f.read(4)
        if magic != _ZSTD_MAGIC and path.suffix.lower() in {".gz", ".xz", ".bz2"}:
            raise TraceError(f"{path}: only zstd-compressed traces are supported; decompress it first")
        if magic == _ZSTD_MAGIC:
            return read_trace_bytes(path.read_bytes(), str(path), max_bytes=max_bytes)
        binary = _binary_by_name(path.name)
        if binary is None:
            binary = is_binary_trace(path)
        if binary:
            return _read_oracle_general(path)
        return _parse_csv(path.read_bytes(), str(path))
    except OSError as err:
        raise TraceError(f"{path}: cannot read: {err.strerror or err}") from None


def read_trace_bytes(data: bytes, name: str = "trace", *, max_bytes: int = MAX_DECOMPRESSED_BYTES) -> Trace:
    """Parse a trace held in memory (an upload): CSV or oracleGeneral, optionally
    zstd-compressed. ``name`` names the trace in messages; content that is not UTF-8
    text is oracleGeneral, text is CSV unless ``name`` says oracleGeneral (``.bin``). Any problem raises
    :class:`TraceError`, one line naming ``name`` and the line or record."""
    data = bytes(data)
    name = " ".join(str(name).split())[:200] or "trace"  # one line, whatever was uploaded
    if data[:4] == _ZSTD_MAGIC:
        data = _decompress(data, name, max_bytes)
    # bytes that are not text are binary whatever the name says; text is CSV unless
    # the name says oracleGeneral
    if _binary_by_content(data) or _binary_by_name(name):
        return _parse_oracle_general(data, name)
    return _parse_csv(data, name)


def _decompress(data: bytes, name: str, max_bytes: int) -> bytes:
    try:
        import zstandard
    except ImportError:  # pragma: no cover - zstandard is in requirements.txt
        raise TraceError(f"{name}: zstd-compressed, and the zstandard package is missing") from None
    out = bytearray()
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data))
        while chunk := reader.read(1 << 20):
            out += chunk
            if len(out) > max_bytes:
                raise TraceError(f"{name}: decompresses to more than {max_bytes:,} bytes (the limit)")
    except zstandard.ZstdError as err:
        raise TraceError(f"{name}: not a valid zstd stream ({err})") from None
    if not out:
        raise TraceError(f"{name}: not a valid zstd stream (no data: truncated or empty)")
    return bytes(out)


def _drop_zero_sizes(trace: Trace) -> Trace:
    keep = trace.sizes > 0
    if keep.all():
        return trace
    skipped = int(keep.shape[0] - np.count_nonzero(keep))
    if skipped == keep.shape[0]:
        raise TraceError(f"{trace.source}: every request has size 0 (nothing to replay)")
    return Trace(
        keys=trace.keys[keep],
        sizes=trace.sizes[keep],
        times=None if trace.times is None else trace.times[keep],
        is_write=None if trace.is_write is None else trace.is_write[keep],
        source=trace.source,
        format=trace.format,
        zero_size_skipped=skipped,
    )


def write_trace(trace: Trace, path: str | Path) -> Path:
    """Write ``trace`` as oracleGeneral if ``path`` looks binary (``.bin`` or
    ``oracleGeneral`` in the name), else as CSV with the columns it has
    (``time,key,size,op``). Keys must fit uint64 for oracleGeneral (negative int64 keys
    are written as their two's complement, which :func:`read_trace` reads back)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".bin" or (suffix != ".csv" and "oraclegeneral" in path.name.lower()):
        records = np.empty(len(trace), dtype=ORACLE_GENERAL_DTYPE)
        records["time"] = 0 if trace.times is None else trace.times.astype(np.uint32)
        records["obj_id"] = trace.keys.astype(np.uint64)
        records["size"] = trace.sizes.astype(np.uint32)
        records["next_access_vtime"] = next_access_vtime(trace.keys)
        records.tofile(path)
        return path
    columns: dict[str, np.ndarray] = {}
    if trace.times is not None:
        whole = bool(np.all(trace.times == np.floor(trace.times)))
        columns["time"] = trace.times.astype(np.int64) if whole else trace.times
    columns["key"] = trace.keys
    columns["size"] = trace.sizes
    if trace.is_write is not None:
        columns["op"] = np.where(trace.is_write, "write", "read")
    pd.DataFrame(columns).to_csv(path, index=False)
    return path


def next_access_vtime(keys: np.ndarray) -> np.ndarray:
    """For each request, the 1-based position of the next request for the same key, or
    -1 (oracleGeneral's ``next_access_vtime``); vectorised."""
    n = keys.shape[0]
    out = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return out
    lo = int(keys.min())
    if (int(keys.max()) - lo + 1) * n < 2**62:
        # by key, then position, as one unique int64 per request: a plain (unstable,
        # fast) sort orders it exactly as a stable sort by key would
        order = np.argsort((keys.astype(np.int64) - lo) * n + np.arange(n, dtype=np.int64))
    else:
        order = np.argsort(keys, kind="stable")  # by key, then position
    same = keys[order[1:]] == keys[order[:-1]]
    out[order[:-1][same]] = order[1:][same] + 1
    return out


# -- oracleGeneral ------------------------------------------------------------------


def _read_oracle_general(path: Path) -> Trace:
    return _parse_oracle_general(path.read_bytes(), str(path))


def _parse_oracle_general(data: bytes, name: str) -> Trace:
    itemsize = ORACLE_GENERAL_DTYPE.itemsize
    whole, trailing = divmod(len(data), itemsize)
    if trailing:
        raise TraceError(
            f"{name}: truncated oracleGeneral trace: {whole} whole {itemsize}-byte records, "
            f"then {trailing} trailing bytes (record {whole + 1} is incomplete)"
        )
    if whole == 0:
        raise TraceError(f"{name}: empty oracleGeneral trace (no records)")
    records = np.frombuffer(data, dtype=ORACLE_GENERAL_DTYPE)
    trace = Trace(
        keys=records["obj_id"].astype(np.int64),
        sizes=records["size"].astype(np.int64),
        times=records["time"].astype(np.float64),
        is_write=None,
        source=name,
        format="oracleGeneral",
    )
    return _drop_zero_sizes(trace)


# -- CSV ----------------------------------------------------------------------------


def _parse_csv(data: bytes, name: str) -> Trace:
    try:
        df = pd.read_csv(
            io.BytesIO(data),
            skipinitialspace=True,
            dtype={"op": str},
            keep_default_na=False,  # a key such as "NA" or "null" is a key
            na_values=[""],
            low_memory=False,
            encoding="utf-8",
        )
    except pd.errors.EmptyDataError:
        msg = f"{name}: empty file (expected a CSV header with a 'key' column)"
        raise TraceError(msg) from None
    except pd.errors.ParserError as err:
        raise TraceError(f"{name}: {_parser_message(err)}") from None
    except UnicodeDecodeError:
        raise TraceError(f"{name}: not UTF-8 text and not an oracleGeneral trace") from None
    except (ValueError, OverflowError, MemoryError) as err:  # pandas' other complaints
        raise TraceError(f"{name}: malformed CSV: {_one_line(str(err))}") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    seen: set[str] = set()
    for column in df.columns:
        if column in seen and column in _KNOWN_COLUMNS:
            raise TraceError(
                f"{name}: line 1: column {column!r} appears more than once in the header "
                "(names are compared ignoring case and spaces)"
            )
        seen.add(column)
    if "key" not in df.columns:
        found = ", ".join(_one_line(c)[:40] for c in df.columns) or "nothing"
        raise TraceError(f"{name}: line 1: no 'key' column in the header (found: {found})")
    if len(df) == 0:
        raise TraceError(f"{name}: no requests after the header")
    columns = set(df.columns)
    src = _Source(name, data)
    trace = Trace(
        keys=_keys(src, df["key"]),
        sizes=_sizes(src, df["size"]) if "size" in columns else np.ones(len(df), np.int64),
        times=_times(src, df["time"]) if "time" in columns else None,
        is_write=_ops(src, df["op"]) if "op" in columns else None,
        source=name,
        format="csv",
    )
    return _drop_zero_sizes(trace)


_KNOWN_COLUMNS = frozenset({"key", "time", "size", "op"})


@dataclass(frozen=True)
class _Source:
    """A CSV being parsed: its name (for messages) and its bytes (to find lines)."""

    name: str
    data: bytes


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "unreadable"


def _parser_message(err: Exception) -> str:
    text = str(err).strip()
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
    if m:
        return f"line {m[2]}: expected {m[1]} fields, saw {m[3]}"
    return text.splitlines()[-1] if text else "malformed CSV"


def _fail(src: _Source, column: pd.Series, bad: np.ndarray, what: str) -> TraceError:
    """The error for the first row where ``bad`` is true."""
    row = int(np.flatnonzero(bad)[0])
    value = column.iloc[row]
    shown = "nothing" if pd.isna(value) else repr(str(value)[:80])
    return TraceError(f"{src.name}: line {_line_of_row(src.data, row)}: {what}, got {shown}")


def _line_of_row(data: bytes, row: int) -> int:
    """The 1-based file line of data row ``row`` (pandas skips blank lines)."""
    lines = re.split(rb"\r\n|\n|\r", data)
    seen = -1
    for lineno, line in enumerate(lines[1:], start=2):
        if line.strip():
            seen += 1
            if seen == row:
                return lineno
    return row + 2


def _keys(src: _Source, column: pd.Series) -> np.ndarray:
    missing = column.isna().to_numpy()
    if missing.any():
        raise _fail(src, column, missing, "missing key")
    if pd.api.types.is_integer_dtype(column.dtype):
        return column.to_numpy().astype(np.int64, copy=False)
    codes, _ = pd.factorize(column.astype(str), sort=False)
    return codes.astype(np.int64, copy=False)


def _numbers(column: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _sizes(src: _Source, column: pd.Series) -> np.ndarray:
    values = _numbers(column)
    bad = ~np.isfinite(values) | (values < 0) | (values != np.floor(values)) | (values >= 2**62)
    if bad.any():
        raise _fail(src, column, bad, "size must be a non-negative integer")
    return values.astype(np.int64)


def _times(src: _Source, column: pd.Series) -> np.ndarray:
    values = _numbers(column)
    bad = ~np.isfinite(values)
    if bad.any():
        raise _fail(src, column, bad, "time must be a number")
    return values


def _ops(src: _Source, column: pd.Series) -> np.ndarray:
    ops = column.astype(str).str.strip().str.lower()
    known = ops.isin(list(_OPS)).to_numpy() & column.notna().to_numpy()
    if not known.all():
        raise _fail(src, column, ~known, "op must be read or write (or get/set)")
    return ops.isin(["write", "set"]).to_numpy()
