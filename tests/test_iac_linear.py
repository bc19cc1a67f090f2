"""The IaC parsers do work linear in their input on hostile shapes (issues 15 and 23).

Counted, not timed: every Python line executed while ``analyze`` runs (``sys.settrace``
line events, in our code and in the libraries it calls), for an input of size n and of
size 4n. Linear work grows about 4x; the quadratic shapes these inputs target (a header
looked up per resource, a value searched to the end of the file, recursion per nesting
level) grow 16x. C code (tree-sitter, libyaml, the regex engine) is not counted: its
algorithms are linear by construction; our Python around them is what this holds.
"""

from __future__ import annotations

import sys

import pytest

from collectors.iac import hcl
from collectors.iac.parsers import analyze
from scanner.core.secrets import Fingerprinter, SecretScanner

GROWTH = 6.0  # n -> 4n: linear is ~4, quadratic ~16


@pytest.fixture(scope="module")
def scanner() -> SecretScanner:
    s = SecretScanner(Fingerprinter(b"test-key-" * 4))
    analyze("warm.tf", 'resource "aws_iam_user" "w" {\n  name = "w"\n}\n', s)  # settings, once
    analyze("warm.yaml", "a: 1\n", s)
    return s


def operations(path: str, text: str, scanner: SecretScanner) -> int:
    count = 0

    def tracer(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
        return tracer

    sys.settrace(tracer)
    try:
        analyze(path, text, scanner)
    finally:
        sys.settrace(None)
    return count


def tf_resources(n: int) -> str:
    return "".join(
        f'resource "aws_iam_user" "u{i}" {{\n  name = "user{i}"\n  path = var.path\n'
        f'  tags = {{\n    team = "t{i % 9}"\n    env  = local.env\n  }}\n}}\n' for i in range(n))


def tf_deep(n: int) -> str:
    return f'resource "aws_iam_user" "d" {{\n  name = "d"\n  x = {"[" * n}{"]" * n}\n}}\n'


def tf_deep_blocks(n: int) -> str:
    return 'resource "aws_iam_user" "d" {\n  name = "d"\n' + "a {\n" * n + "}\n" * n + "}\n"


def long_line(n: int) -> str:
    return "x = \"" + "ab1/" * n + "\"\n"


CASES = {
    "terraform: many resources": ("main.tf", tf_resources, 150),
    "terraform: deep expression nesting": ("deep.tf", tf_deep, 150),
    "terraform: deep block nesting": ("blocks.tf", tf_deep_blocks, 150),
    "terraform: one long line": ("long.tf", long_line, 5000),
    "yaml: one long line": ("long.yaml", lambda n: "k: " + "ab1/" * n + "\n", 5000),
    "yaml: deep flow nesting": ("deep.yaml", lambda n: "k: " + "[" * n + "]" * n + "\n", 150),
    "yaml: many documents": ("many.yaml", lambda n: "".join(
        f"---\nkind: Secret\nmetadata:\n  name: s{i}\ndata:\n  k: aGVsbG8=\n" for i in range(n)), 150),
    "json: deep nesting": ("deep.json", lambda n: "[" * n + "]" * n, 150),
    "dotenv: many lines": (".env", lambda n: "".join(f"K{i}=v{i}\n" for i in range(n)), 500),
}


@pytest.mark.parametrize("name", CASES)
def test_work_grows_linearly(name, scanner):
    path, make, n = CASES[name]
    small, large = operations(path, make(n), scanner), operations(path, make(4 * n), scanner)
    assert small > 0
    assert large <= GROWTH * small, f"{name}: {small} -> {large} operations for 4x the input"


def test_tree_sitter_conversion_visits_each_node_once():
    counts = []
    for n in (100, 400):
        before = hcl.visits
        assert hcl.loads(tf_resources(n)) is not None
        counts.append(hcl.visits - before)
    assert counts[1] <= 4.4 * counts[0]


def test_many_top_level_blocks_and_tfvars_attributes_too(scanner):
    def locals_blocks(n: int) -> str:
        return "".join(f'locals {{\n  a{i} = var.x{i}\n  b{i} = "v{i}"\n}}\n' for i in range(n))

    def tfvars(n: int) -> str:
        return "".join(f'k{i} = "value-{i}"\n' for i in range(n))

    for path, make in (("l.tf", locals_blocks), ("x.tfvars", tfvars)):
        text = 'resource "aws_iam_user" "u" {\n  name = "u"\n}\n' + make(600)
        small = operations(path, text, scanner)
        large = operations(path, 'resource "aws_iam_user" "u" {\n  name = "u"\n}\n' + make(2400),
                           scanner)
        assert large <= GROWTH * small, f"{path}: {small} -> {large}"
