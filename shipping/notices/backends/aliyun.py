"""Aliyun SMS (dysmsapi 2017-05-25) through the vendor's SDK (alibabacloud-dysmsapi20170525, an optional
extra in requirements-sms.txt, imported only when this backend is chosen).

SendSms {PhoneNumbers, SignName, TemplateCode, TemplateParam (JSON), OutId} answers Code "OK" with a
BizId. It is not idempotent, so the SDK's own retries are off and an unknown outcome is settled with
QuerySendDetails {PhoneNumber, SendDate yyyyMMdd, PageSize, CurrentPage}: a detail carrying our OutId
means it was sent. Absence is not proof (details can lag), so it stays unknown (shared/channels/shipping.md §4)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.utils import timezone

from shipping.notices.backends.base import (
    Accepted,
    Lookup,
    LookupStatus,
    Message,
    NotSent,
    OutcomeUnknown,
    Refused,
    missing_extra,
    never_reached,
)

#: Code values that mean "not now" (flow control, the platform's own hiccup): nothing was sent (u:
#: from Aliyun's error-code list, isv.BUSINESS_LIMIT_CONTROL and isp.* are the documented ones)
_TRY_LATER = ("isv.BUSINESS_LIMIT_CONTROL", "isp.")


class AliyunSmsBackend:
    name = "aliyun"

    def __init__(
        self,
        *,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
        endpoint: str,
        protocol: str,
        timeout: float,
    ) -> None:
        try:
            from alibabacloud_dysmsapi20170525.client import Client
            from alibabacloud_tea_openapi.utils_models import Config
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise missing_extra("Aliyun SMS", "alibabacloud-dysmsapi20170525") from exc
        if not (access_key_id and access_key_secret and sign_name):
            raise ValueError(
                "ALIYUN_SMS_ACCESS_KEY_ID, ALIYUN_SMS_ACCESS_KEY_SECRET and ALIYUN_SMS_SIGN_NAME are needed."
            )
        self.sign_name = sign_name
        millis = int(timeout * 1000)
        self.client = Client(
            Config(
                access_key_id=access_key_id,
                access_key_secret=access_key_secret,
                endpoint=endpoint,
                protocol=protocol,
                read_timeout=millis,
                connect_timeout=millis,
            )
        )

    def _runtime(self):
        from darabonba.runtime import RuntimeOptions

        return RuntimeOptions(autoretry=False, max_attempts=0)

    def send(self, message: Message) -> Accepted:
        from alibabacloud_dysmsapi20170525 import models

        request = models.SendSmsRequest(
            phone_numbers=message.recipient,
            sign_name=self.sign_name,
            template_code=message.template_code,
            template_param=json.dumps(dict(message.params), ensure_ascii=False),
            out_id=message.out_id,
        )
        try:
            response = self.client.send_sms_with_options(request, self._runtime())
        except Exception as exc:
            raise _classify(exc) from exc
        body = response.body.to_map() if response.body else {}
        code = str(body.get("Code") or "")
        if code == "OK":
            return Accepted(message_id=str(body.get("BizId") or ""), answer=body)
        if code.startswith(_TRY_LATER):
            raise NotSent(str(body.get("Message") or code), code=code, answer=body)
        raise Refused(str(body.get("Message") or code), code=code, answer=body)

    def lookup(self, message: Message) -> Lookup:
        from alibabacloud_dysmsapi20170525 import models

        days = {timezone.localdate(message.first_sent_at), timezone.localdate()}
        days.add(timezone.localdate(message.first_sent_at + timedelta(minutes=5)))  # a send near midnight
        answers: list[dict[str, Any]] = []
        for day in sorted(days):
            page = 1
            while True:
                request = models.QuerySendDetailsRequest(
                    phone_number=message.recipient, send_date=day.strftime("%Y%m%d"), page_size=50, current_page=page
                )
                try:
                    response = self.client.query_send_details_with_options(request, self._runtime())
                except Exception as exc:
                    return Lookup(LookupStatus.UNKNOWN, answer={"error": str(exc)})
                body = response.body.to_map() if response.body else {}
                answers.append(body)
                if body.get("Code") != "OK":
                    return Lookup(LookupStatus.UNKNOWN, answer=body)
                details = (body.get("SmsSendDetailDTOs") or {}).get("SmsSendDetailDTO") or []
                for detail in details:
                    if detail.get("OutId") == message.out_id:
                        return Lookup(LookupStatus.SENT, answer=detail)
                if page * 50 >= int(body.get("TotalCount") or 0):
                    break
                page += 1
        return Lookup(LookupStatus.UNKNOWN, answer={"looked_up": answers})


def _classify(exc: Exception) -> Exception:
    """The SDK's errors: an HTTP error answer (4xx refused, 5xx/throttled not sent) or a transport one."""
    status = getattr(exc, "status_code", None)
    code = str(getattr(exc, "code", "") or "")
    data = getattr(exc, "data", None)
    answer = data if isinstance(data, dict) else {}
    if status is not None and 400 <= int(status) < 500 and int(status) != 429:
        return Refused(str(exc), code=code, answer=answer)
    if status is not None and (int(status) == 429 or code.startswith(_TRY_LATER)):
        return NotSent(str(exc), code=code, answer=answer)
    if never_reached(exc):
        return NotSent(str(exc), code=code, answer=answer)
    return OutcomeUnknown(str(exc), code=code, answer=answer)
