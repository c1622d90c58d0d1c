"""The one legend for the event markers shared by a group of charts."""

from __future__ import annotations

import html

import pandas as pd
import streamlit as st

from .. import charts
from ..events import LABELS


def marker_legend(events: pd.DataFrame | None) -> None:
    items = charts.legend_items(events)
    if not items:
        return
    parts = []
    for kind, color, dashed in items:
        style = "dashed" if dashed else "solid"
        parts.append(
            f'<span style="white-space:nowrap;margin-right:14px"><span style="display:inline-block;'
            f"width:0;height:12px;border-left:2px {style} {color};margin-right:5px;"
            f'vertical-align:-1px"></span>{html.escape(LABELS.get(kind, kind))}</span>'
        )
    st.markdown(
        '<div style="font-size:0.8rem;color:#475569">Markers: ' + "".join(parts) + "</div>", unsafe_allow_html=True
    )
