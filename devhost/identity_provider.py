"""A development identity provider: local sign-in for the console when no real Entra ID is configured.

`make serve` (`python -m devhost serve`) starts one on 127.0.0.1 when none of AUTH_JWKS_URL, AUTH_AUDIENCE and
AUTH_ISSUER is set, and points the app at it, so the web console can be signed in to on a laptop without an
app registration. It signs whoever fills its form in, with whichever roles they tick, so it must never be
reachable from elsewhere nor deployed: it binds loopback only, redirects to loopback only, and lives in
`devhost/`, which `.funcignore` keeps out of the Azure package.

    with DevIdentityProvider() as idp:         # 127.0.0.1, a free port, a fresh RSA key
        idp.settings()                         # AUTH_* (and CONSOLE_DEV_IDP_URL) that make the app trust it
        idp.mint(tenant_id, user_id, ["Insights.Read"], "Ada")

    GET  /jwks                                 {"keys": [...]}, as Entra publishes them
    GET  /authorize?redirect_uri=&state=&tenant=   the sign-in form
    POST /authorize                            303 to redirect_uri#access_token=...&token_type=Bearer&...

Its tokens are shaped like Entra ID v2 access tokens (RS256 with a `kid`; aud, iss per tenant, tid, oid,
roles, exp/nbf/iat, ver 2.0), so the app validates them with its real `TokenValidator`, nothing switched off.
The token goes back in the URL fragment (the OAuth implicit-grant shape) so it never reaches a server log.
"""

from __future__ import annotations

import html
import json
import socket
import threading
import urllib.parse
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from functions.domain.access import CONSENT_MANAGE, INSIGHTS_READ, is_guid

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
AUDIENCE = "api://m365-consent-insights"
ISSUER_TEMPLATE = "https://login.microsoftonline.com/{tenantId}/v2.0"
KID = "dev-1"
ROLES = (CONSENT_MANAGE, INSIGHTS_READ)
TOKEN_LIFETIME = timedelta(hours=1)
# The `azp` of every token: stands for the console, the one client this provider signs in for.
CLIENT_ID = "00000000-0000-4000-8000-00000000c0de"
DEFAULT_NAME = "Local Developer"
MAX_FORM_BYTES = 16 * 1024


class DevIdentityProvider:
    """The sign-in page, the JWKS and the token minting, over HTTP on loopback in a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if host not in LOOPBACK_HOSTS:
            raise ValueError(
                f"{host!r} is not a loopback address: this is a development identity provider that signs "
                "anyone in with any role, and it only serves loopback (127.0.0.1, ::1, localhost)"
            )
        self._host = host
        self._port = port
        self._key: rsa.RSAPrivateKey | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._server is not None:
            return
        # A key per start: nothing signed by an earlier run (or another checkout) is trusted by this one.
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._server = _Server((self._host, self._port), self)
        # A short poll interval: `shutdown()` waits for the next poll, and every exit path closes this.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="dev-identity-provider",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        server, self._server = self._server, None
        thread, self._thread = self._thread, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> DevIdentityProvider:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- what the app and the console are told -------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL, e.g. `http://127.0.0.1:53211` (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("the development identity provider is not running")
        port = self._server.server_address[1]
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{port}"

    @property
    def sign_in_url(self) -> str:
        return f"{self.url}/authorize"

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/jwks"

    def settings(self) -> dict[str, str]:
        """The app settings that make the app trust this provider's tokens and the console sign in here."""
        return {
            "AUTH_JWKS_URL": self.jwks_url,
            "AUTH_AUDIENCE": AUDIENCE,
            "AUTH_ISSUER": ISSUER_TEMPLATE,
            "CONSOLE_DEV_IDP_URL": self.url,
        }

    def jwks(self) -> dict[str, Any]:
        """`{"keys": [...]}` with the signing key shaped like Entra's (kty, use, kid, n, e; no `alg`)."""
        entry: dict[str, Any] = RSAAlgorithm.to_jwk(self._signing_key().public_key(), as_dict=True)
        entry.pop("alg", None)
        entry.update({"kid": KID, "use": "sig"})
        return {"keys": [entry]}

    def mint(
        self,
        tenant_id: str,
        user_id: str,
        roles: Iterable[str],
        name: str = DEFAULT_NAME,
        *,
        now: datetime | None = None,
    ) -> str:
        """An access token for `user_id` in `tenant_id` with `roles`, valid for an hour from `now`."""
        role_list = list(dict.fromkeys(roles))
        if not is_guid(tenant_id) or not is_guid(user_id):
            raise ValueError("the tenant ID and the user object ID must be GUIDs")
        unknown = [role for role in role_list if role not in ROLES]
        if unknown:
            raise ValueError(f"unknown roles {unknown!r}; known: {list(ROLES)!r}")
        tenant, user = tenant_id.lower(), user_id.lower()
        issued = int((now or datetime.now(UTC)).timestamp())
        claims: dict[str, Any] = {
            "aud": AUDIENCE,
            "iss": ISSUER_TEMPLATE.replace("{tenantId}", tenant),
            "tid": tenant,
            "oid": user,
            "sub": user,  # stable per user, as Entra's (pairwise) sub is for one client
            "azp": CLIENT_ID,
            "iat": issued,
            "nbf": issued,
            "exp": issued + int(TOKEN_LIFETIME.total_seconds()),
            "ver": "2.0",
            "name": name,
            "preferred_username": name,
            "roles": role_list,
        }
        if not role_list:
            # Entra leaves the claim out when no app role is assigned.
            del claims["roles"]
        return jwt.encode(claims, self._signing_key(), algorithm="RS256", headers={"kid": KID, "typ": "JWT"})

    def _signing_key(self) -> rsa.RSAPrivateKey:
        if self._key is None:
            raise RuntimeError("the development identity provider is not running")
        return self._key


# --- the sign-in form ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class _SignIn:
    """What the form holds, as typed; `errors` says what is wrong with it, in the words the page shows."""

    redirect_uri: str = ""
    state: str = ""
    tenant: str = ""
    user: str = field(default_factory=lambda: str(uuid.uuid4()))
    name: str = DEFAULT_NAME
    roles: list[str] = field(default_factory=lambda: list(ROLES))
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_query(cls, query: Mapping[str, list[str]]) -> _SignIn:
        sign_in = cls(
            redirect_uri=_first(query, "redirect_uri"),
            state=_first(query, "state"),
            tenant=_first(query, "tenant").strip(),
        )
        sign_in.errors = _redirect_errors(sign_in.redirect_uri)
        return sign_in

    @classmethod
    def from_form(cls, form: Mapping[str, list[str]]) -> _SignIn:
        sign_in = cls(
            redirect_uri=_first(form, "redirect_uri"),
            state=_first(form, "state"),
            tenant=_first(form, "tenant").strip(),
            user=_first(form, "user").strip(),
            name=_first(form, "name").strip() or DEFAULT_NAME,
            roles=form.get("roles", []),
        )
        errors = _redirect_errors(sign_in.redirect_uri)
        if not is_guid(sign_in.tenant):
            errors.append("The tenant ID must be a GUID (8-4-4-4-12 hexadecimal digits).")
        if not is_guid(sign_in.user):
            errors.append("The user object ID must be a GUID (8-4-4-4-12 hexadecimal digits).")
        unknown = [role for role in sign_in.roles if role not in ROLES]
        if unknown:
            errors.append(f"Unknown roles: {', '.join(unknown)}. Known roles: {', '.join(ROLES)}.")
        sign_in.errors = errors
        return sign_in

    @property
    def can_return(self) -> bool:
        """Whether the form can be shown again: not when the place to return the token to is refused."""
        return not _redirect_errors(self.redirect_uri)


def _first(values: Mapping[str, list[str]], name: str) -> str:
    found = values.get(name)
    return found[0] if found else ""


def _redirect_errors(redirect_uri: str) -> list[str]:
    """Why a token must not go to `redirect_uri` (none: it may): anywhere off this machine leaks a token."""
    if not redirect_uri:
        return ["redirect_uri is missing: open this page from the console's Sign in button."]
    # Printable ASCII only: the URL goes into a Location header as it is.
    if not all(33 <= ord(character) <= 126 for character in redirect_uri):
        return ["redirect_uri must be a URL of printable ASCII characters (percent-encode the rest)."]
    try:
        parts = urllib.parse.urlsplit(redirect_uri)
        _ = parts.port  # raises on a port that is not a number
    except ValueError:
        return ["redirect_uri is not a valid URL."]
    # A user name in the URL is refused too: `http://127.0.0.1@example.com/` reads as loopback to people.
    if parts.scheme not in ("http", "https") or parts.hostname not in LOOPBACK_HOSTS or "@" in parts.netloc:
        return ["redirect_uri must be an http(s) URL on this machine (127.0.0.1, localhost or [::1])."]
    if "#" in redirect_uri:
        return ["redirect_uri must not have a fragment: the token is returned in it."]
    return []


_STYLE = """
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1b1b1f}
main{max-width:34rem;margin:2rem auto;padding:1.5rem 2rem;background:#fff;border:1px solid #c8ccd2;
border-radius:6px}
h1{font-size:1.5rem;margin-top:0}
label{display:block;font-weight:600;margin-top:1rem}
input[type=text]{box-sizing:border-box;width:100%;padding:.45rem;font:inherit;border:1px solid #6b7280;
border-radius:4px}
fieldset{margin-top:1rem;border:1px solid #c8ccd2;border-radius:4px}
fieldset label{display:inline;font-weight:400;margin:0 0 0 .35rem}
.hint{color:#4b5563;font-size:.9rem;margin:.2rem 0 0}
.warning{background:#fff7d6;border-left:4px solid #b45309;padding:.5rem .75rem}
.errors{background:#fde8e8;border-left:4px solid #b91c1c;padding:.5rem .75rem}
button{margin-top:1.5rem;padding:.55rem 1.4rem;font:inherit;font-weight:600;color:#fff;background:#1d4ed8;
border:0;border-radius:4px}
:focus-visible{outline:3px solid #1d4ed8;outline-offset:2px}
""".strip()


def _page(title: str, body: str) -> bytes:
    document = (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>\n{_STYLE}\n</style>\n</head>\n"
        f"<body>\n<main>\n<h1>{html.escape(title)}</h1>\n{body}\n</main>\n</body>\n</html>\n"
    )
    return document.encode("utf-8")


def _error_list(errors: list[str]) -> str:
    items = "".join(f"<li>{html.escape(error)}</li>" for error in errors)
    return f'<div class="errors" role="alert">\n<p>The sign-in was refused:</p>\n<ul>{items}</ul>\n</div>\n'


def _sign_in_page(sign_in: _SignIn) -> bytes:
    e = html.escape
    role_boxes = "".join(
        f'<div><input type="checkbox" id="role-{index}" name="roles" value="{e(role)}"'
        f"{' checked' if role in sign_in.roles else ''}>"
        f'<label for="role-{index}">{e(role)}</label></div>\n'
        for index, role in enumerate(ROLES)
    )
    body = (
        '<p class="warning">Development sign-in: anyone on this machine can sign in here as anyone, with any '
        "role. It exists only under <code>make serve</code> without AUTH_* settings.</p>\n"
        + (_error_list(sign_in.errors) if sign_in.errors else "")
        + '<form method="post" action="/authorize">\n'
        f'<input type="hidden" name="redirect_uri" value="{e(sign_in.redirect_uri)}">\n'
        f'<input type="hidden" name="state" value="{e(sign_in.state)}">\n'
        '<label for="tenant">Tenant ID</label>\n'
        f'<input type="text" id="tenant" name="tenant" value="{e(sign_in.tenant)}" required '
        'aria-describedby="tenant-hint" autocomplete="off" spellcheck="false">\n'
        '<p class="hint" id="tenant-hint">A GUID, e.g. 6f1c2a9e-0d7b-4c3e-9a51-2b8f4e7d1c03.</p>\n'
        '<label for="user">User object ID</label>\n'
        f'<input type="text" id="user" name="user" value="{e(sign_in.user)}" required '
        'aria-describedby="user-hint" autocomplete="off" spellcheck="false">\n'
        '<p class="hint" id="user-hint">A GUID; a random one is filled in.</p>\n'
        '<label for="name">Display name</label>\n'
        f'<input type="text" id="name" name="name" value="{e(sign_in.name)}" autocomplete="name">\n'
        f"<fieldset>\n<legend>Roles</legend>\n{role_boxes}</fieldset>\n"
        '<button type="submit">Sign in</button>\n</form>'
    )
    return _page("Sign in (development)", body)


def _refusal_page(errors: list[str]) -> bytes:
    return _page("Sign-in refused (development)", _error_list(errors))


def _token_redirect(sign_in: _SignIn, token: str) -> str:
    fragment = urllib.parse.urlencode(
        {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": str(int(TOKEN_LIFETIME.total_seconds())),
            "state": sign_in.state,
        }
    )
    return f"{sign_in.redirect_uri}#{fragment}"


# --- HTTP ---------------------------------------------------------------------------------------------------

# Styles inline and nothing else: the page has no script, and loads nothing. No form-action: browsers check it
# against the redirect that follows the POST too, and that goes to the console on another port.
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
    "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], provider: DevIdentityProvider) -> None:
        self.provider = provider
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        if not self._host_is_loopback():
            return
        path, _, query = self.path.partition("?")
        if path == "/jwks":
            self._send(HTTPStatus.OK, json.dumps(self.server.provider.jwks()).encode(), "application/json")
        elif path == "/authorize":
            sign_in = _SignIn.from_query(urllib.parse.parse_qs(query, keep_blank_values=True))
            if sign_in.errors:
                self._send_html(HTTPStatus.BAD_REQUEST, _refusal_page(sign_in.errors))
            else:
                self._send_html(HTTPStatus.OK, _sign_in_page(sign_in))
        else:
            self._send_html(HTTPStatus.NOT_FOUND, _page("Not found", "<p>This page does not exist.</p>"))

    def do_POST(self) -> None:
        if not self._host_is_loopback():
            return
        if self.path.partition("?")[0] != "/authorize":
            self._send_html(HTTPStatus.NOT_FOUND, _page("Not found", "<p>This page does not exist.</p>"))
            return
        form = self._read_form()
        if form is None:
            return
        sign_in = _SignIn.from_form(form)
        if sign_in.errors:
            page = _sign_in_page(sign_in) if sign_in.can_return else _refusal_page(sign_in.errors)
            self._send_html(HTTPStatus.BAD_REQUEST, page)
            return
        token = self.server.provider.mint(sign_in.tenant, sign_in.user, sign_in.roles, sign_in.name)
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header("Location", _token_redirect(sign_in, token))
        self.send_header("Content-Length", "0")
        for name, value in _SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()

    def _read_form(self) -> dict[str, list[str]] | None:
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            self._refuse(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "The form must be sent form-urlencoded.")
            return None
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_FORM_BYTES:
            self._refuse(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "The form is too large (or its length unknown)."
            )
            return None
        body = self.rfile.read(length).decode("utf-8", errors="replace")
        return urllib.parse.parse_qs(body, keep_blank_values=True)

    def _host_is_loopback(self) -> bool:
        """Refuse a Host header naming another machine: a DNS-rebinding page must not get tokens from here."""
        host = urllib.parse.urlsplit("//" + self.headers.get("Host", "")).hostname
        if host in LOOPBACK_HOSTS:
            return True
        self._refuse(HTTPStatus.MISDIRECTED_REQUEST, "This server only answers requests to a loopback host.")
        return False

    def _refuse(self, status: HTTPStatus, message: str) -> None:
        self._send_html(status, _refusal_page([message]))

    def _send_html(self, status: HTTPStatus, body: bytes) -> None:
        self._send(status, body, "text/html; charset=utf-8")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in _SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (the stdlib's name)
        """Silent: a request line holds the state and the redirect URI, and URLs are never logged."""
