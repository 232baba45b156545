"""Completion in the real shells, installed the way README says: bash, zsh and fish run
in tmux, TAB is pressed after a partial slug or KPI name, and the screen is read.

The shells and tmux come from scripts/ensure-shells (Debian's packages): in CI a missing
one is installed, elsewhere its tests are skipped with the reason."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.helpers.terminal import start_tmux

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PROMPT = "READY> "
MARK = PROMPT.strip()  # capture-pane drops trailing blanks


def need(program: str) -> str:
    found = shutil.which(program)
    if found is None and os.environ.get("CI"):
        subprocess.run([str(REPO / "scripts" / "ensure-shells")], check=True)
        found = shutil.which(program)
    if found is None:
        pytest.skip(f"{program} is not installed (scripts/ensure-shells installs the shells)")
    return found


def script(shell: str) -> str:
    env = {**os.environ, "_KPICTL_COMPLETE": f"source_{shell}"}
    out = subprocess.run([str(BIN / "kpictl")], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def set_up(shell: str, home: Path) -> list[str]:
    """Install completion in ``home`` as README says; the command that starts the shell."""
    if shell == "bash":
        (home / ".kpictl-complete.bash").write_text(script("bash"))
        (home / ".bashrc").write_text(f"PS1='{PROMPT}'\nsource ~/.kpictl-complete.bash\n")
        return [need("bash"), "--noprofile", "--rcfile", str(home / ".bashrc"), "-i"]
    if shell == "zsh":
        (home / ".kpictl-complete.zsh").write_text(script("zsh"))
        (home / ".zshrc").write_text(
            f"PROMPT='{PROMPT}'\n"
            "autoload -Uz compinit && compinit -u\n"
            "source ~/.kpictl-complete.zsh\n"
        )
        return [need("zsh"), "-i"]
    completions = home / ".config" / "fish" / "completions"
    completions.mkdir(parents=True)
    (completions / "kpictl.fish").write_text(script("fish"))
    (home / ".config" / "fish" / "config.fish").write_text(
        f"set -g fish_greeting\nfunction fish_prompt; echo -n '{PROMPT}'; end\n"
    )
    return [need("fish"), "-i"]


def typed_then_tab(shell: str, line: str, tmp_path: Path, ranges_dir: Path) -> str:
    """The command line on the screen after typing ``line`` and pressing TAB."""
    tmux = need("tmux")
    home = tmp_path / "home"
    home.mkdir()
    command = set_up(shell, home)
    server = f"kpictl-{uuid.uuid4().hex[:8]}"
    env = {
        "PATH": f"{BIN}:/usr/bin:/bin",
        "HOME": str(home),
        "ZDOTDIR": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "KPICTL_RANGES_DIR": str(ranges_dir),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
    }
    run = [tmux, "-L", server, "-f", "/dev/null"]
    start_tmux(
        [*run, "new-session", "-d", "-x", "200", "-y", "20", "env", "-i"]
        + [f"{k}={v}" for k, v in env.items()]
        + command,
        cwd=tmp_path,
    )
    try:
        wait_for(run, lambda s: MARK in s, "the prompt")
        subprocess.run([*run, "send-keys", "-t", "0", "-l", line], check=True)
        wait_for(run, lambda s: _last(s) == PROMPT + line.rstrip(), "the typed line")
        subprocess.run([*run, "send-keys", "-t", "0", "Tab"], check=True)
        wait_for(run, lambda s: _last(s) != PROMPT + line.rstrip(), "the completion", limit=15)
        time.sleep(1)  # let the line settle (fish redraws)
        return _last(capture(run))
    finally:
        subprocess.run([*run, "kill-server"], capture_output=True)


def capture(run: list[str]) -> str:
    out = subprocess.run([*run, "capture-pane", "-p", "-t", "0"], capture_output=True, text=True)
    return out.stdout


def _last(screen: str) -> str:
    lines = [line.rstrip() for line in screen.splitlines() if line.startswith(MARK)]
    return lines[-1] if lines else ""


def wait_for(run: list[str], ready, what: str, limit: float = 20) -> str:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        screen = capture(run)
        if ready(screen):
            return screen
        time.sleep(0.2)
    raise AssertionError(f"no {what} after {limit} s:\n{capture(run)}")


SHELLS = ["bash", "zsh", "fish"]


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(
    ("typed", "completed"),
    [
        ("kpictl score da", "kpictl score data-center"),
        ("kpictl seed --customer glo", "kpictl seed --customer globex"),
        ("kpictl list --kpi error_r", "kpictl list --kpi error_rate_pct"),
        ("kpictl observations list --customer acme --kpi p95", "kpictl observations list"),
    ],
)
def test_tab_completes_in_a_real_shell(shell, typed, completed, tmp_path, ranges_dir) -> None:
    line = typed_then_tab(shell, typed, tmp_path, ranges_dir)
    assert line.startswith(PROMPT + completed), line
    if "p95" in typed:
        assert "p95_latency_ms" in line, line
