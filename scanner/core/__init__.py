"""The floor: what every layer above stands on, and which imports nothing above it.

model (the records), store (the inventory), options and errors (the config contract every
plugin declares), secrets and fingerprints, time parsing, the one HTTP retry and paging
helper, the access graph. A test (tests/test_layers.py) keeps this package free of imports
of ``collectors``, ``rules``, ``reports`` and the rest of ``scanner``.
"""
