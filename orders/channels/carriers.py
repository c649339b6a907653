"""Carriers and each platform's code for them (shared/channels/README.md §6): the seed table.

Plain data, no imports from the adapters, so `base.py` (the default `carriers()`), the shipping app's
seed migration and the emulator can all read it. Codes marked (u) in the sheet are kept here as
seeds only: the platforms' carrier-list APIs (`ChannelAdapter.carriers()`) are the runtime truth.
"""

from __future__ import annotations

#: OrderHub carrier code -> (Chinese name, {platform: the platform's own code})
CARRIER_TABLE: dict[str, tuple[str, dict[str, str]]] = {
    "SF": ("顺丰速运", {"taobao": "SF", "jd": "467", "pdd": "44", "douyin": "shunfeng", "kuaishou": "4"}),
    "ZTO": ("中通快递", {"taobao": "ZTO", "jd": "1499", "pdd": "115", "douyin": "zhongtong", "kuaishou": "9"}),
    "YTO": ("圆通速递", {"taobao": "YTO", "jd": "463", "pdd": "85", "douyin": "yuantong", "kuaishou": "6"}),
    "STO": ("申通快递", {"taobao": "STO", "jd": "470", "pdd": "1", "douyin": "shentong", "kuaishou": "3"}),
    "YUNDA": ("韵达快递", {"taobao": "YUNDA", "jd": "1327", "pdd": "121", "douyin": "yunda", "kuaishou": "11"}),
    "JD": ("京东物流", {"taobao": "JD", "jd": "2087", "pdd": "120", "douyin": "jd", "kuaishou": "14"}),
    "EMS": ("EMS", {"taobao": "EMS", "jd": "465", "pdd": "118", "douyin": "ems", "kuaishou": "2"}),
    "POSTB": ("邮政快递包裹", {"taobao": "POSTB", "pdd": "132", "kuaishou": "8"}),
    "JT": ("极兔速递", {"taobao": "JT", "kuaishou": "109"}),
    "DEPPON": ("德邦快递", {"taobao": "DBKD", "jd": "3046", "pdd": "131", "kuaishou": "17"}),
}


def platform_key(platform: str) -> str:
    """Tmall shares Taobao's codes."""
    return "taobao" if platform == "tmall" else platform


def platform_carriers(platform: str) -> list[tuple[str, str]]:
    """(platform code, name) for every seeded carrier the platform has a code for."""
    key = platform_key(platform)
    return [(codes[key], name) for name, codes in CARRIER_TABLE.values() if key in codes]


def carrier_for(platform: str, platform_code: str) -> str:
    """OrderHub's carrier code for a platform's own code ("" when the table does not know it)."""
    key = platform_key(platform)
    for carrier, (_name, codes) in CARRIER_TABLE.items():
        if codes.get(key) == str(platform_code):
            return carrier
    return ""
