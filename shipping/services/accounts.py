"""E-waybill accounts: branches and remaining quota read from the platform, a low quota raised as an
alert; carriers' platform codes refreshed from the platforms' carrier lists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from orders.channels import get_adapter
from orders.channels.base import ChannelError, WaybillBranch
from shipping import locks
from shipping.errors import AccountRefreshFailed
from shipping.models import WaybillAccount

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


def quota_alert_key(account_id: int) -> str:
    return f"shipping:quota:{account_id}"


def waybill_account_refresh(*, account_id: int, actor: AbstractBaseUser | None = None) -> WaybillAccount:
    """Read the account's branch (name, sender address the platform approved, remaining quota) through
    the platform's search/subscribe API and store it. A quota under the account's threshold raises an
    alert (one open alert per account, resolved when a refresh finds enough again)."""
    account = WaybillAccount.objects.select_related("channel", "carrier").get(pk=account_id)
    if account.channel.platform == "manual":
        raise AccountRefreshFailed(gettext("A manual shop has no e-waybill service to ask."))
    try:
        branches = get_adapter(account.channel).waybill_branches(
            carrier_code=account.carrier.code_on(account.channel.platform)
        )
    except ChannelError as exc:
        raise AccountRefreshFailed(
            gettext("The platform did not tell the account's branches: %(reason)s") % {"reason": exc}
        ) from exc
    branch = _matching_branch(account, branches)
    return _store_branch(account_id=account_id, branch=branch, actor=actor)


def _matching_branch(account: WaybillAccount, branches: list[WaybillBranch]) -> WaybillBranch:
    if account.branch_code:
        for branch in branches:
            if branch.branch_code == account.branch_code:
                return branch
    elif len(branches) >= 1:
        return branches[0]
    known = ", ".join(b.branch_code for b in branches) or gettext("none")
    raise AccountRefreshFailed(
        gettext("Branch %(branch)s is not among the subscribed branches (%(known)s).")
        % {"branch": account.branch_code or "—", "known": known}
    )


@transaction.atomic
def _store_branch(*, account_id: int, branch: WaybillBranch, actor: AbstractBaseUser | None) -> WaybillAccount:
    from orders.services import alert_raise, alert_resolve

    account = locks.account_for_update(account_id=account_id)
    account.branch_code = branch.branch_code
    account.branch_name = branch.branch_name or account.branch_name
    account.quota = branch.quota
    account.quota_checked_at = timezone.now()
    sender = branch.sender
    if sender is not None:
        account.sender_name = sender.name or account.sender_name
        account.sender_mobile = sender.mobile or account.sender_mobile
        account.sender_province = sender.province or account.sender_province
        account.sender_city = sender.city or account.sender_city
        account.sender_district = sender.district or account.sender_district
        account.sender_address = sender.address or account.sender_address
    if actor is not None:
        account._history_user = actor
    account.save()
    key = quota_alert_key(account.pk)
    if account.quota_low:
        alert_raise(
            key=key,
            source="shipping",
            message=gettext("E-waybill account %(account)s has %(quota)s numbers left (alert below %(limit)s).")
            % {"account": str(account), "quota": account.quota, "limit": account.quota_alert_below},
            channel=account.channel,
        )
    else:
        alert_resolve(key=key)
    return account


@dataclass
class CarrierLoadReport:
    platform: str
    updated: list[str]  # OrderHub carrier codes whose platform code changed
    unmatched: list[str]  # the platform's carriers no OrderHub carrier matched by name


def _names_match(ours: str, theirs: str) -> bool:
    ours, theirs = ours.replace(" ", ""), theirs.replace(" ", "")
    chinese = ours.split("(")[0]
    return bool(theirs) and (theirs in ours or (theirs.startswith(chinese[:2]) and chinese[:2] in theirs))


@transaction.atomic
def carriers_load_from_platform(*, channel_id: int, actor: AbstractBaseUser | None = None) -> CarrierLoadReport:
    """Refresh each carrier's code on the channel's platform from the platform's carrier list (its API
    where it has one), matched by carrier name. Codes ops typed in stay when the platform lists nothing."""
    from orders.models import Channel

    channel = Channel.objects.get(pk=channel_id)
    try:
        listed = get_adapter(channel).carriers()
    except ChannelError as exc:
        raise AccountRefreshFailed(
            gettext("The platform did not give its carrier list: %(reason)s") % {"reason": exc}
        ) from exc
    key = "taobao" if channel.platform == "tmall" else channel.platform
    carriers = locks.carriers_for_update()
    report = CarrierLoadReport(platform=key, updated=[], unmatched=[])
    for entry in listed:
        match = next((c for c in carriers if _names_match(c.name, entry.name)), None)
        if match is None:
            report.unmatched.append(f"{entry.code} {entry.name}")
            continue
        if str(match.platform_codes.get(key, "")) != str(entry.code):
            match.platform_codes = {**match.platform_codes, key: str(entry.code)}
            if actor is not None:
                match._history_user = actor
            match.save(update_fields=["platform_codes"])
            report.updated.append(match.code)
    return report
