"""The report of ``verify-isolation`` as JUnit XML, for CI dashboards: a pure function."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kpictl.isolation.report import IsolationReport


def junit_xml(report: IsolationReport) -> str:
    """A JUnit XML document with one testcase per check, for CI dashboards."""
    failures = sum(1 for c in report.checks if c.status == "failed")
    skipped = sum(1 for c in report.checks if c.status == "skipped")
    counts = {
        "tests": str(len(report.checks)),
        "failures": str(failures),
        "errors": "0",
        "skipped": str(skipped),
        "time": f"{report.seconds:.3f}",
    }
    suites = ET.Element("testsuites", {"name": "kpictl verify-isolation", **counts})
    suite = ET.SubElement(suites, "testsuite", {"name": "verify-isolation", **counts})
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", {"name": "backend", "value": report.backend})
    if report.customers:
        ET.SubElement(
            properties, "property", {"name": "customers", "value": ",".join(report.customers)}
        )
    for check in report.checks:
        case = ET.SubElement(
            suite,
            "testcase",
            {"classname": "kpictl.verify_isolation", "name": check.name, "time": "0"},
        )
        if check.status == "failed":
            n = len(check.violations)
            failure = ET.SubElement(
                case,
                "failure",
                {
                    "type": "IsolationViolation",
                    "message": f"{n} violation{'s' if n != 1 else ''}: {check.description}",
                },
            )
            failure.text = "\n".join(v.message for v in check.violations)
        elif check.status == "skipped":
            ET.SubElement(case, "skipped", {"message": check.skipped or ""})
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, "unicode") + "\n"
