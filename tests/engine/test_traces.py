"""Reading traces: both formats, the columns, and one clear error per kind of bad file."""

from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path

import numpy as np
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachesim import samples
from cachesim.samples import SAMPLE_TRACES, generate, sample_trace
from cachesim.traces import (
    ORACLE_GENERAL_DTYPE,
    Trace,
    TraceError,
    next_access_vtime,
    read_trace,
    read_trace_bytes,
    write_trace,
)


def csv(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_string_keys_are_factorised_in_first_seen_order(tmp_path: Path) -> None:
    trace = read_trace(csv(tmp_path, "key\nb\na\nb\nc\na\n"))
    assert trace.keys.tolist() == [0, 1, 0, 2, 1]
    assert trace.keys.dtype == np.int64
    assert trace.sizes.tolist() == [1] * 5
    assert trace.times is None and trace.is_write is None
    assert len(trace) == 5 and trace.n_objects == 3 and trace.format == "csv"


def test_csv_integer_keys_are_kept(tmp_path: Path) -> None:
    trace = read_trace(csv(tmp_path, "key\n42\n7\n42\n"))
    assert trace.keys.tolist() == [42, 7, 42]


def test_csv_all_columns_any_order_and_case(tmp_path: Path) -> None:
    text = "Op, Size,key,time,extra\nREAD,10,a,0.5,x\nwrite,20,b,1,y\nGet,30,a,2.25,z\nSET,5,c,3,w\n"
    trace = read_trace(csv(tmp_path, text))
    assert trace.keys.tolist() == [0, 1, 0, 2]
    assert trace.sizes.tolist() == [10, 20, 30, 5]
    assert trace.times.tolist() == [0.5, 1.0, 2.25, 3.0]
    assert trace.is_write.tolist() == [False, True, False, True]


def test_binary_round_trip_and_next_access(tmp_path: Path) -> None:
    keys = np.array([5, 9, 5, 2**40, 9, 5], dtype=np.int64)
    trace = Trace(keys=keys, sizes=np.array([3, 4, 3, 1, 4, 3]), times=np.arange(6.0))
    path = write_trace(trace, tmp_path / "t.bin")
    assert path.stat().st_size == 6 * 24
    raw = np.fromfile(path, dtype=ORACLE_GENERAL_DTYPE)
    assert raw["next_access_vtime"].tolist() == [3, 5, 6, -1, -1, -1]  # 1-based, -1 = never
    back = read_trace(path)
    assert back.format == "oracleGeneral"
    assert back.keys.tolist() == keys.tolist()
    assert back.sizes.tolist() == [3, 4, 3, 1, 4, 3]
    assert back.times.tolist() == list(range(6))
    assert next_access_vtime(np.array([1, 1, 1])).tolist() == [2, 3, -1]


def test_binary_is_detected_by_name_or_content(tmp_path: Path) -> None:
    trace = Trace(keys=np.array([1, 2, 1]), sizes=np.array([1, 1, 1]))
    by_name = write_trace(trace, tmp_path / "x.oracleGeneral")
    assert read_trace(by_name).format == "oracleGeneral"
    by_content = tmp_path / "x.dat"
    by_content.write_bytes(by_name.read_bytes())
    assert read_trace(by_content).keys.tolist() == [1, 2, 1]
    text = csv(tmp_path, "key\n1\n", name="x.txt")
    assert read_trace(text).format == "csv"


def test_zero_sizes_are_skipped(tmp_path: Path) -> None:
    trace = read_trace(csv(tmp_path, "key,size\na,1\nb,0\nc,2\n"))
    assert trace.keys.tolist() == [0, 2] and trace.zero_size_skipped == 1
    with pytest.raises(TraceError, match="every request has size 0"):
        read_trace(csv(tmp_path, "key,size\na,0\n", name="z.csv"))


# -- errors: one line naming the file and the place ------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"empty file"),
        ("key\n", r"no requests after the header"),
        ("name,size\na,1\n", r"line 1: no 'key' column in the header \(found: name, size\)"),
        ("key,size\na,1\nb,1\nc,x\n", r"line 4: size must be a non-negative integer, got 'x'"),
        ("key,size\na,1\nb,-3\n", r"line 3: size must be a non-negative integer, got '-3'"),
        ("key,size\na,1\nb,1.5\n", r"line 3: size must be a non-negative integer, got '1.5'"),
        ("key,size\na,1\nb,1\nc,1\nd,1,9\n", r"line 5: expected 2 fields, saw 3"),
        ("key,size\na,1\n\n\nb,\n", r"line 5: size must be a non-negative integer, got nothing"),
        ("key,op\na,read\nb,delete\n", r"line 3: op must be read or write .*, got 'delete'"),
        ("key,time\na,1\nb,soon\n", r"line 3: time must be a number, got 'soon'"),
        ("key,size\na,1\n,2\n", r"line 3: missing key"),
    ],
)
def test_malformed_csv_names_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = csv(tmp_path, text)
    with pytest.raises(TraceError, match=message) as info:
        read_trace(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_truncated_binary_names_the_record(tmp_path: Path) -> None:
    path = tmp_path / "cut.bin"
    path.write_bytes(b"\x01" * (24 * 10 + 5))
    with pytest.raises(TraceError) as info:
        read_trace(path)
    assert str(info.value) == (
        f"{path}: truncated oracleGeneral trace: 10 whole 24-byte records, "
        "then 5 trailing bytes (record 11 is incomplete)"
    )


@pytest.mark.parametrize(
    ("name", "setup", "message"),
    [
        ("missing.csv", None, "no such file"),
        ("empty.bin", b"", "empty oracleGeneral trace"),
        ("t.csv.zst", b"\x28\xb5\x2f\xfd", "not a valid zstd stream"),
        ("t.csv.gz", b"\x1f\x8b\x08\x00", "only zstd-compressed traces are supported"),
    ],
)
def test_other_file_errors(tmp_path: Path, name: str, setup: bytes | None, message: str) -> None:
    path = tmp_path / name
    if setup is not None:
        path.write_bytes(setup)
    with pytest.raises(TraceError, match=message):
        read_trace(path)
    with pytest.raises(TraceError, match="not a file"):
        read_trace(tmp_path)


def test_trace_error_is_a_value_error() -> None:
    assert issubclass(TraceError, ValueError)


# -- traces from memory (uploads) ------------------------------------------------------


def zstd(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=3).compress(data)


def binary_bytes(trace: Trace, tmp_path: Path) -> bytes:
    return write_trace(trace, tmp_path / "t.oracleGeneral.bin").read_bytes()


def test_bytes_csv_and_binary_match_the_file_readers(tmp_path: Path) -> None:
    text = "time,key,size,op\n0,a,10,read\n1,b,20,write\n2,a,10,get\n"
    from_bytes = read_trace_bytes(text.encode(), "upload.csv")
    from_file = read_trace(csv(tmp_path, text))
    assert from_bytes.source == "upload.csv" and from_bytes.format == "csv"
    for attr in ("keys", "sizes", "times", "is_write"):
        np.testing.assert_array_equal(getattr(from_bytes, attr), getattr(from_file, attr))
    trace = Trace(keys=np.array([7, 8, 7, 2**40]), sizes=np.array([3, 4, 3, 9]))
    raw = binary_bytes(trace, tmp_path)
    for name in ("x.bin", "anything", "upload.csv.zst"):  # content decides for a bare name
        data = zstd(raw) if name.endswith(".zst") else raw
        got = read_trace_bytes(data, name)
        assert got.format == "oracleGeneral" and got.keys.tolist() == [7, 8, 7, 2**40]
        assert got.sizes.tolist() == [3, 4, 3, 9]


def test_zstd_csv_and_files(tmp_path: Path) -> None:
    text = b"key,size\n1,5\n2,6\n1,5\n"
    assert read_trace_bytes(zstd(text), "t.csv.zst").keys.tolist() == [1, 2, 1]
    path = tmp_path / "t.csv.zst"
    path.write_bytes(zstd(text))
    assert read_trace(path).sizes.tolist() == [5, 6, 5]  # the CLI reads .zst too
    # detected by the magic bytes, whatever the name
    assert read_trace_bytes(zstd(text), "noext").keys.tolist() == [1, 2, 1]


def test_zstd_expansion_is_bounded() -> None:
    bomb = zstd(b"key\n" + b"1\n" * 500_000)  # 1 MB from a few hundred bytes
    assert len(bomb) < 2000
    with pytest.raises(TraceError, match="decompresses to more than 100,000 bytes"):
        read_trace_bytes(bomb, "bomb.zst", max_bytes=100_000)
    assert len(read_trace_bytes(bomb, "bomb.zst")) == 500_000


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"key,KEY\n1,2\n", r"up\.csv: line 1: column 'key' appears more than once"),
        (b"key, Key \n1,2\n", r"line 1: column 'key' appears more than once"),
        (b"key,size,SIZE\n1,2,3\n", r"line 1: column 'size' appears more than once"),
        (b"key,size\n1,2\n3,x\n", r"up\.csv: line 3: size must be a non-negative integer"),
        (b"", r"up\.csv: empty file"),
        (b"\x00" * 25, r"up\.csv: truncated oracleGeneral trace: 1 whole 24-byte records"),
        (b"\x28\xb5\x2f\xfd\x00\x00", r"up\.csv: not a valid zstd stream"),
        (b"key,size\r\n1,1\r\n\r\n,2\r\n", r"line 4: missing key"),
    ],
)
def test_bad_bytes_give_one_line(data: bytes, message: str) -> None:
    with pytest.raises(TraceError, match=message) as info:
        read_trace_bytes(data, "up.csv")
    assert "\n" not in str(info.value)


def test_duplicate_headers_in_a_file(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="line 1: column 'key' appears more than once"):
        read_trace(csv(tmp_path, "key,KEY\n1,2\n"))


def _outcome(data: bytes, name: str) -> None:
    try:
        trace = read_trace_bytes(data, name)
    except TraceError as err:
        assert "\n" not in str(err) and str(err).startswith(name)
        return
    assert len(trace) >= 1 and trace.keys.dtype == np.int64
    assert len(trace.sizes) == len(trace) and (trace.sizes > 0).all()


csv_cells = st.sampled_from(
    [
        "key",
        "KEY",
        " Key",
        "size",
        "Size ",
        "time",
        "op",
        "read",
        "write",
        "x",
        "",
        "1",
        "-1",
        "0",
        "1.5",
        "nan",
        "inf",
        "1e30",
        "99999999999999999999",
        '"',
        '"a,b"',
        "NA",
        "é",
        "\t",
    ]
)
csv_text = st.lists(st.lists(csv_cells, min_size=1, max_size=5), min_size=0, max_size=8).map(
    lambda rows: "\n".join(",".join(r) for r in rows)
)


#: The trace-bytes door's fuzz size; CACHESIM_FUZZ_EXAMPLES=10000 for the full fuzz
#: (as tests/engine/test_fuzz_doors.py).
FUZZ_EXAMPLES = int(os.environ.get("CACHESIM_FUZZ_EXAMPLES", "400"))


@pytest.mark.slow
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(csv_text, st.text(max_size=200)))
def test_any_csv_text_gives_a_trace_or_a_trace_error(text: str) -> None:
    _outcome(text.encode("utf-8", "surrogatepass"), "fuzz.csv")


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=24 * 6), compress=st.booleans())
def test_any_bytes_give_a_trace_or_a_trace_error(data: bytes, compress: bool) -> None:
    _outcome(zstd(data) if compress else data, "fuzz.bin")
    _outcome(data, "fuzz")


def test_uploaded_names_are_one_line() -> None:
    with pytest.raises(TraceError, match=r"^evil name\.csv: line 1: no 'key'") as info:
        read_trace_bytes(b"a\n1\n", "evil\nname.csv")
    assert "\n" not in str(info.value)


def test_io_buffers_are_accepted() -> None:
    buf = io.BytesIO(b"key\n5\n")
    assert read_trace_bytes(buf.getvalue(), "b").keys.tolist() == [5]
    assert read_trace_bytes(memoryview(b"key\n6\n"), "m").keys.tolist() == [6]


# -- built-in samples ---------------------------------------------------------------------


def test_samples_are_deterministic_read_only_and_described() -> None:
    assert set(SAMPLE_TRACES) == {"zipf", "web", "cdn", "scan"}
    for name, text in SAMPLE_TRACES.items():
        trace = sample_trace(name)
        assert trace is sample_trace(name) and trace.source == f"sample:{name}"
        assert len(trace) == 100_000 and len(text) > 60
        assert trace.times is not None and np.all(np.diff(trace.times) > 0)
        assert trace.is_write is not None and 0.03 < trace.is_write.mean() < 0.07
        assert (trace.sizes >= 16).all() and not trace.keys.flags.writeable
        again = generate(samples._SPECS[name][0])
        np.testing.assert_array_equal(again.keys, trace.keys)  # a pure function
        np.testing.assert_array_equal(again.sizes, trace.sizes)
    with pytest.raises(ValueError, match="unknown sample trace 'nope'.*zipf"):
        sample_trace("nope")


def test_samples_have_their_advertised_properties() -> None:
    def seen_once(trace: Trace) -> float:
        _, counts = np.unique(trace.keys, return_counts=True)
        return float((counts == 1).sum() / len(trace))

    zipf, web, cdn, scan = (sample_trace(n) for n in ("zipf", "web", "cdn", "scan"))
    assert seen_once(cdn) > 0.35 > seen_once(web) > 0.1 > seen_once(zipf)
    # one size per object
    for trace in (zipf, web, cdn, scan):
        order = np.lexsort((trace.sizes, trace.keys))
        k, s = trace.keys[order], trace.sizes[order]
        assert not np.any((k[1:] == k[:-1]) & (s[1:] != s[:-1]))
    assert np.median(cdn.sizes) > 4 * np.median(zipf.sizes)  # wider, bigger sizes
    # scans: the same 8,000 keys, in order, every 20,000 requests
    block = scan.keys[20_000:28_000]
    assert len(np.unique(block)) == 8_000
    for start in (40_000, 60_000, 80_000):
        np.testing.assert_array_equal(scan.keys[start : start + 8_000], block)

    # temporal locality: web repeats recent keys far more often than the same recipe
    # without it
    def repeats_within(trace: Trace, window: int) -> float:
        nxt = next_access_vtime(trace.keys)
        pos = np.arange(1, len(trace) + 1)
        return float(((nxt > 0) & (nxt - pos <= window)).mean())

    flat = generate(dataclasses.replace(samples._SPECS["web"][0], p_recent=0.0))
    assert repeats_within(web, 500) > repeats_within(flat, 500) + 0.1
