"""One plan printer for seed and diff: the same scope header and change lines."""

from __future__ import annotations

import re


def test_seed_and_diff_print_a_scope_the_same_way(cli) -> None:
    cli("seed", "--all")
    acme = cli.ranges_dir / "customers" / "acme.yaml"
    acme.write_text(
        acme.read_text().replace("version: 1", "version: 2").replace("weight: 3", "weight: 4")
    )
    header = "customer acme  (" + str(acme) + ": file v2, database v1)"
    change = "  ~ error_rate_pct: weight: 3 -> 4"
    diff = cli("diff", "--customer", "acme", expect=1).stdout.splitlines()
    seed = cli("seed", "--customer", "acme", "--dry-run").stdout.splitlines()
    assert header in diff and header in seed
    assert change in diff and change in seed


def test_a_new_customer_reads_not_in_the_database_in_both(cli) -> None:
    cli("seed", "--defaults")
    diff = cli("diff", "--customer", "acme", expect=1).stdout
    seed = cli("seed", "--customer", "acme", "--dry-run").stdout
    for out in (diff, seed):
        assert re.search(
            r"^customer acme  \(.*acme\.yaml: file v1, not in the database\)$", out, re.M
        )
        assert "  + create customer acme (Acme Corp)" in out
