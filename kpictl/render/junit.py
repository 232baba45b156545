"""The report of ``verify-isolation`` as JUnit XML, for CI dashboards: a pure function.

The document follows the Jenkins xUnit plugin's ``junit-10.xsd`` (the schema Jenkins,
GitLab and most JUnit readers accept): counts of skipped tests only on ``<testsuite>``
(``<testsuites>`` may not carry them), a ``time`` in seconds on every testcase. Text
from the database (slugs, KPI names inside violation messages) may hold characters
that XML 1.0 cannot represent at all, not even escaped: they are written visibly as
``\\xNN`` / ``\\uNNNN`` so the file stays well-formed.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kpictl.isolation import IsolationReport

# What XML 1.0 does not allow in a document (section 2.2, Char): C0 controls but tab,
# newline and carriage return; surrogates; U+FFFE and U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: str) -> str:
    """``value`` with each character XML 1.0 forbids written visibly as an escape."""
    return _NOT_XML.sub(_visible, value)


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def junit_xml(report: IsolationReport) -> str:
    """A JUnit XML document with one testcase per check, each with its duration."""
    failures = sum(1 for c in report.checks if c.status == "failed")
    skipped = sum(1 for c in report.checks if c.status == "skipped")
    counts = {
        "tests": str(len(report.checks)),
        "failures": str(failures),
        "errors": "0",
        "time": _seconds(report.seconds),
    }
    suites = ET.Element("testsuites", {"name": "kpictl verify-isolation", **counts})
    suite = ET.SubElement(
        suites, "testsuite", {"name": "verify-isolation", **counts, "skipped": str(skipped)}
    )
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", {"name": "backend", "value": report.backend})
    if report.customers:
        ET.SubElement(
            properties,
            "property",
            {"name": "customers", "value": xml_text(",".join(report.customers))},
        )
    for check in report.checks:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": "kpictl.verify_isolation",
                "name": check.name,
                "time": _seconds(check.seconds),
            },
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
            failure.text = xml_text("\n".join(v.message for v in check.violations))
        elif check.status == "skipped":
            ET.SubElement(case, "skipped", {"message": xml_text(check.skipped or "")})
        if check.note:  # what the check covered: CI shows it with the testcase
            ET.SubElement(case, "system-out").text = xml_text(check.note)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, "unicode") + "\n"


def _seconds(seconds: float) -> str:
    # junit-10.xsd's SUREFIRE_TIME: digits and a decimal point, no exponent, no sign
    return f"{max(seconds, 0.0):.6f}"
