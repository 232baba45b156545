"""The original application, as its own code declared it: Flask-SQLAlchemy models over
``customers`` and ``kpi_reference_ranges``, and the rows its one-off seed scripts wrote
(``seed_data_center_reference_ranges.py`` and the like).

Adoption must leave every one of these rows and columns as it is, and this model's own
query (customer-specific, then the system default) must keep answering the same.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.pool import NullPool

db = SQLAlchemy()


class Customer(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "customers"

    customer_id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(255), nullable=False)


class KPIReferenceRange(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "kpi_reference_ranges"

    range_id = db.Column(db.Integer, primary_key=True)
    # NULL = system default
    customer_id = db.Column(
        db.Integer, db.ForeignKey("customers.customer_id", ondelete="CASCADE"), nullable=True
    )
    kpi_name = db.Column(db.String(100), nullable=False)
    critical_min = db.Column(db.Float)
    critical_max = db.Column(db.Float)
    risk_min = db.Column(db.Float)
    risk_max = db.Column(db.Float)
    healthy_min = db.Column(db.Float)
    healthy_max = db.Column(db.Float)

    __table_args__ = (
        db.UniqueConstraint("customer_id", "kpi_name", name="uq_customer_kpi_name"),
        db.Index("idx_ref_range_customer_kpi", "customer_id", "kpi_name"),
    )

    @classmethod
    def get_for_customer(cls, customer_id: int, kpi_name: str) -> KPIReferenceRange | None:
        """The customer's own range, else the system default."""
        own = cls.query.filter_by(customer_id=customer_id, kpi_name=kpi_name).first()
        if own is not None:
            return own
        return cls.query.filter_by(customer_id=None, kpi_name=kpi_name).first()

    def bands(self) -> tuple[Any, ...]:
        return (
            self.range_id,
            self.customer_id,
            self.kpi_name,
            self.critical_min,
            self.critical_max,
            self.risk_min,
            self.risk_max,
            self.healthy_min,
            self.healthy_max,
        )


ORIGINAL_COLUMNS = {
    "customers": ("customer_id", "name"),
    "kpi_reference_ranges": (
        "range_id",
        "customer_id",
        "kpi_name",
        "critical_min",
        "critical_max",
        "risk_min",
        "risk_max",
        "healthy_min",
        "healthy_max",
    ),
}

CUSTOMERS = {1: "Acme Corp", 2: "Globex", 6: "Data Center"}

N = None
# (customer_id, kpi, critical_min, critical_max, risk_min, risk_max, healthy_min, healthy_max)
RANGES: list[tuple[Any, ...]] = [
    # system defaults
    (N, "daily_invocations", N, 500, 500, 2000, 2000, N),
    (N, "error_rate_pct", 5, N, 1, 5, N, 1),
    # customer 1: its own two
    (1, "daily_invocations", N, 300, 300, 1500, 1500, N),
    (1, "error_rate_pct", 8, N, 2, 8, N, 2),
    # Data Center (customer_id 6): seed_data_center_reference_ranges.py, ten KPIs
    (6, "daily_invocations", N, 956, 956, 2000, 2000, N),
    (6, "invocations_30d", N, 28680, 28680, 60000, 60000, N),
    (6, "invocation_velocity_change_pct", N, -15, -15, 0, 0, N),
    (6, "monthly_spend", N, 2000, 2000, 5000, 5000, N),
    (6, "days_since_last_invocation", 8, N, 3, 8, N, 3),
    (6, "error_rate_pct", 3, N, 1, 3, N, 1),
    (6, "p95_latency_ms", 1200, N, 400, 1200, N, 400),
    (6, "avg_execution_time_sec", 8, N, 2, 8, N, 2),
    (6, "cold_start_pct", 10, N, 3, 10, N, 3),
    (6, "health_score", N, 40, 40, 70, 70, N),
    # customer 2: none of its own
]


def make_app(url: str) -> Flask:
    app = Flask("legacy_health_app")
    # the psycopg2 driver, as kpictl uses (plain postgresql:// may mean psycopg 3)
    app.config["SQLALCHEMY_DATABASE_URI"] = url.replace(
        "postgresql://", "postgresql+psycopg2://", 1
    )
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"poolclass": NullPool}
    db.init_app(app)
    return app


def create_and_seed(url: str, rows: list[tuple[Any, ...]] | None = None) -> None:
    """db.create_all() and the original rows, as the application's scripts wrote them."""
    app = make_app(url)
    with app.app_context():
        db.create_all()
        for cid, name in CUSTOMERS.items():
            db.session.add(Customer(customer_id=cid, name=name))
        db.session.flush()
        for cid, kpi, *bounds in RANGES if rows is None else rows:
            keys = ("critical_min", "critical_max", "risk_min", "risk_max")
            values = dict(zip((*keys, "healthy_min", "healthy_max"), bounds, strict=True))
            db.session.add(KPIReferenceRange(customer_id=cid, kpi_name=kpi, **values))
        db.session.commit()
        db.engine.dispose()


def answers(url: str) -> dict[tuple[int, str], tuple[Any, ...] | None]:
    """The application's own lookup for every customer and KPI, through the model."""
    app = make_app(url)
    kpis = sorted({r[1] for r in RANGES})
    with app.app_context():
        try:
            out = {}
            for cid in CUSTOMERS:
                for kpi in kpis:
                    found = KPIReferenceRange.get_for_customer(cid, kpi)
                    out[(cid, kpi)] = None if found is None else found.bands()
            return out
        finally:
            db.session.remove()
            db.engine.dispose()


def add_and_remove_range(url: str, customer_id: int, kpi_name: str) -> tuple[Any, ...]:
    """What the application's scripts do: insert a range, read it back through the
    lookup, delete it. Returns what the lookup returned."""
    app = make_app(url)
    with app.app_context():
        try:
            row = KPIReferenceRange(customer_id=customer_id, kpi_name=kpi_name, critical_max=1.0)
            db.session.add(row)
            db.session.commit()
            found = KPIReferenceRange.get_for_customer(customer_id, kpi_name)
            assert found is not None
            seen = found.bands()
            db.session.delete(found)
            db.session.commit()
            return seen
        finally:
            db.session.remove()
            db.engine.dispose()
