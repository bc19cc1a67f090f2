"""How tests/data/inventory-v1.duckdb.gz was made (see tests/data/README.md).

Run with the code of main at 7006a99 (the last release before inventories carried a
schema version), from the repository root:

    .venv/bin/python tests/data/make_inventory_v1.py

It starts the demo estate (fixtures/demo: moto, the fakes, an IaC tree) on 127.0.0.1 and
drives the real CLI three times into one inventory: a full ``scan``, a targeted
``verify --live dave@example.com`` and a partial ``scan --only iac``. The gzipped
inventory is what an upgrading user has on disk.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from fixtures.demo import run as demo  # noqa: E402

NOW = "2026-11-21T12:00:00+00:00"  # tests/conftest.py NOW


def main() -> None:
    out = Path(tempfile.mkdtemp(prefix="inventory-v1-"))
    shutil.copy(demo.HERE / "roster.csv", out / "roster.csv")
    config: dict = {"inventory": "residual.duckdb", "roster": [{"csv": "roster.csv"}],
                    "collectors": {}}
    state: dict = {}
    env = {**os.environ, "RESIDUAL_NOW": NOW, "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null",
           "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true"}
    with ExitStack() as stack:
        for _, part in demo.PARTS:
            part(stack, out, config, state)
        cfg = out / "residual.yaml"
        cfg.write_text(yaml.safe_dump(config, sort_keys=False))
        for args in (["scan", "-q"], ["verify", "-q", "--live", "dave@example.com"],
                     ["scan", "-q", "--only", "iac"]):
            rc = subprocess.run([sys.executable, "-m", "scanner.cli", args[0], "-c", str(cfg),
                                 *args[1:]], env=env, cwd=ROOT).returncode
            print(" ".join(args), "->", rc)
    dest = ROOT / "tests" / "data" / "inventory-v1.duckdb.gz"
    with open(out / "residual.duckdb", "rb") as src, gzip.GzipFile(dest, "wb", mtime=0) as dst:
        shutil.copyfileobj(src, dst)
    print(f"wrote {dest} ({dest.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
