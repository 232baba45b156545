"""Developer tools of the kpictl repository (not part of the package): gen_docs.py."""
