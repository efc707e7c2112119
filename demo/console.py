"""The demo's last step: the console on what the demo left behind.

In a terminal (and not under CI), the app is restarted with the development identity provider as its sign-in
(devhost/identity_provider.py) and serves until Ctrl-C, so the tenants the demo walked can be looked at in a
browser: the ingested tenant's purges, verification counts and evidence, its audit log. Elsewhere (CI, a pipe)
the demo ends as before and says how to see the console with `make serve`.
"""

from __future__ import annotations

import os
import time

from demo import chapter_ingestion
from demo.framework import Context
from devhost.identity_provider import DevIdentityProvider


def interactive(ctx: Context) -> bool:
    return bool(getattr(ctx.out, "isatty", lambda: False)()) and not os.environ.get("CI")


def offer(ctx: Context) -> None:
    if not interactive(ctx):
        ctx.say("the web console: `make serve`, then open http://127.0.0.1:7071/api/console/")
        return
    idp = DevIdentityProvider()
    idp.start()
    ctx.add_cleanup(idp.close)
    with ctx.step("Serving the web console on what the demo left (development sign-in)"):
        host = ctx.restart_host(**idp.settings())
    tenant = chapter_ingestion.ingested[-1] if chapter_ingestion.ingested else "(any GUID)"
    ctx.say(f"open {host.url}/api/console/ and sign in with tenant {tenant}")
    ctx.say("(the tenant the demo ingested, opted out of and withdrew: its purges, evidence and audit log)")
    ctx.say("Ctrl-C stops the app, the emulator and the simulator")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:  # the way out of this step, not a failure of the demo
        print(file=ctx.out)
        ctx.say("stopping the console")
