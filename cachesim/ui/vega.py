"""Vega-Lite specs for charts that redraw several times a second.

Building an Altair chart costs 10-60 ms (object construction, layering, schema
validation), which would starve the engine on the live page. :func:`spec` builds each
chart once per *structure* (which event kinds, which nodes, fixed or sliding axis)
through ``cachesim.charts``, keeps the Vega-Lite dict as a JSON template (an immutable
string, safe to share between sessions), and on later calls only attaches the new
frames as named datasets and sets the x domain: about 0.1 ms. Streamlit draws the
result with ``st.vega_lite_chart``.

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
            out.append((name, tuple(df.column_names), df.num_rows == 0,
                        tuple(tuple(pc.unique(df[c]).to_pylist()) for c in _STRUCTURAL if c in df.column_names)))
        else:
            out.append((name, tuple(df.columns), df.empty,
                        tuple(tuple(pd.unique(df[c])) for c in _STRUCTURAL if c in df.columns)))
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


def spec(kind: str, frames: Frames, *, domain: Domain = None, arrow: bool = False, canvas: bool = False,
         **layout: Any) -> dict[str, Any]:
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
    if domain is not None:  # the x domains are the sentinel in the template
        template = template.replace(_SENTINEL_JSON, json.dumps([float(domain[0]), float(domain[1])]))
    out = json.loads(template)
    if canvas:
        out["usermeta"] = {"embedOptions": {"renderer": "canvas"}}
    out["datasets"] = {name: _arrow(df) if arrow or isinstance(df, pa.Table) else df for name, df in frames.items()}
    return out


# -- zoom: one spec of several charts that follow a brushed time range -------------------

#: The interval selection the Analysis charts share (drag on the strip; double-click resets).
ZOOM = "zoom"
_VIEW_DROP = ("$schema", "datasets", "config", "autosize", "usermeta")


def _rename_data(obj: Any, prefix: str) -> None:
    if isinstance(obj, dict):
        data = obj.get("data")
        if isinstance(data, dict) and "name" in data:
            obj["data"] = {**data, "name": prefix + data["name"]}
        for v in obj.values():
            _rename_data(v, prefix)
    elif isinstance(obj, list):
        for v in obj:
            _rename_data(v, prefix)


def _follow(unit: dict[str, Any], param: str) -> None:
    """Bind a unit's x scale to ``param`` and clip its marks to the plot."""
    x = unit.get("encoding", {}).get("x")
    if isinstance(x, dict):
        x["scale"] = {**x.get("scale", {}), "domain": {"param": param, "encoding": "x"}}
    mark = unit.get("mark")
    if mark is not None:
        unit["mark"] = {**(mark if isinstance(mark, dict) else {"type": mark}), "clip": True}


def _params_into_units(view: dict[str, Any]) -> None:
    """Altair lifts a layer's selection to the layer chart (``params`` with ``views``);
    inside a concat it belongs in the unit it was defined on."""
    units = {u.get("name"): u for u in view.get("layer", [])}
    keep = []
    for p in view.pop("params", []):
        targets = [units[v] for v in p.get("views", []) if v in units]
        if not targets:
            keep.append(p)
        for unit in targets:
            unit.setdefault("params", []).append({k: v for k, v in p.items() if k != "views"})
    if keep:
        view["params"] = keep


def _inner_y_axis(unit: dict[str, Any]) -> None:
    """Draw a unit's y axis labels inside the plot and reserve no room for the axis:
    Streamlit gives each view of a stacked spec the container's width for its plot, so
    anything outside the plot would push it past the container's edge."""
    y = unit.get("encoding", {}).get("y")
    if not isinstance(y, dict) or y.get("axis", {}) is None:
        return
    axis = dict(y.get("axis") or {})
    right = axis.get("orient") == "right"
    axis.update({"labelAlign": "right" if right else "left", "labelPadding": -4, "tickSize": 0, "domain": False,
                 "minExtent": 0, "maxExtent": 0, "title": None, "labelBaseline": "bottom",
                 "labelOpacity": 0.8})
    y["axis"] = axis


def zoom_concat(overview: dict[str, Any], views: list[dict[str, Any]], param: str = ZOOM) -> dict[str, Any]:
    """One Vega-Lite spec: ``overview`` (a chart that defines the interval selection
    ``param``) above ``views`` (specs from :func:`spec`), stacked; every view's x scale
    takes its domain from the selection, so dragging a range on the overview zooms all
    of them, and a double-click (the selection cleared) shows the whole run again.
    Datasets are renamed per chart (``c0_ts``, ...) so the charts' names do not clash."""
    out: dict[str, Any] = {"$schema": overview.get("$schema"), "datasets": {}, "vconcat": [],
                           "config": overview.get("config", {}),
                           "resolve": {"scale": {"x": "independent", "y": "independent", "color": "independent"}}}
    for i, chart in enumerate([overview, *views]):
        prefix = f"c{i}_"
        for name, df in (chart.get("datasets") or {}).items():
            out["datasets"][prefix + name] = df
        view = {k: v for k, v in chart.items() if k not in _VIEW_DROP}
        _rename_data(view, prefix)
        if i == 0:
            _params_into_units(view)
        for unit in view.get("layer", [view]):
            _inner_y_axis(unit)
            if i > 0:
                _follow(unit, param)
        out["vconcat"].append(view)
    canvas = any(v.get("usermeta") for v in views)
    if canvas:
        out["usermeta"] = {"embedOptions": {"renderer": "canvas"}}
    return out
