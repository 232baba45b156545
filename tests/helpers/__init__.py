"""Helpers of the test suite, as plain modules, one concept each (as Hatch keeps them in
``tests/helpers``): a test imports what it needs, ``from tests.helpers.db import raw``.

conftest.py files are not importable under ``--import-mode=importlib``; these modules are
(pyproject sets pytest's ``pythonpath = ["."]``), and tests/conftest.py registers them for
pytest's assertion rewriting, so a failed ``assert`` in a helper explains itself as one in
a test does.

- :mod:`tests.helpers.db`: a plain connection as a user with psql would have, every row of
  every table (to prove nothing changed), rows and schema faults injected by hand.
- :mod:`tests.helpers.locks`: another session holding a lock while kpictl runs.
- :mod:`tests.helpers.isolation`: the isolation report and its failed checks.
- :mod:`tests.helpers.reliability`: the clean-failure check, time limits, bounded runs,
  a second seed worth interrupting.
- :mod:`tests.helpers.faults`: faults injected into kpictl's own database connection.
"""
