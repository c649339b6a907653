"""E-waybill calls of every marketplace adapter over real HTTP against the emulator: numbers per
parcel (same key, same number), branches and quota, print data, cancel, lookup after a timeout,
the platforms' refusals typed as WaybillErrorCode, batch limits and signatures."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass

import pytest
import requests

from orders.channels import adapter_class
from orders.channels.base import (
    ChannelAdapter,
    ChannelCredentials,
    PermanentChannelError,
    RetryableChannelError,
    WaybillAddress,
    WaybillBranch,
    WaybillErrorCode,
    WaybillItem,
    WaybillRequest,
)

CAINIAO_PRINT = {"encryptedData", "signature", "templateURL", "ver"}
PDD_CIPHER = {
    "receiver_name": "~AgAAAAFakeName1~",
    "receiver_phone": "~AgAAAAFakePhone1~",
    "receiver_address": "~AgAAAAFakeAddress1~",
}


DOUYIN_CIPHER = {
    "encrypt_post_receiver": "#FAKEreceiver1#",
    "encrypt_post_tel": "#FAKEtel1#",
    "encrypt_detail": "#FAKEdetail1#",
}


KUAISHOU_CIPHER = {
    "encryptedConsignee": "#KSname1#",
    "encryptedMobile": "#KSmobile1#",
    "encryptedAddress": "#KSaddress1#",
}


JD_CIPHER = {
    "encrypt_fullname": "ENC#fake-name-1",
    "encrypt_mobile": "ENC#fake-mobile-1",
    "encrypt_fullAddress": "ENC#fake-address-1",
}


@dataclass(frozen=True)
class Case:
    """What differs per platform: its codes for ZTO and SF, its get-number API, the keys of its print
    data, the receiver ciphertext its orders carry and an order id of its shape."""

    zto: str
    sf: str
    get_api: str
    print_keys: frozenset[str]
    cipher: dict[str, str]
    order_id: str


CASES = {
    "taobao": Case(
        "ZTO",
        "SF",
        "cainiao.waybill.ii.get",
        frozenset(CAINIAO_PRINT),
        {"oaid": "1FakeOaid0001"},
        "3301234500012345678",
    ),
    "tmall": Case(
        "ZTO",
        "SF",
        "cainiao.waybill.ii.get",
        frozenset(CAINIAO_PRINT),
        {"oaid": "1FakeOaid0002"},
        "3301234500012345679",
    ),
    "pdd": Case(
        "115",
        "44",
        "pdd.waybill.get",
        frozenset({"encryptedData", "signature", "templateUrl", "ver"}),
        PDD_CIPHER,
        "240308-123456789012345",
    ),
    "douyin": Case(
        "zhongtong",
        "shunfeng",
        "logistics.newCreateOrder",
        frozenset({"track_no", "print_data", "sign", "template_url"}),
        DOUYIN_CIPHER,
        "6900000000000000001",
    ),
    "kuaishou": Case(
        "9",
        "4",
        "open.express.ebill.get",
        frozenset({"printData", "signature", "key", "version"}),
        KUAISHOU_CIPHER,
        "2400000000000001",
    ),
    "jd": Case(
        "1499",
        "467",
        "jingdong.ldop.alpha.waybill.receive",
        frozenset({"wayBillNo", "perPrintData", "tempUrl"}),
        JD_CIPHER,
        "290000000000001",
    ),
}


NUMBER_SHAPE = re.compile(r"^78\d{12}$")  # ZTO-shaped
SENDER = WaybillAddress(
    name="", mobile="", province="上海市", city="上海市", district="浦东新区", address="科苑路 88 号"
)


def listed(platform: str, key: str) -> str:
    """A parcel's key in the emulator's listing (Douyin lists the pack_id, the parcel key when short)."""
    return f"{emulated(platform)}:{key}"


def account(adapter: ChannelAdapter, carrier: str):
    """The first subscribed branch of `carrier`, as a WaybillAccount would store it after "refresh"."""
    branches = adapter.waybill_branches(carrier_code=carrier)
    assert branches, f"no branch for {carrier}"
    return branches[0]


def parcel(platform: str, key: str, branch, *, order: str = "", province: str = "浙江省") -> WaybillRequest:
    sender = dataclasses.replace(branch.sender, name="王仓管", mobile="13800000000")
    receiver = WaybillAddress(
        name="张**",
        mobile="138****0000",
        province=province,
        city="杭州市",
        district="西湖区",
        address="文三路****号",
        cipher=dict(CASES[platform].cipher),
    )
    return WaybillRequest(
        parcel_key=key,
        external_ids=[order or CASES[platform].order_id],
        carrier_code=branch.carrier_code,
        branch_code=branch.branch_code,
        sender=sender,
        receiver=receiver,
        items=[WaybillItem(name="纯棉T恤 白色 L", count=2)],
        weight_grams=800,
    )


def control(emulator, action: str, **body):
    response = requests.post(f"{emulator.base_url}/_emulator/{action}", json=body, timeout=5)
    assert response.status_code in (200, 201), response.text
    return response.json()


def issued(emulator, platform: str) -> dict[str, list[str]]:
    response = requests.get(f"{emulator.base_url}/_emulator/waybills", params={"platform": platform}, timeout=5)
    return response.json()["by_parcel_key"]


def emulated(platform: str) -> str:
    return "taobao" if platform == "tmall" else platform


@pytest.fixture(params=list(CASES))
def platform(request) -> str:
    return request.param


# ---- numbers ---------------------------------------------------------------------------------
def test_each_parcel_gets_one_carrier_shaped_number_and_the_same_key_gets_it_again(
    platform, channel_emulator, emulator_adapter
):
    adapter = emulator_adapter(platform)
    branch = account(adapter, CASES[platform].zto)
    requests_ = [parcel(platform, f"P{n}", branch, order=f"{CASES[platform].order_id[:-1]}{n}") for n in range(3)]
    first = adapter.waybill_get(requests_)
    again = adapter.waybill_get(requests_)
    numbers = [r.tracking_number for r in first]
    assert [r.parcel_key for r in first] == ["P0", "P1", "P2"]
    assert all(r.error is None for r in first)
    assert all(NUMBER_SHAPE.match(n) for n in numbers)
    assert len(set(numbers)) == 3
    assert [r.tracking_number for r in again] == numbers
    assert all(len(v) == 1 for v in issued(channel_emulator, emulated(platform)).values())
    assert account(adapter, CASES[platform].zto).quota == branch.quota - 3


def test_print_data_comes_with_the_number_and_again_for_a_reprint(platform, emulator_adapter):
    adapter = emulator_adapter(platform)
    carrier, keys = CASES[platform].zto, CASES[platform].print_keys
    branch = account(adapter, carrier)
    request = parcel(platform, "PRINT-1", branch)
    (result,) = adapter.waybill_get([request])
    assert keys <= set(result.print_data)
    if platform == "kuaishou":  # no read by number: the same key answers the label again
        with pytest.raises(PermanentChannelError) as caught:
            adapter.waybill_print_data(carrier_code=carrier, tracking_number=result.tracking_number)
        assert caught.value.code == WaybillErrorCode.NOT_SUPPORTED
        reprint = adapter.waybill_lookup(request).print_data
    else:
        reprint = adapter.waybill_print_data(carrier_code=carrier, tracking_number=result.tracking_number)
    assert keys <= set(reprint)
    assert json.dumps(reprint, sort_keys=True) == json.dumps(result.print_data, sort_keys=True)


def test_a_second_parcel_of_one_order_on_a_multi_parcel_carrier_carries_the_parent_number(platform, emulator_adapter):
    adapter = emulator_adapter(platform)
    branch = account(adapter, CASES[platform].sf)
    first, second = adapter.waybill_get([parcel(platform, "SPLIT-1", branch), parcel(platform, "SPLIT-2", branch)])
    assert first.tracking_number.startswith("SF") and second.tracking_number.startswith("SF")
    assert second.parent_tracking_number == first.tracking_number


def test_batches_never_exceed_the_platforms_limit(platform, channel_emulator, emulator_adapter):
    adapter = emulator_adapter(platform)
    carrier, api = CASES[platform].zto, CASES[platform].get_api
    branch = account(adapter, carrier)
    count = adapter.waybill_batch_size * 2 + 3
    results = adapter.waybill_get([parcel(platform, f"B{n}", branch) for n in range(count)])
    assert len({r.tracking_number for r in results}) == count
    calls = [call for call in channel_emulator.calls if call["api"] == api]
    assert len(calls) == math.ceil(count / adapter.waybill_batch_size)


# ---- timeouts --------------------------------------------------------------------------------
def test_a_number_issued_before_a_timeout_is_looked_up_never_taken_twice(platform, channel_emulator, emulator_adapter):
    adapter = emulator_adapter(platform, timeout=0.5)
    carrier, api = CASES[platform].zto, CASES[platform].get_api
    branch = account(adapter, carrier)
    request = parcel(platform, "SLOW-1", branch)
    control(channel_emulator, "faults", platform=emulated(platform), kind="timeout_after_issue", method=api, delay=1.5)
    with pytest.raises(RetryableChannelError):
        adapter.waybill_get([request])
    found = adapter.waybill_lookup(request)
    assert found.tracking_number
    assert issued(channel_emulator, emulated(platform)) == {listed(platform, "SLOW-1"): [found.tracking_number]}


def test_transport_trouble_is_retryable(platform, channel_emulator, emulator_adapter):
    adapter = emulator_adapter(platform)
    branch = account(adapter, CASES[platform].zto)
    channel_emulator.add_fault(emulated(platform), "http500")
    with pytest.raises(RetryableChannelError):
        adapter.waybill_get([parcel(platform, "T-1", branch)])


# ---- refusals ----------------------------------------------------------------------------------
def test_an_exhausted_quota_refuses_every_parcel_in_the_platforms_words(platform, channel_emulator, emulator_adapter):
    adapter = emulator_adapter(platform)
    carrier = CASES[platform].zto
    branch = account(adapter, carrier)
    control(
        channel_emulator,
        "waybill_quota",
        platform=emulated(platform),
        app_key=f"{platform}-app-key",
        carrier_code=carrier,
        branch_code=branch.branch_code,
        quota=1,
    )
    results = adapter.waybill_get([parcel(platform, "Q-1", branch), parcel(platform, "Q-2", branch)])
    refused = [r for r in results if r.error is not None]
    assert len(refused) >= 1 and len(refused) + len([r for r in results if r.tracking_number]) == 2
    assert all(r.error.code == WaybillErrorCode.QUOTA_EXHAUSTED for r in refused)
    assert all("余额不足" in str(r.error) for r in refused)
    assert account(adapter, carrier).quota == 2 - len(refused) - 1


def test_the_quota_exhausted_fault_refuses_the_whole_batch(platform, channel_emulator, emulator_adapter):
    adapter = emulator_adapter(platform)
    carrier, api = CASES[platform].zto, CASES[platform].get_api
    branch = account(adapter, carrier)
    calls = math.ceil(2 / adapter.waybill_batch_size)  # JD numbers one parcel per call
    control(channel_emulator, "faults", platform=emulated(platform), kind="quota_exhausted", method=api, count=calls)
    results = adapter.waybill_get([parcel(platform, "QF-1", branch), parcel(platform, "QF-2", branch)])
    assert [r.error.code for r in results] == [WaybillErrorCode.QUOTA_EXHAUSTED] * 2
    assert not any(r.tracking_number for r in results)
    assert issued(channel_emulator, emulated(platform)) == {}


def test_an_unreachable_province_fails_only_its_parcels(platform, channel_emulator, emulator_adapter):
    adapter = emulator_adapter(platform)
    carrier, api = CASES[platform].zto, CASES[platform].get_api
    branch = account(adapter, carrier)
    control(
        channel_emulator, "faults", platform=emulated(platform), kind="unreachable", method=api, province="西藏自治区"
    )
    batch = [
        parcel(platform, "U-1", branch),
        parcel(platform, "U-2", branch, province="西藏自治区"),
        parcel(platform, "U-3", branch),
    ]
    results = adapter.waybill_get(batch)
    assert [bool(r.tracking_number) for r in results] == [True, False, True]
    assert results[1].error.code == WaybillErrorCode.UNREACHABLE
    assert "超区" in str(results[1].error)
    assert set(issued(channel_emulator, emulated(platform))) == {
        listed(platform, "U-1"),
        listed(platform, "U-3"),
    }


def test_a_partial_batch_failure_holds_back_only_the_failed_parcels(platform, channel_emulator, emulator_adapter):
    adapter = emulator_adapter(platform)
    carrier, api = CASES[platform].zto, CASES[platform].get_api
    branch = account(adapter, carrier)
    control(
        channel_emulator, "faults", platform=emulated(platform), kind="partial_failure", method=api, parcel_keys=["F-2"]
    )
    results = adapter.waybill_get([parcel(platform, k, branch) for k in ("F-1", "F-2", "F-3")])
    assert [r.parcel_key for r in results] == ["F-1", "F-2", "F-3"]
    assert results[0].tracking_number and results[2].tracking_number
    assert results[1].tracking_number == ""
    assert results[1].error.code == WaybillErrorCode.BAD_DATA
    assert "手机号" in str(results[1].error)


def test_a_sender_branch_that_is_not_subscribed_is_refused(platform, emulator_adapter):
    adapter = emulator_adapter(platform)
    branch = account(adapter, CASES[platform].zto)
    stranger = dataclasses.replace(
        branch, branch_code="999999", sender=dataclasses.replace(branch.sender, address="不存在的仓库 1 号")
    )
    (result,) = adapter.waybill_get([parcel(platform, "NS-1", stranger)])
    assert result.error.code == WaybillErrorCode.NOT_SUBSCRIBED


def test_a_bad_signature_is_no_parcel_refusal(platform, channel_emulator, emulator_adapter):
    adapter = emulator_adapter(platform)
    branch = account(adapter, CASES[platform].zto)
    adapter.credentials.app_secret = "wrong"
    adapter.credentials.sign_secret = "wrong"
    with pytest.raises(PermanentChannelError) as caught:
        adapter.waybill_get([parcel(platform, "SIG-1", branch)])
    assert caught.value.code not in vars(WaybillErrorCode).values()
    assert issued(channel_emulator, emulated(platform)) == {}


# ---- cancel --------------------------------------------------------------------------------------
def test_cancel_gives_the_number_back_once_and_is_refused_after_pickup(platform, channel_emulator, emulator_adapter):
    adapter = emulator_adapter(platform)
    carrier = CASES[platform].zto
    branch = account(adapter, carrier)
    kept, voided = adapter.waybill_get([parcel(platform, "C-1", branch), parcel(platform, "C-2", branch)])
    adapter.waybill_cancel(carrier_code=carrier, tracking_number=voided.tracking_number, branch_code=branch.branch_code)
    assert account(adapter, carrier).quota == branch.quota - 1
    with pytest.raises(PermanentChannelError) as twice:
        adapter.waybill_cancel(
            carrier_code=carrier, tracking_number=voided.tracking_number, branch_code=branch.branch_code
        )
    assert twice.value.code == WaybillErrorCode.ALREADY_CANCELLED
    control(channel_emulator, "waybills/collect", platform=emulated(platform), tracking_number=kept.tracking_number)
    with pytest.raises(PermanentChannelError) as collected:
        adapter.waybill_cancel(
            carrier_code=carrier, tracking_number=kept.tracking_number, branch_code=branch.branch_code
        )
    assert collected.value.code == WaybillErrorCode.PICKED_UP
    with pytest.raises(PermanentChannelError) as unknown:
        adapter.waybill_cancel(carrier_code=carrier, tracking_number="78000000000000", branch_code=branch.branch_code)
    assert unknown.value.code == WaybillErrorCode.NOT_FOUND


def test_a_new_key_after_a_cancel_takes_a_new_number(platform, channel_emulator, emulator_adapter):
    adapter = emulator_adapter(platform)
    carrier = CASES[platform].zto
    branch = account(adapter, carrier)
    (old,) = adapter.waybill_get([parcel(platform, "R-1", branch)])
    adapter.waybill_cancel(carrier_code=carrier, tracking_number=old.tracking_number, branch_code=branch.branch_code)
    (new,) = adapter.waybill_get([parcel(platform, "R-1b", branch)])
    assert new.tracking_number and new.tracking_number != old.tracking_number
    listing = issued(channel_emulator, emulated(platform))
    assert listing[listed(platform, "R-1")] == [old.tracking_number]
    assert listing[listed(platform, "R-1b")] == [new.tracking_number]


# ---- branches and carriers ------------------------------------------------------------------------
def test_branches_list_each_subscription_with_its_quota_and_sender_address(platform, emulator_adapter):
    adapter = emulator_adapter(platform)
    carrier = CASES[platform].zto
    (branch,) = adapter.waybill_branches(carrier_code=carrier)
    assert branch.carrier_code == carrier
    assert branch.branch_code and branch.branch_name
    assert branch.quota == 500
    assert branch.sender.province == "上海市" and branch.sender.address
    everything = adapter.waybill_branches()
    assert len({b.carrier_code for b in everything}) == len(everything) > 1


def test_the_carrier_list_comes_from_the_platform(platform, channel_emulator, emulator_adapter):
    adapter = emulator_adapter(platform)
    carriers = {c.code: c.name for c in adapter.carriers()}
    assert carriers[CASES[platform].zto] == "中通快递"


# ---- platform specifics ------------------------------------------------------------------------
def test_cainiao_gets_the_receiver_as_oaid_and_tid_with_the_parcel_key_as_package_id(
    channel_emulator, emulator_adapter
):
    adapter = emulator_adapter("tmall")
    branch = account(adapter, "ZTO")
    adapter.waybill_get([parcel("tmall", "K-1", branch)])
    (call,) = [x for x in channel_emulator.calls if x["api"] == "cainiao.waybill.ii.get"]
    sent = json.loads(call["params"]["param_waybill_cloud_print_apply_new_request"])
    (dto,) = sent["trade_order_info_dtos"]
    assert dto["object_id"] == dto["package_info"]["id"] == "K-1"
    assert dto["order_info"] == {"order_channels_type": "TM", "trade_order_list": [CASES["tmall"].order_id]}
    assert (
        dto["recipient"]["oaid"] == CASES["tmall"].cipher["oaid"] and dto["recipient"]["tid"] == CASES["tmall"].order_id
    )
    assert sent["sender"]["address"]["detail"] == branch.sender.address


def test_pdd_gets_the_receiver_as_the_orders_ciphertext(channel_emulator, emulator_adapter):
    adapter = emulator_adapter("pdd")
    branch = account(adapter, "115")
    adapter.waybill_get([parcel("pdd", "K-2", branch)])
    (call,) = [x for x in channel_emulator.calls if x["api"] == "pdd.waybill.get"]
    sent = json.loads(call["params"]["param_waybill_cloud_print_apply_new_request"])
    assert sent["wp_code"] == "115"
    (dto,) = sent["trade_order_info_dtos"]
    assert dto["object_id"] == dto["package_info"]["id"] == "K-2"
    assert dto["order_info"] == {"order_channels_type": "PDD", "trade_order_list": [CASES["pdd"].order_id]}
    assert dto["recipient"]["name"] == PDD_CIPHER["receiver_name"]
    assert dto["recipient"]["mobile"] == PDD_CIPHER["receiver_phone"]
    assert dto["recipient"]["address"]["detail"] == PDD_CIPHER["receiver_address"]


def test_douyin_numbers_by_order_and_pack_id_with_the_receiver_ciphertext(channel_emulator, emulator_adapter):
    adapter = emulator_adapter("douyin")
    branch = account(adapter, "zhongtong")
    long_key = "order-1234567890-parcel-1"
    first, second = adapter.waybill_get([parcel("douyin", "K-3", branch), parcel("douyin", long_key, branch)])
    (call,) = [x for x in channel_emulator.calls if x["api"] == "logistics.newCreateOrder"]
    sent = call["params"]
    assert sent["logistics_code"] == "zhongtong" and sent["net_info"] == {"net_code": branch.branch_code}
    short, digest = sent["order_infos"]
    assert short["order_id"] == CASES["douyin"].order_id and short["pack_id"] == "K-3"
    assert len(digest["pack_id"]) == 15 and digest["pack_id"] != long_key[:15]
    assert short["receiver_info"]["contact"] == {"name": "#FAKEreceiver1#", "mobile": "#FAKEtel1#"}
    assert short["receiver_info"]["address"]["detail_address"] == "#FAKEdetail1#"
    assert first.parcel_key == "K-3" and second.parcel_key == long_key
    assert first.print_data["print_data"] and second.print_data["track_no"] == second.tracking_number


def test_kuaishou_keys_each_parcel_by_request_id_and_sends_the_receiver_ciphertext(channel_emulator, emulator_adapter):
    adapter = emulator_adapter("kuaishou")
    branch = account(adapter, "9")
    merged = dataclasses.replace(
        parcel("kuaishou", "K-4", branch), external_ids=["2400000000000001", "2400000000000002"]
    )
    (result,) = adapter.waybill_get([merged])
    (call,) = [x for x in channel_emulator.calls if x["api"] == "open.express.ebill.get"]
    (ask,) = call["params"]["getEbillOrderRequest"]
    assert ask["requestId"] == ask["packageCode"] == "K-4"
    assert ask["tradeOrderCode"] == "2400000000000001" and ask["tradeOrderRemark"] == "2400000000000002"
    assert ask["expressCompanyCode"] == "9" and ask["netSiteCode"] == branch.branch_code
    assert ask["receiverContract"] == {"name": "#KSname1#", "mobile": "#KSmobile1#"}
    assert ask["receiverAddress"]["detailAddress"] == "#KSaddress1#"
    assert ask["totalPackageWeight"] == 800 and "templateUrl" not in ask  # unset is absent, never null
    assert result.tracking_number.startswith("78") and result.print_data["printData"]


def test_jd_receives_one_order_per_call_keyed_by_vendor_order_code(channel_emulator, emulator_adapter):
    adapter = emulator_adapter("jd")
    branch = account(adapter, "1499")
    (result,) = adapter.waybill_get([parcel("jd", "K-5", branch)])
    (call,) = [x for x in channel_emulator.calls if x["api"] == "jingdong.ldop.alpha.waybill.receive"]
    content = json.loads(call["params"]["360buy_param_json"])["content"]
    assert content["vendorOrderCode"] == "K-5" and content["platformOrderNo"] == CASES["jd"].order_id
    assert content["providerCode"] == "1499" and content["branchCode"] == branch.branch_code
    assert content["weight"] == 0.8
    assert content["toAddress"]["contact"] == "ENC#fake-name-1"
    assert content["toAddress"]["address"] == "ENC#fake-address-1"
    assert content["fromAddress"]["address"] == branch.sender.address
    assert result.print_data["wayBillNo"] == result.tracking_number and result.print_data["perPrintData"]


def test_the_manual_channel_has_no_waybill_service():
    """Manual parcels are bound by scanning the carrier's own label: every e-waybill call says so."""
    adapter = adapter_class("manual")(ChannelCredentials(platform="manual", api_base_url="http://127.0.0.1:9"))
    branch = WaybillBranch(carrier_code="ZTO", branch_code="1", branch_name="-", quota=None, sender=SENDER)
    request = dataclasses.replace(parcel("taobao", "M-1", branch), external_ids=["M-1"])
    calls = [
        lambda: adapter.waybill_get([request]),
        lambda: adapter.waybill_lookup(request),
        lambda: adapter.waybill_cancel(carrier_code="ZTO", tracking_number="78000000000001"),
        lambda: adapter.waybill_print_data(carrier_code="ZTO", tracking_number="78000000000001"),
        lambda: adapter.waybill_branches(),
    ]
    for call in calls:
        with pytest.raises(PermanentChannelError) as caught:
            call()
        assert caught.value.code == WaybillErrorCode.NOT_SUPPORTED
    assert adapter.carriers() == []


# ---- the emulator's controls ------------------------------------------------------------------
def test_the_emulator_listing_shows_each_numbers_state_and_the_branches(channel_emulator, emulator_adapter):
    adapter = emulator_adapter("taobao")
    branch = account(adapter, "ZTO")
    kept, voided = adapter.waybill_get([parcel("taobao", "L-1", branch), parcel("taobao", "L-2", branch)])
    adapter.waybill_cancel(carrier_code="ZTO", tracking_number=voided.tracking_number)
    control(channel_emulator, "waybills/collect", platform="taobao", tracking_number=kept.tracking_number)
    listing = requests.get(f"{channel_emulator.base_url}/_emulator/waybills", timeout=5).json()
    states = {w["tracking_number"]: w["state"] for w in listing["waybills"]}
    assert states == {kept.tracking_number: "collected", voided.tracking_number: "cancelled"}
    zto = next(b for b in listing["branches"] if b["platform"] == "taobao" and b["carrier"] == "ZTO")
    assert (zto["quota"], zto["allocated"], zto["cancelled"]) == (499, 2, 1)


@pytest.mark.parametrize(
    ("action", "body", "word"),
    [
        ("faults", {"platform": "taobao", "kind": "no_such_fault"}, "fault kind"),
        ("waybill_quota", {"platform": "taobao", "app_key": "taobao-app-key", "carrier_code": "ZTO"}, "branch_code"),
        (
            "waybill_quota",
            {"platform": "taobao", "app_key": "x", "carrier_code": "ZTO", "branch_code": "1"},
            "no branch",
        ),
        ("waybills/collect", {"platform": "taobao", "tracking_number": "78000000000000"}, "no waybill"),
    ],
)
def test_bad_control_requests_answer_400_naming_what_is_wrong(channel_emulator, emulator_adapter, action, body, word):
    emulator_adapter("taobao")
    response = requests.post(f"{channel_emulator.base_url}/_emulator/{action}", json=body, timeout=5)
    assert response.status_code == 400
    assert word in response.json()["error"]


def test_refusals_are_typed_by_the_platforms_words_when_the_code_is_unknown():
    from orders.channels.common import waybill_error_code

    assert waybill_error_code("isv.X: 电子面单余额不足，请充值", "isv.X") == WaybillErrorCode.QUOTA_EXHAUSTED
    assert waybill_error_code("该地址超区", "") == WaybillErrorCode.UNREACHABLE
    assert waybill_error_code("发货地址未订购该服务", "") == WaybillErrorCode.NOT_SUBSCRIBED
    assert waybill_error_code("Invalid signature", "25") == ""  # not a parcel's refusal
    assert waybill_error_code("anything", "1105", known={"1105": WaybillErrorCode.PICKED_UP}) == "picked_up"
