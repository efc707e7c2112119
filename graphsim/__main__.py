"""`python -m graphsim --port N --seed S --users U ...`: serve a synthetic tenant until interrupted.

Prints one JSON line on stdout once listening (`{"url": ..., "graphUrl": ..., "tenantId": ...}`) so a parent
process can read where it is.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from datetime import UTC, datetime

from graphsim.generate import DEFAULT_NOW, TenantSpec
from graphsim.server import DEFAULT_TOKEN, GraphSimulator
from graphsim.tenant import Tenant


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="graphsim", description=__doc__)
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--users", type=int, default=12)
    p.add_argument("--contacts", type=int, default=120)
    p.add_argument("--months", type=int, default=12)
    p.add_argument("--messages-per-month", type=int, default=30, help="per user")
    p.add_argument("--meetings-per-month", type=int, default=4, help="per user")
    p.add_argument("--users-without-mailbox", type=int, default=0)
    p.add_argument("--domains", default="contoso.com,sales.contoso.com", help="verified, comma-separated")
    p.add_argument("--tenant-id", default="")
    p.add_argument("--now", default=DEFAULT_NOW.isoformat(), help="ISO instant the year ends at")
    p.add_argument("--token", default=DEFAULT_TOKEN, help="the bearer token clients must send")
    args = p.parse_args(argv)
    now = datetime.fromisoformat(args.now)
    spec = TenantSpec(
        seed=args.seed,
        users=args.users,
        external_contacts=args.contacts,
        months=args.months,
        messages_per_user_per_month=args.messages_per_month,
        meetings_per_user_per_month=args.meetings_per_month,
        users_without_mailbox=args.users_without_mailbox,
        domains=tuple(d.strip() for d in args.domains.split(",") if d.strip()),
        tenant_id=args.tenant_id,
        now=now if now.tzinfo else now.replace(tzinfo=UTC),
    )
    sim = GraphSimulator(Tenant(spec), token=args.token, port=args.port)
    info = {"url": sim.url, "graphUrl": sim.graph_url, "tenantId": sim.tenant.tenant_id}
    sys.stdout.write(json.dumps(info) + "\n")
    sys.stdout.flush()
    # SIGTERM (how the demo and benchmarks stop it) unwinds like Ctrl-C, closing the socket.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        sim.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    main()
