"""WeChat mini-program subscribe messages: POST {api}/cgi-bin/message/subscribe/send?access_token=…
{touser, template_id, page, data {"thing1": {"value": …}}, miniprogram_state, lang}
(shared/channels/shipping.md §4). The buyer must have subscribed (errcode 43101 otherwise: refused).

The access token comes from GET {api}/cgi-bin/token (grant_type=client_credential) and is cached
until shortly before it expires; an "invalid/expired token" answer (40001, 42001) drops it and asks
once more: the refused call sent nothing. WeChat offers no lookup by our id, so an unknown outcome
stays for a person. The openid is the order's buyer id on the manual channel (u: a shop's own
mini-program must store the openid there)."""

from __future__ import annotations

import requests
from django.core.cache import cache

from shipping.notices.backends.base import (
    Accepted,
    Lookup,
    LookupStatus,
    Message,
    NotSent,
    OutcomeUnknown,
    Refused,
    never_reached,
)

_TOKEN_INVALID = {40001, 40014, 42001}
_TRY_LATER = {-1, 45009}  # system busy, daily limit reached


class WeChatSubscribeBackend:
    name = "wechat"

    def __init__(
        self,
        *,
        app_id: str,
        app_secret: str,
        api_base: str,
        page: str,
        miniprogram_state: str,
        lang: str,
        timeout: float,
    ) -> None:
        if not app_id or not app_secret:
            raise ValueError("WECHAT_APP_ID and WECHAT_APP_SECRET are needed for the wechat backend.")
        self.app_id, self.app_secret = app_id, app_secret
        self.api_base = api_base.rstrip("/")
        self.page, self.state, self.lang = page, miniprogram_state, lang
        self.timeout = timeout

    @property
    def _token_key(self) -> str:
        return f"notices:wechat-token:{self.app_id}"

    def _token(self) -> str:
        token = cache.get(self._token_key)
        if token:
            return token
        try:
            response = requests.get(
                f"{self.api_base}/cgi-bin/token",
                params={"grant_type": "client_credential", "appid": self.app_id, "secret": self.app_secret},
                timeout=self.timeout,
            )
            answer = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise NotSent(f"access token: {exc}") from exc
        if not answer.get("access_token"):
            raise NotSent(f"access token: {answer.get('errmsg')}", code=str(answer.get("errcode", "")), answer=answer)
        cache.set(self._token_key, answer["access_token"], timeout=max(60, int(answer.get("expires_in", 7200)) - 300))
        return answer["access_token"]

    def send(self, message: Message) -> Accepted:
        body = {
            "touser": message.recipient,
            "template_id": message.template_code,
            "data": {name: {"value": value} for name, value in message.params},
            "miniprogram_state": self.state,
            "lang": self.lang,
        }
        if self.page:
            body["page"] = self.page
        for _round in range(2):
            token = self._token()
            try:
                response = requests.post(
                    f"{self.api_base}/cgi-bin/message/subscribe/send",
                    params={"access_token": token},
                    json=body,
                    timeout=self.timeout,
                )
                answer = response.json()
            except requests.RequestException as exc:
                raise (NotSent(str(exc)) if never_reached(exc) else OutcomeUnknown(str(exc))) from exc
            except ValueError as exc:
                raise OutcomeUnknown(f"not JSON: {response.text[:200]}") from exc
            errcode = int(answer.get("errcode") or 0)
            if errcode == 0:
                return Accepted(message_id=str(answer.get("msgid") or ""), answer=answer)
            if errcode in _TOKEN_INVALID:
                cache.delete(self._token_key)
                continue
            if errcode in _TRY_LATER:
                raise NotSent(str(answer.get("errmsg")), code=str(errcode), answer=answer)
            raise Refused(str(answer.get("errmsg")), code=str(errcode), answer=answer)
        raise NotSent("access token refused twice", answer=answer)

    def lookup(self, message: Message) -> Lookup:
        return Lookup(LookupStatus.UNKNOWN, answer={"note": "WeChat has no lookup by sender id"})
