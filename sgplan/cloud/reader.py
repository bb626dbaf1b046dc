"""Live state through API calls only: the stack's groups (plus pinned ones), their rules, every instance.

A refresh costs ceil(G/100) + G + ceil(I/100) calls (at least one per listing), plus
ceil(P/100) for pinned ids not already read, plus the template listings when asked for. Pages
after the first run through `map_fn` too, so a listing waits one round trip, not one per page.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Sequence

from sgplan.cloud.base import (
    INVALID_RESPONSE,
    LISTING_TOO_LARGE,
    MAX_LISTING_ITEMS,
    MAX_LISTING_PAGES,
    PAGE_SIZE,
    ApiClient,
    CloudError,
)
from sgplan.cloud.usage import Usage, group_usage
from sgplan.collector import gc_paused
from sgplan.model import (
    ADDRESS_TAG,
    PREVENT_DESTROY_TAG,
    SGPLAN_TAGS,
    STACK_TAG,
    AddressTemplate,
    AddressTemplateGroup,
    CloudState,
    Instance,
    Rule,
    SecurityGroup,
    ServiceTemplate,
    ServiceTemplateGroup,
    Tags,
    make_tags,
)

MapFn = Callable[[Callable[[Any], Any], Iterable[Any]], Iterable[Any]]
_CHUNK = PAGE_SIZE
_WINDOW = 50  # pages asked for at once: a listing that ends early costs at most this many extra calls
# Codes meaning "that group is gone" (deleted between listing and reading, or a pinned id that
# never existed): the group is simply absent from the live state.
_GONE = frozenset({"ResourceNotFound", "InvalidSecurityGroupID.NotFound", "InvalidParameterValue.Malformed"})


def _tag_pairs(tags: Sequence[Mapping[str, Any]] | None) -> list[tuple[str, str]]:
    return [(str(t.get("Key")), "" if t.get("Value") is None else str(t.get("Value"))) for t in tags or []]


# Types of the values a memo key may hold: 1, 1.0 and True are equal keys, yet Rule.from_api
# spells them differently, so a policy holding any other type is converted without the memo.
_KEY_TYPES = frozenset({str, type(None)})


def _memo_key(policy: Mapping[str, Any]) -> tuple | None:
    """The values Rule.from_api reads (Action, Protocol, Port, CidrBlock, Ipv6CidrBlock,
    SecurityGroupId, PolicyDescription and the two ids of each template spec), or None unless
    they are all text (or missing)."""
    get = policy.get
    service = get("ServiceTemplate")
    if service:
        if type(service) is not dict:
            return None
        service_id, service_group_id = service.get("ServiceId"), service.get("ServiceGroupId")
    else:
        service_id = service_group_id = None
    address = get("AddressTemplate")
    if address:
        if type(address) is not dict:
            return None
        address_id, address_group_id = address.get("AddressId"), address.get("AddressGroupId")
    else:
        address_id = address_group_id = None
    key = (get("Action"), get("Protocol"), get("Port"), get("CidrBlock"), get("Ipv6CidrBlock"),
           get("SecurityGroupId"), get("PolicyDescription"), service_id, service_group_id, address_id,
           address_group_id)
    # One pass in C over the types (a Python loop over the 11 values cost as much as the rest).
    return key if _KEY_TYPES.issuperset(map(type, key)) else None


def _by_index(policies: Sequence[Mapping[str, Any]]) -> Sequence[Mapping[str, Any]]:
    """The policies in PolicyIndex order (a stable sort). The API answers them in that order:
    when every index is a whole number and none is below the one before, sorting would keep
    the order, so the list is taken as it is (checked in C, not by a key call per policy)."""
    indices = [p.get("PolicyIndex") for p in policies]
    if indices and set(map(type, indices)) == {int} and indices == sorted(indices):
        return policies
    return sorted(policies, key=lambda p: int(p.get("PolicyIndex") or 0))


def _rules(policies: Sequence[Mapping[str, Any]] | None, memo: dict[tuple, Rule] | None = None) -> tuple[Rule, ...]:
    ordered = _by_index(policies or [])
    if memo is None:
        return tuple(Rule.from_api(p) for p in ordered)
    # Estates repeat rules across groups (the same office CIDR on port 22, …); a Rule is a frozen
    # value, so one refresh converts each distinct policy once (CIDR and port parsing dominate).
    out = []
    for policy in ordered:
        key = _memo_key(policy)
        rule = memo.get(key) if key is not None else None
        if rule is None:
            rule = Rule.from_api(policy)
            if key is not None:
                memo[key] = rule
        out.append(rule)
    return tuple(out)


def to_group(group: Mapping[str, Any], policy_set: Mapping[str, Any],
             memo: dict[tuple, Rule] | None = None) -> SecurityGroup:
    """A SecurityGroup value from a DescribeSecurityGroups item and its SecurityGroupPolicySet
    (`memo`, optional, shares converted rules between the groups of one refresh)."""
    pairs = _tag_pairs(group.get("TagSet"))
    own = {k: v for k, v in pairs if k in SGPLAN_TAGS}
    return SecurityGroup(
        name=str(group.get("SecurityGroupName") or ""),
        description=str(group.get("SecurityGroupDesc") or ""),
        project_id=str(group.get("ProjectId") if group.get("ProjectId") not in (None, "") else "0"),
        tags=make_tags((k, v) for k, v in pairs if k not in SGPLAN_TAGS),
        ingress=_rules(policy_set.get("Ingress"), memo),
        egress=_rules(policy_set.get("Egress"), memo),
        id=str(group["SecurityGroupId"]),
        address=own.get(ADDRESS_TAG),
        stack=own.get(STACK_TAG),
        is_default=bool(group.get("IsDefault") or False),
        version=str(policy_set.get("Version") if policy_set.get("Version") not in (None, "") else "0"),
        prevent_destroy=own.get(PREVENT_DESTROY_TAG, "").strip().lower() == "true",
    )


def to_instance(item: Mapping[str, Any]) -> Instance:
    """An Instance value from a DescribeInstances item (group order = priority, kept as is)."""
    return Instance(
        instance_id=str(item["InstanceId"]),
        security_group_ids=tuple(item.get("SecurityGroupIds") or ()),
        name=str(item.get("InstanceName") or ""),
        tags=make_tags(_tag_pairs(item.get("Tags"))),
    )


def _paged(
    client: ApiClient,
    service: str,
    action: str,
    set_field: str,
    params: Mapping[str, Any] | None,
    *,
    as_text: bool,
    map_fn: MapFn,
) -> list[dict[str, Any]]:
    """Every item of a paged Describe action, 100 per call: the first page gives TotalCount,
    the other pages are fetched through `map_fn` (in parallel on the SDK client), up to
    _WINDOW pages at a time.

    Same number of calls as sequential paging (`snapshot.paged`); VPC types Offset/Limit as
    strings and CVM as integers (API §2.3, §3.4). An item seen twice (the listing shifted) is
    kept once. Bounded whatever the server says (docs/api-limits.md): a TotalCount above
    MAX_LISTING_ITEMS is refused after one call, reading stops at the first short or empty page
    (at most one window past the end), and never more than MAX_LISTING_PAGES pages.
    """
    wrap: Callable[[int], Any] = str if as_text else int

    def page(offset: int) -> list[dict[str, Any]]:
        body = client.call(service, action, {**(params or {}), "Offset": wrap(offset), "Limit": wrap(PAGE_SIZE)})
        return _page_items(body, action, set_field)

    first = client.call(service, action, {**(params or {}), "Offset": wrap(0), "Limit": wrap(PAGE_SIZE)})
    items = _page_items(first, action, set_field)
    total = _total_count(first, action)
    if 0 < len(items) < PAGE_SIZE and len(items) < total:
        # The server pages in smaller steps than asked: follow it one page after another.
        items += _sequential(page, len(items), total, action)
    elif len(items) == PAGE_SIZE:
        offset = PAGE_SIZE
        while offset < total:
            starts = range(offset, min(total, offset + _WINDOW * PAGE_SIZE), PAGE_SIZE)
            pages = list(map_fn(page, starts))
            for got in pages:
                items.extend(got)
            offset = starts[-1] + PAGE_SIZE
            if any(len(got) < PAGE_SIZE for got in pages):
                break  # a short or empty page: the listing ended (or shrank while it was read)
    return list({_item_id(item, n): item for n, item in enumerate(items)}.values())


def read_listing(client: ApiClient, service: str, action: str, set_field: str,
                 params: Mapping[str, Any] | None = None, *, as_text: bool = True, map_fn: MapFn = map) -> list[dict[str, Any]]:
    """Every item of a paged Describe action, with the bounds of `_paged` (for other readers)."""
    return _paged(client, service, action, set_field, params, as_text=as_text, map_fn=map_fn)


def _sequential(page: Callable[[int], list[dict[str, Any]]], offset: int, total: int, action: str) -> list[dict[str, Any]]:
    """Pages from `offset` on, each starting where the last ended, until an empty page or `total`."""
    out: list[dict[str, Any]] = []
    for _ in range(MAX_LISTING_PAGES):
        if offset >= total:
            return out
        got = page(offset)
        if not got:
            return out
        out.extend(got)
        offset += len(got)
    raise CloudError(LISTING_TOO_LARGE, f"{action}: the listing needs more than {MAX_LISTING_PAGES} pages, "
                     "the most sgplan reads (docs/api-limits.md)")


def _page_items(body: Mapping[str, Any], action: str, set_field: str) -> list[dict[str, Any]]:
    items = body.get(set_field) or []
    if not isinstance(items, list) or len(items) > PAGE_SIZE:
        raise CloudError(INVALID_RESPONSE, f"{action}: {set_field} is not a list of at most {PAGE_SIZE} items")
    return items


def _total_count(body: Mapping[str, Any], action: str) -> int:
    """TotalCount of a listing's first page, refused when it is not a count sgplan will read."""
    value = body.get("TotalCount") or 0
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise CloudError(INVALID_RESPONSE, f"{action}: TotalCount {value!r} is not a number")
    try:
        total = int(value)
    except ValueError:
        raise CloudError(INVALID_RESPONSE, f"{action}: TotalCount {str(value)[:40]!r} is not a number") from None
    if total > MAX_LISTING_ITEMS:
        raise CloudError(LISTING_TOO_LARGE, f"{action}: the cloud reports {total} items; sgplan reads at most "
                         f"{MAX_LISTING_ITEMS} per listing (docs/api-limits.md)")
    return max(0, total)


_ID_FIELDS = ("SecurityGroupId", "InstanceId", "AddressTemplateId", "AddressTemplateGroupId", "ServiceTemplateId",
              "ServiceTemplateGroupId")


def _item_id(item: Any, position: int) -> Any:
    if type(item) is dict or isinstance(item, Mapping):  # (typing's isinstance is slow: once per item)
        for name in _ID_FIELDS:
            value = item.get(name)
            if isinstance(value, str) and value:
                return value
    return position


def references_templates(groups: Iterable[SecurityGroup]) -> bool:
    """Whether any rule of these groups names an address or service template (or template group)."""
    return any(
        r.address_template_id or r.address_template_group_id or r.service_template_id or r.service_template_group_id
        for g in groups
        for r in g.ingress + g.egress
    )


def existing_group_ids(client: ApiClient, ids: Iterable[str]) -> set[str]:
    """Which of `ids` name a group of this region (plan-time reference checks, issue 11)."""
    return {g["SecurityGroupId"] for g in _pinned_groups(client, list(ids)) if isinstance(g, dict)}


def _pinned_groups(client: ApiClient, wanted: list[str]) -> list[dict[str, Any]]:
    """Groups by id, 100 per call; ids that do not exist are left out."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        try:
            body = client.call("vpc", "DescribeSecurityGroups", {"SecurityGroupIds": chunk, "Limit": str(_CHUNK)})
        except CloudError as exc:
            if exc.code not in _GONE:
                raise
            if len(chunk) > 1:
                # A cloud may refuse the whole list for one unknown id: ask one by one instead.
                found.extend(_pinned_groups_one_by_one(client, chunk))
            continue
        found.extend(body.get("SecurityGroupSet") or [])
    return found


def _pinned_groups_one_by_one(client: ApiClient, ids: list[str]) -> list[dict[str, Any]]:
    found = []
    for group_id in ids:
        try:
            body = client.call("vpc", "DescribeSecurityGroups", {"SecurityGroupIds": [group_id]})
        except CloudError as exc:
            if exc.code in _GONE:
                continue
            raise
        found.extend(body.get("SecurityGroupSet") or [])
    return found


def _template_tags(item: Mapping[str, Any]) -> Tags:
    """A template's TagSet (ownership tags included: the planner reads them, issue 17)."""
    return make_tags((str(t.get("Key")), str(t.get("Value") or "")) for t in item.get("TagSet") or []
                     if isinstance(t, Mapping) and t.get("Key"))


def _templates(client: ApiClient, map_fn: MapFn = map) -> dict[str, tuple[Any, ...]]:
    def listing(action: str, set_field: str) -> list[dict[str, Any]]:
        return _paged(client, "vpc", action, set_field, None, as_text=True, map_fn=map_fn)

    return {
        "address_templates": tuple(
            AddressTemplate(
                id=t["AddressTemplateId"],
                name=t.get("AddressTemplateName") or "",
                tags=_template_tags(t),
                addresses=tuple(t.get("AddressSet") or [a["Address"] for a in t.get("AddressExtraSet") or []]),
            )
            for t in listing("DescribeAddressTemplates", "AddressTemplateSet")
        ),
        "address_template_groups": tuple(
            AddressTemplateGroup(
                id=t["AddressTemplateGroupId"],
                name=t.get("AddressTemplateGroupName") or "",
                tags=_template_tags(t),
                template_ids=tuple(t.get("AddressTemplateIdSet") or []),
            )
            for t in listing("DescribeAddressTemplateGroups", "AddressTemplateGroupSet")
        ),
        "service_templates": tuple(
            ServiceTemplate(
                id=t["ServiceTemplateId"],
                name=t.get("ServiceTemplateName") or "",
                tags=_template_tags(t),
                services=tuple(t.get("ServiceSet") or [s["Service"] for s in t.get("ServiceExtraSet") or []]),
            )
            for t in listing("DescribeServiceTemplates", "ServiceTemplateSet")
        ),
        "service_template_groups": tuple(
            ServiceTemplateGroup(
                id=t["ServiceTemplateGroupId"],
                name=t.get("ServiceTemplateGroupName") or "",
                tags=_template_tags(t),
                template_ids=tuple(t.get("ServiceTemplateIdSet") or []),
            )
            for t in listing("DescribeServiceTemplateGroups", "ServiceTemplateGroupSet")
        ),
    }


def read_live(
    client: ApiClient,
    *,
    stack: str | None,
    pinned_ids: Iterable[str] = (),
    with_templates: bool | None = False,
    map_fn: MapFn = map,
    neighbours_of: Iterable[str] | None = None,
) -> CloudState:
    """The live CloudState sgplan plans against: groups tagged `sgplan-stack = stack`, the pinned
    groups, every instance, and (with `with_templates`) the four template lists.

    `with_templates=None` reads the template lists only when a live rule references a template,
    saving four calls per refresh; callers whose configuration references templates pass True.

    `map_fn` runs the per-group policy reads (e.g. a rate-limited thread pool's map); it must
    return results in input order, like the builtin `map`. Groups and instances come back
    sorted by id so the result does not depend on the API's listing order.

    `neighbours_of` (instance ids) also reads the other groups — unmanaged ones included — that
    share an instance with a group read above or sit on one of these instances: an instance's
    access is all its groups in order, so exposure analysis and the transient-exposure check need
    their rules (they are read, never changed). That adds calls beyond the refresh floor only
    when such groups exist.
    """
    # No stack (a configuration that declares nothing): no group is this configuration's.
    stage1 = _paged(client, "vpc", "DescribeSecurityGroups", "SecurityGroupSet",
                    {"Filters": [{"Name": f"tag:{STACK_TAG}", "Values": [stack]}]}, as_text=True,
                    map_fn=map_fn) if stack else []
    seen = {g["SecurityGroupId"] for g in stage1}
    wanted = [i for i in dict.fromkeys(pinned_ids) if i not in seen]
    for group in _pinned_groups(client, wanted) if wanted else []:
        if group["SecurityGroupId"] not in seen:
            seen.add(group["SecurityGroupId"])
            stage1.append(group)

    def policies(group_id: str) -> dict[str, Any] | None:
        try:
            body = client.call("vpc", "DescribeSecurityGroupPolicies", {"SecurityGroupId": group_id})
        except CloudError as exc:
            if exc.code in _GONE:
                return None  # deleted after the listing: absent, like a group never seen
            raise
        return body.get("SecurityGroupPolicySet") or {}

    memo: dict[tuple, Rule] = {}
    # Each answer becomes a SecurityGroup as it arrives (`map_fn` yields in order), so the
    # answers of a whole estate are never held at once; the collector stays paused while
    # thousands of short-lived answer dicts come and go (nothing here makes cycles).
    with gc_paused():
        answers = map_fn(policies, [g["SecurityGroupId"] for g in stage1])
        groups = [to_group(g, p, memo) for g, p in zip(stage1, answers) if p is not None]
        instances = [to_instance(i) for i in _paged(client, "cvm", "DescribeInstances", "InstanceSet", None,
                                                     as_text=False, map_fn=map_fn)]
        if neighbours_of is not None:
            named = set(neighbours_of)
            neighbours = [
                gid
                for i in instances
                if i.instance_id in named or seen.intersection(i.security_group_ids)
                for gid in i.security_group_ids
                if gid not in seen
            ]
            extra = _pinned_groups(client, list(dict.fromkeys(neighbours))) if neighbours else []
            answers = map_fn(policies, [g["SecurityGroupId"] for g in extra])
            groups += [to_group(g, p, memo) for g, p in zip(extra, answers) if p is not None]
    if with_templates is None:
        with_templates = references_templates(groups)
    return CloudState(
        region=client.region or "",
        groups=tuple(sorted(groups, key=lambda g: g.id or "")),
        instances=tuple(sorted(instances, key=lambda i: i.instance_id)),
        **(_templates(client, map_fn) if with_templates else {}),
    )


def deletion_usage(client: ApiClient, plan: Any) -> Usage:
    """Non-CVM users (CLB, CDB, ENI) of the groups `plan` deletes: one read per 100 such groups,
    none when it deletes nothing. Pass the result to `plan.diff.with_usage`."""
    doomed = [c.id for c in plan.resource_changes
              if c.type == "security_group" and "delete" in c.actions and isinstance(c.id, str)]
    return group_usage(client, doomed) if doomed else {}


_TEMPLATE_SPECS = (("AddressTemplate", "AddressId"), ("AddressTemplate", "AddressGroupId"),
                   ("ServiceTemplate", "ServiceId"), ("ServiceTemplate", "ServiceGroupId"))


def template_users(client: ApiClient, template_ids: Iterable[str], exclude: Iterable[str] = (),
                   map_fn: MapFn = map) -> dict[str, list[str]]:
    """Template id → the groups (outside `exclude`) whose rules still name it (issue 17).

    The API has no synchronous "who uses this template" read (Describe*TemplateInstances answer
    through DescribeVpcTaskResult), so this lists the region's groups and reads the rules of
    each one not excluded: ceil(N/100) + N calls, made only when a plan deletes a template.
    """
    wanted = set(template_ids)
    if not wanted:
        return {}
    skip = set(exclude)
    listed = _paged(client, "vpc", "DescribeSecurityGroups", "SecurityGroupSet", None, as_text=True, map_fn=map_fn)
    ids = sorted({g["SecurityGroupId"] for g in listed if isinstance(g.get("SecurityGroupId"), str)} - skip)

    def policies(group_id: str) -> dict[str, Any]:
        try:
            body = client.call("vpc", "DescribeSecurityGroupPolicies", {"SecurityGroupId": group_id})
        except CloudError as exc:
            if exc.code in _GONE:
                return {}
            raise
        return body.get("SecurityGroupPolicySet") or {}

    users: dict[str, list[str]] = {}
    for group_id, policy_set in zip(ids, map_fn(policies, ids)):
        named = {
            (rule.get(spec) or {}).get(field)
            for direction in ("Ingress", "Egress")
            for rule in policy_set.get(direction) or ()
            for spec, field in _TEMPLATE_SPECS
            if isinstance(rule, Mapping) and isinstance(rule.get(spec), Mapping)
        }
        for template_id in sorted(wanted & {n for n in named if isinstance(n, str)}):
            users.setdefault(template_id, []).append(group_id)
    return users


def template_deletion_users(client: ApiClient, plan: Any, live: CloudState) -> dict[str, list[str]]:
    """The users `template_users` finds for the templates `plan` deletes, outside the groups
    this plan manages (the stack's and the pinned ones: the planner itself checks those)."""
    doomed = [c.id for c in plan.resource_changes
              if c.type != "security_group" and c.type != "binding" and "delete" in c.actions and isinstance(c.id, str)]
    if not doomed:
        return {}
    managed = {g.id for g in live.groups if g.id and g.stack == plan.stack}
    managed |= {c.id for c in plan.resource_changes if c.type == "security_group" and isinstance(c.id, str)}
    return template_users(client, doomed, managed, map_fn=getattr(client, "map", map))
