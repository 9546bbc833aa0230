"""The authorisation matrix: every route of the app × every kind of principal, against the real system.

The routes come from the app's route table; the expected answer of each is declared once, in
``EXPECTED``. A route the table does not declare (a new one) fails the test, and so does a
declared route that no longer exists. Each principal's answer is checked: 401 (no usable
token), 403 (the token may not do this), or allowed (anything else: a minimal body makes a 422
count as "got past authorisation"). Never a 5xx.

Principals: no token, a wrong token, a revoked token (of an admin), one token of each role, and
another agency's token (roles agency and alert_originator, jurisdiction around Seattle), which
holds the roles but not the resource: agency-scoped routes are asked about City of Portland's
closure, County EM's alert area and alert; and a subscriber holding one subscription's management
token (not an API token). Routes of that subscription (``HOLDER``) answer its token only: without a
token 401, with any other token 404, the same as for a subscription that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import websockets
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from starlette.routing import Mount, Route

from emergency.assembly.app import create_app
from emergency.auth.tokens import Role, create_token, hash_token
from emergency.config import Settings
from emergency.layers import REGISTRY
from tests.conftest import PORTLAND_POINT, System
from tests.emergency.assembly.test_durability import alert_body, closure_body
from tests.feeds.agency.test_inputs_api import damage, perimeter, resource, shelter, zone

ALL_ROLES = frozenset(r.value for r in Role)


@dataclass(frozen=True)
class Access:
    """Who may use a route: everyone (``public``), or holders of ``roles``; an agency-scoped route is
    asked about one agency's resource, so only ``owners`` (principal names) of the role holders pass."""

    roles: frozenset[str] = ALL_ROLES
    public: bool = False
    owners: frozenset[str] | None = None
    holder: bool = False  # only the subscription's own management token
    holder_of: str = "subscriber"  # the principal holding that token (a self-registration's: "registrant")


PUBLIC = Access(public=True)
HOLDER = Access(roles=frozenset(), holder=True)
REGISTRATION_HOLDER = Access(roles=frozenset(), holder=True, holder_of="registrant")  # a self-registration's token


def roles(*names: str) -> Access:
    """Holders of any of these roles."""
    return Access(roles=frozenset(names))


def agency_scoped(*names: str, owners: tuple[str, ...]) -> Access:
    """Holders of these roles acting on ``owners``' resource: other holders get 403."""
    return Access(roles=frozenset(names), owners=frozenset(owners))


ORIGINATORS = ("alert_originator", "national_authority")

AGENCY_INPUTS = ("damage-reports", "resource-requests", "shelters", "evacuation-zones", "hazard-perimeters")

# The one table: every route of the app and who may use it.
EXPECTED: dict[str, Access] = {
    "GET /openapi.json": PUBLIC,
    "GET /docs": PUBLIC,
    "GET /docs/oauth2-redirect": PUBLIC,
    "MOUNT /static/map": PUBLIC,
    "MOUNT /static/docs": PUBLIC,
    "GET /map": PUBLIC,
    "GET /region/roads.geojson": PUBLIC,
    "GET /healthz": PUBLIC,
    "GET /readyz": PUBLIC,
    "GET /metrics": PUBLIC,
    "POST /api/v1/reports": PUBLIC,
    "GET /api/v1/reports": PUBLIC,
    "GET /api/v1/road-closures": PUBLIC,
    "GET /api/v1/road-closures/wzdx.geojson": PUBLIC,
    "GET /api/v1/alerts": PUBLIC,
    "GET /api/v1/changes": PUBLIC,
    "GET /api/v1/events/{event_id}": PUBLIC,
    "GET /api/v1/photos/{photo_id}": PUBLIC,  # feeds/photos: 404 unless public (or coordinator/admin)
    "GET /api/v1/alerts/{alert_id}.xml": PUBLIC,
    "GET /api/v1/alerts.atom": PUBLIC,
    "WS /ws/cop": PUBLIC,
    "WS /ws/alerts": PUBLIC,
    "GET /api/v1/webpush/vapid": PUBLIC,
    # the public alerts page (alerts/page/), its service worker and static files, place search, an alert's thread
    "GET /alerts": PUBLIC,
    "GET /alerts/sw.js": PUBLIC,
    "MOUNT /static/alerts": PUBLIC,
    "GET /api/v1/alerts/{alert_id}/thread": PUBLIC,
    # a closure in City of Portland's jurisdiction
    "POST /api/v1/agency/road-closures": agency_scoped("agency", owners=("agency",)),
    # an alert area inside County EM's authorised area (a national authority alerts nationwide)
    "POST /api/v1/alerts": agency_scoped(*ORIGINATORS, owners=("alert_originator", "national_authority")),
    # County EM's alert: only its sender may change it
    "POST /api/v1/alerts/{alert_id}/update": agency_scoped(*ORIGINATORS, owners=("alert_originator",)),
    "POST /api/v1/alerts/{alert_id}/cancel": agency_scoped(*ORIGINATORS, owners=("alert_originator",)),
    # alert drafts (issue 15): originators draft and edit (an area outside their authority is a finding of the
    # preview, not a refusal), approvers approve and reject, either issues; a draft out of a token's
    # jurisdiction is not found (404: past authorisation)
    "POST /api/v1/alerts/drafts": roles(*ORIGINATORS),
    "POST /api/v1/alerts/drafts/cancellations": roles(*ORIGINATORS),
    "GET /api/v1/alerts/drafts": roles(*ORIGINATORS, "alert_approver"),
    "GET /api/v1/alerts/drafts/{draft_id}": roles(*ORIGINATORS, "alert_approver"),
    "PATCH /api/v1/alerts/drafts/{draft_id}": roles(*ORIGINATORS),
    "POST /api/v1/alerts/drafts/{draft_id}/approve": roles("alert_approver"),
    "POST /api/v1/alerts/drafts/{draft_id}/reject": roles("alert_approver"),
    "POST /api/v1/alerts/drafts/{draft_id}/issue": roles(*ORIGINATORS, "alert_approver"),
    # agency inputs: a body inside City of Portland's jurisdiction (another agency's is outside its own)
    **{f"POST /api/v1/agency/{kind}": agency_scoped("agency", owners=("agency",)) for kind in AGENCY_INPUTS},
    **{f"GET /api/v1/{kind}": PUBLIC for kind in AGENCY_INPUTS},
    # ending or updating by reference: each agency's own references (another agency's are not found: 404)
    **{f"DELETE /api/v1/agency/{kind}/{{reference}}": roles("agency") for kind in (*AGENCY_INPUTS, "road-closures")},
    "PATCH /api/v1/agency/shelters/{reference}": roles("agency"),
    "POST /api/v1/agency/bulk": roles("agency"),  # each row is checked against the agency's own jurisdiction
    "POST /api/v1/agency/resource-requests/{request_id}/fulfilments": roles("agency"),
    "POST /api/v1/admin/agencies": roles("admin"),
    "GET /api/v1/admin/agencies": roles("admin"),
    "GET /api/v1/admin/agencies/{agency_id}": roles("admin"),
    "PATCH /api/v1/admin/agencies/{agency_id}": roles("admin"),
    "GET /api/v1/admin/agencies/{agency_id}/audit": roles("admin"),
    "POST /api/v1/admin/tokens": roles("admin"),
    "DELETE /api/v1/admin/tokens/{token_hash}": roles("admin"),
    "GET /api/v1/admin/journal/failed": roles("admin"),
    "POST /api/v1/admin/journal/retry": roles("admin"),
    "GET /api/v1/social/rules": roles("coordinator", "admin"),
    "PUT /api/v1/social/rules": roles("coordinator", "admin"),
    "GET /api/v1/social/streams": roles("coordinator", "admin"),
    "POST /api/v1/social/posts": roles("collector", "coordinator", "admin"),  # the collectors' webhook
    "POST /api/v1/subscriptions": PUBLIC,
    "GET /api/v1/subscriptions/{subscription_id}": HOLDER,
    "PATCH /api/v1/subscriptions/{subscription_id}": HOLDER,
    "DELETE /api/v1/subscriptions/{subscription_id}": HOLDER,
    "POST /api/v1/subscriptions/{subscription_id}/confirm": HOLDER,
    # the signed link is the authority (a bad `sig` is 403 for everyone; tests/alerts/subscriptions)
    "GET /api/v1/subscriptions/{subscription_id}/unsubscribe/{channel_id}": PUBLIC,
    "POST /api/v1/subscriptions/{subscription_id}/unsubscribe/{channel_id}": PUBLIC,
    "GET /api/v1/admin/subscriptions": roles("admin"),
    # Kannel's callbacks: public, each request carries an HMAC signature of its own (403 without a valid one)
    "GET /api/v1/channels/sms/dlr": PUBLIC,
    "POST /api/v1/channels/sms/dlr": PUBLIC,
    "GET /api/v1/channels/sms/inbound": PUBLIC,
    "POST /api/v1/channels/sms/twilio": PUBLIC,  # signed by X-Twilio-Signature (feeds/messaging)
    "GET /api/v1/feed-items": PUBLIC,  # the "Agency feeds" layer
    "GET /api/v1/feeds": PUBLIC,  # feed health: no URLs, no secrets
    "GET /api/v1/admin/feeds": roles("admin"),
    "POST /api/v1/admin/feeds": roles("admin"),
    "DELETE /api/v1/admin/feeds/{name}": roles("admin"),
    "GET /api/v1/incidents": PUBLIC,
    "GET /api/v1/incidents/{incident_id}": PUBLIC,
    "POST /api/v1/incidents/{incident_id}/{action}": roles("coordinator"),
    "GET /api/v1/reports/{report_id}/status": PUBLIC,
    # reporters' status messages (issue 13): the tracking id and the code or the signed link are the authority
    "POST /api/v1/reports/{report_id}/contact/confirm": PUBLIC,
    "GET /api/v1/reports/{report_id}/unsubscribe": PUBLIC,
    "POST /api/v1/reports/{report_id}/unsubscribe": PUBLIC,
    "GET /api/v1/cop": PUBLIC,  # the picture at a past time, rebuilt from the journal
    **{f"GET {layer.path}.{fmt}": PUBLIC for layer in REGISTRY.values() for fmt in ("csv", "geojson", "kml")},
    # County EM's alert: its originator, coordinators and admins see its deliveries
    "GET /api/v1/alerts/{alert_id}/deliveries": agency_scoped("alert_originator", "coordinator", "admin",
                                                              owners=("alert_originator", "coordinator", "admin")),
    "POST /api/v1/deliveries/{delivery_id}/ack": PUBLIC,  # the delivery id is the capability (404 unknown)
    "GET /alerts/{alert_id}/deliveries": PUBLIC,  # the page; it reads the report with the viewer's token
    # Open311 GeoReport v2: public; POST requests takes an optional api_key in its form (role partner), not a bearer
    **{f"GET /open311/v2/{path}.{{fmt}}": PUBLIC for path in (
        "discovery", "services", "services/{service_code}", "requests", "requests/{service_request_id}",
        "tokens/{token}", "servicerequestupdates")},
    "POST /open311/v2/requests.{fmt}": PUBLIC,
    # the citizen report page (feeds/citizen/page), its service worker, the tracking page and the geocoder
    "GET /report": PUBLIC,
    "GET /report-sw.js": PUBLIC,
    "GET /r/{report_id}": PUBLIC,
    "MOUNT /static/report": PUBLIC,
    "GET /api/v1/geocode": PUBLIC,
    # the vulnerable-persons registry (issue 15): entries only for registry officers (every read audited)
    "POST /api/v1/registry/registrants": roles("registry_officer"),
    "GET /api/v1/registry/registrants": roles("registry_officer"),
    "GET /api/v1/registry/registrants/{registrant_id}": roles("registry_officer"),
    "DELETE /api/v1/registry/registrants/{registrant_id}": roles("registry_officer"),
    "PATCH /api/v1/registry/registrants/{registrant_id}": roles("registry_officer"),
    "GET /api/v1/registry/alerts/{alert_id}/tasking": roles("registry_officer"),
    "GET /api/v1/registry/alerts/{alert_id}/tasking.csv": roles("registry_officer"),
    "GET /api/v1/registry/audit": roles("registry_officer", "admin"),
    "GET /registry/alerts/{alert_id}/tasking": PUBLIC,  # the page holds no data; it reads with the viewer's token
    # the signed token is the authority (a bad signature is 403 for everyone; tests/alerts/registry)
    "GET /api/v1/registry/checkins/{token}": PUBLIC,
    "POST /api/v1/registry/checkins/{token}": PUBLIC,
    # public self-registration (issue 15): anyone registers; the entry answers its own management token only
    "POST /api/v1/registry/registrations": PUBLIC,
    "GET /api/v1/registry/registrations/{registration_id}": REGISTRATION_HOLDER,
    "PATCH /api/v1/registry/registrations/{registration_id}": REGISTRATION_HOLDER,
    "DELETE /api/v1/registry/registrations/{registration_id}": REGISTRATION_HOLDER,
    "POST /api/v1/registry/registrations/{registration_id}/confirm": REGISTRATION_HOLDER,
    "POST /api/v1/registry/registrants/{registrant_id}/review": roles("registry_officer"),
    "GET /registry": PUBLIC,  # the self-registration page (no data in it)
    # a caregiver's confirmation link (issue 15): the signed token is the authority, as for check-ins
    "GET /api/v1/registry/caregivers/{token}": PUBLIC,
    "POST /api/v1/registry/caregivers/{token}": PUBLIC,
    # critical facilities (issue 15): managed by admins and alert originators; the dashboard also for coordinators
    "POST /api/v1/facilities": roles("admin", "alert_originator"),
    "GET /api/v1/facilities": roles("admin", "alert_originator"),
    "GET /api/v1/facilities/{facility_id}": roles("admin", "alert_originator"),
    "PUT /api/v1/facilities/{facility_id}": roles("admin", "alert_originator"),
    "DELETE /api/v1/facilities/{facility_id}": roles("admin", "alert_originator"),
    "GET /api/v1/facilities/notifications": roles("admin", "alert_originator", "coordinator"),
    "GET /facilities/notifications": PUBLIC,  # the dashboard page; it reads with the viewer's token
    "GET /facilities/ack/{delivery_id}": PUBLIC,  # the page posts the delivery's ack (the id is the capability)
}

# Requests that need more than ``{}`` to reach the check under test (``{}`` gives a 422 past authorisation).
BODIES: dict[str, Any] = {
    "POST /api/v1/agency/road-closures": lambda: closure_body("R-MATRIX"),
    "POST /api/v1/agency/shelters": lambda: shelter("S-MATRIX"),
    "POST /api/v1/agency/damage-reports": lambda: damage("D-MATRIX"),
    "POST /api/v1/agency/resource-requests": lambda: resource("R-MATRIX"),
    "POST /api/v1/agency/evacuation-zones": lambda: zone("Z-MATRIX"),
    "POST /api/v1/agency/hazard-perimeters": lambda: perimeter("P-MATRIX"),
    "POST /api/v1/alerts": alert_body,
    "POST /api/v1/alerts/{alert_id}/update": alert_body,
    "POST /api/v1/alerts/{alert_id}/cancel": lambda: {"note": "all clear"},
    "POST /api/v1/alerts/drafts": alert_body,
    "POST /api/v1/alerts/drafts/cancellations": lambda: {"alert_id": "alert:none"},
    "PATCH /api/v1/alerts/drafts/{draft_id}": lambda: {"headline": "edited"},
    "POST /api/v1/alerts/drafts/{draft_id}/reject": lambda: {"reason": "no"},
    "POST /api/v1/subscriptions": lambda: {"areas": [{"zone": "ORZ111"}], "channels": [{"type": "mqtt"}]},
    "POST /api/v1/registry/registrations": lambda: {
        "name": "Matrix Person", "lat": PORTLAND_POINT["lat"], "lon": PORTLAND_POINT["lon"], "needs": ["mobility"],
        "channels": [{"type": "email", "address": "matrix.person@example.org"}], "consent": True},
    "POST /api/v1/registry/registrations/{registration_id}/confirm": lambda: {"channel": "email", "code": "000000"},
    "POST /api/v1/subscriptions/{subscription_id}/confirm": lambda: {"channel": "mqtt", "code": "000000"},
    "POST /api/v1/reports/{report_id}/contact/confirm": lambda: {"code": "000000"},
}
QUERIES = {"WS /ws/alerts": f"?lat={PORTLAND_POINT['lat']}&lon={PORTLAND_POINT['lon']}"}

SEATTLE = {"type": "Polygon", "coordinates": [[[-122.45, 47.5], [-122.2, 47.5], [-122.2, 47.75], [-122.45, 47.75],
                                               [-122.45, 47.5]]]}


@dataclass
class Principal:
    name: str
    token: str | None
    roles: frozenset[str] = field(default_factory=frozenset)
    authenticated: bool = True

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def route_table(app) -> dict[str, Any]:
    """``"METHOD /path"`` (``WS``, ``MOUNT`` for sockets and mounts) of every route of ``app``."""
    table: dict[str, Any] = {}
    for context in iter_route_contexts(app.routes):
        route, path = context.original_route, context.path
        if isinstance(route, APIWebSocketRoute):
            table[f"WS {path}"] = route
        elif isinstance(route, Mount):
            table[f"MOUNT {path}"] = route
        elif isinstance(route, APIRoute | Route):
            for method in sorted((context.methods or set()) - {"HEAD"}):
                table[f"{method} {path}"] = route
        else:
            raise AssertionError(f"a route of a kind the matrix does not know: {route!r}")
    return table


async def principals(system: System) -> list[Principal]:
    """No token, wrong, revoked, one per role, another agency."""
    store = system.runtime.store
    made = {name: system.tokens[name] for name in ("admin", "agency", "alert_originator", "coordinator", "collector")}
    made["amber"], _ = await create_token(store, name="Amber desk", roles=[Role.amber])
    made["national_authority"], _ = await create_token(store, name="FEMA", roles=[Role.national_authority])
    made["registry_officer"], _ = await create_token(store, name="Register Ready desk", roles=[Role.registry_officer])
    made["alert_approver"], _ = await create_token(store, name="Duty officer", roles=[Role.alert_approver],
                                                   person="Dee Officer")
    created = await system.http.post("/api/v1/subscriptions", json=BODIES["POST /api/v1/subscriptions"]())
    assert created.status_code == 201, created.text
    system.subscription_id = created.json()["id"]  # type: ignore[attr-defined]
    registered = await system.http.post("/api/v1/registry/registrations",
                                        json=BODIES["POST /api/v1/registry/registrations"]())
    assert registered.status_code == 201, registered.text
    system.registration_id = registered.json()["id"]  # type: ignore[attr-defined]
    made["other_agency"], _ = await create_token(store, name="Seattle EM", roles=[Role.agency, Role.alert_originator],
                                                 agency="City of Seattle", jurisdiction=SEATTLE)
    revoked, _ = await create_token(store, name="revoked admin", roles=[Role.admin])
    answer = await system.http.delete(f"/api/v1/admin/tokens/{hash_token(revoked)}", headers=system.auth("admin"))
    assert answer.status_code == 200, answer.text
    role_of = {"agency": {"agency"}, "alert_originator": {"alert_originator"}, "coordinator": {"coordinator"},
               "collector": {"collector"}, "admin": {"admin"}, "amber": {"amber"},
               "national_authority": {"national_authority"}, "registry_officer": {"registry_officer"},
               "other_agency": {"agency", "alert_originator"}, "alert_approver": {"alert_approver"}}
    return [Principal("no token", None, authenticated=False),
            Principal("wrong token", "not-a-token-" + "x" * 32, authenticated=False),
            Principal("revoked token", revoked, authenticated=False),
            *(Principal(name, made[name], frozenset(role_of[name])) for name in role_of),
            Principal("subscriber", created.json()["token"], authenticated=False),
            Principal("registrant", registered.json()["token"], authenticated=False)]


def expected(access: Access, who: Principal) -> str:
    """``allowed``, ``401``, ``403`` or (a subscription's route, another token) ``404``."""
    if access.holder:
        return "allowed" if who.name == access.holder_of else "401" if who.token is None else "404"
    if access.public:
        return "allowed"
    if not who.authenticated:
        return "401"
    if not access.roles & who.roles:
        return "403"
    if access.owners is not None and who.name not in access.owners:
        return "403"
    return "allowed"


def got(status: int, access: Access) -> str:
    return str(status) if status in (401, 403) or (access.holder and status == 404) else "allowed"


async def ask(system: System, key: str, route: Any, who: Principal, alert_id: str) -> int:
    """The status of one minimal request to the route ``key`` as ``who`` (101 for an accepted socket)."""
    method, path = key.split(" ", 1)
    path = path.replace("{alert_id}", alert_id).replace("{event_id}", "citizen:none") \
        .replace("{token_hash}", "0" * 64).replace("{subscription_id}", system.subscription_id) \
        .replace("{registration_id}", getattr(system, "registration_id", "reg-none")) \
        .replace("{channel_id}", "mqtt-0").replace("{name}", "no-such-feed") \
        .replace("{reference}", "NONE").replace("{agency_id}", "nobody") \
        .replace("{request_id}", "agency:x:resource:none") \
        .replace("{incident_id}", "incident:none").replace("{action}", "verify") \
        .replace("{report_id}", "citizen:none").replace("{fmt}", "csv").replace("{delivery_id}", "0" * 64) \
        .replace("{photo_id}", "0" * 64) \
        .replace("{registrant_id}", "reg-none").replace("{facility_id}", "fac-none").replace("{token}", "not-a-token") \
        .replace("{draft_id}", "draft:none")
    if method == "WS":
        url = f"{system.ws_url}{path}{QUERIES.get(key, '')}"
        try:
            async with websockets.connect(url, additional_headers=who.headers):
                return 101
        except websockets.InvalidStatus as exc:
            return exc.response.status_code
    if method == "MOUNT":
        method, path = "GET", f"{path}/none.txt"
    kwargs: dict[str, Any] = {"headers": who.headers}
    if method in ("POST", "PUT", "PATCH"):
        kwargs["json"] = BODIES[key]() if key in BODIES else {}
    answer = await system.http.request(method, path, **kwargs)
    assert answer.status_code < 500, f"{key} as {who.name}: {answer.status_code} {answer.text[:300]}"
    return answer.status_code


def test_every_route_of_the_app_has_a_declared_expectation():
    table = route_table(create_app(Settings()))
    assert not set(table) - set(EXPECTED), f"routes without a declared expectation: {sorted(set(table) - set(EXPECTED))}"
    assert not set(EXPECTED) - set(table), f"declared routes that do not exist: {sorted(set(EXPECTED) - set(table))}"


async def test_every_route_answers_every_principal_as_declared(system):
    table = route_table(create_app(runtime=system.runtime))  # the routes the server runs
    assert set(table) == set(EXPECTED), "see test_every_route_of_the_app_has_a_declared_expectation"
    who_all = await principals(system)
    issued = await system.http.post("/api/v1/alerts", json=alert_body(), headers=system.auth("alert_originator"))
    assert issued.status_code == 202, issued.text
    alert_id = issued.json()["id"]
    wrong: list[str] = []
    last = ("DELETE /api/v1/subscriptions/{subscription_id}", "/cancel")  # delete and cancel last
    deletes = (last[0], "DELETE /api/v1/registry/registrations/{registration_id}")  # a holder's token ends there
    for key in sorted(table, key=lambda k: (k in deletes, k.endswith(last[1]))):
        for who in who_all:
            status = await ask(system, key, table[key], who, alert_id)
            if got(status, EXPECTED[key]) != expected(EXPECTED[key], who):
                wrong.append(f"{key} as {who.name}: expected {expected(EXPECTED[key], who)}, got {status}")
    assert not wrong, "\n".join(wrong)

