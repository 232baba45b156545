"""Range files without a database: strict YAML, validation, the domain models."""

from kpictl.rangefiles.loader import (
    load_catalog,
    load_into,
    load_range_file,
    range_file_paths,
    validate_paths,
)
from kpictl.rangefiles.model import (
    API_VERSION,
    Band,
    Catalog,
    KpiDef,
    KpiRange,
    Problem,
    RangeFile,
    RangeSet,
    Scoring,
)
from kpictl.rangefiles.rangedir import RangeDir

__all__ = [
    "API_VERSION",
    "Band",
    "Catalog",
    "KpiDef",
    "KpiRange",
    "Problem",
    "RangeDir",
    "RangeFile",
    "RangeSet",
    "Scoring",
    "load_catalog",
    "load_into",
    "load_range_file",
    "range_file_paths",
    "validate_paths",
]
