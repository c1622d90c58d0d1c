"""Cache traces: CSV files and libCacheSim ``oracleGeneral`` binary files.

:func:`read_trace` turns either into a :class:`Trace` of numpy arrays, read in bulk
(pandas for CSV, a numpy structured dtype for binary; no Python loop per request).

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
    "write_trace",
]

#: One libCacheSim oracleGeneral record (24 bytes, little-endian, packed).
ORACLE_GENERAL_DTYPE = np.dtype(
    [("time", "<u4"), ("obj_id", "<u8"), ("size", "<u4"), ("next_access_vtime", "<i8")]
)
_SNIFF_BYTES = 8192
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
    format: str = "csv"  # "csv" | "oracleGeneral"
    zero_size_skipped: int = 0

    def __len__(self) -> int:
        return int(self.keys.shape[0])

    @property
    def n_objects(self) -> int:
        """Distinct keys."""
        return int(np.unique(self.keys).shape[0])


def is_binary_trace(path: str | Path) -> bool:
    """oracleGeneral by name (``.bin``, or ``oracleGeneral`` in a name not ending in
    ``.csv``), else by content that is not UTF-8 text."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".bin" or (suffix != ".csv" and "oraclegeneral" in path.name.lower()):
        return True
    with path.open("rb") as f:
        head = f.read(_SNIFF_BYTES)
    if b"\x00" in head:
        return True
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return True
    return False


def read_trace(path: str | Path) -> Trace:
    """Read a CSV or oracleGeneral trace (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise TraceError(f"{path}: no such file")
    if not path.is_file():
        raise TraceError(f"{path}: not a file")
    if path.suffix.lower() in {".zst", ".gz", ".xz", ".bz2"}:
        raise TraceError(f"{path}: compressed traces are not supported; decompress it first")
    try:
        binary = is_binary_trace(path)
        return _read_oracle_general(path) if binary else _read_csv(path)
    except OSError as err:
        raise TraceError(f"{path}: cannot read: {err.strerror or err}") from None


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
    order = np.lexsort((np.arange(n), keys))  # by key, then position
    out = np.full(n, -1, dtype=np.int64)
    same = keys[order[1:]] == keys[order[:-1]]
    out[order[:-1][same]] = order[1:][same] + 1
    return out


# -- oracleGeneral ------------------------------------------------------------------


def _read_oracle_general(path: Path) -> Trace:
    itemsize = ORACLE_GENERAL_DTYPE.itemsize
    whole, trailing = divmod(path.stat().st_size, itemsize)
    if trailing:
        raise TraceError(
            f"{path}: truncated oracleGeneral trace: {whole} whole {itemsize}-byte records, "
            f"then {trailing} trailing bytes (record {whole + 1} is incomplete)"
        )
    if whole == 0:
        raise TraceError(f"{path}: empty oracleGeneral trace (no records)")
    records = np.fromfile(path, dtype=ORACLE_GENERAL_DTYPE)
    trace = Trace(
        keys=records["obj_id"].astype(np.int64),
        sizes=records["size"].astype(np.int64),
        times=records["time"].astype(np.float64),
        is_write=None,
        source=str(path),
        format="oracleGeneral",
    )
    return _drop_zero_sizes(trace)


# -- CSV ----------------------------------------------------------------------------


def _read_csv(path: Path) -> Trace:
    try:
        df = pd.read_csv(
            path,
            skipinitialspace=True,
            dtype={"op": str},
            keep_default_na=False,  # a key such as "NA" or "null" is a key
            na_values=[""],
            low_memory=False,
        )
    except pd.errors.EmptyDataError:
        msg = f"{path}: empty file (expected a CSV header with a 'key' column)"
        raise TraceError(msg) from None
    except pd.errors.ParserError as err:
        raise TraceError(f"{path}: {_parser_message(err)}") from None
    except UnicodeDecodeError:
        raise TraceError(f"{path}: not UTF-8 text and not an oracleGeneral trace") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    if "key" not in df.columns:
        found = ", ".join(df.columns) or "nothing"
        raise TraceError(f"{path}: line 1: no 'key' column in the header (found: {found})")
    if len(df) == 0:
        raise TraceError(f"{path}: no requests after the header")
    columns = set(df.columns)
    trace = Trace(
        keys=_keys(path, df["key"]),
        sizes=_sizes(path, df["size"]) if "size" in columns else np.ones(len(df), np.int64),
        times=_times(path, df["time"]) if "time" in columns else None,
        is_write=_ops(path, df["op"]) if "op" in columns else None,
        source=str(path),
        format="csv",
    )
    return _drop_zero_sizes(trace)


def _parser_message(err: Exception) -> str:
    text = str(err).strip()
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
    if m:
        return f"line {m[2]}: expected {m[1]} fields, saw {m[3]}"
    return text.splitlines()[-1] if text else "malformed CSV"


def _fail(path: Path, column: pd.Series, bad: np.ndarray, what: str) -> TraceError:
    """The error for the first row where ``bad`` is true."""
    row = int(np.flatnonzero(bad)[0])
    value = column.iloc[row]
    shown = "nothing" if pd.isna(value) else repr(str(value))
    return TraceError(f"{path}: line {_line_of_row(path, row)}: {what}, got {shown}")


def _line_of_row(path: Path, row: int) -> int:
    """The 1-based file line of data row ``row`` (pandas skips blank lines)."""
    with path.open(encoding="utf-8", errors="replace") as f:
        next(f, None)  # the header
        seen = -1
        for lineno, line in enumerate(f, start=2):
            if line.strip():
                seen += 1
                if seen == row:
                    return lineno
    return row + 2


def _keys(path: Path, column: pd.Series) -> np.ndarray:
    missing = column.isna().to_numpy()
    if missing.any():
        raise _fail(path, column, missing, "missing key")
    if pd.api.types.is_integer_dtype(column.dtype):
        return column.to_numpy().astype(np.int64, copy=False)
    codes, _ = pd.factorize(column.astype(str), sort=False)
    return codes.astype(np.int64, copy=False)


def _numbers(column: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _sizes(path: Path, column: pd.Series) -> np.ndarray:
    values = _numbers(column)
    bad = ~np.isfinite(values) | (values < 0) | (values != np.floor(values)) | (values >= 2**62)
    if bad.any():
        raise _fail(path, column, bad, "size must be a non-negative integer")
    return values.astype(np.int64)


def _times(path: Path, column: pd.Series) -> np.ndarray:
    values = _numbers(column)
    bad = ~np.isfinite(values)
    if bad.any():
        raise _fail(path, column, bad, "time must be a number")
    return values


def _ops(path: Path, column: pd.Series) -> np.ndarray:
    ops = column.astype(str).str.strip().str.lower()
    known = ops.isin(list(_OPS)).to_numpy() & column.notna().to_numpy()
    if not known.all():
        raise _fail(path, column, ~known, "op must be read or write (or get/set)")
    return ops.isin(["write", "set"]).to_numpy()
