"""ApiClients for apply tests: the fake engine in-process, and wrappers that inject failures."""

from __future__ import annotations

from typing import Any, Callable

from sgplan.cloud.base import CloudError
from sgplan.cloud.reader import read_live
from sgplan.fakecloud.engine import Engine
from sgplan.model import CloudState, DesiredState
from sgplan.plan import make_plan


class EngineClient:
    """The engine as an ApiClient, recording every call."""

    def __init__(self, state: dict | None = None, **engine_args: Any) -> None:
        self.engine = Engine(state or {"Region": "ap-guangzhou"}, rng_seed=1, **engine_args)
        self.region = "ap-guangzhou"
        self.calls = 0
        self.retries = 0
        self.log: list[tuple[str, dict]] = []

    def call(self, service: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        self.log.append((action, params))
        return self.engine.handle(service, action, params)

    def close(self) -> None:
        pass


class Faulty:
    """Wraps a client; `fault(n, action, params)` may return a CloudError to raise on call n
    (0-based), before (`after=False`) or after (`after=True`, a dropped answer) the real call."""

    def __init__(self, inner: EngineClient, fault: Callable[[int, str, dict], CloudError | None], *, after: bool = False) -> None:
        self.inner = inner
        self.fault = fault
        self.after = after
        self.region = inner.region
        self.calls = 0
        self.retries = 0
        self.actions: list[str] = []

    def call(self, service: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        n = self.calls
        self.calls += 1
        self.actions.append(action)
        error = self.fault(n, action, params)
        if error is not None and not self.after:
            raise error
        response = self.inner.call(service, action, params)
        if error is not None:
            raise error
        return response

    def close(self) -> None:
        pass


def live_of(client: Any, desired: DesiredState) -> CloudState:
    pinned = [g.id for g in desired.groups if g.id]
    return read_live(client, stack=desired.settings.stack, pinned_ids=pinned)


def plan_for(client: Any, desired: DesiredState):
    live = live_of(client, desired)
    ids = {g.address: g.id for g in live.groups if g.stack == desired.settings.stack and g.address}
    plan, diags = make_plan(_with_ids(desired, ids), live, cloud="file:test.json", region="ap-guangzhou")
    assert plan is not None, [str(d) for d in diags]
    return plan


def _with_ids(desired: DesiredState, ids: dict[str, str]) -> DesiredState:
    """What config evaluation does with known ids: a GroupRef to an existing group becomes its id."""
    from dataclasses import replace

    from sgplan.model import GroupRef

    groups = tuple(
        replace(g, ingress=tuple(r.resolved(ids) for r in g.ingress), egress=tuple(r.resolved(ids) for r in g.egress))
        for g in desired.groups
    )
    bindings = tuple(
        replace(b, security_groups=tuple(ids.get(s.address, s) if isinstance(s, GroupRef) else s for s in b.security_groups))
        for b in desired.bindings
    )
    return replace(desired, groups=groups, bindings=bindings)


# ---------------------------------------------------------------------------------------------
# Lost answers (issue 12 §3): the write happens, the answer does not arrive.

WRITE_ACTIONS = frozenset({
    "CreateSecurityGroupWithPolicies", "CreateSecurityGroupPolicies", "DeleteSecurityGroupPolicies",
    "ReplaceSecurityGroupPolicy", "ReplaceSecurityGroupPolicies", "ModifySecurityGroupAttribute",
    "ModifyInstancesAttribute", "AssociateSecurityGroups", "DisassociateSecurityGroups", "DeleteSecurityGroup",
})
# How an answer gets lost, and whether the change was made first ("after") or not ("before").
LOSSES: dict[str, tuple[str, str, bool]] = {
    "internal-error-after": ("InternalError", "An internal error has occurred", True),
    "drop-after": ("ClientNetworkError", "('Connection aborted.', RemoteDisconnected('closed'))", True),
    "gateway-after": ("ServerNetworkError", "502 Bad Gateway", True),
    "timeout-after": ("RequestTimeout", "no complete answer within 30s (SGPLAN_API_TIMEOUT)", True),
    "garbled-after": ("InvalidResponse", "JSONDecodeError: Expecting value", True),
    "internal-error-before": ("InternalError", "An internal error has occurred", False),
    "drop-before": ("ClientNetworkError", "('Connection aborted.', RemoteDisconnected('closed'))", False),
    "gateway-before": ("ServerNetworkError", "504 Gateway Timeout", False),
    "timeout-before": ("RequestTimeout", "no complete answer within 30s (SGPLAN_API_TIMEOUT)", False),
}


class LostAnswers:
    """Wraps an EngineClient: `pick(n, action, params)` names a LOSSES entry (or None) for call n.

    `effective` counts the writes that took effect per (action, group address or id), so a
    test can tell a repeated create from a single one even after a later apply deleted the copy.
    """

    def __init__(self, inner: EngineClient, pick: Callable[[int, str, dict], str | None]) -> None:
        self.inner = inner
        self.pick = pick
        self.region = inner.region
        self.calls = 0
        self.retries = 0
        self.lost: list[tuple[str, str]] = []  # (action, loss) injected
        self.created: dict[str, int] = {}  # sgplan-address tag → groups created with it

    def call(self, service: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        n = self.calls
        self.calls += 1
        loss = self.pick(n, action, params)
        if loss is None:
            return self._through(service, action, params)
        code, message, after = LOSSES[loss]
        self.lost.append((action, loss))
        if after:
            self._through(service, action, params)
        raise CloudError(code, message)

    def _through(self, service: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        answer = self.inner.call(service, action, params)
        if action == "CreateSecurityGroupWithPolicies":
            tags = {t.get("Key"): t.get("Value") for t in params.get("Tags") or []}
            address = str(tags.get("sgplan-address"))
            self.created[address] = self.created.get(address, 0) + 1
        return answer

    def close(self) -> None:
        pass


def random_losses(rng: Any, rate: float, *, read_rate: float = 0.0,
                  kinds: tuple[str, ...] = tuple(LOSSES)) -> Callable[[int, str, dict], str | None]:
    """A `pick` that loses the answer of a write with probability `rate` (a random kind), and
    fails a read before it runs with probability `read_rate` (InternalError)."""

    def pick(_n: int, action: str, _params: dict) -> str | None:
        if action in WRITE_ACTIONS:
            return rng.choice(kinds) if rng.random() < rate else None
        return "internal-error-before" if rng.random() < read_rate else None

    return pick
