"""The only module that touches Kamailio's ``KSR``: reads the request, asks
:mod:`cloudpbx.sip.routing` for a decision and applies it.

Loaded inside Kamailio (see :mod:`cloudpbx.sip.kemi`); one :class:`Router` per worker process.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
from dataclasses import dataclass
from typing import Any

import KSR  # type: ignore[import-not-found]  # provided by Kamailio's app_python3

from cloudpbx.config import Config
from cloudpbx.core import crypto
from cloudpbx.sip import routing
from cloudpbx.sip.directory import Account, Database, Directory, Trunk
from cloudpbx.sip.numberplan import CountryNumberPlan

logger = logging.getLogger("cloudpbx.sip")

NAT_FLAG = 6  # usrloc nat_bflag in kamailio.cfg
TRUNK_AUTH_FLAG = 8  # the carrier's challenge was answered once for this transaction
IDENTITY_HEADERS = ("P-Asserted-Identity", "P-Preferred-Identity", "Privacy", "Remote-Party-ID")
# Return codes of auth's pv_auth_check that mean "ask again", not "wrong password".
STALE_NONCE = (-4, -6, -7)
OK = 1


@dataclass(frozen=True)
class Limits:
    auth_failures_per_ip: int
    auth_failures_per_user: int
    flood_exempt: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


def _increment(table: str, key: str) -> int:
    """Count in shared memory; the entry expires with the table's autoexpire."""
    if KSR.htable.sht_get(table, key) is None:
        KSR.htable.sht_seti(table, key, 1)
        return 1
    return int(KSR.htable.sht_inc(table, key))


def pv(name: str) -> str:
    value = KSR.pv.get(name)
    return "" if value is None else str(value)


class Router:
    def __init__(self, config: Config) -> None:
        self.realm = config.sip_realm
        self.domain = config.sip_domain
        self.rpc_port = config.sip_rpc_port
        self.directory = Directory(Database(config.database_url), decrypt=crypto.decrypt)
        self.plan = CountryNumberPlan()
        self.limits = Limits(
            auth_failures_per_ip=config.sip_auth_failures_per_ip,
            auth_failures_per_user=config.sip_auth_failures_per_user,
            flood_exempt=tuple(
                ipaddress.ip_network(network, strict=False) for network in config.sip_flood_exempt
            ),
        )
        # Unknown users are checked against a random HA1: the same work and the same answer
        # as a wrong password, so usernames cannot be enumerated.
        self.decoy_ha1 = secrets.token_hex(16)

    # --- entry points called by Kamailio -------------------------------------------------------

    def sync_directory(self) -> None:
        self.directory.sync(KSR.htable.sht_get("cache", "gen"))

    def child_init(self, rank: int) -> int:
        # Connections are opened lazily per process (see Database.rows), nothing to do here.
        return 0

    def ksr_request_route(self, msg: Any) -> int:
        try:
            return self.route_request()
        except Exception:
            # Fail closed with an answer, so phones do not retransmit into a broken router.
            logger.exception("routing failed for %s from %s", pv("$rm"), pv("$si"))
            if not KSR.is_ACK():
                KSR.sl.sl_send_reply(500, "Server Error")
            return OK

    def route_request(self) -> int:
        source = pv("$si")
        # Returning without a reply drops the request: a banned address learns nothing.
        if KSR.htable.sht_get("ipban", source) is not None:
            return OK
        if not self._within_flood_limit(source):
            KSR.htable.sht_seti("ipban", source, 1)
            logger.warning("cloudpbx-sip banned ip=%s reason=flood", source)
            return OK
        if KSR.maxfwd.process_maxfwd(10) < 0:
            KSR.sl.sl_send_reply(483, "Too Many Hops")
            return OK
        if KSR.sanity.sanity_check(1511, 7) < 0:
            return OK
        self.sync_directory()

        if KSR.is_CANCEL():
            if KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
            return OK
        if KSR.siputils.has_totag() > 0:
            return self.route_in_dialog()
        if KSR.tm.t_check_trans() == 0:
            return OK  # retransmission absorbed by tm
        if KSR.is_ACK():
            return OK
        if KSR.is_REGISTER():
            return self.route_register(source)
        if KSR.is_OPTIONS() and not pv("$rU"):
            KSR.sl.sl_send_reply(200, "OK")  # keepalive
            return OK
        if KSR.is_INVITE():
            return self.route_invite(source)
        account = self.authenticate(source)
        if account is not None:
            KSR.sl.sl_send_reply(405, "Method Not Allowed")
        return OK

    def ksr_failure_ring(self, msg: Any) -> int:
        if KSR.tm.t_is_canceled() > 0:
            return OK
        if KSR.tm.t_check_status("408") > 0 or KSR.tm.t_branch_timeout() > 0:
            # Nobody answered within the ring timeout.
            KSR.tm.t_send_reply(480, "Temporarily Unavailable")
        return OK

    def ksr_failure_trunk(self, msg: Any) -> int:
        """The carrier asks for credentials: answer its challenge once with the trunk's."""
        if KSR.tm.t_is_canceled() > 0 or KSR.tm.t_check_status("401|407") < 0:
            return OK
        # Replies are handled by whichever worker receives them: it may not have seen a
        # request since the portal's last change.
        self.sync_directory()
        trunk = self.directory.default_trunk()
        if trunk is None or not trunk.auth_username or KSR.isflagset(TRUNK_AUTH_FLAG):
            return OK  # nothing to answer with, or already answered once: pass the 40x on
        KSR.setflag(TRUNK_AUTH_FLAG)
        KSR.pv.sets("$avp(trunk_user)", trunk.auth_username)
        KSR.pv.sets("$avp(trunk_password)", trunk.auth_password)
        KSR.pv.sets("$avp(trunk_realm)", "")  # the realm the carrier challenges with
        if KSR.uac.uac_auth() > 0:
            KSR.tm.t_on_failure("ksr_failure_trunk")
            KSR.tm.t_relay()
        return OK

    def ksr_branch_ring(self, msg: Any) -> int:
        """Each branch of a call group gets its identity: colleagues see the internal one,
        external phones (through the trunk) the trunk one. Set here, once per branch, because
        two From rewrites of one request would collide."""
        ring = self._ring
        if ring is None:
            return OK
        trunk = self.directory.default_trunk()
        if trunk is not None and pv("$rd") == trunk.gateway and ring.trunk_identity:
            self.set_identity(ring.trunk_identity, trunk)
        else:
            self.set_identity(ring.identity, None)
        return OK

    def ksr_xhttp_event(self, msg: Any, name: str = "") -> int:
        """JSON-RPC over HTTP, only on the loopback RPC port."""
        if int(pv("$Rp") or 0) != self.rpc_port or not ipaddress.ip_address(pv("$si")).is_loopback:
            KSR.xhttp.xhttp_reply(403, "Forbidden", "text/plain", "")
            return OK
        KSR.jsonrpcs.dispatch()
        return OK

    # --- REGISTER ------------------------------------------------------------------------------

    def route_register(self, source: str) -> int:
        account = self.authenticate(source)
        if account is None:
            return OK
        if KSR.nathelper.nat_uac_test(19) > 0:
            KSR.nathelper.fix_nated_register()
            KSR.setbflag(NAT_FLAG)
        if KSR.registrar.save("location", 0) < 0:
            KSR.sl.sl_reply_error()
        return OK

    # --- INVITE ------------------------------------------------------------------------------

    def route_invite(self, source: str) -> int:
        trunk = self.directory.trunk_for_source(source)
        if trunk is not None:
            decision = routing.route_inbound(pv("$rU"), self.directory, pv("$fU"))
        else:
            account = self.authenticate(source)
            if account is None:
                return OK
            decision = routing.route_call(account.caller, pv("$rU"), self.directory, self.plan)
        return self.apply(decision)

    def apply(self, decision: routing.Decision) -> int:
        if isinstance(decision, routing.Reject):
            KSR.sl.sl_send_reply(decision.code, decision.reason)
            return OK
        for header in IDENTITY_HEADERS:
            KSR.hdr.remove(header)
        KSR.dialog.dlg_manage()
        KSR.rr.record_route()
        if isinstance(decision, routing.ToTrunk):
            trunk = self.directory.default_trunk()
            if trunk is None:
                KSR.sl.sl_send_reply(503, "No Trunk Configured")
                return OK
            KSR.pv.sets("$ru", trunk.uri(decision.number))
            self.set_identity(decision.identity, trunk)
            KSR.tm.t_on_failure("ksr_failure_trunk")
        else:
            if not self.load_targets(decision):
                KSR.sl.sl_send_reply(480, "Temporarily Unavailable")
                return OK
            self._ring = decision
            KSR.tm.t_on_branch("ksr_branch_ring")
            KSR.tm.t_on_failure("ksr_failure_ring")
        if KSR.tm.t_relay() < 0:
            KSR.sl.sl_reply_error()
        return OK

    # The call group being forked by this worker, read by its branch routes during t_relay.
    _ring: routing.Ring | None = None

    def load_targets(self, ring: routing.Ring) -> bool:
        """Put every registered contact and every external number into the destination set."""
        trunk = self.directory.default_trunk()
        uris = []
        first = True
        for target in ring.targets:
            if target.kind == "sip":
                aor = f"sip:{target.address}@{self.domain}"
                if first:
                    KSR.pv.sets("$ru", aor)
                    if KSR.registrar.lookup("location") > 0:
                        first = False
                else:
                    KSR.registrar.lookup_to_dset("location", aor)
            elif trunk is not None:
                uris.append(trunk.uri(target.address))
        for uri in uris:
            if first:
                KSR.pv.sets("$ru", uri)
                first = False
            else:
                KSR.corex.append_branch_uri(uri)
        return not first

    def set_identity(self, identity: routing.Identity, trunk: Trunk | None) -> None:
        display = identity.from_display.replace('"', "").replace("\\", "")
        quoted = f'"{display}"' if display else ""
        user = identity.from_user
        style = trunk.header_style if trunk is not None else "pai"
        if identity.privacy:
            uri = f"sip:{routing.ANONYMOUS_URI_USER}@anonymous.invalid"
        elif style == "ppi" and identity.asserted:
            uri = f"sip:{identity.asserted}@{self.domain}"
        else:
            uri = f"sip:{user}@{self.domain}"
        KSR.uac.uac_replace_from(quoted, uri)
        if trunk is None:
            return
        if identity.asserted:
            KSR.hdr.append(f"P-Asserted-Identity: <sip:{identity.asserted}@{self.domain}>\r\n")
        if style == "ppi" and not identity.privacy and user:
            KSR.hdr.append(f"P-Preferred-Identity: <sip:{user}@{self.domain}>\r\n")
        if identity.privacy:
            KSR.hdr.append("Privacy: id\r\n")

    # --- in dialog ---------------------------------------------------------------------------

    def route_in_dialog(self) -> int:
        if KSR.rr.loose_route() > 0:
            KSR.tm.t_relay()
            return OK
        if KSR.is_ACK():
            if KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
            return OK
        KSR.sl.sl_send_reply(404, "Not Here")
        return OK

    # --- authentication and bans -------------------------------------------------------------

    def authenticate(self, source: str) -> Account | None:
        """Digest-check the request; on any failure answer with a fresh challenge."""
        header = "Authorization" if KSR.is_REGISTER() else "Proxy-Authorization"
        if KSR.hdr.is_present(header) < 0:
            KSR.auth.auth_challenge(self.realm, 1)
            return None
        username = pv("$au")
        account = self.directory.account(username) if username else None
        banned = KSR.htable.sht_get("userban", username) is not None
        ha1 = account.ha1 if account is not None and not banned else self.decoy_ha1
        result = KSR.auth.pv_auth_check(self.realm, ha1, 1, 1)
        if result > 0 and account is not None and not banned:
            KSR.auth.consume_credentials()
            return account
        if result not in STALE_NONCE:
            self.count_failure(source, username)
        KSR.auth.auth_challenge(self.realm, 1)
        return None

    def count_failure(self, source: str, username: str) -> None:
        if _increment("authfail", f"ip:{source}") > self.limits.auth_failures_per_ip:
            KSR.htable.sht_seti("ipban", source, 1)
            logger.warning("cloudpbx-sip banned ip=%s reason=auth-failures", source)
        if username and (
            _increment("authfail", f"user:{username}") > self.limits.auth_failures_per_user
        ):
            KSR.htable.sht_seti("userban", username, 1)
            logger.warning(
                "cloudpbx-sip banned user=%s ip=%s reason=auth-failures", username, source
            )

    def _within_flood_limit(self, source: str) -> bool:
        if self.limits.flood_exempt:
            address = ipaddress.ip_address(source)
            if any(address in network for network in self.limits.flood_exempt):
                return True
        return bool(KSR.pike.pike_check_req() >= 0)
