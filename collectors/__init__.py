"""Collectors: one module (or small package) per source. See collectors/base.py."""
