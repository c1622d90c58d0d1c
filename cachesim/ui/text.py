"""User text stays text: escape it before it enters Markdown.

A run name or description can come from a share link; in ``st.markdown``,
``st.success``, a caption or an expander label it would render links, images (fetched
from a third-party host), ``:red[...]`` directives and ``:material/...:`` icons.
:func:`plain` backslash-escapes every ASCII punctuation character (CommonMark lets any
of them be escaped) and folds the text onto one line, so it shows literally.

Escaping is not enough for bare addresses: Streamlit's Markdown (remark-gfm) finds
``https://...``, ``www.`` and ``name@host`` in the *unescaped* text and links them. A
word joiner (U+2060, invisible) after ``://``, inside ``www.`` and after ``@`` breaks
those patterns, so an address shows as the text it is and never renders as a link.
"""

from __future__ import annotations

import re

_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")
JOINER = "\u2060"  #: the invisible character that breaks bare addresses
_AUTOLINK = re.compile(r"(://|@)|(www)(?=\.)", re.IGNORECASE)


def plain(text: object, limit: int | None = 200) -> str:
    """``text`` as a literal Markdown fragment: one line, punctuation escaped, cut to
    ``limit`` characters (None: no cut)."""
    line = " ".join(str(text).split())
    if limit is not None and len(line) > limit:
        line = line[: limit - 1] + "…"
    line = _AUTOLINK.sub(lambda m: (m.group(1) or m.group(2)) + JOINER, line)
    return _PUNCT.sub(r"\\\1", line)
