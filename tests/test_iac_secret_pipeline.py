"""The per-line pipeline the IaC scan runs on candidate lines (scanner.core.secrets._Engine)
is detect-secrets' own, step for step, with its dependency injection resolved once: same
secrets, same types, on every line of corpora holding a sample of every plugin."""

from __future__ import annotations

from collections import Counter

import pytest

from scanner.core.secrets import _Engine, line_starts
from tests.test_secrets import _corpus

FAKE = "Zq8vN3xT7pL2wK9mQ4rS"  # fake


@pytest.mark.parametrize("seed", [4, 5])
def test_engine_scan_line_is_detect_secrets_line_pipeline(seed, monkeypatch):
    from detect_secrets.core import scan

    engine = _Engine.get()  # configures detect-secrets (its plugins plus residual's own)
    # detect-secrets' pipeline with the engine's plugins (another test may have changed
    # detect-secrets' global settings since the engine was built; the filters are shared)
    monkeypatch.setattr(scan, "get_plugins", lambda: engine.plugins)
    lines = _corpus(seed).split("\n")
    # allowlist pragmas (detect-secrets drops the line, or the next one), and near misses
    for i in range(0, len(lines) - 2, 37):
        pragma = ["  # pragma: allowlist secret", "# pragma: allowlist nextline secret",
                  "  # pragma allowlist secret", "// pragma: whitelist secret"][i % 4]
        lines[i] = f'secret_key = "{FAKE}{i}"' + (pragma if "nextline" not in pragma else "")
        if "nextline" in pragma:
            lines[i - 1] = pragma
    theirs: dict[tuple[int, str], list[str]] = {}
    for ps in scan._process_line_based_plugins(list(enumerate(lines, start=1)), "corpus.txt"):
        theirs.setdefault((ps.line_number, ps.type), []).append(ps.secret_value)
    ours: dict[tuple[int, str], list[str]] = {}
    for n, line in enumerate(lines, start=1):
        for detector, value in engine.scan_line(lines, n, line, "corpus.txt"):
            ours.setdefault((n, detector), []).append(value)
    assert len(theirs) > 20
    assert Counter({k: len(v) for k, v in ours.items()}) == Counter({k: len(v) for k, v in theirs.items()})
    for key, values in theirs.items():  # residual widens a regex group to the whole token
        assert all(any(v in o for o in ours[key]) for v in values), key


def test_engine_follows_detect_secrets_filter_settings():
    """The filters are detect-secrets' current ones: a filter added to its settings (here
    an --exclude-lines regex) drops the line, and removing it brings the line back."""
    from detect_secrets.filters import regex
    from detect_secrets.settings import get_filters, get_settings

    engine = _Engine.get()
    line = 'password = "Zq8vN3xT7pL2wK9m"'  # fake
    assert list(engine.scan_line([line], 1, line, "x.py"))
    filters = get_settings().filters
    name = "detect_secrets.filters.regex.should_exclude_line"
    assert name not in filters
    try:
        filters[name] = {"pattern": ["Zq8vN3"]}
        get_filters.cache_clear()  # what detect-secrets' settings changes do
        regex._get_line_exclusion_regex.cache_clear()
        assert list(engine.scan_line([line], 1, line, "x.py")) == []
    finally:
        filters.pop(name, None)
        get_filters.cache_clear()
        regex._get_line_exclusion_regex.cache_clear()
    assert list(engine.scan_line([line], 1, line, "x.py"))


def test_line_starts_of_each_text():
    a, b = "ab\ncd\n\nef", "x\ny"
    assert line_starts(a) == [0, 3, 6, 7] and line_starts(b) == [0, 2]
    assert line_starts(a) == [0, 3, 6, 7]  # the kept list is the last text's only
    assert line_starts("") == [0] and line_starts("\n") == [0, 1]
