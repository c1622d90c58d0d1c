"""Vega-Lite specs for the live page's charts, which redraw several times a second.

Building an Altair chart costs 10-60 ms (object construction, layering, schema
validation), which would starve the engine on the live page. :func:`spec` builds each
chart once per *structure* (which event kinds, which nodes, fixed or sliding axis)
through ``cachesim.charts``, keeps the Vega-Lite dict as a JSON template (an immutable
string, safe to share between sessions), and on later calls only attaches the new
frames as named datasets and sets the x domain: about 0.1 ms. Streamlit draws the
result with ``st.vega_lite_chart``. Only the live page uses this: every other chart
(Analysis, Compare, the analyst's) is an Altair chart handed to ``st.altair_chart``.

A frame may be a DataFrame or a pyarrow Table (see :func:`table`, which builds one
straight from numpy columns): the live page never goes through pandas.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

import altair as alt
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .. import charts
from ..charts import Columns, Domain

#: A chart's named datasets: DataFrames or pyarrow Tables (which go to the browser as they are).
Frames = dict[str, pd.DataFrame | pa.Table]
#: A template is built with this x domain in place of the real one, so that one template
#: serves every domain (a live chart's axis moves with each refresh); see :func:`spec`.
_SENTINEL = (-1234.5, -678.9)
_SENTINEL_JSON = json.dumps(list(_SENTINEL))
_STRUCTURAL = ("kind", "name", "action", "run")
_TEMPLATES: OrderedDict[tuple, str] = OrderedDict()  # immutable JSON strings, bounded
_TEMPLATES_LOCK = threading.Lock()


def to_vega_lite(chart: alt.TopLevelMixin, frames: Frames) -> dict[str, Any]:
    """The chart as a Vega-Lite dict whose data are the named ``frames`` (by object
    identity), without schema validation. Mutates ``chart``."""
    names = {id(df): name for name, df in frames.items()}

    def rename(obj: Any) -> None:
        data = getattr(obj, "data", None)
        if isinstance(data, pd.DataFrame):
            obj.data = alt.NamedData(name=names[id(data)])
        for attr in ("layer", "hconcat", "vconcat", "concat"):
            for sub in getattr(obj, attr, None) or ():
                rename(sub)

    rename(chart)
    out = chart.to_dict(validate=False)
    out.pop("datasets", None)
    view = out.get("config", {}).pop("view", None)
    if view is not None:  # Altair's default theme sizes; Streamlit sizes the chart
        out["config"].update({"view": {k: v for k, v in view.items() if not k.startswith("continuous")}})
    return out


def _structure(frames: Frames) -> tuple:
    out = []
    for name, df in frames.items():
        if isinstance(df, pa.Table):
            out.append(
                (
                    name,
                    tuple(df.column_names),
                    df.num_rows == 0,
                    tuple(tuple(pc.unique(df[c]).to_pylist()) for c in _STRUCTURAL if c in df.column_names),
                )
            )
        else:
            out.append(
                (
                    name,
                    tuple(df.columns),
                    df.empty,
                    tuple(tuple(pd.unique(df[c])) for c in _STRUCTURAL if c in df.columns),
                )
            )
    return tuple(out)


def _arrow(df: pd.DataFrame | pa.Table) -> pa.Table:
    if isinstance(df, pa.Table):
        return df
    return pa.Table.from_arrays([pa.array(df[c]) for c in df.columns], names=list(df.columns))


def _arrow_column(x: np.ndarray) -> pa.Array:
    # strings as pa.array gives a pandas str column; an empty object column stays untyped, as in pandas
    if x.dtype.kind in "US" or (x.dtype.kind == "O" and len(x)):
        return pa.array(x, type=pa.large_string())
    return pa.array(x)


def table(cols: Columns) -> pa.Table:
    """numpy columns as a pyarrow Table, typed as ``spec(..., arrow=True)`` types the
    DataFrame of the same columns (floats as double, strings as large_string)."""
    return pa.Table.from_arrays([_arrow_column(np.asarray(v)) for v in cols.values()], names=list(cols))


def spec(
    kind: str, frames: Frames, *, domain: Domain = None, arrow: bool = False, canvas: bool = False, **layout: Any
) -> dict[str, Any]:
    """A Vega-Lite dict (datasets = ``frames``) for ``st.vega_lite_chart``, equal to
    ``to_vega_lite(charts.LAYOUTS[kind](frames, domain, **layout))`` but built from a cached
    template when the structure was seen before. ``arrow=True`` hands the datasets over
    as pyarrow Tables (converted on this thread, which is faster than pandas' pool);
    frames that are Tables already are handed over as they are.
    ``canvas=True`` asks the browser to draw on a canvas, which redraws faster than SVG."""
    key = (kind, domain is None, tuple(sorted(layout.items())), _structure(frames))
    with _TEMPLATES_LOCK:
        template = _TEMPLATES.get(key)
    if template is None:
        pd_frames = {name: df.to_pandas() if isinstance(df, pa.Table) else df for name, df in frames.items()}
        chart = charts.LAYOUTS[kind](pd_frames, None if domain is None else _SENTINEL, **layout)
        template = json.dumps(to_vega_lite(chart, pd_frames))
        with _TEMPLATES_LOCK:
            _TEMPLATES[key] = template
            while len(_TEMPLATES) > 256:
                _TEMPLATES.popitem(last=False)
    if domain is not None:
        # The template was built with the x domain _SENTINEL, two numbers no real domain
        # holds, so every scale given the domain reads "[-1234.5, -678.9]" in its JSON text
        # (every layer's x scale and the rules', which share it). Replacing that text sets
        # them all at once without walking the spec; a spec built without a domain (a
        # sliding axis) has no sentinel and is keyed apart (``domain is None`` in ``key``).
        template = template.replace(_SENTINEL_JSON, json.dumps([float(domain[0]), float(domain[1])]))
    out = json.loads(template)
    if canvas:
        out["usermeta"] = {"embedOptions": {"renderer": "canvas"}}
    out["datasets"] = {name: _arrow(df) if arrow or isinstance(df, pa.Table) else df for name, df in frames.items()}
    return out
