"""A Microsoft Graph simulator holding a deterministic synthetic tenant (tests, demo, benchmarks).

`Tenant(TenantSpec(...))` generates the data; `GraphSimulator(tenant)` serves it over HTTP on loopback
(`python -m graphsim` does both from the command line).
"""

from graphsim.generate import TenantSpec
from graphsim.server import GraphSimulator
from graphsim.tenant import Tenant

__all__ = ["GraphSimulator", "Tenant", "TenantSpec"]
