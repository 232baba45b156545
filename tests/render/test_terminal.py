"""The installed kpictl in a real terminal (tmux) of 80 and 60 columns: every status word,
number, slug and KPI name is whole on the screen (issue 13 §1).

tmux is installed by ``make install`` (scripts/ensure-tmux); without it these tests skip
outside CI and fail in CI.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from kpictl.numbers import fmt_num
from tests.helpers.terminal import start_tmux

KPICTL = Path(sys.executable).parent / "kpictl"
SAMPLES = Path(__file__).resolve().parents[2] / "samples"
DONE = "__kpictl_done__"

if shutil.which("tmux") is None and not os.environ.get("CI"):
    pytest.skip(
        "tmux is not installed (make install runs scripts/ensure-tmux)", allow_module_level=True
    )


def whole(token: str, output: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(token)}(?![\w.])", output) is not None


def on_screen(
    args: list[str],
    *,
    columns: int,
    env: dict[str, str],
    escapes: bool = False,
    cwd: Path | None = None,
) -> str:
    """What a terminal of ``columns`` shows after ``kpictl ARGS``, as tmux captured it."""
    socket = f"kpictl-test-{uuid.uuid4().hex[:8]}"
    assigned = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    command = (
        (f"cd {shlex.quote(str(cwd))} && " if cwd else "")
        + "env -u COLUMNS -u LINES -u NO_COLOR -u FORCE_COLOR TERM=xterm-256color "
        f"{assigned} "
        f"{shlex.quote(str(KPICTL))} {shlex.join(args)}; echo {DONE}; sleep 120"
    )
    tmux = ["tmux", "-L", socket, "-f", "/dev/null"]
    start_tmux([*tmux, "new-session", "-d", "-x", str(columns), "-y", "200", "-s", "t", command])
    try:
        deadline = time.monotonic() + 60
        while True:
            screen = subprocess.run(
                [
                    *tmux,
                    "capture-pane",
                    "-p",
                    *(["-e"] if escapes else []),
                    "-t",
                    "t",
                    "-S",
                    "-2000",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            if DONE in screen or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        width = subprocess.run(
            [*tmux, "display-message", "-p", "-t", "t", "#{pane_width}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
    assert width == str(columns)
    assert DONE in screen, screen
    return screen[: screen.index(DONE)]


@pytest.mark.parametrize("columns", [80, 60])
def test_a_real_terminal_shows_every_status_and_number_whole(wide, columns: int) -> None:
    env = {"KPICTL_DATABASE_URL": wide.db_url, "KPICTL_RANGES_DIR": str(wide.ranges_dir)}

    checks = json.loads(wide("verify-isolation", "-o", "json", expect=1).stdout)["checks"]
    screen = on_screen(["verify-isolation"], columns=columns, env=env)
    for check in checks:
        assert whole(check["name"], screen), screen
        assert whole(check["status"], screen), screen
    assert whole("failed", screen)
    assert "…" not in screen

    card = json.loads(wide("score", "data-center", "-o", "json").stdout)
    screen = on_screen(["score", "data-center"], columns=columns, env=env)
    for kpi in card["kpis"]:
        for token in (kpi["kpi_name"], kpi["status"], fmt_num(kpi["value"])):
            assert whole(token, screen), (token, screen)

    rows = json.loads(wide("list", "--customer", "data-center", "-o", "json").stdout)
    screen = on_screen(["list", "--customer", "data-center"], columns=columns, env=env)
    for row in rows:
        assert whole(row["kpi_name"], screen), screen
        for bound in ("critical_min", "critical_max", "risk_min", "risk_max"):
            if row[bound] is not None:
                assert whole(fmt_num(row[bound]), screen), (bound, screen)

    screen = on_screen(["customers", "list"], columns=columns, env=env)
    assert whole("northwind-traders-international-emea", screen), screen


def test_no_color_in_a_real_terminal_emits_no_escape_sequence(wide) -> None:
    env = {"KPICTL_DATABASE_URL": wide.db_url, "KPICTL_RANGES_DIR": str(wide.ranges_dir)}
    coloured = on_screen(["score", "data-center"], columns=100, env=env, escapes=True)
    assert "\x1b[" in coloured  # a terminal gets colours by default
    for args, extra in (
        (["--no-color", "score", "data-center"], {}),
        (["score", "data-center"], {"NO_COLOR": "1"}),
        (["verify-isolation"], {"NO_COLOR": "1"}),
        (["observations", "import", str(SAMPLES / "observations.csv")], {"NO_COLOR": "1"}),
    ):
        screen = on_screen(args, columns=100, env={**env, **extra}, escapes=True)
        assert "\x1b" not in screen, (args, screen)


@pytest.mark.parametrize("columns", [80, 60])
def test_validate_problems_wrap_between_words_in_a_terminal(cli, columns: int) -> None:
    acme = cli.ranges_dir / "customers" / "acme.yaml"
    acme.write_text(
        acme.read_text()
        .replace("error_rate_pct:", "invocation_velocity_change_pct_typo:")
        .replace("max: 100}", "max: 50}")
    )
    problems = json.loads(cli("validate", "-o", "json", expect=1).stdout)["problems"]
    for problem in problems:
        problem["path"] = str(Path(problem["path"]).relative_to(cli.ranges_dir.parent))
        problem["message"] = problem["message"].replace(f"{cli.ranges_dir.parent}/", "")
    assert problems
    # run where the paths are short: a path wider than the terminal cannot stay whole
    screen = on_screen(["validate"], columns=columns, env={}, cwd=cli.ranges_dir.parent)
    for problem in problems:
        assert whole(problem["path"], screen), screen
        for word in problem["message"].split():
            assert whole(word.strip(",:;()'"), screen) or not word.strip(",:;()'"), (word, screen)
    labels = re.findall(r"^(error|warning): ", screen, re.M)
    assert labels == [p["severity"] for p in problems], screen
