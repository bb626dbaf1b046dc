"""What else still uses a security group: DescribeSecurityGroupAssociationStatistics (issue 13).

The API refuses to delete a group that a load balancer (CLB), a database (CDB) or an elastic
network interface (ENI) still carries (`ResourceInUse`, vpc DeleteSecurityGroup's error list).
sgplan itself detaches CVM instances (DESIGN §3) and strips references from groups it deletes,
but cannot detach other products: so the plan shows them and apply refuses before its first
call rather than stopping half-way at the delete.

Facts (tccli vpc api.json, `SecurityGroupAssociationStatistics`): per group the counts `CVM`,
`CDB`, `ENI`, `SG` (groups whose rules reference it), `CLB`, `InstanceStatistics` and
`TotalCount`; at most 100 ids per call (InvalidParameterValue.LimitExceeded beyond).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from sgplan.cloud.base import ApiClient, CloudError

# The kinds sgplan cannot detach itself (CVM it unbinds; SG references it strips or reports).
OTHER_KINDS = ("CLB", "CDB", "ENI")
BATCH = 100

Usage = dict[str, dict[str, int]]  # group id → {kind: count}, only kinds with a count


def group_usage(client: ApiClient, group_ids: Iterable[str]) -> Usage:
    """Non-CVM users of each group, read in batches of 100 (one call per batch; a batch that
    names a group gone meanwhile is read again one group at a time)."""
    ids = sorted({g for g in group_ids if isinstance(g, str) and g.startswith("sg-")})
    usage: Usage = {}
    for start in range(0, len(ids), BATCH):
        batch = ids[start:start + BATCH]
        try:
            rows = _statistics(client, batch)
        except CloudError as exc:
            if "NotFound" not in exc.code or len(batch) == 1:
                if "NotFound" in exc.code:
                    continue
                raise
            rows = []
            for group_id in batch:
                try:
                    rows += _statistics(client, [group_id])
                except CloudError as inner:
                    if "NotFound" not in inner.code:
                        raise
        for row in rows:
            counts = {kind: _count(row.get(kind)) for kind in OTHER_KINDS}
            counts = {k: v for k, v in counts.items() if v}
            if counts and isinstance(row.get("SecurityGroupId"), str):
                usage[row["SecurityGroupId"]] = counts
    return usage


def _statistics(client: ApiClient, ids: list[str]) -> list[Mapping[str, Any]]:
    body = client.call("vpc", "DescribeSecurityGroupAssociationStatistics", {"SecurityGroupIds": ids})
    rows = body.get("SecurityGroupAssociationStatisticsSet") if isinstance(body, dict) else None
    return [r for r in rows or () if isinstance(r, dict)]


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def describe(counts: Mapping[str, int]) -> str:
    """`{"CLB": 1, "ENI": 2}` → "1 CLB, 2 ENI"."""
    return ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
