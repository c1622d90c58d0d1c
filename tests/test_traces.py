"""Reading traces: both formats, the columns, and one clear error per kind of bad file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cachesim.traces import (
    ORACLE_GENERAL_DTYPE,
    Trace,
    TraceError,
    next_access_vtime,
    read_trace,
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
    text = (
        "Op, Size,key,time,extra\n"
        "READ,10,a,0.5,x\nwrite,20,b,1,y\nGet,30,a,2.25,z\nSET,5,c,3,w\n"
    )
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
        ("t.csv.zst", b"\x28\xb5\x2f\xfd", "compressed traces are not supported"),
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
