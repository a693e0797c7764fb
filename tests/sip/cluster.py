"""Two PBX nodes on one PostgreSQL in the lab (:mod:`netlab` with ``nodes=2``), the way
``docs/operator-guide.md`` describes them: every node runs rtpengine and Kamailio from the same
settings plus its name and media address, Kamailio listens on the floating service address
(``ip_nonlocal_bind``), and keepalived (VRRP) puts that address on one node at a time."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import time
from pathlib import Path

from . import netlab
from .labpbx import LabPbx
from .wire import Peer, code

SERVICE_ROUTER_ID = 10  # the VRRP group of the service address on the nodes' segment

# What an operator writes into /etc/keepalived/keepalived.conf on each node (the priority
# differs; the highest holds the address while it lives). Only VRRP: three missed
# advertisements (about 3.5 s) and the next node takes the address and announces it by ARP.
KEEPALIVED_CONF = """\
global_defs {{
    router_id {name}
}}
vrrp_instance sip {{
    state {state}
    interface uplink
    virtual_router_id {router_id}
    priority {priority}
    advert_int 1
    virtual_ipaddress {{
        {address}/25 dev uplink
    }}
}}
"""


@dataclasses.dataclass
class Node:
    name: str
    ns: netlab.Namespace
    pbx: LabPbx
    keepalived: netlab.Process | None = None


class Cluster:
    """Node 1 and node 2 on the lab's segment; :meth:`start` makes node 1 the holder."""

    def __init__(self, lab: netlab.Lab, run_dir: Path, **changes) -> None:
        self.lab = lab
        self.nodes = []
        for number in (1, 2):
            name, ns = f"node-{number}", lab.node(number)
            # Each node's RPC on its own address, open to the other nodes (the portal on any
            # node tells every Kamailio of a change).
            pbx = LabPbx(
                lab, run_dir / name, ns, node_name=name, sip_rpc_listen=netlab.node_ip(number),
                sip_rpc_peers=[f"{netlab.node_ip(n)}/32" for n in (1, 2)], **changes,
            )  # fmt: skip
            self.nodes.append(Node(name, ns, pbx))

    def start(self) -> None:
        for node in self.nodes:
            node.pbx.start()
        for priority, node in zip((150, 100), self.nodes, strict=True):
            conf = node.pbx.run_dir / "keepalived.conf"
            conf.write_text(
                KEEPALIVED_CONF.format(
                    name=node.name, state="MASTER" if priority == 150 else "BACKUP",
                    router_id=SERVICE_ROUTER_ID, priority=priority, address=netlab.PBX_IP,
                )
            )  # fmt: skip
            pid = node.pbx.run_dir / "keepalived"
            node.keepalived = self.lab.spawn(
                node.ns,
                ["keepalived", "--dont-fork", "--log-console", "--log-detail", "--no-syslog",
                 "--vrrp", "-f", str(conf), "-p", f"{pid}.pid", "-r", f"{pid}-vrrp.pid"],
                node.pbx.run_dir / "keepalived.log",
            )  # fmt: skip
        first = self.nodes[0].keepalived
        assert first is not None
        first.wait_for(r"Entering MASTER STATE", timeout=15)
        assert self.wait_served(timeout=10) is not None, "the service address does not answer"

    def fail(self, node: Node) -> None:
        """The node dies as a machine does: off the network, every process gone at once."""
        self.lab.cut(node.ns)
        for pid in netlab.pids(node.ns.name):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def served(self) -> bool:
        """An OPTIONS keepalive to the service address, from the internet, answered 200."""

        def probe() -> bool:
            peer = Peer((netlab.PBX_IP, 5060), ip=netlab.PROBE_IP)
            try:
                ask = peer.build("OPTIONS", f"sip:{netlab.PBX_IP}", user="probe")
                return code(peer.ask(ask, timeout=0.2)) == 200
            finally:
                peer.close()

        return self.lab.inet.call(probe)

    def wait_served(self, timeout: float) -> float | None:
        """Seconds until the service address answers (probed every 0.2 s), None if not."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.served():
                return time.monotonic() - start
        return None

    def stop(self) -> None:
        for node in self.nodes:
            node.pbx.stop()
