"""The rule catalog. One module per family; each rule is a small function with its
metadata next to it (see rules/base.py). Modules are discovered, not listed."""
