"""The PBX as ``cloudpbx run`` starts it (rtpengine and Kamailio under the supervisor), inside
a network namespace of :mod:`netlab`, and the lab's phones (baresip) that register with it."""

from __future__ import annotations

import dataclasses
from functools import partial
from pathlib import Path

from django.conf import settings
from django.db import connection, connections

from cloudpbx.core.supervisor import Supervisor
from cloudpbx.extensions.models import Extension
from cloudpbx.sip import kamailio, rpc, rtpengine
from cloudpbx.terminals.services import create_terminal

from ..processes import database_url
from . import netlab
from .softphone import TONES, Softphone

MEDIA_TIMEOUT = 5


class LabPbx:
    """rtpengine and Kamailio, started as ``cloudpbx run`` starts them, inside the lab's
    internet namespace on the PBX's public address; or, with ``node``, inside that cluster
    node's namespace: SIP on the service address, media on the node's own."""

    def __init__(
        self, lab: netlab.Lab, run_dir: Path, node: netlab.Namespace | None = None, **changes
    ) -> None:
        self.lab = lab
        self.ns = node or lab.inet
        media_address = netlab.PBX_IP if node is None else netlab.node_ip(lab.nodes.index(node) + 1)
        run_dir.mkdir(parents=True)
        self.config = dataclasses.replace(
            settings.CONFIG,
            data_dir=run_dir,
            database_url=database_url(),
            sip_listen=netlab.PBX_IP,
            sip_domain=netlab.PBX_IP,
            sip_realm=settings.CLOUDPBX_SIP_REALM,
            sip_port=5060,
            sip_rpc_port=5071,
            sip_children=2,
            sip_ring_timeout=15,
            sip_shm_mb=64,
            media_address=media_address,
            media_ng_port=2223,
            media_port_min=30000,
            media_port_max=30199,
            media_timeout=MEDIA_TIMEOUT,
            **changes,
        )
        self.run_dir = run_dir
        self.children = [
            rtpengine.child(self.config, run_dir, output=(run_dir / "rtpengine.log").open("w")),
            kamailio.child(self.config, run_dir, output=(run_dir / "kamailio.log").open("w")),
        ]
        for child in self.children:
            child.command = self.ns.prefix() + child.command
            child.ready = self._inside(child.ready)
        self.supervisor = Supervisor(self.children)

    def _inside(self, check):
        return lambda: self.ns.call(check)

    def start(self) -> None:
        if connection.vendor == "postgresql":
            self.ns.forward_tcp(int(connection.settings_dict["PORT"]), self.lab.stop)
        self.supervisor.start()

    def stop(self) -> None:
        self.supervisor.stop()

    def rpc(self, method: str, *params):
        url = kamailio.rpc_url(self.config)
        token = rpc.token(self.config.secret_key)
        return self.ns.call(lambda: rpc.call(url, method, *params, token=token))

    def media_sessions(self) -> list[str]:
        return self.ns.call(lambda: rtpengine.calls(self.config))

    def query(self, call_id: str):
        return self.ns.call(lambda: rtpengine.query(self.config, call_id))

    def log(self, name: str) -> str:
        return (self.run_dir / f"{name}.log").read_text(errors="replace")


def ext(tenant, number):
    return Extension.objects.get(tenant=tenant, number=number)


def terminal(tenant, name, rings=(), **values):
    return create_terminal(
        tenant, name=name, type="app", generate_credentials=True,
        ringing_extensions=[ext(tenant, n) for n in rings], **values,
    )  # fmt: skip


def office_phone(lab, number, account, tmp_path, transport="udp", answer=True):
    outbound = f"sip:{netlab.PBX_IP}:5060" + (";transport=tcp" if transport == "tcp" else "")
    line = (
        f"<sip:{account.sip_username}@{netlab.PBX_IP}>;auth_pass={account.sip_password}"
        f';outbound="{outbound}";regint=120' + (";answermode=auto" if answer else "")
    )
    phone = Softphone(
        partial(lab.spawn, lab.office(number)),
        tmp_path / f"office{number}",
        line,
        TONES[number],
        netlab.PHONE_IP,
    )
    phone.process.wait_for(r"200 OK", timeout=15)  # registered through the NAT router
    return phone


def closing_connections(function, *args):
    """Call ``function`` and close the database connections its thread opened (a thread in a
    namespace has its own; left open, the test database cannot be dropped)."""
    try:
        return function(*args)
    finally:
        connections.close_all()
