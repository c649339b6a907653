"""Every signing vector of shared/channels/README.md §1 and §8, and a re-sign of every ship-request sample."""

from __future__ import annotations

import json

import pytest

from orders.channels import douyin, jd, kuaishou, pdd, taobao
from orders.channels.base import ChannelCredentials, ShipRequest
from orders.tests.conftest import FIXTURES, SHARED_SAMPLES, load_sample

TAOBAO_PARAMS = {
    "method": "taobao.user.seller.get",
    "timestamp": "2013-05-06 13:52:03",
    "format": "xml",
    "app_key": "test",
    "v": "2.0",
    "fields": "nick",
    "sign_method": "md5",
    "session": "test",
}


@pytest.mark.parametrize(
    ("sign_method", "expected"),
    [
        ("md5", "72CB4D809B375A54502C09360D879C64"),
        ("hmac", "FA15A9D5B42AB2D6F3397843851ED09A"),
        ("hmac-sha256", "267B9C1C7A2FE1CE413DBB95E596616D32107AE0992BE2C22143CFCE303E8E34"),
    ],
)
def test_taobao_sign_matches_official_vector(sign_method, expected):
    adapter = taobao.Adapter(ChannelCredentials("taobao", app_secret="test"))
    assert adapter.sign({**TAOBAO_PARAMS, "sign_method": sign_method}) == expected


def test_taobao_sign_ignores_empty_params_and_the_sign_itself():
    adapter = taobao.Adapter(ChannelCredentials("taobao", app_secret="test"))
    noisy = {**TAOBAO_PARAMS, "empty": "", "sign": "WHATEVER"}
    assert adapter.sign(noisy) == "72CB4D809B375A54502C09360D879C64"


def test_jd_sign_vector_includes_business_json():
    adapter = jd.Adapter(ChannelCredentials("jd", app_secret="testsecret"))
    params = {
        "method": "jingdong.pop.order.get",
        "app_key": "testkey",
        "access_token": "testtoken",
        "timestamp": "2024-01-01 12:00:00",
        "v": "2.0",
        "360buy_param_json": '{"order_id":"100000000001","optional_fields":"orderId,orderState"}',
    }
    assert adapter.sign(params) == "B7BC7EF1F1C67A1D9959D3F533EE74BE"
    assert adapter.sign({**params, "360buy_param_json": "{}"}) != "B7BC7EF1F1C67A1D9959D3F533EE74BE"


def test_pdd_sign_vector():
    adapter = pdd.Adapter(ChannelCredentials("pdd", app_secret="testsecret"))
    params = {
        "type": "pdd.order.information.get",
        "client_id": "testclient",
        "access_token": "testtoken",
        "timestamp": "1700000000",
        "data_type": "JSON",
        "version": "V1",
        "order_sn": "231101-000000000000001",
    }
    assert adapter.sign(params) == "69CFAF743A4AEB4A8699EE58C76277E7"


@pytest.mark.parametrize(
    ("sign_method", "expected"),
    [
        ("hmac-sha256", "4be6ec8b389c6a9f329fb9d2b01ac8e40d5c39ce41cabb71df1f90bd16697b70"),
        ("md5", "093c653c97703512eedb89d84850cd3b"),
    ],
)
def test_douyin_sign_vector(sign_method, expected):
    adapter = douyin.Adapter(ChannelCredentials("douyin", app_key="7000000000000000001", app_secret="testsecret"))
    params = {
        "app_key": "7000000000000000001",
        "method": "order.orderDetail",
        "param_json": douyin.param_json({"shop_order_id": "6900000000000000001"}),
        "timestamp": "1700000000",
        "v": "2",
        "sign_method": sign_method,
        "access_token": "not-signed",
    }
    assert adapter.sign(params) == expected


def test_douyin_param_json_sorts_keys_at_every_level_and_keeps_chinese():
    text = douyin.param_json({"b": {"z": 1, "a": "中"}, "a": [{"y": 2, "x": 1}]})
    assert text == '{"a":[{"x":1,"y":2}],"b":{"a":"中","z":1}}'


@pytest.mark.parametrize(
    ("sign_method", "expected"),
    [("MD5", "c3f682fccb6b9b88522fe4058d6ca3c2"), ("HMAC_SHA256", "CZ7YCU439Rudh0WMhaM9wLkgxG/Kn83xY4BJH/nYJxE=")],
)
def test_kuaishou_sign_vector_uses_sign_secret(sign_method, expected):
    adapter = kuaishou.Adapter(ChannelCredentials("kuaishou", app_secret="not-this-one", sign_secret="testsignsecret"))
    params = {
        "appkey": "ks000000000000000001",
        "access_token": "testtoken",
        "method": "open.order.detail",
        "param": '{"oid":2215900000000001}',
        "timestamp": "1700000000000",
        "version": "1",
        "signMethod": sign_method,
    }
    assert adapter.sign(params) == expected


def test_pdd_websocket_sign_vector():
    assert pdd.pdd_ws_sign("testclient", 1700000000000, "testsecret") == "ZmUzMGU0MGRhYjViYWJmNTYyNjM1ZjIyMTRiZmNjMTA="
    url = pdd.pdd_ws_url("testclient", 1700000000000, "testsecret")
    assert url == (
        "wss://message-api.pinduoduo.com/message/testclient/1700000000000/ZmUzMGU0MGRhYjViYWJmNTYyNjM1ZjIyMTRiZmNjMTA="
    )


def test_douyin_push_sign_vector():
    body = (
        b'[{"tag":"101","msg_id":"7000000000000000000","data":"{\\"p_id\\":6900000000000000001,\\"order_status\\":2}"}]'
    )
    assert douyin.push_sign("7000000000000000001", body, "testsecret") == "1919ba011a239c8dd1743c8698b1304f"


KUAISHOU_PLAINTEXT = (
    '{"eventId":"267_2345_147402","bizId":2215900000000001,"event":"kwaishop_order_paySuccess",'
    '"info":"{\\"oid\\":2215900000000001,\\"status\\":30}","test":false}'
)
KUAISHOU_CIPHERTEXT = (
    "dfeWYlIikAu1qaaojGdMcEMXubOI0qjqohiEU2r9QrSLDvJ/I2Ov1p9V8OzDwPpnuEVX/XqCS6Iuu5hjiIQHt0e6DmLLnO5thWlelnjj"
    "JPJnu45xRsERxw9I6tmiByip2EfnlpocAbhmpQ74jW2fNdRj0oDKNFR3FsE3i46shPPlYsLVSQM+HH1UqPgRtBaSmVE6KIRDmnIFrpBi"
    "DcuuQQ=="
)


def test_kuaishou_push_encryption_vector_round_trips():
    key = "MDEyMzQ1Njc4OWFiY2RlZg=="
    assert kuaishou.encrypt_push(KUAISHOU_PLAINTEXT, key) == KUAISHOU_CIPHERTEXT
    assert kuaishou.decrypt_push(KUAISHOU_CIPHERTEXT.encode(), key) == KUAISHOU_PLAINTEXT


# ---- the ship-request samples double as signer vectors ---------------------------------------
def test_taobao_ship_request_sample_resigns():
    sample = load_sample("taobao_ship_request.json")
    adapter = taobao.Adapter(ChannelCredentials("taobao", app_secret=sample["sample_secret_used_for_sign"]))
    params = {k: v for k, v in sample["params"].items() if k != "sign"}
    assert adapter.sign(params) == sample["params"]["sign"]


def test_jd_ship_request_sample_resigns():
    sample = load_sample("jd_ship_request.json")
    adapter = jd.Adapter(ChannelCredentials("jd", app_secret=sample["sample_secret_used_for_sign"]))
    params = {k: v for k, v in sample["params"].items() if k != "sign"}
    assert adapter.sign(params) == sample["params"]["sign"]
    assert json.loads(params["360buy_param_json"]) == sample["business_params_decoded"]


def test_pdd_ship_request_sample_resigns():
    sample = load_sample("pdd_ship_request.json")
    adapter = pdd.Adapter(ChannelCredentials("pdd", app_secret=sample["sample_secret_used_for_sign"]))
    params = {k: v for k, v in sample["params"].items() if k != "sign"}
    assert adapter.sign(params) == sample["params"]["sign"]


def test_douyin_ship_request_sample_resigns_with_the_body_as_param_json():
    sample = load_sample("douyin_ship_request.json")
    adapter = douyin.Adapter(ChannelCredentials("douyin", app_secret=sample["sample_secret_used_for_sign"]))
    params = {k: v for k, v in sample["query"].items() if k != "sign"} | {"param_json": sample["body_param_json"]}
    assert adapter.sign(params) == sample["query"]["sign"]
    # the body is exactly what our param_json() produces for the same business params
    assert douyin.param_json(json.loads(sample["body_param_json"])) == sample["body_param_json"]


def test_kuaishou_ship_request_sample_resigns_with_the_form_param():
    sample = load_sample("kuaishou_ship_request.json")
    adapter = kuaishou.Adapter(ChannelCredentials("kuaishou", sign_secret=sample["sample_sign_secret_used"]))
    params = {k: v for k, v in sample["query"].items() if k != "sign"} | sample["form_body"]
    assert adapter.sign(params) == sample["query"]["sign"]


def test_fixture_samples_are_the_shared_samples():
    """The fixtures are a copy so tests run anywhere; where shared/ is checked out beside the repo,
    the copy must not have drifted from the spec's samples."""
    names = sorted(p.name for p in FIXTURES.glob("*.json"))
    platforms = ("taobao", "jd", "pdd", "douyin", "kuaishou")
    assert names == sorted(f"{p}_{kind}.json" for p in platforms for kind in ("order", "ship_request"))
    for shared in SHARED_SAMPLES.glob("*.json") if SHARED_SAMPLES.is_dir() else []:
        assert (FIXTURES / shared.name).read_bytes() == shared.read_bytes(), shared.name


# ---- our own request builder reproduces each signed ship-request sample exactly --------------
def _ship(sample_order_id: str, tracking: str, carrier: str) -> ShipRequest:
    return ShipRequest(external_id=sample_order_id, tracking_number=tracking, carrier_code=carrier)


def test_taobao_ship_request_is_built_exactly_like_the_sample():
    sample = load_sample("taobao_ship_request.json")
    p = sample["params"]
    adapter = taobao.Adapter(
        ChannelCredentials(
            "taobao",
            app_key=p["app_key"],
            access_token=p["session"],
            app_secret=sample["sample_secret_used_for_sign"],
            api_base_url=sample["gateway"],
        )
    )
    method, business = adapter.ship_params(_ship(p["tid"], p["out_sid"], p["company_code"]))
    prepared = adapter.prepare(method, business, timestamp=p["timestamp"])
    assert (prepared.url, prepared.data) == (sample["gateway"], p)
    assert "sub_tid" not in business
    split = ShipRequest(
        p["tid"], p["out_sid"], p["company_code"], line_ids=[sample["partial_shipment_variant"]["sub_tid"]]
    )
    assert adapter.ship_params(split)[1].items() >= sample["partial_shipment_variant"].items()


def test_jd_ship_request_is_built_exactly_like_the_sample():
    sample = load_sample("jd_ship_request.json")
    p, biz = sample["params"], sample["business_params_decoded"]
    adapter = jd.Adapter(
        ChannelCredentials(
            "jd",
            app_key=p["app_key"],
            access_token=p["access_token"],
            app_secret=sample["sample_secret_used_for_sign"],
            api_base_url=sample["gateway"],
        )
    )
    method, business = adapter.ship_params(_ship(biz["orderId"], biz["logiNo"], biz["logiCoprId"]))
    prepared = adapter.prepare(method, business, timestamp=p["timestamp"])
    assert (prepared.url, prepared.data) == (sample["gateway"], p)


def test_pdd_ship_request_is_built_exactly_like_the_sample():
    sample = load_sample("pdd_ship_request.json")
    p = sample["params"]
    adapter = pdd.Adapter(
        ChannelCredentials(
            "pdd",
            app_key=p["client_id"],
            access_token=p["access_token"],
            app_secret=sample["sample_secret_used_for_sign"],
            api_base_url=sample["gateway"],
        )
    )
    method, business = adapter.ship_params(_ship(p["order_sn"], p["tracking_number"], p["logistics_id"]))
    prepared = adapter.prepare(method, business, timestamp=p["timestamp"])
    assert (prepared.url, prepared.data) == (sample["gateway"], p)


def test_douyin_ship_request_is_built_exactly_like_the_sample():
    sample = load_sample("douyin_ship_request.json")
    q, body = sample["query"], json.loads(sample["body_param_json"])
    adapter = douyin.Adapter(
        ChannelCredentials(
            "douyin",
            app_key=q["app_key"],
            access_token=q["access_token"],
            app_secret=sample["sample_secret_used_for_sign"],
            api_base_url="https://openapi-fxg.jinritemai.com",
        )
    )
    method, business = adapter.ship_params(_ship(body["order_id"], body["logistics_code"], body["company_code"]))
    prepared = adapter.prepare(method, business, timestamp=q["timestamp"])
    assert (prepared.url, prepared.params) == (sample["url"], q)
    assert prepared.data == sample["body_param_json"].encode("utf-8")


def test_kuaishou_ship_request_is_built_exactly_like_the_sample():
    sample = load_sample("kuaishou_ship_request.json")
    q, param = sample["query"], json.loads(sample["form_body"]["param"])
    adapter = kuaishou.Adapter(
        ChannelCredentials(
            "kuaishou",
            app_key=q["appkey"],
            access_token=q["access_token"],
            sign_secret=sample["sample_sign_secret_used"],
            api_base_url="https://openapi.kwaixiaodian.com",
        )
    )
    method, business = adapter.ship_params(_ship(str(param["orderId"]), param["expressNo"], str(param["expressCode"])))
    prepared = adapter.prepare(method, business, timestamp=q["timestamp"])
    assert (prepared.url, prepared.params, prepared.data) == (sample["url"], q, sample["form_body"])
