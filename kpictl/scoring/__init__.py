"""Health scores (SPEC section 4).

The pure parts, importable from here: the band classifier (:mod:`.bands`), the
arithmetic written once (:mod:`.arithmetic`), one customer's card (:mod:`.card`) and
the all-customer board of ``score --all`` (:mod:`.board`). The parts that read the
database are imported where needed (SQLAlchemy stays out of start-up):
:mod:`.inputs` (the SQL inputs), :mod:`.values` (``--values``/``--set``/``--at``) and
:mod:`.verbs` (score one customer, score every customer, import and list observations).
"""

from kpictl.scoring.arithmetic import (
    DEFAULT_CLAMP,
    DEFAULT_POINTS,
    DIGITS,
    HEALTH_SCORE,
    HEALTHY_FROM,
    RANGES_MODEL,
    RISK_FROM,
    points_of,
    threshold_status,
)
from kpictl.scoring.bands import (
    BAND_STATUSES,
    SEVERITY,
    CompiledRange,
    Status,
    band_of,
    classify,
    compile_range,
    compile_row,
    is_alert,
    range_of,
)
from kpictl.scoring.board import Scoreboard, Summary, summarize
from kpictl.scoring.card import (
    Alert,
    InputValue,
    KpiScore,
    SavedScore,
    ScoreCard,
    Skipped,
    iso,
    overall_status,
    score,
)

__all__ = [
    "BAND_STATUSES",
    "DEFAULT_CLAMP",
    "DEFAULT_POINTS",
    "DIGITS",
    "HEALTHY_FROM",
    "HEALTH_SCORE",
    "RANGES_MODEL",
    "RISK_FROM",
    "SEVERITY",
    "Alert",
    "CompiledRange",
    "InputValue",
    "KpiScore",
    "SavedScore",
    "ScoreCard",
    "Scoreboard",
    "Skipped",
    "Status",
    "Summary",
    "band_of",
    "classify",
    "compile_range",
    "compile_row",
    "is_alert",
    "iso",
    "overall_status",
    "points_of",
    "range_of",
    "score",
    "summarize",
    "threshold_status",
]
