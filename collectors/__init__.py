"""Sources: one package per source (``collectors/<name>/``, see docs/new-source.md), the
contracts they implement (base.py: collectors, roster.py: roster sources, remediation.py:
plan steps) and registry.py, which reads what the packages declare."""
