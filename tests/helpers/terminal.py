"""A real terminal for the tests: tmux."""

from __future__ import annotations

import subprocess
import time


def start_tmux(argv: list[str], **kwargs: object) -> None:
    """Start a tmux server and session. On a loaded machine a new server now and then
    exits at once ("server exited unexpectedly"): that is tmux's start-up, not what is
    tested, so it is tried three times."""
    for attempt in range(3):
        started = subprocess.run(argv, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
        if started.returncode == 0:
            return
        time.sleep(0.5 * (attempt + 1))
    raise AssertionError(f"tmux did not start: {started.stderr.strip()}")
