"""E-waybill calls of every marketplace adapter over real HTTP against the emulator: numbers per
parcel (same key, same number), branches and quota, print data, cancel, lookup after a timeout,
the platforms' refusals typed as WaybillErrorCode, batch limits and signatures."""

from __future__ import annotations

import dataclasses
import json
import math
import re

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

#: platform -> (the platform's code for ZTO (SF where noted), its get-number API, the print-data keys)
PLATFORMS = {
    "taobao": ("ZTO", "cainiao.waybill.ii.get", {"encryptedData", "signature", "templateURL", "ver"}),
    "tmall": ("ZTO", "cainiao.waybill.ii.get", {"encryptedData", "signature", "templateURL", "ver"}),
}
SF = {"taobao": "SF", "tmall": "SF"}
NUMBER_SHAPE = re.compile(r"^78\d{12}$")  # ZTO-shaped
RECEIVER_CIPHER = {
    "taobao": {"oaid": "1FakeOaid0001"},
    "tmall": {"oaid": "1FakeOaid0001"},
}
SENDER = WaybillAddress(
    name="", mobile="", province="上海市", city="上海市", district="浦东新区", address="科苑路 88 号"
)
ORDER_IDS = {"taobao": "3301234500012345678", "tmall": "3301234500012345679"}


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
        cipher=dict(RECEIVER_CIPHER[platform]),
    )
    return WaybillRequest(
        parcel_key=key,
        external_ids=[order or ORDER_IDS[platform]],
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


@pytest.fixture(params=list(PLATFORMS))
def platform(request) -> str:
    return request.param


# ---- numbers ---------------------------------------------------------------------------------
def test_each_parcel_gets_one_carrier_shaped_number_and_the_same_key_gets_it_again(
    platform, channel_emulator, emulator_adapter
):
    adapter = emulator_adapter(platform)
    branch = account(adapter, PLATFORMS[platform][0])
    requests_ = [parcel(platform, f"P{n}", branch, order=f"{ORDER_IDS[platform][:-1]}{n}") for n in range(3)]
    first = adapter.waybill_get(requests_)
    again = adapter.waybill_get(requests_)
    numbers = [r.tracking_number for r in first]
    assert [r.parcel_key for r in first] == ["P0", "P1", "P2"]
    assert all(r.error is None for r in first)
    assert all(NUMBER_SHAPE.match(n) for n in numbers)
    assert len(set(numbers)) == 3
    assert [r.tracking_number for r in again] == numbers
    assert all(len(v) == 1 for v in issued(channel_emulator, emulated(platform)).values())
    assert account(adapter, PLATFORMS[platform][0]).quota == branch.quota - 3


def test_print_data_comes_with_the_number_and_again_for_a_reprint(platform, emulator_adapter):
    adapter = emulator_adapter(platform)
    carrier, _api, keys = PLATFORMS[platform]
    branch = account(adapter, carrier)
    (result,) = adapter.waybill_get([parcel(platform, "PRINT-1", branch)])
    assert keys <= set(result.print_data)
    reprint = adapter.waybill_print_data(carrier_code=carrier, tracking_number=result.tracking_number)
    assert keys <= set(reprint)
    assert json.dumps(reprint, sort_keys=True) == json.dumps(result.print_data, sort_keys=True)


def test_a_second_parcel_of_one_order_on_a_multi_parcel_carrier_carries_the_parent_number(platform, emulator_adapter):
    adapter = emulator_adapter(platform)
    branch = account(adapter, SF[platform])
    first, second = adapter.waybill_get([parcel(platform, "SPLIT-1", branch), parcel(platform, "SPLIT-2", branch)])
    assert first.tracking_number.startswith("SF") and second.tracking_number.startswith("SF")
    assert second.parent_tracking_number == first.tracking_number


def test_batches_never_exceed_the_platforms_limit(platform, channel_emulator, emulator_adapter):
    adapter = emulator_adapter(platform)
    carrier, api, _keys = PLATFORMS[platform]
    branch = account(adapter, carrier)
    count = adapter.waybill_batch_size * 2 + 3
    results = adapter.waybill_get([parcel(platform, f"B{n}", branch) for n in range(count)])
    assert len({r.tracking_number for r in results}) == count
    calls = [call for call in channel_emulator.calls if call["api"] == api]
    assert len(calls) == math.ceil(count / adapter.waybill_batch_size)


# ---- timeouts --------------------------------------------------------------------------------
def test_a_number_issued_before_a_timeout_is_looked_up_never_taken_twice(platform, channel_emulator, emulator_adapter):
    adapter = emulator_adapter(platform, timeout=0.5)
    carrier, api, _keys = PLATFORMS[platform]
    branch = account(adapter, carrier)
    request = parcel(platform, "SLOW-1", branch)
    control(channel_emulator, "faults", platform=emulated(platform), kind="timeout_after_issue", method=api, delay=1.5)
    with pytest.raises(RetryableChannelError):
        adapter.waybill_get([request])
    found = adapter.waybill_lookup(request)
    assert found.tracking_number
    assert issued(channel_emulator, emulated(platform)) == {f"{emulated(platform)}:SLOW-1": [found.tracking_number]}


def test_transport_trouble_is_retryable(platform, channel_emulator, emulator_adapter):
    adapter = emulator_adapter(platform)
    branch = account(adapter, PLATFORMS[platform][0])
    channel_emulator.add_fault(emulated(platform), "http500")
    with pytest.raises(RetryableChannelError):
        adapter.waybill_get([parcel(platform, "T-1", branch)])


# ---- refusals ----------------------------------------------------------------------------------
def test_an_exhausted_quota_refuses_every_parcel_in_the_platforms_words(platform, channel_emulator, emulator_adapter):
    adapter = emulator_adapter(platform)
    carrier = PLATFORMS[platform][0]
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
    carrier, api, _keys = PLATFORMS[platform]
    branch = account(adapter, carrier)
    control(channel_emulator, "faults", platform=emulated(platform), kind="quota_exhausted", method=api)
    results = adapter.waybill_get([parcel(platform, "QF-1", branch), parcel(platform, "QF-2", branch)])
    assert [r.error.code for r in results] == [WaybillErrorCode.QUOTA_EXHAUSTED] * 2
    assert not any(r.tracking_number for r in results)
    assert issued(channel_emulator, emulated(platform)) == {}


def test_an_unreachable_province_fails_only_its_parcels(platform, channel_emulator, emulator_adapter):
    adapter = emulator_adapter(platform)
    carrier, api, _keys = PLATFORMS[platform]
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
        f"{emulated(platform)}:U-1",
        f"{emulated(platform)}:U-3",
    }


def test_a_partial_batch_failure_holds_back_only_the_failed_parcels(platform, channel_emulator, emulator_adapter):
    adapter = emulator_adapter(platform)
    carrier, api, _keys = PLATFORMS[platform]
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
    branch = account(adapter, PLATFORMS[platform][0])
    stranger = dataclasses.replace(
        branch, branch_code="999999", sender=dataclasses.replace(branch.sender, address="不存在的仓库 1 号")
    )
    (result,) = adapter.waybill_get([parcel(platform, "NS-1", stranger)])
    assert result.error.code == WaybillErrorCode.NOT_SUBSCRIBED


def test_a_bad_signature_is_no_parcel_refusal(platform, channel_emulator, emulator_adapter):
    adapter = emulator_adapter(platform)
    branch = account(adapter, PLATFORMS[platform][0])
    adapter.credentials.app_secret = "wrong"
    adapter.credentials.sign_secret = "wrong"
    with pytest.raises(PermanentChannelError) as caught:
        adapter.waybill_get([parcel(platform, "SIG-1", branch)])
    assert caught.value.code not in vars(WaybillErrorCode).values()
    assert issued(channel_emulator, emulated(platform)) == {}


# ---- cancel --------------------------------------------------------------------------------------
def test_cancel_gives_the_number_back_once_and_is_refused_after_pickup(platform, channel_emulator, emulator_adapter):
    adapter = emulator_adapter(platform)
    carrier = PLATFORMS[platform][0]
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
    carrier = PLATFORMS[platform][0]
    branch = account(adapter, carrier)
    (old,) = adapter.waybill_get([parcel(platform, "R-1", branch)])
    adapter.waybill_cancel(carrier_code=carrier, tracking_number=old.tracking_number, branch_code=branch.branch_code)
    (new,) = adapter.waybill_get([parcel(platform, "R-1b", branch)])
    assert new.tracking_number and new.tracking_number != old.tracking_number
    listing = issued(channel_emulator, emulated(platform))
    assert listing[f"{emulated(platform)}:R-1"] == [old.tracking_number]
    assert listing[f"{emulated(platform)}:R-1b"] == [new.tracking_number]


# ---- branches and carriers ------------------------------------------------------------------------
def test_branches_list_each_subscription_with_its_quota_and_sender_address(platform, emulator_adapter):
    adapter = emulator_adapter(platform)
    carrier = PLATFORMS[platform][0]
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
    assert carriers[PLATFORMS[platform][0]] == "中通快递"


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
    assert dto["order_info"] == {"order_channels_type": "TM", "trade_order_list": [ORDER_IDS["tmall"]]}
    assert dto["recipient"]["oaid"] == "1FakeOaid0001" and dto["recipient"]["tid"] == ORDER_IDS["tmall"]
    assert sent["sender"]["address"]["detail"] == branch.sender.address


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
