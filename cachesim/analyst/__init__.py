"""The analyst: answers questions about a run, grounded in its metrics and events.

No streamlit here (the chat page is ``pages/4_Analyst.py`` with ``cachesim.ui.chat``).

- :mod:`.incidents`, :mod:`.findings`: what the run's data shows, as checkable text.
- :mod:`.tools`: bounded, escaped read-only tools over a run.
- :mod:`.offline`: the offline analyst (no LLM) and follow-up suggestions.
- :mod:`.agent`, :mod:`.prompt`, :mod:`.model`: the LangChain agent, its system prompt,
  the ChatOpenAI factory; :mod:`.errors` turns failures into one clear message.
- :mod:`.service`: one question in, a stream of :mod:`.turns` events out.
- :mod:`.testing`: a scripted tool-calling fake chat model.
"""

from .errors import AnalystError, describe_error, redact
from .findings import Finding, compute_findings
from .incidents import Incident, incidents
from .model import LLMSettings, make_chat_model, settings_from
from .offline import OfflineAnalyst, suggestions
from .service import LLM, OFFLINE, answer_events, choose_mode, run_tools
from .tools import RunTools
from .turns import Answer, Failure, TextDelta, ToolStep, cited_ranges

__all__ = [
    "LLM",
    "OFFLINE",
    "AnalystError",
    "Answer",
    "Failure",
    "Finding",
    "Incident",
    "LLMSettings",
    "OfflineAnalyst",
    "RunTools",
    "TextDelta",
    "ToolStep",
    "answer_events",
    "choose_mode",
    "cited_ranges",
    "compute_findings",
    "describe_error",
    "incidents",
    "make_chat_model",
    "redact",
    "run_tools",
    "settings_from",
    "suggestions",
]
