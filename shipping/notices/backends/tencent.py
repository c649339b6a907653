"""Tencent Cloud SMS (SendSms 2021-01-11, TC3-HMAC-SHA256) through the vendor's SDK
(tencentcloud-sdk-python-sms, an optional extra in requirements-sms.txt, imported only when chosen).

SendSms {PhoneNumberSet, SmsSdkAppId, TemplateId, SignName, TemplateParamSet, SessionContext} answers a
SendStatusSet with one {Code "Ok", SerialNo, SessionContext} per number. It is not idempotent; our id
rides in SessionContext, and an unknown outcome is settled with PullSmsSendStatusByPhoneNumber
{BeginTime, EndTime, Offset, Limit, PhoneNumber, SmsSdkAppId}: a receipt carrying our SessionContext
means it was sent. A receipt may arrive late, so absence stays unknown. The SDK retries nothing by
default (no retryer in the client profile), which is what a non-idempotent call needs."""

from __future__ import annotations

from datetime import timedelta

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

#: error codes that mean "not now": nothing was sent (u: Tencent's error-code list)
_TRY_LATER = ("RequestLimitExceeded", "LimitExceeded.DeliveryFrequencyLimit", "InternalError.RequestTimeException")


class TencentSmsBackend:
    name = "tencent"

    def __init__(
        self,
        *,
        secret_id: str,
        secret_key: str,
        sdk_app_id: str,
        sign_name: str,
        region: str,
        endpoint: str,
        protocol: str,
        timeout: float,
    ) -> None:
        try:
            from tencentcloud.common import credential
            from tencentcloud.common.profile.client_profile import ClientProfile
            from tencentcloud.common.profile.http_profile import HttpProfile
            from tencentcloud.sms.v20210111 import sms_client
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise missing_extra("Tencent Cloud SMS", "tencentcloud-sdk-python-sms") from exc
        if not (secret_id and secret_key and sdk_app_id and sign_name):
            raise ValueError(
                "TENCENT_SMS_SECRET_ID, TENCENT_SMS_SECRET_KEY, TENCENT_SMS_SDK_APP_ID and TENCENT_SMS_SIGN_NAME "
                "are needed."
            )
        self.sdk_app_id = sdk_app_id
        self.sign_name = sign_name
        http = HttpProfile(protocol=protocol, endpoint=endpoint, reqTimeout=int(max(1, timeout)))
        profile = ClientProfile(signMethod="TC3-HMAC-SHA256", httpProfile=http)
        self.client = sms_client.SmsClient(credential.Credential(secret_id, secret_key), region, profile)

    def send(self, message: Message) -> Accepted:
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
        from tencentcloud.sms.v20210111 import models

        request = models.SendSmsRequest()
        request.PhoneNumberSet = [_e164(message.recipient)]
        request.SmsSdkAppId = self.sdk_app_id
        request.SignName = self.sign_name
        request.TemplateId = message.template_code
        request.TemplateParamSet = [value for _name, value in message.params]
        request.SessionContext = message.out_id
        try:
            response = self.client.SendSms(request)
        except TencentCloudSDKException as exc:
            raise _classify(exc) from exc
        except Exception as exc:  # anything else after the request may have left
            raise (NotSent(str(exc)) if never_reached(exc) else OutcomeUnknown(str(exc))) from exc
        answer = _as_dict(response)
        statuses = answer.get("SendStatusSet") or []
        status = statuses[0] if statuses else {}
        code = str(status.get("Code") or "")
        if code == "Ok":
            return Accepted(message_id=str(status.get("SerialNo") or ""), answer=answer)
        if code.startswith(_TRY_LATER):
            raise NotSent(str(status.get("Message") or code), code=code, answer=answer)
        if not code:
            raise OutcomeUnknown("no send status in the answer", answer=answer)
        raise Refused(str(status.get("Message") or code), code=code, answer=answer)

    def lookup(self, message: Message) -> Lookup:
        from tencentcloud.sms.v20210111 import models

        request = models.PullSmsSendStatusByPhoneNumberRequest()
        request.BeginTime = int((message.first_sent_at - timedelta(minutes=5)).timestamp())
        request.EndTime = int(timezone.now().timestamp())
        request.Offset = 0
        request.Limit = 100
        request.PhoneNumber = _e164(message.recipient)
        request.SmsSdkAppId = self.sdk_app_id
        try:
            response = self.client.PullSmsSendStatusByPhoneNumber(request)
        except Exception as exc:
            return Lookup(LookupStatus.UNKNOWN, answer={"error": str(exc)})
        answer = _as_dict(response)
        for receipt in answer.get("PullSmsSendStatusSet") or []:
            if receipt.get("SessionContext") == message.out_id:
                return Lookup(LookupStatus.SENT, str(receipt.get("SerialNo") or ""), receipt)
        return Lookup(LookupStatus.UNKNOWN, answer=answer)


def _e164(number: str) -> str:
    return number if number.startswith("+") else f"+86{number}"


def _as_dict(response) -> dict:
    import json

    return json.loads(response.to_json_string())


def _classify(exc) -> Exception:
    code = str(exc.get_code() or "")
    answer = {"code": code, "message": str(getattr(exc, "message", "") or exc), "request_id": exc.get_request_id()}
    if code == "ClientNetworkError":
        return (
            NotSent(str(exc), code=code, answer=answer)
            if never_reached(exc)
            else OutcomeUnknown(str(exc), code=code, answer=answer)
        )
    if code.startswith(_TRY_LATER):
        return NotSent(str(exc), code=code, answer=answer)
    if code.startswith(("InternalError", "ServerNetworkError")):
        return OutcomeUnknown(str(exc), code=code, answer=answer)
    return Refused(str(exc), code=code, answer=answer)
