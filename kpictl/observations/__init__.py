"""KPI observations: reading CSV strictly, importing it in bulk, and reading it back.

Times are ISO 8601; without a zone they are UTC. They are stored in UTC: PostgreSQL
keeps ``timestamptz``, SQLite the naive UTC text SQLAlchemy writes, so comparisons
agree on both.
"""

from kpictl.observations.csvread import (
    MAX_SHOWN_PROBLEMS,
    OBSERVATION_COLUMNS,
    CsvProblem,
    CsvReader,
    CsvRow,
    ProgressCallback,
)
from kpictl.observations.importing import (
    BATCH_SIZE,
    COPY_CHUNK,
    ImportResult,
    import_csv,
    import_file,
)
from kpictl.observations.reading import (
    Observation,
    latest_values,
    latest_values_all,
    latest_values_query,
    list_observations,
    observations_of,
)
from kpictl.observations.values import (
    check_kpis,
    known_kpis,
    parse_number,
    parse_timestamp,
    shown,
)
from kpictl.times import as_utc

__all__ = [
    "BATCH_SIZE",
    "COPY_CHUNK",
    "MAX_SHOWN_PROBLEMS",
    "OBSERVATION_COLUMNS",
    "CsvProblem",
    "CsvReader",
    "CsvRow",
    "ImportResult",
    "Observation",
    "ProgressCallback",
    "as_utc",
    "check_kpis",
    "import_csv",
    "import_file",
    "known_kpis",
    "latest_values",
    "latest_values_all",
    "latest_values_query",
    "list_observations",
    "observations_of",
    "parse_number",
    "parse_timestamp",
    "shown",
]
