"""kpictl.render is a package whose public names load their module on first use."""

from __future__ import annotations

import subprocess
import sys

import kpictl.render


def test_every_public_name_resolves() -> None:
    for name in kpictl.render.__all__:
        assert getattr(kpictl.render, name) is not None, name


def test_importing_the_renderer_loads_neither_rich_nor_the_presenters() -> None:
    code = (
        "import sys\nfrom kpictl.render import Renderer, OutputFormat, fmt_num\n"
        "print(sorted(m for m in sys.modules if m.startswith(('rich', 'sqlalchemy', "
        "'kpictl.render.scores', 'kpictl.render.isolation', 'kpictl.render.csvout'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
