"""The decisions about alert drafts: the approval policy per tier, who may edit, approve, reject and issue a
draft, what an edit changed, and which drafts a token may see. Refusals are ``emergency.errors`` domain errors
naming the field (and the rule); ``alerts.drafts.flows`` strings them together.

Two-person rule: the approver must hold role ``alert_approver`` and be another token *and* another person than
the author. A token names its holder by ``person`` (``emergency.auth.tokens.create_token``), else by its
``name``; for a presidential alert both tokens must name their person, so the second person is shown, not
assumed. The same person approving twice counts once; any edit withdraws the approvals given so far.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from alerts.drafts.models import Actor, Draft
from alerts.tiers import Tier
from emergency.auth.models import TokenRecord
from emergency.auth.tokens import Role, token_id
from emergency.errors import Conflict, Forbidden, NotFound
from emergency.geometry import circle_polygon, to_shape

APPROVER_ROLE = Role.alert_approver
DRAFTS_PATH = "/api/v1/alerts/drafts"
NEEDS = {"none": 0, "one": 1}
# Presidential alerts always need a second person; the other tiers follow EMERGENCY_ALERT_APPROVAL.
ALWAYS = {Tier.presidential: 1}


def approval_policy(text: str) -> dict[Tier, int]:
    """Approvals needed per tier from ``EMERGENCY_ALERT_APPROVAL`` (``child_abduction=one,test=none``); tiers not
    named need none, presidential always one. ``ValueError`` naming the entry for an unknown tier or value."""
    policy = {tier: ALWAYS.get(tier, 0) for tier in Tier}
    for item in filter(None, (x.strip() for x in text.split(","))):
        name, _, need = (p.strip() for p in item.partition("="))
        if name not in Tier.__members__ or need not in NEEDS:
            raise ValueError(f"EMERGENCY_ALERT_APPROVAL: {item!r} is not TIER=none|one "
                             f"(tiers: {', '.join(t.value for t in Tier if t not in ALWAYS)})")
        if Tier(name) in ALWAYS:
            raise ValueError(f"EMERGENCY_ALERT_APPROVAL: {name} alerts always need a second person's approval")
        policy[Tier(name)] = NEEDS[need]
    return policy


def approvals_needed(*, policy: Mapping[Tier, int], tier: Tier) -> int:
    """How many approvals (by other people) an alert of ``tier`` needs before it is issued."""
    return max(policy.get(tier, 0), ALWAYS.get(tier, 0))


def require_approval(*, policy: Mapping[Tier, int] | None, tier: Tier, approvals: int, msg_type: str = "Alert") -> None:
    """Refuse (403 ``tier``) issuing, updating or cancelling an alert of ``tier`` with fewer approvals than the
    policy asks (``policy`` None: only the built-in rule, presidential needs one)."""
    need = approvals_needed(policy=policy or ALWAYS, tier=tier)
    if approvals >= need:
        return
    what = {"Alert": "issued", "Update": "updated", "Cancel": "cancelled"}[msg_type]
    raise Forbidden("tier", f"{tier.value} alerts need {need} approval by a second person (role alert_approver) "
                            f"before they are {what}: create a draft (POST {DRAFTS_PATH}"
                            f"{'' if msg_type != 'Cancel' else '/cancel'}"
                            f"{' with msg_type Update and alert_id' if msg_type == 'Update' else ''}), have it "
                            f"approved (POST {DRAFTS_PATH}/{{id}}/approve), then issue it "
                            f"(POST {DRAFTS_PATH}/{{id}}/issue)")


def _same_name(a: str, b: str) -> bool:
    def norm(s: str) -> str:
        return " ".join(unicodedata.normalize("NFKC", s).casefold().split())
    return norm(a) == norm(b)


def actor_of(principal: TokenRecord) -> Actor:
    """The public description of who acts with ``principal`` (never the token or its hash)."""
    return Actor(token_id=token_id(principal.token_hash), name=principal.name, agency=principal.agency,
                 person=principal.person)


def holder(actor: Actor) -> str:
    """The person an actor stands for: the token's ``person``, else its ``name``."""
    return actor.person or actor.name


def is_author(*, principal: TokenRecord, draft: Draft) -> bool:
    """True when ``principal`` is the draft's author's token, or a token of the same named person."""
    if principal.token_hash == draft.author_hash:
        return True
    return bool(principal.person and draft.author.person and _same_name(principal.person, draft.author.person))


def check_open(*, draft: Draft, action: str) -> None:
    """Refuse (409 ``draft_id``) to act on a draft that was rejected or already issued."""
    if draft.status == "rejected":
        raise Conflict("draft_id", f"draft {draft.id!r} was rejected, so it cannot be {action}; "
                                   f"create a new draft")
    if draft.status == "issued":
        raise Conflict("draft_id", f"draft {draft.id!r} was already issued as {draft.issued_alert_id!r}; "
                                   "it cannot be " + action)


def check_editor(*, principal: TokenRecord, draft: Draft) -> None:
    """Refuse (403 ``draft_id``) an edit by anyone but the draft's author."""
    if not is_author(principal=principal, draft=draft):
        raise Forbidden("draft_id", f"only the author ({holder(draft.author)}) may edit draft {draft.id!r}")


def check_approver(*, principal: TokenRecord, draft: Draft) -> None:
    """Refuse (403) an approval that breaks the two-person rule: the author's own token or another token of the
    same person (``approver``), or, for a presidential alert, a token that names no person (``person``)."""
    if APPROVER_ROLE.value not in principal.roles:
        raise Forbidden("approver", f"approving needs role {APPROVER_ROLE.value}")
    if principal.token_hash == draft.author_hash:
        raise Forbidden("approver", "the author cannot approve their own draft (rule: two-person approval: "
                                    "another person with role alert_approver must approve it)")
    if _same_name(holder(actor_of(principal)), holder(draft.author)):
        raise Forbidden("approver", f"{holder(draft.author)} wrote this draft; the same person cannot approve it "
                                    "with another token (rule: two-person approval)")
    if draft.tier is Tier.presidential:
        if not principal.person:
            raise Forbidden("person", "approving a presidential alert needs a token that names its person "
                                      "(token person); this token names none (rule: two-person approval)")
        if not draft.author.person:
            raise Forbidden("person", "the author's token names no person, so a second person cannot be shown "
                                      "for this presidential alert: draft it again with a token that names its "
                                      "person (rule: two-person approval)")


def check_issuer(*, principal: TokenRecord, draft: Draft, policy: Mapping[Tier, int]) -> None:
    """Refuse an issue by anyone but the author or an approver (403 ``draft_id``), of a draft that is not open
    (409), or that lacks approvals (409 ``approvals``)."""
    if not is_author(principal=principal, draft=draft) and APPROVER_ROLE.value not in principal.roles:
        raise Forbidden("draft_id", "only the draft's author or an alert_approver may issue it")
    check_open(draft=draft, action="issued")
    need = approvals_needed(policy=policy, tier=draft.tier)
    if len(draft.approvals) < need:
        raise Conflict("approvals", f"{draft.tier.value} alerts need {need} approval by a second person (role "
                                    f"alert_approver); this draft has {len(draft.approvals)}")


def already_approved(*, principal: TokenRecord, draft: Draft) -> bool:
    """True when the person of ``principal`` approved this draft already (it counts once)."""
    me = holder(actor_of(principal))
    return any(_same_name(holder(a.by), me) for a in draft.approvals)


def changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The fields an edit changed: field -> {"from": old value, "to": new value} (JSON form)."""
    return {k: {"from": old.get(k), "to": new.get(k)} for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}


def area_shape(payload: dict[str, Any], original_geometry: dict[str, Any] | None = None):
    """The shapely area (lon, lat; WGS 84) of a draft: its polygon or circle (radius km), else the alert's."""
    area = payload.get("area")
    if area and area.get("circle"):
        c = area["circle"]
        return to_shape(circle_polygon(c["lat"], c["lon"], c["radius_km"]))
    if area and area.get("polygon"):
        return to_shape(area["polygon"])
    return to_shape(original_geometry) if original_geometry else None


def may_see(*, principal: TokenRecord, draft: Draft, shape) -> bool:
    """True when ``principal`` may see a draft: its author, a token without a jurisdiction (national authority,
    or an approver for everywhere), or one whose jurisdiction meets the draft's area."""
    if is_author(principal=principal, draft=draft) or principal.jurisdiction is None:
        return True
    return shape is not None and to_shape(principal.jurisdiction).intersects(shape)


def visible_or_404(*, principal: TokenRecord, draft: Draft | None, draft_id: str, shape) -> Draft:
    """The draft, or 404 ``draft_id`` when there is none or ``principal`` may not see it."""
    if draft is None or not may_see(principal=principal, draft=draft, shape=shape):
        raise NotFound("draft_id", f"no draft {draft_id!r} (or not in this token's jurisdiction)")
    return draft
