"""Running a plan against a cloud: walk the scheduled batches (chains of a batch in parallel, up
to `parallelism`), substitute created ids, retry what is retryable, stop a group at its first
Version conflict, and wait for asynchronous bindings.

Throttling is the client's job (the SDK client holds the per-action token buckets of
`cloud/ratelimit.py`, shared by all threads), so apply adds no second limiter. A client that does
not say it is thread-safe (`thread_safe = True`) gets its calls serialised behind a lock.

The only I/O of `apply/` (API calls and sleeps), both passed in.

Retried writes (DESIGN §6, reference §6.7, issue 12 §3): after an ambiguous failure (InternalError,
dropped connection, non-200 answer, timeout, garbled answer) the write may have happened. It is
sent again only after apply has looked (`settled`) and found that it did not:
- a rule edit re-reads the group's Version: unchanged → retry with the same Version; moved by
  exactly one and the direction's rules show the edit (count, and the sent rules at their index
  for inserts and replacements) → done; anything else → conflict;
- a group create searches for a group tagged with the plan's stack and the address → adopt it;
  not found → send again, unless the request may still be under way on the server (it timed
  out, or a gateway answered for it): then the create is not repeated in this run;
- a group delete checks whether the group is still there;
- a name/description change reads the group's name and description;
- a binding (ModifyInstancesAttribute, Associate/DisassociateSecurityGroups) waits until the
  instances are no longer OPERATING and reads their group lists;
- a tag change (tag ModifyResourceTags) reads the group's tags: all there → done, else sent
  again (setting and deleting keys is idempotent);
- a template create (issue 17) looks for a template of that name carrying the plan's stack and
  address tags → adopt it; not found → as a group create;
- a template member edit reads the template: every added member there and every removed one
  gone → done; the members as before the call → sent again; anything else → not repeated;
- a template rename reads the name, a template delete checks whether the template is still there.
Any other write is never repeated after an ambiguous failure.
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from sgplan.apply.guard import GuardedClient, Scope
from sgplan.apply.order import schedule
from sgplan.apply.retry import Counters, call_with_retry
from sgplan.cloud.base import REQUEST_TIMEOUT, VERSION_MISMATCH, ApiClient, CloudError, unsettled
from sgplan.cloud.usage import describe, group_usage
from sgplan.model import ADDRESS_TAG, STACK_TAG, Rule
from sgplan.plan.operation import (
    TEMPLATE_CREATE_ACTIONS,
    TEMPLATE_DELETE_ACTIONS,
    TEMPLATE_EDIT_ACTIONS,
    Operation,
    placeholders_in,
    substitute,
)
from sgplan.plan.plan import Plan

NOT_FOUND_CODES = frozenset({"ResourceNotFound", "InvalidSecurityGroupID.NotFound", "InvalidSecurityGroupId.NotFound"})
POLL_INTERVAL = 1.0  # seconds between DescribeInstances polls after a binding change
BIND_TIMEOUT = 300.0  # seconds an instance may stay OPERATING
BINDING_ACTIONS = frozenset({"ModifyInstancesAttribute", "AssociateSecurityGroups", "DisassociateSecurityGroups"})


@dataclass
class ApplyResult:
    """What an apply did. `ok` is False when any call failed, conflicted or was skipped."""

    calls: int = 0
    retries: int = 0
    created: dict[str, str] = field(default_factory=dict)  # address → new group id
    errors: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    completed: int = 0  # operations done
    skipped: int = 0  # operations not attempted because of an earlier failure

    @property
    def ok(self) -> bool:
        return not self.errors


class _Conflict(Exception):
    """A Version precondition failed: someone else changed the group."""


def execute(
    plan: Plan,
    client: ApiClient,
    *,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    progress: Callable[[str], None] | None = None,
    poll_interval: float = POLL_INTERVAL,
    bind_timeout: float = BIND_TIMEOUT,
    parallelism: int = 1,
    thread_safe: bool | None = None,
    scope: Scope | None = None,
) -> ApplyResult:
    """Apply `plan` through `client`; never raises for cloud errors (they are in the result).

    `parallelism` chains of a batch run at once; `thread_safe` (default: the client's own
    `thread_safe` attribute) says whether calls may overlap, else they are serialised. With
    `scope` (the CLI always passes it), every write goes through `guard.GuardedClient`: whatever
    the operations say, nothing outside the configuration's scope is written.
    """
    if scope is not None and not isinstance(client, GuardedClient):
        client = GuardedClient(client, scope)
    if thread_safe is None:
        thread_safe = bool(getattr(client, "thread_safe", False))
    if parallelism > 1 and not thread_safe:
        client = _Serialised(client)
    run = _Run(plan, client, sleep, rng or random.Random(), progress or (lambda _line: None), poll_interval, bind_timeout)
    run.parallelism = max(1, parallelism)
    run.walk()
    return run.result


class _Reads:
    """An ApiClient view of a run whose calls go through its retries and counters."""

    def __init__(self, run: "_Run") -> None:
        self.run = run
        self.region = getattr(run.client, "region", None)

    def call(self, service: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        return self.run._call(service, action, params)


class _Serialised:
    """An ApiClient wrapper that lets one call through at a time (the file cloud's engine is not
    thread-safe: its state is a plain dict)."""

    def __init__(self, inner: ApiClient) -> None:
        self.inner = inner
        self.region = inner.region
        self.handles_retries = bool(getattr(inner, "handles_retries", False))
        self._lock = threading.Lock()

    def call(self, service: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return self.inner.call(service, action, params)


class _Run:
    def __init__(self, plan: Plan, client: ApiClient, sleep: Callable[[float], None], rng: random.Random,
                 progress: Callable[[str], None], poll_interval: float, bind_timeout: float) -> None:
        self.plan = plan
        self.client = client
        self.sleep = sleep
        self.rng = rng
        self.progress = progress
        self.poll_interval = poll_interval
        self.bind_timeout = bind_timeout
        self.counters = Counters()
        self.result = ApplyResult()
        self.ids: dict[str, str] = {}  # address → id of groups created by this run
        self.created_versions: dict[str, int] = {}  # id → Version right after creation
        self.total = len(plan.operations)
        self.done = 0
        self.parallelism = 1
        self.lock = threading.Lock()  # guards result, ids, counters and progress across chains

    # -- walking ---------------------------------------------------------------------------

    def walk(self) -> None:
        if not self._deletes_possible():
            self.result.skipped = len(self.plan.operations)
            return
        batches = schedule(self.plan.operations)
        pool = ThreadPoolExecutor(max_workers=self.parallelism) if self.parallelism > 1 else None
        try:
            for position, batch in enumerate(batches):
                if pool is None or len(batch.chains) == 1:
                    for chain in batch.chains:
                        self._run_chain(chain.operations)
                else:
                    for future in [pool.submit(self._run_chain, chain.operations) for chain in batch.chains]:
                        future.result()
                if self.result.errors:
                    # Later calls were checked for exposure assuming this batch had completed.
                    later = sum(b.size for b in batches[position + 1 :])
                    if later:
                        self.result.skipped += later
                        self.result.errors.append(
                            f"stopped after step {self.done} of {self.total}: {later} later call(s) not made"
                        )
                    break
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
        self.result.calls = self.counters.calls
        self.result.retries = self.counters.retries
        self.result.created = dict(self.ids)

    def _deletes_possible(self) -> bool:
        """Before the first call: no group this plan deletes is still used by a load balancer,
        database or network interface (sgplan cannot detach those, and the API would refuse the
        delete with ResourceInUse after every earlier stage had run). One read per 100 groups."""
        if not self._template_deletes_possible():
            return False
        doomed = {str(op.params.get("SecurityGroupId")): op for op in self.plan.operations
                  if op.action == "DeleteSecurityGroup"}
        if not doomed:
            return True
        try:
            usage = group_usage(_Reads(self), doomed)
        except CloudError as exc:
            self.result.errors.append(f"could not check what still uses the groups to delete: {exc.code}: "
                                      f"{exc.message} (nothing was applied)")
            return False
        for group_id, counts in sorted(usage.items()):
            op = doomed.get(group_id)
            name = f"{op.address} ({group_id})" if op is not None and op.address else group_id
            self.result.errors.append(f"cannot delete {name}: still used by {describe(counts)}; detach it from "
                                      "them first (nothing was applied)")
        return not usage

    def _template_deletes_possible(self) -> bool:
        """Before the first call: no template this plan deletes is still named by a rule of a
        group the plan does not edit (issue 17): the API would refuse the delete (ResourceInUse)
        after every earlier stage had run."""
        from sgplan.cloud.reader import template_users

        doomed = {next(iter(op.params.values())): op for op in self.plan.operations
                  if op.action in TEMPLATE_DELETE_ACTIONS}
        if not doomed:
            return True
        touched = {str(op.group) for op in self.plan.operations if op.group and str(op.group).startswith("sg-")}
        try:
            users = template_users(_Reads(self), doomed, touched)
        except CloudError as exc:
            self.result.errors.append(f"could not check what still uses the templates to delete: {exc.code}: "
                                      f"{exc.message} (nothing was applied)")
            return False
        for template_id, groups in sorted(users.items()):
            op = doomed[template_id]
            self.result.errors.append(f"cannot delete {op.address} ({template_id}): still referenced by the rules of "
                                      f"{', '.join(groups[:5])}, not managed by this stack (nothing was applied)")
        return not users

    def _run_chain(self, operations: tuple[Operation, ...]) -> None:
        for position, op in enumerate(operations):
            try:
                self._run(op)
            except _Conflict as exc:
                with self.lock:
                    self.result.conflicts.append(str(exc))
                    self.result.errors.append(str(exc))
            except CloudError as exc:
                with self.lock:
                    self.result.errors.append(
                        f"{op.summary}: {exc.code}: {exc.message}" if exc.message else f"{op.summary}: {exc.code}"
                    )
            else:
                with self.lock:
                    self.result.completed += 1
                continue
            # Nothing more on this group (or instance batch) after a failure.
            with self.lock:
                self.result.skipped += len(operations) - position - 1
            return

    def _run(self, op: Operation) -> None:
        with self.lock:
            params = substitute(op.params, self.ids)
        missing = placeholders_in(params)
        if missing:
            raise CloudError("Skipped", f"not attempted: {', '.join(sorted(missing))} was not created")
        with self.lock:
            self.done += 1
            self.progress(f"[{self.done}/{self.total}] {op.summary}")
        expected = op.expected_version
        if op.version_offset is not None:
            group_id = params["SecurityGroupId"]
            expected = self._created_version(group_id) + op.version_offset
            params["SecurityGroupPolicySet"] = {"Version": str(expected), **params["SecurityGroupPolicySet"]}
        try:
            response = self._call(op.service, op.action, params, self._settler(op, params, expected))
        except CloudError as exc:
            if exc.code == VERSION_MISMATCH:
                if op.is_rule_edit and self._own_edit(op, params, expected):
                    return
                raise _Conflict(self._conflict_message(op, params["SecurityGroupId"], expected)) from None
            if op.action in TEMPLATE_DELETE_ACTIONS and exc.code == "ResourceNotFound":
                return  # gone already (a repeated delete whose first attempt landed late)
            if op.action == "DeleteSecurityGroup" and exc.code in NOT_FOUND_CODES:
                return  # gone is what the call was for (a repeated delete whose first attempt landed late)
            raise
        if op.action == "CreateSecurityGroupWithPolicies" and op.address:
            with self.lock:
                self.ids[op.address] = response["SecurityGroup"]["SecurityGroupId"]
        if op.action in TEMPLATE_CREATE_ACTIONS and op.address:
            kind = op.action[len("Create"):]
            with self.lock:
                self.ids[op.address] = response[kind][f"{kind}Id"]
        if op.action in BINDING_ACTIONS:
            self._wait_for(list(params["InstanceIds"]))

    def _settler(self, op: Operation, params: dict[str, Any], expected: int | None
                 ) -> Callable[[CloudError], dict[str, Any] | None] | None:
        """How to find out whether `op` took effect after an ambiguous failure (None: no way,
        so it is never repeated)."""
        action = op.action
        if op.is_rule_edit:
            return lambda exc: self._edit_settled(op, params, expected, exc)
        if action == "CreateSecurityGroupWithPolicies" and op.address:
            return lambda exc: self._create_settled(op, exc)
        if action == "DeleteSecurityGroup":
            return lambda _exc: self._delete_settled(params["SecurityGroupId"])
        if action == "ModifySecurityGroupAttribute":
            return lambda _exc: self._attributes_settled(params)
        if action == "ModifyResourceTags" and op.group:
            return lambda _exc: self._tags_settled(str(op.group), params)
        if action in BINDING_ACTIONS:
            return lambda _exc: self._bindings_settled(action, params)
        if action in TEMPLATE_CREATE_ACTIONS and op.address:
            return lambda exc: self._template_create_settled(op, params, exc)
        if action in TEMPLATE_EDIT_ACTIONS or action in TEMPLATE_DELETE_ACTIONS:
            return lambda exc: self._template_edit_settled(op, params, exc)
        return None

    def _call(self, service: str, action: str, params: dict[str, Any],
              settled: Callable[[CloudError], dict[str, Any] | None] | None = None) -> dict[str, Any]:
        counters = Counters()
        try:
            return call_with_retry(self.client, service, action, params, sleep=self.sleep, rng=self.rng,
                                   counters=counters, settled=settled)
        finally:
            with self.lock:
                self.counters.calls += counters.calls
                self.counters.retries += counters.retries

    def _own_edit(self, op: Operation, params: dict[str, Any], expected: int | None) -> bool:
        """After VersionMismatch: did an earlier attempt of this very call apply (a retry inside
        the client after a lost answer)? Yes only when the Version moved by exactly one and the
        rules show the edit; anything else is someone else's change — a conflict."""
        if expected is None:
            return False
        try:
            policy = self._policies(params["SecurityGroupId"])
        except CloudError:
            return False
        api_direction = "Ingress" if op.direction == "ingress" else "Egress"
        return int(policy.get("Version") or 0) == expected + 1 and _looks_applied(
            op, params["SecurityGroupPolicySet"][api_direction], policy.get(api_direction) or []
        )

    # -- looking at the cloud --------------------------------------------------------------

    def _policies(self, group_id: str) -> dict[str, Any]:
        return self._call("vpc", "DescribeSecurityGroupPolicies", {"SecurityGroupId": group_id})["SecurityGroupPolicySet"]

    def _created_version(self, group_id: str) -> int:
        """The Version of a group this run created, read once right after its creation."""
        if group_id not in self.created_versions:
            version = int(self._policies(group_id).get("Version") or 0)
            with self.lock:
                self.created_versions.setdefault(group_id, version)
        return self.created_versions[group_id]

    def _conflict_message(self, op: Operation, group_id: str, expected: int | None) -> str:
        try:
            live = self._policies(group_id).get("Version", "?")
        except CloudError:
            live = "?"
        return f"conflict on {op.address or group_id} ({group_id}): expected Version {expected}, live {live}"

    def _edit_settled(self, op: Operation, params: dict[str, Any], expected: int | None,
                      exc: CloudError) -> dict[str, Any] | None:
        group_id = params["SecurityGroupId"]
        if expected is None:
            raise unsettled(exc, op.action)  # no Version to tell our edit from anyone's: never repeated
        policy = self._policies(group_id)
        version = int(policy.get("Version") or 0)
        if version == expected:
            return None  # not applied: retry with the same Version
        api_direction = "Ingress" if op.direction == "ingress" else "Egress"
        if version == expected + 1 and _looks_applied(op, params["SecurityGroupPolicySet"][api_direction], policy.get(api_direction) or []):
            return {}
        raise _Conflict(f"conflict on {op.address or group_id} ({group_id}): expected Version {expected}, live {version}")

    def _create_settled(self, op: Operation, exc: CloudError) -> dict[str, Any] | None:
        """The group this create made, found by its ownership tags (the create call carries them)."""
        filters = [
            {"Name": f"tag:{STACK_TAG}", "Values": [self.plan.stack]},
            {"Name": f"tag:{ADDRESS_TAG}", "Values": [op.address or ""]},
        ]
        found = self._call("vpc", "DescribeSecurityGroups", {"Filters": filters, "Limit": "100"}).get("SecurityGroupSet") or []
        if found:
            return {"SecurityGroup": sorted(found, key=lambda g: str(g.get("SecurityGroupId")))[0]}
        if _may_still_land(exc):
            # The server may still be working on the request we stopped waiting for: a second
            # create could make a second group. The next plan reads the tags again and knows.
            raise unsettled(exc, op.action)
        return None

    def _delete_settled(self, group_id: str) -> dict[str, Any] | None:
        try:
            found = self._call("vpc", "DescribeSecurityGroups", {"SecurityGroupIds": [group_id]}).get("SecurityGroupSet") or []
        except CloudError as exc:
            if exc.code in NOT_FOUND_CODES:
                return {}
            raise
        return None if found else {}

    def _attributes_settled(self, params: dict[str, Any]) -> dict[str, Any] | None:
        found = self._call("vpc", "DescribeSecurityGroups", {"SecurityGroupIds": [params["SecurityGroupId"]]}).get("SecurityGroupSet") or []
        if not found:
            return None  # the call will say what is wrong
        live = found[0]
        wanted = {"SecurityGroupName": params.get("GroupName"), "SecurityGroupDesc": params.get("GroupDescription")}
        return {} if all(value is None or live.get(key, "") == value for key, value in wanted.items()) else None

    def _tags_settled(self, group_id: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """Whether the group's tags already show the call (then it is done); otherwise it is sent
        again, which is safe: setting and deleting keys gives the same tags however often."""
        found = self._call("vpc", "DescribeSecurityGroups", {"SecurityGroupIds": [group_id]}).get("SecurityGroupSet") or []
        if not found:
            return None  # the call will say what is wrong
        live = {t.get("Key"): t.get("Value") for t in found[0].get("TagSet") or ()}
        replaced = all(live.get(t["TagKey"]) == t.get("TagValue") for t in params.get("ReplaceTags") or ())
        deleted = not any(t["TagKey"] in live for t in params.get("DeleteTags") or ())
        return {} if replaced and deleted else None

    # -- templates (issue 17) -----------------------------------------------------------------

    def _templates_named(self, kind: str, name: str | None = None, template_id: str | None = None) -> list[dict[str, Any]]:
        """Live templates of `kind` ("AddressTemplate", …) by name or id (one read)."""
        stem = {"AddressTemplate": "address-template", "AddressTemplateGroup": "address-template-group",
                "ServiceTemplate": "service-template", "ServiceTemplateGroup": "service-template-group"}[kind]
        if template_id is not None:
            wanted = {"Name": f"{stem}-id", "Values": [template_id]}
        else:
            wanted = {"Name": f"{stem}-name", "Values": [str(name)]}
        body = self._call("vpc", f"Describe{kind}s", {"Filters": [wanted]})
        return [t for t in body.get(f"{kind}Set") or [] if isinstance(t, dict)]

    def _template_create_settled(self, op: Operation, params: dict[str, Any], exc: CloudError) -> dict[str, Any] | None:
        kind = op.action[len("Create"):]
        tags = {(t.get("Key"), t.get("Value")) for t in params.get("Tags") or ()}
        for item in sorted(self._templates_named(kind, name=params.get(f"{kind}Name")),
                           key=lambda t: str(t.get(f"{kind}Id"))):
            if tags <= {(t.get("Key"), t.get("Value")) for t in item.get("TagSet") or ()}:
                return {kind: item}
        if _may_still_land(exc):
            raise unsettled(exc, op.action)
        return None

    def _template_edit_settled(self, op: Operation, params: dict[str, Any], exc: CloudError) -> dict[str, Any] | None:
        from sgplan.plan.templates import member_field_of, template_kind_of

        template_id = str(params.get("TemplateId") or next((v for k, v in params.items() if k.endswith("Id")), ""))
        kind = template_kind_of(template_id)
        found = self._templates_named(kind, template_id=template_id) if kind else []
        if op.action in TEMPLATE_DELETE_ACTIONS:
            return {} if not found else None
        if not found:
            raise unsettled(exc, op.action)
        item = found[0]
        if op.action.startswith("Modify") and op.action.endswith("Attribute"):
            return {} if item.get(f"{kind}Name") == params.get(f"{kind}Name") else None
        members = set(item.get(member_field_of(kind)) or [])
        added = {m["Member"] for m in params.get("TemplateMember") or ()} if op.action != "DeleteTemplateMember" else set()
        removed = ({m["Member"] for m in params.get("TemplateMember") or ()} if op.action == "DeleteTemplateMember"
                   else {m["Member"] for m in params.get("OriginalTemplateMember") or ()})
        if added <= members and not (removed & members):
            return {}
        if removed <= members and not (added & members):
            return None  # not applied: send again
        raise unsettled(exc, op.action)

    def _bindings_settled(self, action: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """Whether the instances carry what the binding call set, once none is OPERATING."""
        instance_ids = list(params["InstanceIds"])
        live = {i.get("InstanceId"): list(i.get("SecurityGroupIds") or []) for i in self._settled_instances(instance_ids)}
        if action == "ModifyInstancesAttribute":
            wanted = list(params["SecurityGroups"])
            done = all(live.get(i) == wanted for i in instance_ids)
        else:
            groups = set(params["SecurityGroupIds"])
            carried = [groups & set(live.get(i) or ()) for i in instance_ids]
            done = all(c == groups for c in carried) if action == "AssociateSecurityGroups" else not any(carried)
        return {} if done else None

    def _settled_instances(self, instance_ids: list[str]) -> list[dict[str, Any]]:
        """DescribeInstances of `instance_ids`, polled until none is OPERATING (reference §3.3)."""
        waited = 0.0
        while True:
            response = self._call("cvm", "DescribeInstances", {"InstanceIds": instance_ids, "Limit": 100})
            items = response.get("InstanceSet") or []
            busy = sorted(str(i.get("InstanceId")) for i in items if i.get("LatestOperationState") == "OPERATING")
            if not busy:
                return items
            if waited >= self.bind_timeout:
                raise CloudError("Timeout", f"{', '.join(busy)} still OPERATING after {waited:.0f}s")
            self.sleep(self.poll_interval)
            waited += self.poll_interval

    def _wait_for(self, instance_ids: list[str]) -> None:
        """Poll until no instance is OPERATING (reference §3.3: the change is asynchronous)."""
        items = self._settled_instances(instance_ids)
        failed = sorted(str(i.get("InstanceId")) for i in items if i.get("LatestOperationState") == "FAILED")
        if failed:
            raise CloudError("FailedOperation", f"setting the groups of {', '.join(failed)} failed")


def _may_still_land(exc: CloudError) -> bool:
    """Whether the failed request may still be under way on the server: no answer in time, or a
    gateway answered (non-200) for a backend that may still be working."""
    return exc.code in (REQUEST_TIMEOUT, "ServerNetworkError") or "timed out" in exc.message


def _looks_applied(op: Operation, sent: list[dict[str, Any]], rules: list[dict[str, Any]]) -> bool:
    """Whether the live rules of the direction show the edit `op` was meant to make."""
    if op.expected_count is not None and len(rules) != op.expected_count:
        return False
    if op.action == "DeleteSecurityGroupPolicies":
        return True
    if op.action in ("ReplaceSecurityGroupPolicy", "ReplaceSecurityGroupPolicies"):
        # Each replaced rule sits at its own PolicyIndex (a batch need not be contiguous).
        try:
            return all(
                Rule.from_api(rules[int(body["PolicyIndex"])]) == Rule.from_api({k: v for k, v in body.items() if k != "PolicyIndex"})
                for body in sent
            )
        except (IndexError, ValueError, KeyError):
            return False
    start = sent[0].get("PolicyIndex")
    if start is None:
        start = len(rules) - len(sent)
    try:
        for offset, body in enumerate(sent):
            wanted = Rule.from_api({k: v for k, v in body.items() if k != "PolicyIndex"})
            if Rule.from_api(rules[int(start) + offset]) != wanted:
                return False
    except (IndexError, ValueError):
        return False
    return True
