"""Every door gives one clear line: hypothesis over each way input gets in.

Doors: config dicts (``SimConfig.model_validate``), dotted overrides
(``with_overrides``: ``--set`` and share links), TOML text (``from_toml``: import,
paste, ``--config``), CLI argv (``cachesim.cli.main``), share-link query strings
(``cachesim.ui.share.decode`` after ``cap_params``). Each either succeeds or raises
the door's documented error (ConfigError or ValidationError; the CLI: exit 2 and one
line on stderr), never anything else. Trace bytes are another module's door.

The examples per door default to a CI-friendly number; ``CACHESIM_FUZZ_EXAMPLES=10000``
runs the issue's 10,000.
"""

from __future__ import annotations

import io
import os
from contextlib import redirect_stderr, redirect_stdout

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cachesim.cli import main
from cachesim.config import ConfigError, SimConfig
from cachesim.ui.inputs import cap_params, trace_problem
from cachesim.ui.share import decode

EXAMPLES = int(os.environ.get("CACHESIM_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

SECTIONS = ["workload", "cluster", "database", "network", "client", "chaos"]
KEYS = (
    sorted(SimConfig().flat())
    + SECTIONS
    + ["seed", "bogus", "cluster.bogus", "cluster.nodes.x", "chaos.events.0", "", ".", "workload..keys", "a" * 70]
)
WEIRD = [
    "",
    "1",
    "0",
    "-1",
    "1e-300",
    "1e309",
    "nan",
    "inf",
    "-inf",
    "true",
    "none",
    "null",
    "[]",
    "{}",
    "[{}]",
    "[" * 1000 + "]" * 1000,
    "{" * 50,
    "/etc/passwd",
    ".streamlit/secrets.toml",
    "sample:../x",
    "upload:a",
    "sample:zipf",
    '[{"at_s": 1, "action": "kill", "target": "node-1"}]',
    "x" * 70_000,
    "\x00",
    "☃",
    "0x10",
    "1_000",
    " 8 ",
    "8.5",
    "lru",
    "round_robin",
]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30), st.sampled_from(WEIRD)
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS + SECTIONS), inner, max_size=4)
    ),
    max_leaves=12,
)


def deep(depth: int) -> object:
    out: object = []
    for _ in range(depth):
        out = [out]
    return out


@pytest.mark.slow
@FUZZ
@given(st.dictionaries(st.sampled_from(SECTIONS + ["seed", "duration_s", "name", "x"]), values, max_size=5))
def test_config_dicts(data):
    try:
        SimConfig.model_validate(data)
    except ValidationError:
        pass


def test_config_dict_nested_a_thousand_deep_is_one_error():
    for data in ({"chaos": {"events": deep(1000)}}, {"workload": deep(1000)}):
        try:
            SimConfig.model_validate(data)
        except ValidationError as err:
            assert "nests more than 16 levels" in str(err)
        else:
            raise AssertionError("accepted")


@FUZZ
@given(st.dictionaries(st.sampled_from(KEYS), st.one_of(st.sampled_from(WEIRD), st.text(max_size=40)), max_size=6))
def test_overrides(overrides):
    try:
        SimConfig().with_overrides(overrides)
    except (ConfigError, ValidationError) as err:
        assert "\n" not in str(err) or isinstance(err, ValidationError)


@FUZZ
@given(
    st.one_of(
        st.text(max_size=300),
        st.lists(
            st.sampled_from(
                [
                    "[cluster]\n",
                    "nodes = 3\n",
                    "[[chaos.events]]\n",
                    "at_s = 1\n",
                    'action = "kill"\n',
                    'target = "node-9"\n',
                    "a = [",
                    "]",
                    "{",
                    "}",
                    '"',
                    "'",
                    "\\",
                    "x = 1e400\n",
                    "seed = -1\n",
                    "[workload]\n",
                    'trace = "/etc/passwd"\n',
                    "[cluster.x]\n",
                    "duration_s = 0\n",
                    "cluster = 1\n",
                    "#",
                    "\n",
                ]
            ),
            max_size=30,
        ).map("".join),
        st.integers(1, 3000).map(lambda n: "a = " + "[" * n + "]" * n),
        st.integers(1, 3000).map(lambda n: "a = " + "{b = " * n + "1" + "}" * n),
    )
)
def test_toml_text(text):
    try:
        SimConfig.from_toml(text)
    except (ConfigError, ValidationError):
        pass


CLI_TOKENS = [
    "run",
    "sweep",
    "replay",
    "scenarios",
    "--scenario",
    "--config",
    "--set",
    "--vary",
    "--seeds",
    "--jobs",
    "--json",
    "--out",
    "--policy",
    "--capacity",
    "--bytes",
    "--csv",
    "baseline",
    "nope",
    "cluster=1",
    "cluster.nodes=2",
    "cluster.nodes=0",
    "cluster.nodes=x",
    "duration_s=-1",
    "/nonexistent.toml",
    "workload.trace=/nonexistent.csv",
    "chaos.events=" + "[" * 900 + "]" * 900,
    "=",
    "x=",
    "0",
    "-1",
    "lru",
    "fifo",
    "1e9",
    "cluster.nodes=1,2",
    "--help-me",
    "☃",
    "",
]
#: Appended to every run and sweep so each is tiny whatever came before (later --set wins).
SMALL = ["--set", "duration_s=0.2", "--set", "workload.rate_rps=50", "--set", "snapshot_interval_s=0.1"]


@FUZZ
@given(st.lists(st.sampled_from(CLI_TOKENS), max_size=8))
def test_cli_argv(argv):
    if argv and argv[0] in ("run", "sweep"):
        argv = argv + SMALL
        if "--out" in argv or "--csv" in argv:  # never write into the tree
            return
    err, out = io.StringIO(), io.StringIO()
    with redirect_stderr(err), redirect_stdout(out):
        try:
            code = main(argv)
        except SystemExit as exc:  # --help
            code = exc.code
    assert code in (0, 2), (argv, code, err.getvalue())
    if code == 2:
        lines = err.getvalue().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("cachesim: error: "), (argv, err.getvalue())


@FUZZ
@given(
    st.dictionaries(
        st.one_of(st.sampled_from(KEYS + ["scenario"]), st.text(max_size=80)),
        st.one_of(st.sampled_from(WEIRD), st.text(max_size=60)),
        max_size=8,
    )
)
def test_share_link_query_strings(params):
    capped, cut = cap_params(params)
    assert all(len(v) <= 20_000 for v in capped.values()) and len(capped) <= 80
    try:
        cfg, _ = decode(capped)
    except (ConfigError, ValidationError):
        return
    assert trace_problem(cfg.workload.trace) is None  # no path ever gets through a link


def test_share_link_section_as_value_and_paths_are_one_line():
    for params in (
        {"cluster": "1", "cluster.nodes": "2"},
        {"workload.trace": ".streamlit/secrets.toml"},
        {"workload.trace": "/etc/shadow"},
        {"chaos.events": "[" * 1000 + "]" * 1000},
    ):
        try:
            decode(params)
        except ConfigError as err:
            text = str(err)
            assert "\n" not in text and "secrets" not in text and "shadow" not in text
        else:
            raise AssertionError(params)


def test_cap_params_says_what_was_cut():
    capped, cut = cap_params({"description": "x" * 60_000, "cluster.nodes": "8", "name": "n" * 100})
    assert len(capped["description"]) == 2000 and capped["cluster.nodes"] == "8" and len(capped["name"]) == 80
    assert cut == ["description (60,000 characters, cut to 2,000)", "name (100 characters, cut to 80)"]


def test_json_chaos_events_deep_nesting_is_one_error():
    try:
        SimConfig().with_overrides({"chaos.events": "[" * 5000 + "]" * 5000})
    except ConfigError as err:
        assert "nests more than 16 levels" in str(err)
    else:
        raise AssertionError("accepted")
