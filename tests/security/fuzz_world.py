"""The fuzz suite's world: the seeded rows, the visitors (signed out, owner, cashier, forged
cookie), fresh identities for every example, and the strategies that build requests.

Strategies draw *markers* (``ZQmacZQ``, ``ZQphoneZQ``, ...) where a value must be the
example's own; :meth:`World.send` puts the example's fresh device, phone and the visitor's
CSRF token in their place. Markers are letters only, so they survive percent-encoding, and
strategies stay the same objects from one example to the next (Hypothesis builds them once).
"""

from __future__ import annotations

import itertools
import time
from functools import cache
from typing import Any

from hypothesis import strategies as st
from werkzeug.security import generate_password_hash

from portal.domain.accounts import create_admin
from portal.ledger.models import AdminUser, Package, Payment
from tests.conftest import ADMIN_PASSWORD, AdminOverHttp
from tests.security import fuzz_values as fv
from tests.security.fuzz_http import Answer, Route, Sender, Tally, routes_of

WHO = ("signed out", "owner", "cashier", "forged cookie")
PASSWORDS = {"owner": ADMIN_PASSWORD, "cashier": "cashier-password-1"}
MAC, IP, PHONE, PACKAGE, RECEIPT, CSRF = (
    f"ZQ{name}ZQ" for name in ("mac", "ip", "phone", "package", "receipt", "csrf")
)
# Values that get a request past validation, by parameter name (the rest are extreme values).
PLAUSIBLE: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("mac", "macAddress"), (MAC,)),
    "ip": (IP,),
    "phone": (PHONE, "+" + PHONE),
    **dict.fromkeys(("package", "packageId"), (PACKAGE,)),
    "router": ("main",),
    "lang": ("sw", "en"),
    "receipt": (RECEIPT,),
    "username": ("owner", "cashier"),
    "password": (ADMIN_PASSWORD, "wrong"),
    "active": ("0", "1"),
    "minutes": ("15", "60"),
    "page": ("1", "2"),
    "status": ("paid", "pending"),
    **dict.fromkeys(("from", "to"), ("2026-03-01",)),
    "name": ("Fuzz hour",),
    "price": ("20",),
    "duration": ("1h", "30m"),
    "data_cap": ("500MB", "none"),
    "rate_limit": ("2M/2M", "none"),
    "devices": ("1",),
    "sort_order": ("0",),
    "next": ("/admin/payments",),
    "link-orig": ("http://example.com/",),
    **dict.fromkeys(("idempotency_key", "idempotencyKey"), ("fuzz-" + PHONE,)),
    "csrf_token": (CSRF,),
    "daraja": ("0",),
}
# Routes where every request that gets through costs real CPU by design. They share one
# source address, so after the first few the per-address limiter answers (as it would answer
# an attacker) instead of the fuzz spending a minute hashing passwords.
COSTLY = {"/admin/login": "each sign-in checks a scrypt password hash (~0.3 s on this machine)"}
COSTLY_SOURCE = "127.0.0.254"


class World:
    """The running stack, the seeded rows, and fresh identities for every example."""

    def __init__(self, portal: Any, package: Any, app: Any, clock: Any) -> None:
        self.portal, self.package = portal, package
        self.sender = Sender(portal.base_url)
        self.routes = routes_of(app)
        self.tally = Tally()
        self.numbers = itertools.count(1)
        mac, ip = portal.join()
        checkout, public_id = portal.pay_ids(package.id, mac=mac, ip=ip)
        portal.settle(5)
        self.paid = Payment.get(Payment.checkout_request_id == checkout)
        self.known = {"int": (str(package.id), str(self.paid.id), "1"), "text": (public_id, checkout, "robots.txt")}
        self.package_row = {k: getattr(package, k) for k in ("name", "name_sw", "price", "duration_seconds", "active")}
        self.clock = clock
        self.renewed: dict[str, int] = dict.fromkeys(WHO, 0)
        for who in PASSWORDS:
            self._account(who)
        self.cookies = {who: self._cookie(who) for who in WHO}

    def _account(self, who: str) -> None:
        """The admin account as seeded (created again if the fuzz removed it), its role and
        password put back. The password is stored with a one-round hash: signing in again
        after an example signed out must cost nothing (the app's own scrypt takes ~0.3 s)."""
        if not AdminUser.select().where(AdminUser.username == who).exists():
            create_admin(who, PASSWORDS[who], self.clock)
        cheap = generate_password_hash(PASSWORDS[who], method="pbkdf2:sha256:1")
        AdminUser.update(role=who, password_hash=cheap).where(AdminUser.username == who).execute()

    def _cookie(self, who: str) -> tuple[str, str]:
        """(session cookie, CSRF token) for one kind of visitor, made over a real socket."""
        if who == "forged cookie":
            return "session=eyJhZG1pbiI6Im93bmVyIn0.Zm9yZ2Vk.bm90LXNpZ25lZA", "forged-token"
        browser = AdminOverHttp(self.portal.base_url, source=self.fresh()["source"])
        try:
            if who != "signed out":
                answer = browser.login(who, PASSWORDS[who])
                assert answer.status_code == 303, f"{who} cannot sign in: {answer.status_code} {answer.text[:200]}"
            token = browser.token("/admin/sessions" if who != "signed out" else "/admin/login")
            return f"session={browser.session.cookies['session']}", token
        finally:
            browser.close()

    def _still_signed_in(self, who: str) -> bool:
        answer = self.sender.send(
            "GET",
            "/admin/sessions",
            headers={"Host": "127.0.0.1", "Cookie": self.cookies[who][0]},
            body=None,
            source=self.fresh()["source"],
        )
        return answer.status == 200

    def _keep_signed_in(self, who: str, answer: Answer) -> None:
        """After an answer that sends a signed-in visitor to the login page (the example
        signed out, or the owner ended the session, changed a password, removed the account),
        sign in again so the next example starts signed in, as a stateless example should."""
        to_login = 300 <= answer.status < 400 and "/admin/login" in answer.headers.get("Location", "")
        if who in PASSWORDS and to_login and not self._still_signed_in(who):
            self._account(who)
            self.cookies[who] = self._cookie(who)
            self.renewed[who] += 1

    def fresh(self) -> dict[str, str]:
        """A new device (joined on the hotspot when a request names it), phone and source address."""
        n = next(self.numbers)
        return {
            MAC: f"02:F0:00:{n >> 16 & 255:02X}:{n >> 8 & 255:02X}:{n & 255:02X}",
            IP: f"10.{100 + (n >> 16)}.{n >> 8 & 255}.{n & 255}",
            PHONE: f"07{n % 30_000_000:08d}",
            PACKAGE: str(self.package.id),
            RECEIPT: self.paid.receipt or "",
            "source": f"127.{1 + (n >> 16) % 254}.{n >> 8 & 255}.{1 + n % 254}",
        }

    def send(self, route: Route, method: str, target: str, who: str, fresh: dict[str, str], **parts: Any) -> None:
        """One request as ``who``, with the example's own values in place of the markers."""
        values = {**fresh, CSRF: self.cookies[who][1]}
        body = parts.get("body")
        raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
        if MAC.encode() in (raw or b"") + target.encode() or IP.encode() in (raw or b"") + target.encode():
            self.portal.emulator.device_join(fresh[MAC], fresh[IP])  # only when a request names it
        for marker, value in values.items():
            target = target.replace(marker, value)
            raw = raw.replace(marker.encode(), value.encode()) if raw is not None else None
        headers = {"Host": "127.0.0.1", "Cookie": self.cookies[who][0], **parts.get("headers", {})}
        if parts.get("content_type"):
            headers["Content-Type"] = parts["content_type"]
        source = COSTLY_SOURCE if route.rule in COSTLY and method == "POST" else fresh["source"]
        began = time.monotonic()
        answer = self.sender.send(method, target, headers=headers, body=raw, source=source)
        self.tally.seconds[route.rule] += time.monotonic() - began
        self.tally.outcomes[route.rule, answer.status] += 1
        self.tally.count(answer, f"{method} {target[:200]} as {who} ({headers.get('Content-Type', '-')})", raw)
        if method == "POST" and route.rule.startswith("/admin") and who == "owner":
            Package.update(**self.package_row).where(Package.id == self.package.id).execute()  # as seeded
        self._keep_signed_in(who, answer)

    def sweep(self, names: dict[str, tuple[str, ...]], json_routes: list[Route]) -> None:
        """Every route, every parameter it reads and every path argument, each set in turn to
        every extreme value of its kind while the rest of the request is valid (signed in as
        the owner on admin pages): one bad field is what gets deepest into a view."""
        for route in self.routes:
            who = "owner" if route.rule.startswith("/admin") else "signed out"
            arguments = {name: self.known[kind][0] for name, kind in route.arguments}
            route_names = names.get(route.endpoint, ())
            valid = {name: PLAUSIBLE[name][0] for name in route_names if name in PLAUSIBLE}
            for method in sorted(set(route.methods) - {"HEAD", "OPTIONS"}):
                for name, value in arguments.items():
                    for bad in fv.extremes_like(value):
                        self._sweep_one(route, method, who, {**arguments, name: bad}, valid, json_routes)
                if method != "GET" and route not in json_routes:
                    without_token = {k: v for k, v in valid.items() if k != "csrf_token"}
                    for fields, broken, nameless in (
                        (valid, False, False),
                        (valid, True, False),  # cut off inside the file
                        (valid, False, True),  # a part without a name
                        (without_token, False, True),
                    ):
                        ctype, body = fv.multipart(fields, b"a,b\r\n", broken=broken, nameless=nameless)
                        target = route.path(arguments)
                        self.send(route, method, target, who, self.fresh(), body=body, content_type=ctype)
                for name in route_names:
                    bad_values: list[Any] = fv.extremes_like(valid.get(name, "x"))
                    if method == "POST" and route in json_routes:
                        bad_values += fv.extreme_json_values()
                    for bad in bad_values:
                        self._sweep_one(route, method, who, arguments, {**valid, name: bad}, json_routes)

    def _sweep_one(
        self,
        route: Route,
        method: str,
        who: str,
        arguments: dict[str, str],
        fields: dict[str, Any],
        json_routes: list[Route],
    ) -> None:
        target, parts = route.path(arguments), {}
        if method == "GET":
            pairs = {k: v for k, v in fields.items() if isinstance(v, str)}
            target += "?" + fv.render_pairs(pairs, [""], "&")
        elif route in json_routes:
            parts = {"body": fv.to_json(fields), "content_type": "application/json"}
        else:
            pairs = {k: v for k, v in fields.items() if isinstance(v, str)}
            body = fv.render_pairs(pairs, [""], "&")
            parts = {"body": body, "content_type": "application/x-www-form-urlencoded"}
        self.send(route, method, target, who, self.fresh(), **parts)


# -- strategies that build requests (cached: the same objects for every example) ------------


@cache
def value_for(name: str) -> st.SearchStrategy[str]:
    """A value for a parameter: plausible for its name, of its kind but extreme, or anything."""
    plausible = PLAUSIBLE.get(name)
    if not plausible:
        return fv.strings
    extreme = st.one_of(*(fv.like(value) for value in plausible))
    return st.one_of(st.sampled_from(plausible), extreme, extreme, fv.strings)


@cache
def path_values(arguments: tuple[tuple[str, str], ...], known: tuple[tuple[str, ...], ...]) -> st.SearchStrategy:
    """A value per path argument: mostly a real row's id or reference, sometimes anything."""
    by_kind = dict(zip(("int", "text"), known, strict=True))
    return st.fixed_dictionaries(
        {
            name: st.one_of(st.sampled_from(by_kind[kind]), st.sampled_from(by_kind[kind]), fv.strings)
            for name, kind in arguments
        }
    )


@cache
def fields_for(names: tuple[str, ...]) -> st.SearchStrategy[dict[str, str]]:
    """Each name a view reads, present or not, plausible or extreme; plus a couple of stray ones."""
    return st.tuples(
        st.fixed_dictionaries({}, optional={name: value_for(name) for name in names}),
        st.dictionaries(fv.strings, fv.strings, max_size=2),
    ).map(lambda pair: {**pair[0], **pair[1]})


@cache
def json_body(names: tuple[str, ...]) -> st.SearchStrategy[str]:
    """JSON text: an object of the names a view reads (plausible, extreme, nested), or any value."""
    objects = st.tuples(
        st.fixed_dictionaries({}, optional={name: st.one_of(value_for(name), fv.json_values) for name in names}),
        st.dictionaries(fv.strings, fv.json_values, max_size=2),
    ).map(lambda pair: fv.to_json({**pair[0], **pair[1]}))
    return st.one_of(objects, objects, fv.deep.map(fv.to_json), fv.shallow.map(fv.to_json))


@cache
def any_body(names: tuple[str, ...]) -> st.SearchStrategy[tuple[str, str | bytes]]:
    """(content type, body): a form, JSON, multipart with a file, raw bytes or nothing."""
    form_types = st.sampled_from(["application/x-www-form-urlencoded", *fv.ODD_TYPES])
    forms = st.tuples(form_types, fv.pairs_text(fields_for(names)))
    multipart = st.builds(
        fv.multipart, fields_for(names), st.binary(max_size=200), broken=st.booleans(), nameless=st.booleans()
    )
    return st.one_of(
        forms,
        forms,
        st.tuples(fv.content_types, json_body(names)),
        multipart,
        st.tuples(fv.content_types, st.binary(max_size=400)),
        st.just(("", b"")),
    )
