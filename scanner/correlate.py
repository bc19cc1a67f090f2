"""Correlation: tie each exposed secret to the live credential it exposes.

Runs after the deep pass (which fetched, e.g., the access keys of the users named by
exposed key ids). One SQL UPDATE sets ``exposures.matched_credential`` to the uid of the
credential whose public handle equals the exposure's:

- ``identifier`` = the credential's ``native_id`` / ``name`` / ``attributes.access_key_id``
  (an AWS access key id);
- ``identifier`` = the credential's ``fingerprint`` (an SSH public-key fingerprint for
  deploy keys and SSH keys; a GitHub ``last8:`` handle for token_last_eight);
- ``fingerprint`` = the credential's keyed ``fingerprint`` (a secret value seen both in a
  file and in, say, a CI variable or a Kubernetes Secret).

Where several credentials match, an active one wins (then the smallest uid, so the
result is stable). Exposures of every system are correlated, not only IaC ones.
"""

from __future__ import annotations

from scanner.core.store import Inventory

_SQL = """
UPDATE exposures SET matched_credential = m.uid
FROM (
    SELECT rid, uid FROM (
        SELECT e.rowid AS rid, c.source || '|' || c.native_id AS uid,
               row_number() OVER (PARTITION BY e.rowid
                                  ORDER BY (c.status = 'active') DESC, c.source || '|' || c.native_id) AS rn
        FROM exposures e
        JOIN credentials c ON c.scan_id = e.scan_id AND (
               (e.identifier IS NOT NULL AND e.identifier <> '' AND (
                    e.identifier = c.native_id OR e.identifier = c.name
                    OR e.identifier = c.fingerprint
                    OR e.identifier = json_extract_string(c.attributes, '$.access_key_id')))
            OR (c.fingerprint IS NOT NULL AND e.fingerprint = c.fingerprint))
        WHERE e.scan_id = ?
    ) WHERE rn = 1
) AS m
WHERE exposures.rowid = m.rid
"""


def correlate(inv: Inventory, scan_id: str) -> int:
    """Set matched_credential on this scan's exposures; returns how many are matched."""
    inv.con.execute(_SQL, [scan_id])
    row = inv.con.execute("SELECT count(*) FROM exposures WHERE scan_id = ? AND matched_credential IS NOT NULL",
                          [scan_id]).fetchone()
    return int(row[0]) if row else 0
