"""Vega-Lite specs for charts that redraw several times a second.

Building an Altair chart costs 10-60 ms (object construction, layering, schema
validation), which would starve the engine on the live page. :func:`spec` builds each
chart once per *structure* (which event kinds, which nodes, fixed or sliding axis)
through ``cachesim.charts``, keeps the Vega-Lite dict as a JSON template (an immutable
string, safe to share between sessions), and on later calls only attaches the new
frames as named datasets and sets the x domain: about 1 ms. Streamlit draws the
result with ``st.vega_lite_chart``.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

import altair as alt
import pandas as pd
import pyarrow as pa

from .. import charts
from ..charts import Domain, Frames

_SENTINEL = (-1234.5, -678.9)
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
    return tuple((name, tuple(df.columns), df.empty,
                  tuple(tuple(pd.unique(df[c])) for c in _STRUCTURAL if c in df.columns))
                 for name, df in frames.items())


def _arrow(df: pd.DataFrame) -> pa.Table:
    return pa.Table.from_arrays([pa.array(df[c]) for c in df.columns], names=list(df.columns))


def _set_domain(node: Any, domain: list[float]) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "domain" and v == list(_SENTINEL):
                node[k] = domain
            else:
                _set_domain(v, domain)
    elif isinstance(node, list):
        for v in node:
            _set_domain(v, domain)


def spec(kind: str, frames: Frames, *, domain: Domain = None, arrow: bool = False, canvas: bool = False,
         **layout: Any) -> dict[str, Any]:
    """A Vega-Lite dict (datasets = ``frames``) for ``st.vega_lite_chart``, equal to
    ``to_vega_lite(charts.LAYOUTS[kind](frames, domain, **layout))`` but built from a cached
    template when the structure was seen before. ``arrow=True`` hands the datasets over
    as pyarrow Tables (converted on this thread, which is faster than pandas' pool);
    ``canvas=True`` asks the browser to draw on a canvas, which redraws faster than SVG."""
    key = (kind, domain is None, tuple(sorted(layout.items())), _structure(frames))
    with _TEMPLATES_LOCK:
        template = _TEMPLATES.get(key)
    if template is None:
        chart = charts.LAYOUTS[kind](frames, None if domain is None else _SENTINEL, **layout)
        template = json.dumps(to_vega_lite(chart, frames))
        with _TEMPLATES_LOCK:
            _TEMPLATES[key] = template
            while len(_TEMPLATES) > 256:
                _TEMPLATES.popitem(last=False)
    out = json.loads(template)
    if domain is not None:
        _set_domain(out, [float(domain[0]), float(domain[1])])
    if canvas:
        out["usermeta"] = {"embedOptions": {"renderer": "canvas"}}
    out["datasets"] = {name: _arrow(df) if arrow else df for name, df in frames.items()}
    return out
