"""The database as range files: the text of a range file, and ``kpictl export``."""

from kpictl.export.rangetext import kpi_order, range_file_text, yaml_number, yaml_string
from kpictl.export.scope import ExportResult, export, write_atomically

__all__ = [
    "ExportResult",
    "export",
    "kpi_order",
    "range_file_text",
    "write_atomically",
    "yaml_number",
    "yaml_string",
]
