"""tree-sitter-hcl against python-hcl2: identical facts, and the fallback between them."""

from __future__ import annotations

from pathlib import Path

import hcl2
import pytest

from collectors.iac import hcl
from collectors.iac.parsers import analyze, terraform_facts
from scanner.core.secrets import Fingerprinter, SecretScanner
from tests.test_iac_parsers import TF as PARSERS_TF

HERE = Path(__file__).parent
# (name, text): tests/data/hcl, plus the demo's Terraform and test_iac_parsers' document
# (read where they live, not copied)
CORPUS = sorted([(p.name, p.read_text()) for p in (HERE / "data" / "hcl").iterdir()
                 if p.suffix in (".tf", ".tfvars")]
                + [("demo.tf", (HERE.parent / "fixtures" / "demo" / "iac" / "main.tf").read_text()),
                   ("parsers_test.tf", PARSERS_TF)])


@pytest.fixture
def scanner() -> SecretScanner:
    return SecretScanner(Fingerprinter(b"test-key-" * 4))


def _without_comments(doc):
    """python-hcl2 8 keeps comments as ``__comments__`` entries (facts skip them)."""
    if isinstance(doc, dict):
        return {k: _without_comments(v) for k, v in doc.items() if k != "__comments__"}
    if isinstance(doc, list):
        return [_without_comments(v) for v in doc]
    return doc


def test_corpus_is_there():
    assert len(CORPUS) >= 5


@pytest.mark.parametrize("name,text", CORPUS, ids=[n for n, _ in CORPUS])
def test_tree_sitter_gives_python_hcl2s_document(name, text):
    ours, theirs = hcl.loads(text), hcl2.loads(text)
    assert ours is not None
    assert ours == _without_comments(theirs)


@pytest.mark.parametrize("name,text", CORPUS, ids=[n for n, _ in CORPUS])
def test_identical_facts(name, text):
    lines = text.split("\n")
    ours = terraform_facts(hcl.loads(text), text, lines)
    theirs = terraform_facts(hcl2.loads(text), text, lines)
    assert ours == theirs
    refs, pairs, _values = ours
    assert pairs  # the corpus is not empty of facts: the comparison means something
    if name.endswith(".tf") and "resource" in text:
        assert refs


def test_corpus_facts_through_analyze(scanner):
    f = analyze("infra/module.tf", (HERE / "data" / "hcl" / "module.tf").read_text(), scanner)
    assert f.parse_error is None
    got = {(r.matched, r.recreates) for r in f.refs}
    assert ("carol", True) in got and ("frank", True) in got  # unquoted labels too
    assert ("arn:aws:iam::210987654321:user/ivan", True) in got  # heredoc trust policy
    assert ("judy-gh", True) in got and ("mallory@example.com", True) in got
    assert not any(r.matched.startswith("${") for r in f.refs)


def test_a_file_tree_sitter_cannot_parse_falls_back_to_python_hcl2(scanner):
    # tree-sitter-hcl 1.2 has no exponent in numeric literals; python-hcl2 reads them
    text = 'resource "aws_iam_user" "zoe" {\n  name = "zoe"\n  max = 1e3\n}\n'
    assert hcl.loads(text) is None
    f = analyze("x/exp.tf", text, scanner)
    assert f.parse_error is None
    assert ("zoe", True, 2) in {(r.matched, r.recreates, r.line) for r in f.refs}


def test_neither_parser_reads_it_lines_stand(scanner):
    text = 'resource "aws_iam_user" "dave" {\n  email = "dave@example.com"\n'
    assert hcl.loads(text) is None
    f = analyze("x/broken.tf", text, scanner)
    assert f.parse_error and f.parse_error.startswith("terraform:")
    assert ("dave@example.com", 2) in {(r.matched, r.line) for r in f.refs}


def test_nesting_past_the_limit_is_a_parse_error_and_lines_stand(scanner):
    deep = ('resource "aws_iam_user" "eve" {\n  email = "eve@example.com"\n  x = '
            + "[" * (hcl.MAX_DEPTH + 5) + "]" * (hcl.MAX_DEPTH + 5) + "\n}\n")
    with pytest.raises(hcl.TooDeep):
        hcl.loads(deep)
    f = analyze("x/deep.tf", deep, scanner)
    assert f.parse_error == f"terraform: nested deeper than {hcl.MAX_DEPTH} levels"
    assert ("eve@example.com", 2) in {(r.matched, r.line) for r in f.refs}
    shallow = "a = " + "[" * 20 + "]" * 20 + "\n"
    assert hcl.loads(shallow) == hcl2.loads(shallow)
