"""kpictl's benchmark (``python -m benchmarks``, ``make bench``): a developer program, not
part of the package that users install. See benchmarks/run.py."""
