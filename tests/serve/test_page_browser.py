"""The score card page in a real browser: headless Chromium from the distribution's
packages (scripts/ensure-chromium installs it when missing) loads ``/?token=...``,
follows the redirect with its new cookie, and renders the card at 1280 and 390 px."""

from __future__ import annotations

import os
import struct
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
STATUS_WORDS = {"healthy": "Healthy", "risk": "Risk", "critical": "Critical"}


@pytest.fixture(scope="session")
def chromium() -> str:
    """The browser's path; installed with scripts/ensure-chromium when missing."""
    found = subprocess.run(
        [str(REPO / "scripts" / "ensure-chromium")], capture_output=True, text=True, timeout=900
    )
    if found.returncode != 0:
        reason = f"no headless Chromium: {found.stderr.strip()[-500:]}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found.stdout.strip().splitlines()[-1]


def browse(chromium: str, url: str, width: int, height: int, *action: str) -> str:
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                *action,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


class Rows(HTMLParser):
    """KPI rows (id="kpi-NAME", data-status) and their text, from the rendered DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, Any]] = {}
        self.scripts = 0
        self._current: str | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if self._current is not None:
            self._depth += 1
        elif tag == "li" and (found.get("id") or "").startswith("kpi-"):
            name = found["data-kpi"] or ""
            self.rows[name] = {"status": found.get("data-status"), "text": ""}
            self._current, self._depth = name, 1

    def handle_endtag(self, tag: str) -> None:
        if self._current is not None:
            self._depth -= 1
            if self._depth == 0:
                self._current = None

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self.rows[self._current]["text"] += data


def test_the_card_renders_in_chromium_at_desktop_and_phone_width(  # type: ignore[no-untyped-def]
    served: Any, chromium: str, tmp_path: Path, seeded
) -> None:
    seeded("customers", "add", "evil", "--name", "<script>document.title='owned'</script>")
    token = served.tokens["data-center"]
    url = f"{served.url}/?token={token}"
    for width in (1280, 390):
        shot = tmp_path / f"card-{width}.png"
        browse(chromium, url, width, 1600, f"--screenshot={shot}")
        assert shot.exists()
        assert png_size(shot) == (width, 1600)
        assert shot.stat().st_size > 15_000, "a blank page compresses to a few KB"

    dom = browse(chromium, url, 390, 1600, "--dump-dom")
    assert token not in dom
    parsed = Rows()
    parsed.feed(dom)
    score = served.get("/api/health-score", token).json()
    ranges = served.get("/api/kpi-reference-ranges", token).json()["ranges"]
    assert set(parsed.rows) >= {r["kpi_name"] for r in ranges}
    for kpi in score["kpis"]:
        row = parsed.rows[kpi["kpi_name"]]
        assert row["status"] == kpi["status"]
        if kpi["status"] in STATUS_WORDS:
            assert STATUS_WORDS[kpi["status"]] in row["text"], row
    assert "Data Center" in dom
    for alert in score["alerts"]:
        if alert["playbook"]:
            assert alert["playbook"] in dom
    assert parsed.scripts == 0

    # a hostile display name stays text in the browser too
    evil = seeded("tokens", "issue", "--customer", "evil").stdout.strip()
    evil_dom = browse(chromium, f"{served.url}/?token={evil}", 390, 900, "--dump-dom")
    assert "&lt;script&gt;document.title='owned'&lt;/script&gt;" in evil_dom
    assert "<title>owned</title>" not in evil_dom
    checker = Rows()
    checker.feed(evil_dom)
    assert checker.scripts == 0
