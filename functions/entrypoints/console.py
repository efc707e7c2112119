"""The web console: static files served by the function app itself under `/api/console/`, and the one thing
the page cannot know by itself, how to sign in (`/api/console/config.json`).

The page calls the same JSON API as every client, with the bearer token it obtained: MSAL.js against the SPA
app registration in Azure (`CONSOLE_CLIENT_ID`), or, under `make serve` without AUTH_* settings, the
development identity provider on loopback (`CONSOLE_DEV_IDP_URL`, devhost/identity_provider.py). Nothing here
is secret and nothing needs a token: the files are the same for everyone, the data comes from the API.

Only files under functions/console/static are served, by a name of plain characters (no `..`, no hidden
files); everything else is 404. Every answer carries a content security policy that allows scripts from this
origin only, so the page loads nothing from a CDN and runs no inline script.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func

from functions.bootstrap import container
from functions.domain.errors import NotFound
from functions.entrypoints import openapi
from functions.entrypoints.http import json_response
from functions.entrypoints.problems import http_handler
from functions.settings import Settings

bp = func.Blueprint()

STATIC = Path(__file__).resolve().parent.parent / "console" / "static"
ENTRA = "https://login.microsoftonline.com"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*(/[a-z0-9][a-z0-9_.-]*)*$")
_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
}


def console_config(settings: Settings) -> dict[str, Any]:
    """How the page signs in: the development identity provider if one is configured, else MSAL if the SPA
    registration is, else not at all (the page says so)."""
    if settings.console_dev_idp_url:
        return {"auth": {"mode": "development", "signInUrl": f"{settings.console_dev_idp_url}/authorize"}}
    if settings.console_client_id:
        scope = settings.console_api_scope or f"{settings.auth_audience}/.default"
        return {
            "auth": {
                "mode": "msal",
                "clientId": settings.console_client_id,
                "authority": f"{ENTRA}/organizations",
                "scopes": [scope],
            }
        }
    return {"auth": {"mode": "none"}}


def security_headers(settings: Settings) -> dict[str, str]:
    sign_in = settings.console_dev_idp_url or ENTRA
    policy = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' {ENTRA}; frame-src {ENTRA}; form-action 'self' {sign_in}; "
        "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def static_file(path: str) -> Path:
    """The file a console path names, or NotFound: plain names only, and only under STATIC."""
    name = path.strip("/") or "index.html"
    if not _NAME.match(name) or ".." in name:
        raise NotFound("no such console file")
    file = (STATIC / name).resolve()
    if STATIC not in file.parents or not file.is_file() or file.suffix not in _MEDIA_TYPES:
        raise NotFound("no such console file")
    return file


@bp.function_name("console")
@bp.route(route="console/{*path}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_handler
def console(req: func.HttpRequest) -> func.HttpResponse:
    settings = container().settings
    path = str(req.route_params.get("path") or "")
    headers = security_headers(settings)
    if not path and not urlsplit(req.url).path.endswith("/"):
        # The page's files are named relative to it: /api/console must become /api/console/.
        return func.HttpResponse(status_code=308, headers={**headers, "Location": "/api/console/"})
    if path == "config.json":
        return json_response(console_config(settings), headers=headers)
    file = static_file(path)
    # The libraries change only with a deployment; the page's own files are checked on every load.
    cache = "public, max-age=86400" if file.parent.name == "vendor" else "no-cache"
    return func.HttpResponse(
        file.read_bytes(), status_code=200, headers={**headers, "Content-Type": _MEDIA_TYPES[file.suffix],
                                                      "Cache-Control": cache},
    )  # fmt: skip


OPENAPI_PATHS: openapi.Paths = {
    "/console/{path}": {
        "parameters": [
            {
                "name": "path", "in": "path", "required": True,
                "description": "A console file (empty: the page); `config.json`: how the page signs in",
                "schema": {"type": "string"},
            }
        ],
        "get": {
            "operationId": "console",
            "summary": "The web console (static files) and its sign-in configuration",
            "security": [],
            "responses": {
                "200": {"description": "The file", "content": {"text/html": {}, "text/javascript": {},
                                                                 "text/css": {}, "application/json": {}}},
                "404": openapi.problem("No such console file"),
            },
        },
    },
}  # fmt: skip
