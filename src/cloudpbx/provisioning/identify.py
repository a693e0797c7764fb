"""Which vendor's file a request asks for, and whether the phone's User-Agent agrees. Django-free.

Pure functions: the view applies their answers. The MAC in the file name identifies the device;
a MAC in the User-Agent must be the same (case and separators ignored), and a User-Agent that
names another vendor than the file's is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from cloudpbx.provisioning.vendors import VENDORS
from cloudpbx.provisioning.vendors.base import FileKind, FileRule, PhoneModel, UserAgent, Vendor


@dataclass(frozen=True)
class FileMatch:
    kind: FileKind
    # (vendor, rule) pairs whose pattern matches: several vendors may share a file name
    # (``<mac>.xml`` is Snom's and Gigaset's); the device row or the User-Agent decides.
    candidates: tuple[tuple[Vendor, FileRule], ...]
    mac: str | None  # 12 lowercase hex digits
    model: PhoneModel | None  # common files: the model the name designates

    @property
    def vendors(self) -> tuple[Vendor, ...]:
        return tuple(vendor for vendor, _rule in self.candidates)

    def rule_of(self, vendor: Vendor) -> FileRule:
        return next(rule for v, rule in self.candidates if v.key == vendor.key)


@dataclass(frozen=True)
class Identification:
    vendors: tuple[Vendor, ...]  # still possible after the User-Agent check
    user_agent: UserAgent | None
    refusal: str | None  # "user_agent_vendor" | "user_agent_mac" | None


def match_file(filename: str) -> FileMatch | None:
    """The file rules matching a requested file name (no directories), or None (→ 404)."""
    found: list[tuple[Vendor, FileRule]] = []
    mac: str | None = None
    model: PhoneModel | None = None
    kind: FileKind | None = None
    for vendor in VENDORS.values():
        for rule in vendor.files:
            hit = rule.regex.fullmatch(filename)
            if hit is None:
                continue
            groups = hit.groupdict()
            if rule.kind == "common":
                model = _common_model(vendor, groups)
                if model is None:
                    continue  # a model we do not serve: 404
            if groups.get("mac"):
                mac = groups["mac"].lower()
            kind = rule.kind
            found.append((vendor, rule))
            break
    if not found or kind is None:
        return None
    return FileMatch(kind=kind, candidates=tuple(found), mac=mac, model=model)


def _common_model(vendor: Vendor, groups: dict[str, str]) -> PhoneModel | None:
    if groups.get("model"):
        return vendor.model_by_name(groups["model"])
    if groups.get("code"):
        return vendor.model_by_code(groups["code"])
    return None


def read_user_agent(user_agent: str) -> tuple[Vendor, UserAgent] | None:
    for vendor in VENDORS.values():
        parsed = vendor.parse_user_agent(user_agent)
        if parsed is not None:
            return vendor, parsed
    return None


def identify(match: FileMatch, user_agent: str) -> Identification:
    parsed = read_user_agent(user_agent) if user_agent else None
    if parsed is None:
        return Identification(vendors=match.vendors, user_agent=None, refusal=None)
    vendor, agent = parsed
    if vendor not in match.vendors:
        return Identification(vendors=(), user_agent=agent, refusal="user_agent_vendor")
    if agent.mac is not None and agent.mac != match.mac:
        return Identification(vendors=(), user_agent=agent, refusal="user_agent_mac")
    return Identification(vendors=(vendor,), user_agent=agent, refusal=None)
