"""The buyer-notice drain: never two messages for one event and parcel.

Each notice goes through three short steps, none holding a lock across the gateway call:
1. claim: lock the row, render the text, choose medium and recipient, and write `sending` with our
   message id (sent as Aliyun OutId / Tencent SessionContext / the gateway's id) and a time to look
   it up, then commit. A worker dying after this point leaves a `sending` row, never a `pending` one.
2. call the gateway.
3. record the answer: sent → done; refused → failed; surely not sent → pending with backoff (failed
   after NOTICE_MAX_ATTEMPTS); unknown (timeout, reset after the request left) → stays `sending`.
A `sending` row that comes due is looked up with the gateway, never sent blindly: found → done; the
gateway says it never took it → pending again; no answer after NOTICE_MAX_LOOKUPS → `unknown`, an
alert, and a person decides in the admin (retry now or mark as sent)."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from datetime import timedelta

import phonenumbers
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from orderhub.masking import mask_phone
from orders.models import AWAITING_SHIPMENT_STATES, Platform
from shipping.models import AttemptKind, BuyerNotice, BuyerNoticeState, NoticeAttempt, NoticeMedium, NoticeTemplate
from shipping.notices import locks, selectors
from shipping.notices.backends import (
    Accepted,
    Lookup,
    LookupStatus,
    Message,
    NotSent,
    OutcomeUnknown,
    Refused,
    backend_for,
)
from shipping.notices.eta import estimate_delivery
from shipping.notices.rendering import TemplateError, render, render_vendor_params

logger = logging.getLogger(__name__)

UNKNOWN_ALERT_KEY = "notices:outcome-unknown"
BACKEND_ALERT_KEY = "notices:backend"


@dataclass
class DrainResult:
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    unknown: int = 0
    skipped: int = 0
    not_sent: int = 0
    outcomes: list[str] = field(default_factory=list)


def drain_buyer_notices(*, limit: int = 100) -> DrainResult:
    """Send or settle every due notice (the task after a scan and the one-minute sweep)."""
    result = DrainResult()
    for notice_id in selectors.due_notice_ids(limit=limit):
        outcome = notice_process(notice_id=notice_id)
        result.outcomes.append(outcome)
        if hasattr(result, outcome):
            setattr(result, outcome, getattr(result, outcome) + 1)
    return result


def notice_process(*, notice_id: int) -> str:
    """One notice, one step: send it, or look up the outcome of an earlier send. Returns what happened."""
    claim = _claim(notice_id=notice_id)
    if isinstance(claim, str):
        return claim
    notice, message, backend_name, looking_up = claim
    try:
        backend = backend_for(notice.medium, name=backend_name)
    except (ImportError, ValueError) as exc:
        return _backend_broken(notice_id=notice_id, error=str(exc), looking_up=looking_up)
    if looking_up:
        try:
            lookup = backend.lookup(message)
        except Exception as exc:  # a lookup must never fail the drain; it is asked again later
            logger.warning("notice %s: status lookup failed", notice_id, exc_info=True)
            lookup = Lookup(LookupStatus.UNKNOWN, answer={"error": str(exc)})
        return _record_lookup(notice_id=notice_id, out_id=message.out_id, lookup=lookup)
    try:
        answer: Accepted | Exception = backend.send(message)
    except (Refused, NotSent, OutcomeUnknown) as exc:
        answer = exc
    except Exception as exc:  # an unexpected error after the request may have left: treat as unknown
        logger.exception("notice %s: unexpected gateway error", notice_id)
        answer = OutcomeUnknown(f"{type(exc).__name__}: {exc}")
    return _record_send(notice_id=notice_id, out_id=message.out_id, answer=answer)


# ---- step 1: claim -----------------------------------------------------------------------------
def _claim(*, notice_id: int):
    now = timezone.now()
    with transaction.atomic():
        notice = locks.notice_for_update(notice_id=notice_id, skip_locked=True)
        if notice is None:
            return "busy"
        if notice.state not in (BuyerNoticeState.PENDING, BuyerNoticeState.SENDING) or notice.next_attempt_at > now:
            return "not_due"
        if notice.state == BuyerNoticeState.SENDING:
            # one lookup at a time: a concurrent sweep finds it not due
            notice.next_attempt_at = now + _in_flight_guard()
            notice.save(update_fields=["next_attempt_at"])
            return notice, _message(notice), notice.backend, True
        decided = _prepare(notice)
        if decided is not None:
            state, reason = decided
            _finish(notice, state=state, error=reason)
            NoticeAttempt.objects.create(notice=notice, kind=AttemptKind.SEND, outcome=state, error=reason)
            return {BuyerNoticeState.SKIPPED: "skipped", BuyerNoticeState.FAILED: "failed"}.get(state, "not_sent")
        notice.state = BuyerNoticeState.SENDING
        notice.out_id = notice.out_id or f"orderhub-bn-{notice.pk}"
        notice.sending_since = notice.sending_since or now
        notice.lookups = 0
        notice.next_attempt_at = now + _in_flight_guard()  # never looked up while the call is in flight
        notice.save()
        message = _message(notice)
        NoticeAttempt.objects.create(
            notice=notice,
            kind=AttemptKind.SEND,
            backend=notice.backend,
            outcome="sending",
            request=_logged_request(message),
        )
        return notice, message, notice.backend, False


def _in_flight_guard() -> timedelta:
    """Longer than any gateway call can last (the SDKs time out connect and read separately)."""
    return timedelta(seconds=settings.NOTICE_LOOKUP_DELAY_SECONDS + 3 * settings.NOTICE_HTTP_TIMEOUT)


def _prepare(notice: BuyerNotice) -> tuple[str, str] | None:
    """Render and address the notice; (final state, reason) when it will not be sent at all."""
    order = notice.order
    if notice.event == BuyerNotice.EVENT_DELAYED and order.state not in AWAITING_SHIPMENT_STATES:
        return BuyerNoticeState.SKIPPED, gettext("The order shipped or closed before the notice went out.")
    templates = {
        t.medium: t for t in NoticeTemplate.objects.filter(event=notice.event, enabled=True, medium__in=_mediums())
    }
    if not templates:
        return BuyerNoticeState.SKIPPED, gettext("No enabled notice template for the event %(event)s.") % {
            "event": notice.event
        }
    values = template_values(notice)
    refusals: list[str] = []
    for medium in _mediums():
        template = templates.get(medium)
        if template is None:
            continue
        try:
            text = render(template.body, values)
            params = render_vendor_params(template.vendor_params, values)
        except TemplateError as exc:
            return BuyerNoticeState.FAILED, gettext("Template %(template)s: %(error)s") % {
                "template": template,
                "error": exc.message,
            }
        # kept even when it cannot go out: ops see what the buyer would have read
        notice.medium, notice.template, notice.rendered_text = medium, template, text
        recipient, refusal = _recipient(order=order, medium=medium)
        if refusal:
            refusals.append(refusal)
            continue
        backend = _backend_name(medium)
        if backend not in ("database", "generic") and not template.vendor_template_code:
            return BuyerNoticeState.FAILED, gettext(
                "Template %(template)s has no vendor template code for %(backend)s."
            ) % {"template": template, "backend": backend}
        notice.recipient = recipient
        notice.backend = backend
        notice.gateway_answer = {"params": params}
        return None
    return BuyerNoticeState.NOT_SENT, "; ".join(refusals)


def _mediums() -> list[str]:
    return [m for m in settings.NOTICE_MEDIUMS if m in NoticeMedium.values]


def _backend_name(medium: str) -> str:
    return settings.NOTICE_SMS_BACKEND if medium == NoticeMedium.SMS else settings.NOTICE_WECHAT_BACKEND


def _recipient(*, order, medium: str) -> tuple[str, str]:
    """(recipient, "") or ("", why not): masked or unusable numbers are never sent to."""
    if medium == NoticeMedium.WECHAT:
        if order.channel.platform != Platform.MANUAL or not order.buyer_id:
            return "", gettext("not sent: no WeChat openid for this buyer")
        return order.buyer_id, ""
    phone = (order.receiver_phone or "").strip()
    if order.receiver_masked or "*" in phone:
        return "", gettext("not sent: no plaintext number")
    try:
        number = phonenumbers.parse(phone, "CN")
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        return "", gettext("not sent: no valid mobile number")
    if number.country_code == 86:
        return str(number.national_number), ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), ""


def template_values(notice: BuyerNotice) -> dict[str, str]:
    """The fixed dict a template is rendered from: plain strings, nothing callable."""
    order, shipment = notice.order, notice.shipment
    eta = estimate_delivery(shipment=shipment, order=order)
    return {
        "order_number": str(order.pk),
        "platform_order_id": order.external_id,
        "shop_name": order.channel.name,
        "carrier_name": shipment.carrier.name if shipment else "",
        "tracking_number": (shipment.parent_tracking_number or shipment.tracking_number) if shipment else "",
        "eta": eta.isoformat() if eta else "",
        "ship_by": timezone.localtime(order.ship_by).strftime("%Y-%m-%d %H:%M") if order.ship_by else "",
    }


def _message(notice: BuyerNotice) -> Message:
    params = [tuple(pair) for pair in (notice.gateway_answer or {}).get("params", [])]
    return Message(
        out_id=notice.out_id,
        medium=notice.medium,
        event=notice.event,
        recipient=notice.recipient,
        text=notice.rendered_text,
        template_code=notice.template.vendor_template_code if notice.template else "",
        params=params,
        order_ref=str(notice.order),
        first_sent_at=notice.sending_since or timezone.now(),
    )


def _logged_request(message: Message) -> dict:
    return {
        "id": message.out_id,
        "to": mask_phone(message.recipient) if message.medium == NoticeMedium.SMS else message.recipient[:6] + "…",
        "template": message.template_code,
        "params": message.params,
        "text": message.text,
    }


# ---- step 3: record ----------------------------------------------------------------------------
def _record_send(*, notice_id: int, out_id: str, answer: Accepted | Exception) -> str:
    with transaction.atomic():
        notice = locks.notice_for_update(notice_id=notice_id)
        if notice is None or notice.state != BuyerNoticeState.SENDING or notice.out_id != out_id:
            return "not_due"  # settled meanwhile (by a person): nothing to record over it
        kept = {"params": (notice.gateway_answer or {}).get("params", [])}
        if isinstance(answer, Accepted):
            notice.gateway_message_id = answer.message_id
            notice.gateway_answer = {**kept, "answer": answer.answer}
            _finish(notice, state=BuyerNoticeState.DONE, error="")
            outcome = "sent"
        elif isinstance(answer, Refused):
            notice.gateway_answer = {**kept, "answer": answer.answer}
            _finish(notice, state=BuyerNoticeState.FAILED, error=_error_text(answer))
            outcome = "failed"
        elif isinstance(answer, NotSent):
            outcome = _back_off(notice, error=_error_text(answer))
        else:  # OutcomeUnknown: stays `sending`, looked up when due
            notice.last_error = _error_text(answer)
            notice.next_attempt_at = timezone.now() + timedelta(seconds=settings.NOTICE_LOOKUP_DELAY_SECONDS)
            notice.save(update_fields=["last_error", "next_attempt_at"])
            outcome = "unknown"
        NoticeAttempt.objects.create(
            notice=notice,
            kind=AttemptKind.SEND,
            backend=notice.backend,
            outcome=outcome,
            response=getattr(answer, "answer", {}) or {},
            error="" if isinstance(answer, Accepted) else _error_text(answer),
        )
    return {"sent": "sent", "failed": "failed", "retrying": "retrying", "unknown": "unknown"}[outcome]


def _record_lookup(*, notice_id: int, out_id: str, lookup: Lookup) -> str:
    with transaction.atomic():
        notice = locks.notice_for_update(notice_id=notice_id)
        if notice is None or notice.state != BuyerNoticeState.SENDING or notice.out_id != out_id:
            return "not_due"
        kept = {"params": (notice.gateway_answer or {}).get("params", [])}
        if lookup.status == LookupStatus.SENT:
            notice.gateway_message_id = lookup.message_id or notice.gateway_message_id
            notice.gateway_answer = {**kept, "answer": lookup.answer}
            _finish(notice, state=BuyerNoticeState.DONE, error="")
            outcome = "sent"
        elif lookup.status == LookupStatus.NOT_SENT:
            outcome = _back_off(notice, error=gettext("The gateway never received it; sending again."))
        else:
            notice.lookups += 1
            if notice.lookups >= settings.NOTICE_MAX_LOOKUPS:
                _finish(
                    notice,
                    state=BuyerNoticeState.UNKNOWN,
                    error=gettext("The gateway cannot say whether it was sent: decide by hand (retry or mark sent)."),
                )
                _alert_unknown()
                outcome = "unknown"
            else:
                delay = settings.NOTICE_LOOKUP_DELAY_SECONDS * (2 ** min(notice.lookups, 8))
                notice.next_attempt_at = timezone.now() + timedelta(seconds=delay)
                notice.save(update_fields=["lookups", "next_attempt_at"])
                outcome = "unknown"
        NoticeAttempt.objects.create(
            notice=notice,
            kind=AttemptKind.LOOKUP,
            backend=notice.backend,
            outcome=lookup.status.value,
            response=lookup.answer,
        )
    return outcome


def _back_off(notice: BuyerNotice, *, error: str) -> str:
    """Surely not sent: pending again after an exponential, jittered delay, failed after the limit."""
    notice.attempts += 1
    if notice.attempts >= settings.NOTICE_MAX_ATTEMPTS:
        _finish(notice, state=BuyerNoticeState.FAILED, error=error)
        return "failed"
    base = 30 * (2 ** min(notice.attempts - 1, 10))
    notice.state = BuyerNoticeState.PENDING
    notice.next_attempt_at = timezone.now() + timedelta(seconds=base + random.uniform(0, base / 2))
    notice.last_error = error
    notice.sending_since = None
    notice.save(update_fields=["state", "attempts", "next_attempt_at", "last_error", "sending_since"])
    return "retrying"


def _finish(notice: BuyerNotice, *, state: str, error: str) -> None:
    notice.state = state
    notice.last_error = error
    notice.done_at = timezone.now() if state == BuyerNoticeState.DONE else notice.done_at
    notice.save()


def _backend_broken(*, notice_id: int, error: str, looking_up: bool) -> str:
    """The configured backend cannot be built (missing SDK, missing key): nothing was sent."""
    from orders.services import alert_raise

    alert_raise(
        key=BACKEND_ALERT_KEY,
        source="notices",
        message=gettext("Buyer notices cannot be sent: %(error)s") % {"error": error},
    )
    if looking_up:
        return "unknown"
    with transaction.atomic():
        notice = locks.notice_for_update(notice_id=notice_id)
        if notice is None or notice.state != BuyerNoticeState.SENDING:
            return "not_due"
        outcome = _back_off(notice, error=error)
        NoticeAttempt.objects.create(notice=notice, kind=AttemptKind.SEND, outcome=outcome, error=error)
    return outcome


def _alert_unknown() -> None:
    from orders.services import alert_raise

    count = BuyerNotice.objects.filter(state=BuyerNoticeState.UNKNOWN).count()
    alert_raise(
        key=UNKNOWN_ALERT_KEY,
        source="notices",
        message=gettext("%(n)d buyer notice(s) with an unknown outcome wait for a person to decide.") % {"n": count},
    )


def _error_text(exc: Exception) -> str:
    code = getattr(exc, "code", "")
    return f"{code}: {exc}" if code else str(exc)


# ---- a person decides ----------------------------------------------------------------------------
SETTLEABLE = (BuyerNoticeState.FAILED, BuyerNoticeState.UNKNOWN)


@transaction.atomic
def notice_retry(*, notice_id: int, user, note: str = "") -> bool:
    """Send a failed or unknown notice again now (a person checked it did not reach the buyer).
    A new message id, so a gateway that deduplicates by id does not swallow the resend."""
    notice = locks.notice_for_update(notice_id=notice_id)
    if notice is None or notice.state not in SETTLEABLE:
        return False
    previous = notice.state
    resends = NoticeAttempt.objects.filter(notice=notice, kind=AttemptKind.MANUAL, outcome="retry").count()
    notice.state = BuyerNoticeState.PENDING
    notice.attempts = 0
    notice.lookups = 0
    notice.sending_since = None
    notice.next_attempt_at = timezone.now()
    notice.out_id = f"orderhub-bn-{notice.pk}-r{resends + 1}"
    notice.last_error = ""
    notice.save()
    NoticeAttempt.objects.create(
        notice=notice, kind=AttemptKind.MANUAL, outcome="retry", user=user, request={"from": previous}, error=note
    )
    _settle_unknown_alert()
    transaction.on_commit(enqueue_drain)
    return True


@transaction.atomic
def notice_mark_sent(*, notice_id: int, user, note: str = "") -> bool:
    """Settle a failed or unknown notice as sent (a person saw it in the vendor's console)."""
    notice = locks.notice_for_update(notice_id=notice_id)
    if notice is None or notice.state not in SETTLEABLE:
        return False
    previous = notice.state
    _finish(notice, state=BuyerNoticeState.DONE, error="")
    NoticeAttempt.objects.create(
        notice=notice, kind=AttemptKind.MANUAL, outcome="marked_sent", user=user, request={"from": previous}, error=note
    )
    _settle_unknown_alert()
    return True


def _settle_unknown_alert() -> None:
    from orders.services import alert_resolve

    if not BuyerNotice.objects.filter(state=BuyerNoticeState.UNKNOWN).exists():
        alert_resolve(key=UNKNOWN_ALERT_KEY)


def enqueue_drain() -> None:
    """Ask a worker to drain soon; coalesced, and never failing the caller (the sweep catches up)."""
    if not getattr(settings, "NOTICE_ENQUEUE_TASKS", True):
        return
    from django.core.cache import cache
    from django_q.conf import Conf

    from shipping.tasks import NOTICE_DRAIN_ENQUEUED_KEY

    if not Conf.SYNC and not cache.add(NOTICE_DRAIN_ENQUEUED_KEY, 1, timeout=5):
        return
    try:
        from django_q.tasks import async_task

        async_task("shipping.tasks.drain_buyer_notices")
    except Exception:
        logger.warning("could not enqueue the buyer-notice drain; the sweep will catch up", exc_info=True)
