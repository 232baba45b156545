"""kpictl: customer-health KPI reference ranges as code."""

__version__ = "0.1.0"
