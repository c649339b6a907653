"""Recognising Chinese receiver regions without a full administrative-division database.

What is recognised:
- provinces: the 34 provincial-level divisions, in their full form (浙江省, 广西壮族自治区, 北京市,
  香港特别行政区) and their common short forms (浙江, 广西, 北京, 香港);
- cities and districts: by suffix (市/地区/州/盟/自治州 for cities; 区/县/市/旗/自治县/自治旗/林区/特区 for
  districts), plus the municipalities' own names and the platforms' placeholder 市辖区.

Limit (documented in docs/rules.md): a city or district is *shaped* right, not proven to exist or to lie
in the province given: "火星市" passes, and so does "杭州" (by its 州 suffix, like 恩施州). An empty
district is accepted because several prefecture-level cities have none (东莞市, 中山市, 儋州市, 嘉峪关市).
"""

from __future__ import annotations

PROVINCES: dict[str, tuple[str, ...]] = {
    "北京市": ("北京",),
    "天津市": ("天津",),
    "上海市": ("上海",),
    "重庆市": ("重庆",),
    "河北省": ("河北",),
    "山西省": ("山西",),
    "辽宁省": ("辽宁",),
    "吉林省": ("吉林",),
    "黑龙江省": ("黑龙江",),
    "江苏省": ("江苏",),
    "浙江省": ("浙江",),
    "安徽省": ("安徽",),
    "福建省": ("福建",),
    "江西省": ("江西",),
    "山东省": ("山东",),
    "河南省": ("河南",),
    "湖北省": ("湖北",),
    "湖南省": ("湖南",),
    "广东省": ("广东",),
    "海南省": ("海南",),
    "四川省": ("四川",),
    "贵州省": ("贵州",),
    "云南省": ("云南",),
    "陕西省": ("陕西",),
    "甘肃省": ("甘肃",),
    "青海省": ("青海",),
    "台湾省": ("台湾",),
    "内蒙古自治区": ("内蒙古",),
    "广西壮族自治区": ("广西", "广西自治区"),
    "西藏自治区": ("西藏",),
    "宁夏回族自治区": ("宁夏", "宁夏自治区"),
    "新疆维吾尔自治区": ("新疆", "新疆自治区"),
    "香港特别行政区": ("香港",),
    "澳门特别行政区": ("澳门",),
}
MUNICIPALITIES = ("北京", "天津", "上海", "重庆")

_PROVINCE_FORMS: dict[str, str] = {}
for _full, _shorts in PROVINCES.items():
    _PROVINCE_FORMS[_full] = _full
    for _short in _shorts:
        _PROVINCE_FORMS[_short] = _full

CITY_SUFFIXES = ("市", "地区", "自治州", "州", "盟")
DISTRICT_SUFFIXES = ("区", "县", "市", "旗", "自治县", "自治旗", "林区", "特区")
PLACEHOLDERS = ("市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划")


def _clean(value: str) -> str:
    return (value or "").strip().replace(" ", "").replace("\u3000", "")


def normalize_province(value: str) -> str:
    """The full name of a province given in any common form, or '' when not recognised."""
    return _PROVINCE_FORMS.get(_clean(value), "")


def province_recognised(value: str) -> bool:
    return bool(normalize_province(value))


def city_recognised(value: str) -> bool:
    name = _clean(value)
    if not name:
        return False
    if name in PLACEHOLDERS or name in MUNICIPALITIES or name in _PROVINCE_FORMS:
        return True
    return len(name) >= 2 and name.endswith(CITY_SUFFIXES)


def district_recognised(value: str) -> bool:
    """True for a district-shaped name, and for an empty district (cities without districts)."""
    name = _clean(value)
    if not name:
        return True
    return len(name) >= 2 and name.endswith(DISTRICT_SUFFIXES)
