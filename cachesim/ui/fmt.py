"""Number formatting shared by the pages (None and NaN show as a dash)."""

from __future__ import annotations

from ..derived import undefined as _undefined

DASH = "—"


def pct(x: float | None, digits: int = 1) -> str:
    return DASH if _undefined(x) else f"{x:.{digits}%}"


def ms(x: float | None) -> str:
    if _undefined(x):
        return DASH
    return f"{x:.2f} ms" if x < 10 else f"{x:.1f} ms" if x < 1000 else f"{x:,.0f} ms"


def rate(x: float | None) -> str:
    return DASH if _undefined(x) else f"{x:,.0f}/s"


def count(x: float | None) -> str:
    return DASH if _undefined(x) else f"{x:,.0f}"


def delta(now: float | None, before: float | None, kind: str) -> str | None:
    """A metric delta as text (``+1.2 pp``, ``-3.0 ms``); None when either side is
    undefined or the change rounds to zero."""
    if _undefined(now) or _undefined(before):
        return None
    scale, digits, unit = _DELTAS[kind]
    d = round((now - before) * scale, digits)
    return None if d == 0 else f"{d:+,.{digits}f}{unit}"


_DELTAS = {"pct": (100, 1, " pp"), "ms": (1, 2, " ms"), "rate": (1, 0, "/s"), "count": (1, 0, "")}


def pct_change(new: float | None, old: float | None) -> str:
    if _undefined(new) or _undefined(old) or old == 0:
        return DASH
    return f"{(new - old) / abs(old):+.1%}"
