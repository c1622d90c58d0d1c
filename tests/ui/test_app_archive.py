"""A downloaded run uploads back: the ZIP round trip, and untrusted ZIPs refused with
one line that quotes nothing (too big, not a ZIP, paths, a bomb, damaged tables)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from cachesim.archive import FILES, OPTIONAL, ArchiveError, run_from_zip, run_to_zip

APP = str(Path(__file__).resolve().parents[2] / "pages" / "3_Analysis.py")


def rezip(data: bytes, change: dict[str, bytes | None] | None = None, extra: dict[str, bytes] | None = None) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for name in src.namelist():
            body = (change or {}).get(name, src.read(name))
            if body is not None:
                out.writestr(name, body)
        for name, body in (extra or {}).items():
            out.writestr(name, body)
    return buf.getvalue()


def test_round_trip(node_failure_12s):
    run = node_failure_12s
    back = run_from_zip(run_to_zip(run), max_bytes=10_000_000)
    assert back.summary == run.summary and back.status == run.status and back.sim_time_s == run.sim_time_s
    assert back.config == run.config
    pd.testing.assert_frame_equal(back.timeseries(), run.timeseries(), check_dtype=False)
    pd.testing.assert_frame_equal(back.events(), run.events(), check_dtype=False)
    assert sorted(zipfile.ZipFile(io.BytesIO(run_to_zip(run))).namelist()) == sorted(FILES + OPTIONAL)


def test_a_zip_saved_in_a_folder_reads_too(node_failure_12s):
    data = run_to_zip(node_failure_12s)
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as out:
        for name in src.namelist():
            out.writestr(f"run-1/{name}", src.read(name))
    assert run_from_zip(buf.getvalue(), max_bytes=10_000_000).summary == node_failure_12s.summary


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda d: d + b"x" * 2_000_000, "at most"),
        (lambda d: b"secret file content", "not a ZIP"),
        (lambda d: rezip(d, extra={"../../etc/evil": b"x"}), "outside the run's folder"),
        (lambda d: rezip(d, extra={"/abs/evil": b"x"}), "outside the run's folder"),
        (lambda d: rezip(d, {"summary.json": None}), "missing summary.json"),
        (lambda d: rezip(d, {"summary.json": b"secret file content"}), "summary.json is not valid JSON"),
        (lambda d: rezip(d, {"summary.json": b"[" * 5000 + b"]" * 5000}), "summary.json is not valid JSON"),
        (lambda d: rezip(d, {"config.toml": b"secret = 'file content'"}), "config.toml is not a valid config"),
        (lambda d: rezip(d, {"events.csv": b"a,b\n1,2\n"}), "events.csv"),
        (lambda d: rezip(d, {"timeseries.csv": b"\xff\xfe secret"}), "timeseries.csv"),
        (lambda d: rezip(d, {"meta.json": b'{"status": "secret file content", "sim_time_s": 1}'}), "unknown status"),
        (lambda d: rezip(d, {"nodes.csv": b"0" * 30_000_000}), "expands to more than"),
    ],
)
def test_untrusted_zips_are_one_line_that_quotes_nothing(node_failure_12s, make, fragment):
    with pytest.raises(ArchiveError) as err:
        run_from_zip(make(run_to_zip(node_failure_12s)), max_bytes=1_000_000, name="up.zip")
    text = str(err.value)
    assert fragment in text and "\n" not in text and "secret" not in text and "content" not in text


def test_an_uploaded_run_joins_the_session(node_failure_12s, tmp_path):
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception and any("a server restart loses them" in i.value for i in at.info)
    uploader = at.get("file_uploader")
    assert uploader  # the upload is offered when there is no run yet
    # AppTest cannot set a file uploader's value: add the run the way the callback does
    from cachesim.ui import state  # noqa: F401 - the registry the callback fills

    uploaded = run_from_zip(run_to_zip(node_failure_12s), max_bytes=10**7)
    at.session_state["cachesim.runs"] = {"run-1 · node_failure": uploaded}
    at.run()
    assert not at.exception and at.selectbox(key="analysis.run").value == "run-1 · node_failure"
