"""HCL (Terraform) text into python-hcl2's dictionary shape, through tree-sitter-hcl; and
where its blocks sit in the text (``Layout``), for the line of each fact.

Why: python-hcl2 is a pure-Python Lark grammar (~1 s for a 6.6 KB file with 60 resources in
benchmarks/hcl_parsers.py); tree-sitter-hcl is a C parser (36x faster there) that keeps
the whole syntax tree, so a literal (``"var.x"``) stays apart from a reference
(``var.x``), which a secret scanner must know. The rest of the IaC collector was written
against python-hcl2's output, so ``loads`` returns that shape: blocks as lists of
``{label: {label: body}}``, string literals with their quotes, other expressions as
``${...}`` in python-hcl2's spacing, numbers and booleans as Python values.
``tests/test_iac_hcl.py`` holds the two to identical facts on a corpus.

``loads`` returns None when tree-sitter reports a syntax error anywhere (the caller then
asks python-hcl2, whose verdict stands), and raises ``TooDeep`` past ``MAX_DEPTH`` levels
of nesting: no real Terraform nests that deep, and python-hcl2 would recurse until
Python's stack gives out. The conversion visits each node once, so its work is linear in
the size of the text (tests/test_iac_linear.py counts it).
"""

from __future__ import annotations

import bisect
import re
from typing import Any

import tree_sitter
import tree_sitter_hcl

MAX_DEPTH = 200  # nesting deeper than any real Terraform: not parsed (lines stand)
_PARSER: tree_sitter.Parser | None = None
_SPACE = re.compile(r"\s+")
_INT = re.compile(r"^-?\d+$")
# the python-hcl2 spacing of an operator's operands
_SPACED = {"binary_operation", "conditional"}
_JOINED = {"expression", "variable_expr", "get_attr", "index", "new_index",
           "splat", "attr_splat", "full_splat", "unary_operation", "operation",
           "collection_value", "literal_value"}

visits = 0  # nodes converted, for the linear-work test (an operation count, not a timing)


def _parser() -> tree_sitter.Parser:
    global _PARSER
    if _PARSER is None:
        _PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_hcl.language()))
    return _PARSER


class TooDeep(ValueError):
    """Nesting past MAX_DEPTH: hostile or generated, not parsed by either parser."""


def loads(text: str) -> dict | None:
    """python-hcl2's ``loads(text)`` for valid HCL; None when tree-sitter cannot tell."""
    data = text.encode("utf-8", "surrogateescape")
    root = _parser().parse(data).root_node
    if root.has_error:
        return None
    try:
        body = next((c for c in root.named_children if c.type == "body"), None)
        return _body(body, 0) if body is not None else {}
    except RecursionError:
        raise TooDeep(f"nested deeper than {MAX_DEPTH} levels") from None


def _text(node: Any) -> str:
    return node.text.decode("utf-8", "surrogateescape")


def _count(depth: int) -> None:
    global visits
    visits += 1
    if depth > MAX_DEPTH:
        raise TooDeep(f"nested deeper than {MAX_DEPTH} levels")


def _body(body: Any, depth: int) -> dict:
    out: dict[str, Any] = {}
    for node in body.named_children:
        _count(depth)
        if node.type == "attribute":
            name = _text(node.named_children[0])
            expr = next(c for c in node.named_children[1:] if c.type == "expression")
            out[name] = _value(expr, depth + 1)
        elif node.type == "block":
            kids = node.named_children
            btype = _text(kids[0])
            labels = [_text(c) for c in kids[1:] if c.type in ("string_lit", "identifier")]
            inner = next((c for c in kids if c.type == "body"), None)
            value: dict[str, Any] = _body(inner, depth + 1) if inner is not None else {}
            value["__is_block__"] = True
            for label in reversed(labels):
                value = {label: value}
            out.setdefault(btype, []).append(value)
    return out


def _value(expr: Any, depth: int) -> Any:
    """An attribute's or element's value, as python-hcl2 gives it."""
    _count(depth)
    node = expr
    while node.type == "expression" and node.named_child_count == 1 and node.child_count == 1:
        node = node.named_children[0]
    if node.type == "literal_value":
        lit = node.named_children[0]
        if lit.type == "numeric_lit":
            return _number(_text(lit))
        if lit.type == "bool_lit":
            return _text(lit) == "true"
        if lit.type == "null_lit":
            return None
        return _text(lit)  # string_lit: with its quotes and escapes, as python-hcl2
    if node.type == "variable_expr":
        return _text(node)  # a bare name (``type = string``): python-hcl2 keeps it bare
    if node.type == "template_expr":
        inner = node.named_children[0]
        raw = _text(inner)
        return f'"{raw}"' if inner.type == "heredoc_template" else raw
    if node.type == "operation" and node.named_children[0].type == "unary_operation":
        un = node.named_children[0]
        if _text(un.children[0]) == "-" and un.named_children[-1].type == "literal_value" and \
                un.named_children[-1].named_children[0].type == "numeric_lit":
            return -_number(_text(un.named_children[-1].named_children[0]))
    if node.type == "collection_value":
        coll = node.named_children[0]
        if coll.type == "tuple":
            return [_value(c, depth + 1) for c in coll.named_children if c.type == "expression"]
        if coll.type == "object":
            obj: dict[str, Any] = {}
            for elem in coll.named_children:
                if elem.type != "object_elem":
                    continue
                k, v = [c for c in elem.named_children if c.type == "expression"][:2]
                obj[_key(k, depth + 1)] = _value(v, depth + 1)
            return obj
    return "${" + _expr(expr, depth + 1) + "}"


def _key(expr: Any, depth: int) -> str:
    node = expr.named_children[0] if expr.named_child_count == 1 else expr
    if node.type == "variable_expr":
        return _text(node)
    if node.type == "literal_value":
        return _text(node)
    return "${" + _expr(expr, depth) + "}"


def _number(s: str) -> int | float:
    return int(s) if _INT.match(s) else float(s)


def _expr(node: Any, depth: int) -> str:
    """An expression's text in python-hcl2's spacing: ``f(a, b)``, ``{k = v, k2 = v2}``,
    ``[a, b]``, ``a + b``, ``c ? a : b``, traversals joined; anything else as written,
    whitespace collapsed."""
    _count(depth)
    t = node.type
    if node.child_count == 0 or t in ("string_lit", "template_expr", "quoted_template",
                                      "heredoc_template", "numeric_lit", "bool_lit", "null_lit",
                                      "legacy_index"):  # x.0: its digits are no child
        return _text(node)
    kids = node.children
    if t == "tuple":
        return "[" + ", ".join(_expr(c, depth + 1) for c in kids if c.type == "expression") + "]"
    if t == "object":
        elems = []
        for e in kids:
            if e.type == "object_elem":
                k, v = [c for c in e.named_children if c.type == "expression"][:2]
                elems.append(f"{_expr(k, depth + 1)} = {_expr(v, depth + 1)}")
        return "{" + ", ".join(elems) + "}"
    if t == "function_call":
        name = _text(kids[0])
        args = next((c for c in kids if c.type == "function_arguments"), None)
        parts = [] if args is None else [_expr(c, depth + 1) for c in args.children
                                          if c.type == "expression"]
        tail = "..." if args is not None and any(c.type == "expand_or_ellipsis" or
                                                 _text(c) == "..." for c in args.children) else ""
        return f"{name}({', '.join(parts)}{tail})"
    if t in _SPACED:
        return " ".join(_expr(c, depth + 1) for c in kids)
    if t in _JOINED or t == "(" or t == ")":
        return "".join(_expr(c, depth + 1) for c in kids)
    return _SPACE.sub(" ", _text(node)).strip()


_HEADER = re.compile(r'^\s*"?([A-Za-z_][\w-]*)"?((?:\s+(?:"[^"]*"|[^\s{"=]+))*)\s*\{')
_LABEL = re.compile(r'"([^"]*)"|([^\s{"=]+)')
_ATTR = re.compile(r'^\s*"?([A-Za-z_][\w-]*)"?\s*=')


class Layout:
    """Where each block and top-level attribute starts (and so where it ends), read once
    per file: a header looked up per resource, and values searched to the end of the
    file, made a file of n resources cost n x lines (tests/test_iac_linear.py counts it).
    Depth is counted by braces per line (those inside strings come in pairs)."""

    def __init__(self, lines: list[str]):
        self.first: dict[tuple[str, ...], int] = {}
        self.by_type: dict[str, list[int]] = {}  # top-level blocks/attributes, in order
        self.starts: list[int] = []  # every top-level block or attribute
        depth = 0
        for i, line in enumerate(lines, start=1):
            if depth == 0:
                m = _HEADER.match(line) if "{" in line else None
                if m:
                    labels = tuple(a or b for a, b in _LABEL.findall(m.group(2)))
                    self.first.setdefault((m.group(1), *labels), i)
                if m or (a := _ATTR.match(line)):
                    name = m.group(1) if m else a.group(1)  # type: ignore[union-attr]
                    self.by_type.setdefault(name, []).append(i)
                    self.starts.append(i)
            elif "{" in line:
                m = _HEADER.match(line)
                if m:  # a nested block: still a header a resource may be looked up by
                    labels = tuple(a or b for a, b in _LABEL.findall(m.group(2)))
                    self.first.setdefault((m.group(1), *labels), i)
            depth = max(0, depth + line.count("{") - line.count("}"))

    def header(self, *words: str) -> int:
        return self.first.get(words, 1)

    def nth(self, name: str, k: int) -> int:
        """The line of the k-th top-level block (or attribute) called ``name``; else 1."""
        found = self.by_type.get(name, [])
        return found[k] if k < len(found) else 1

    def end(self, header: int) -> int | None:
        """The next top-level block's first line after ``header`` (None: the end)."""
        i = bisect.bisect_right(self.starts, header)
        return self.starts[i] if i < len(self.starts) else None
