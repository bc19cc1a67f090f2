"""Which HCL parser for the IaC collector (issue 23): python-hcl2 (today's, a pure-Python
Lark grammar) against HashiCorp's own HCL through pygohcl and tree-sitter-hcl, on the
same generated Terraform corpus, in one process: seconds per file, the ratio to
python-hcl2, and whether the resource facts (type, name) are identical.

    pip install pygohcl tree-sitter tree-sitter-hcl     # not project dependencies (yet)
    python benchmarks/hcl_parsers.py [--files 100]

A parser that is not installed is skipped and says so. What the ratio does not tell:
pygohcl returns every expression as a plain string (``var.db_password`` and the literal
``"var.db_password"`` come back the same), so it cannot tell a literal secret from a
reference without more work; tree-sitter keeps the whole syntax tree.
"""

from __future__ import annotations

import argparse
import importlib.util
import time


def corpus(files: int) -> list[str]:
    out = []
    for i in range(files):
        blocks = []
        for j in range(20):
            blocks.append(
                f'resource "aws_s3_bucket" "b{i}_{j}" {{\n  bucket = "acme-{i}-{j}"\n'
                f'  tags = {{\n    owner = "user{j}@example.com"\n    env = "prod"\n  }}\n}}\n'
                f'resource "aws_iam_user" "u{i}_{j}" {{\n  name = "user{i}-{j}"\n}}\n'
                f'resource "aws_iam_access_key" "k{i}_{j}" {{\n  user = aws_iam_user.u{i}_{j}.name\n}}\n'
                f'variable "v{i}_{j}" {{\n  default = "x{j}"\n}}\n'
                f'locals {{\n  l{j} = ["a", "${{var.v{i}_{j}}}"]\n}}\n')
        out.append("\n".join(blocks))
    return out


def facts_hcl2(text: str) -> set[tuple[str, str]]:
    import hcl2
    return {(t.strip('"'), n.strip('"')) for r in hcl2.loads(text).get("resource", [])
            for t, named in r.items() for n in named if not n.startswith("__")}


def facts_gohcl(text: str) -> set[tuple[str, str]]:
    import pygohcl
    return {(t, n) for t, named in pygohcl.loads(text).get("resource", {}).items() for n in named}


_TS = None


def facts_treesitter(text: str) -> set[tuple[str, str]]:
    global _TS
    import tree_sitter
    import tree_sitter_hcl
    if _TS is None:
        _TS = tree_sitter.Parser(tree_sitter.Language(tree_sitter_hcl.language()))
    root = _TS.parse(text.encode()).root_node
    body = root.children[0].children if root.children else []
    out = set()
    for node in body:
        if node.type == "block":
            ids = [c.text.decode().strip('"') for c in node.children
                   if c.type in ("identifier", "string_lit")]
            if len(ids) >= 3 and ids[0] == "resource":
                out.add((ids[1], ids[2]))
    return out


PARSERS = (("python-hcl2", "hcl2", facts_hcl2), ("pygohcl", "pygohcl", facts_gohcl),
           ("tree-sitter-hcl", "tree_sitter_hcl", facts_treesitter))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=100)
    files = corpus(ap.parse_args().files)
    ref, base = None, None
    print(f"{len(files)} files, {sum(map(len, files)) // 1024} KB")
    for name, module, fn in PARSERS:
        if importlib.util.find_spec(module) is None:
            print(f"{name:16} not installed: skipped")
            continue
        fn(files[0])  # warm (grammar load)
        t = time.perf_counter()
        got = [fn(text) for text in files]
        s = time.perf_counter() - t
        base = base or s
        ref = ref or got
        print(f"{name:16} {s:8.2f} s {s / len(files) * 1000:8.1f} ms/file {base / s:8.1f}x "
              f"facts identical: {got == ref}")


if __name__ == "__main__":
    main()
