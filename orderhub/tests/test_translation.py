"""The Simplified Chinese translation: what ops staff see, and catalogues that are complete and compiled.

The root conftest pins LANGUAGE_CODE="en" for the other tests; these switch to Chinese explicitly.
Catalogue checks read the .po files with the small parser below, so they need no GNU gettext (CI and a
fresh machine may not have it); only the "catalogue matches the source" check needs xgettext and is
skipped without it.
"""

from __future__ import annotations

import gettext
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import translation

from orders.errors import OrderPermissionDenied, OrderTransitionNotAllowed
from orders.models import Channel, Order, OrderState, Platform
from orders.tests.factories import make_channel, make_order_in_state

ROOT = Path(settings.BASE_DIR)
LANGUAGE = "zh_Hans"
# Every catalogue the repository must ship; a new app catalogue is found by the glob in `catalogues()`.
REQUIRED_CATALOGUES = {
    "locale/zh_Hans/LC_MESSAGES/django.po",
    "orders/locale/zh_Hans/LC_MESSAGES/django.po",
    "rules/locale/zh_Hans/LC_MESSAGES/django.po",
    "inventory/locale/zh_Hans/LC_MESSAGES/django.po",
    "shipping/locale/zh_Hans/LC_MESSAGES/django.po",
}
SKIP_DIRS = {".venv", ".git", "node_modules", "__pycache__", "bench", "staticfiles"}


# ---- what ops staff see ---------------------------------------------------------------------------


def test_order_states_in_chinese():
    with translation.override("zh-hans"):
        labels = {value: str(label) for value, label in OrderState.choices}
        assert labels == {
            "new": "新订单",
            "ready": "待打印",
            "on_hold": "已暂停",
            "awaiting_stock": "等待到货",
            "printed": "已打印",
            "partially_shipped": "部分发货",
            "shipped": "已发货",
            "delivered": "已签收",
            "returned": "已退货",
            "cancelled": "已取消",
        }
        assert str(Order._meta.get_field("state").verbose_name) == "状态"
        assert str(Order._meta.verbose_name) == "订单"


def test_channel_platforms_in_chinese():
    with translation.override("zh-hans"):
        labels = {value: str(label) for value, label in Platform.choices}
        assert labels == {
            "taobao": "淘宝",
            "tmall": "天猫",
            "jd": "京东",
            "pdd": "拼多多",
            "douyin": "抖店",
            "kuaishou": "快手小店",
            "manual": "手工 / ERP 对接",
        }
        assert str(Channel._meta.verbose_name) == "店铺"
        assert str(Channel._meta.get_field("name").verbose_name) == "店铺名称"


def test_order_errors_in_chinese_keep_codes_for_the_api():
    with translation.override("zh-hans"):
        error = OrderTransitionNotAllowed(order_id=7, transition="cancel", state="shipped")
        no_stock = OrderTransitionNotAllowed(order_id=7, transition="release", state="awaiting_stock (no stock)")
        denied = OrderPermissionDenied(transition="cancel", permission="orders.cancel_order")
    assert str(error) == "订单 7 当前状态为“已发货”，不能取消。"
    assert (error.state, error.transition) == ("shipped", "cancel")
    assert str(no_stock) == "订单 7 当前状态为“等待到货，库存不足”，不能放行。"
    assert str(denied) == "您没有取消订单所需的权限“orders.cancel_order”。"
    with translation.override("en"):
        assert str(OrderTransitionNotAllowed(order_id=7, transition="cancel", state="shipped")) == (
            "Order 7 cannot “cancel” while it is “Shipped”."
        )


@pytest.mark.django_db
def test_order_admin_in_chinese(admin_client):
    """The browser's language wins over the default (tests pin LANGUAGE_CODE to English)."""
    make_order_in_state(make_channel(), OrderState.READY)
    response = admin_client.get("/admin/orders/order/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200
    html = response.content.decode()
    for text in (
        "订单与店铺",  # app
        "待打印",  # the order's state
        "最晚发货时间",  # ship-by filter
        "所选订单暂停发货",  # bulk actions
        "放行所选订单",
        "将所选订单标记为已打印",
        "平台订单号",  # column
        "淘宝",  # channel filter / column
    ):
        assert text in html, text
    assert "Ready to print" not in html


@pytest.mark.django_db
def test_chinese_admin_by_language_cookie(admin_client):
    order = make_order_in_state(make_channel(), OrderState.READY)
    admin_client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/admin/"})
    html = admin_client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    assert "暂停发货" in html and "标记已打印" in html  # transition buttons
    assert "平台原始报文" in html
    assert "订单日志" in html and "接单" in html and "新订单" in html  # event log: kinds and states as labels
    assert "Ready to print" not in html


@pytest.mark.django_db
def test_english_browser_gets_english_admin_whatever_the_default(admin_client, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    make_order_in_state(make_channel(), OrderState.READY)
    html = admin_client.get("/admin/orders/order/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Ready to print" in html and "待打印" not in html


# ---- catalogues -----------------------------------------------------------------------------------


@dataclass
class Entry:
    msgid: str
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    obsolete: bool = False


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def _unquote(text: str) -> str:
    text = text.strip()
    assert text.startswith('"') and text.endswith('"'), text
    return re.sub(r"\\(.)", lambda m: _ESCAPES[m.group(1)], text[1:-1])


def parse_po(path: Path) -> list[Entry]:
    """Entries of a .po file (GNU gettext PO format, as written by makemessages/msgmerge)."""
    entries: list[Entry] = []
    entry: Entry | None = None
    key: tuple[str, int | None] | None = None
    flags: set[str] = set()

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        obsolete = line.startswith("#~")
        if obsolete:
            line = line[2:].strip()
            if not line or line.startswith("|"):
                continue
        elif line.startswith("#,"):
            flags |= {flag.strip() for flag in line[2:].split(",") if flag.strip()}
            continue
        elif not line or line.startswith("#"):
            continue
        match = re.match(r"^(msgctxt|msgid_plural|msgid|msgstr)(?:\[(\d+)\])?\s+(\".*\")$", line)
        if match:
            keyword, index, text = match.group(1), match.group(2), _unquote(match.group(3))
            if keyword == "msgctxt" or (keyword == "msgid" and (entry is None or key[0] != "msgctxt")):
                entry = Entry(msgid="", flags=flags, obsolete=obsolete)
                entries.append(entry)
                flags = set()
            key = (keyword, int(index) if index is not None else None)
            if keyword == "msgstr":
                entry.msgstr[key[1] or 0] = text
            else:
                setattr(entry, keyword, text)
        else:  # continuation of the previous string
            text = _unquote(line)
            if key[0] == "msgstr":
                entry.msgstr[key[1] or 0] += text
            else:
                setattr(entry, key[0], getattr(entry, key[0]) + text)
    return entries


def catalogues() -> list[Path]:
    found = []
    for path in sorted(ROOT.rglob(f"locale/{LANGUAGE}/LC_MESSAGES/*.po")):
        if not SKIP_DIRS.intersection(path.relative_to(ROOT).parts):
            found.append(path)
    return found


def expected_mo_catalog(entries: list[Entry]) -> dict:
    """What gettext.GNUTranslations reads from a .mo that msgfmt compiled from these entries:
    fuzzy, untranslated and obsolete entries are left out; a context is joined with EOT."""
    catalog: dict = {}
    for entry in entries:
        if entry.obsolete or (entry.msgid and "fuzzy" in entry.flags):
            continue
        if not entry.msgid or not any(entry.msgstr.values()):
            if entry.msgid == "":  # the header; msgfmt leaves out POT-Creation-Date
                catalog[""] = re.sub(r"^POT-Creation-Date: .*\n", "", entry.msgstr[0], flags=re.MULTILINE)
            continue
        key = entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"
        if entry.msgid_plural is None:
            catalog[key] = entry.msgstr[0]
        else:
            for index, text in entry.msgstr.items():
                catalog[(key, index)] = text
    return catalog


def _placeholders(text: str) -> list[str]:
    return sorted(re.findall(r"%\(\w+\)[sdfir]|%[sd]", text))


def _tags(text: str) -> list[str]:
    return sorted(re.findall(r"</?[a-zA-Z][^>]*>", text))


CATALOGUES = catalogues()


def test_every_required_catalogue_exists():
    found = {str(path.relative_to(ROOT)) for path in CATALOGUES}
    assert found >= REQUIRED_CATALOGUES
    assert not (ROOT / "inventory" / "locale").exists() or "inventory/locale/zh_Hans/LC_MESSAGES/django.po" in found


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: str(p.relative_to(ROOT)))
def test_catalogue_is_complete(po: Path):
    entries = [entry for entry in parse_po(po) if not entry.obsolete]
    header = entries[0]
    assert header.msgid == "" and "fuzzy" not in header.flags
    assert "Plural-Forms: nplurals=1; plural=0;" in header.msgstr[0]
    assert f"Language: {LANGUAGE}" in header.msgstr[0]
    problems = []
    for entry in entries[1:]:
        name = f"{entry.msgctxt + ' | ' if entry.msgctxt else ''}{entry.msgid!r}"
        if "fuzzy" in entry.flags:
            problems.append(f"fuzzy: {name}")
        if entry.msgid_plural is not None and sorted(entry.msgstr) != [0]:
            problems.append(f"plural forms must be exactly msgstr[0] (nplurals=1): {name}")
        for text in entry.msgstr.values():
            if not text.strip():
                problems.append(f"untranslated: {name}")
            elif "python-format" in entry.flags and set(_placeholders(text)) != set(_placeholders(entry.msgid)):
                problems.append(f"placeholders differ: {name} -> {text!r}")
            elif _tags(text) != _tags(entry.msgid):
                problems.append(f"HTML differs: {name} -> {text!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_mo_matches_its_po(po: Path):
    """A stale or missing .mo fails here: run `make messages` (or compilemessages) and commit the .mo."""
    mo = po.with_suffix(".mo")
    assert mo.exists(), f"{mo.relative_to(ROOT)} is missing: compile it and commit it"
    with mo.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    # _catalog is what gettext looks messages up in; comparing it whole also catches extra stale entries.
    assert compiled._catalog == expected_mo_catalog(parse_po(po))


def test_each_translation_is_what_django_shows():
    """Django merges every catalogue into one per language: the project's locale/ first, then apps in
    INSTALLED_APPS order (django.contrib.admin and third-party apps come before ours). The same msgid in
    two catalogues shows one translation everywhere; give it a context (pgettext) where meanings differ."""
    wrong = []
    with translation.override("zh-hans"):
        for po in CATALOGUES:
            for entry in parse_po(po)[1:]:
                if entry.obsolete:
                    continue
                if entry.msgid_plural is None:
                    args = (entry.msgid,)
                    shown = translation.pgettext(entry.msgctxt, *args) if entry.msgctxt else translation.gettext(*args)
                else:
                    args = (entry.msgid, entry.msgid_plural, 1)
                    shown = (
                        translation.npgettext(entry.msgctxt, *args) if entry.msgctxt else translation.ngettext(*args)
                    )
                if shown != entry.msgstr[0]:
                    wrong.append(f"{po.relative_to(ROOT)}: {entry.msgid!r} shows {shown!r}, not {entry.msgstr[0]!r}")
    assert not wrong, "\n".join(wrong)


def _apps_without_catalogue() -> list[str]:
    return sorted(
        path.parent.name
        for path in ROOT.glob("*/apps.py")
        if not (path.parent / "locale").is_dir() and not SKIP_DIRS.intersection(path.parts)
    )


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="needs GNU gettext (xgettext) to extract messages")
def test_catalogues_match_the_source(tmp_path, settings, monkeypatch):
    """`make messages` would change no msgid: every marked string is in a catalogue, none is left over."""
    copy = tmp_path / "src"
    shutil.copytree(
        ROOT,
        copy,
        ignore=shutil.ignore_patterns(*SKIP_DIRS, "*.mo", "*.sqlite3*", ".pytest_cache", ".ruff_cache", ".demo"),
    )
    settings.LOCALE_PATHS = [copy / "locale"]
    monkeypatch.chdir(copy)
    ignore = ["bench", *(f"{app}/?*" for app in _apps_without_catalogue())]
    call_command("makemessages", locale=[LANGUAGE], ignore_patterns=ignore, no_obsolete=True, verbosity=0)

    def keys(path: Path) -> set[tuple[str | None, str]]:
        return {(entry.msgctxt, entry.msgid) for entry in parse_po(path) if not entry.obsolete and entry.msgid}

    for po in CATALOGUES:
        relative = po.relative_to(ROOT)
        fresh, committed = keys(copy / relative), keys(po)
        assert fresh == committed, (
            f"{relative} is out of date with the source (run `make messages`, translate, commit): "
            f"new {sorted(fresh - committed, key=str)}, gone {sorted(committed - fresh, key=str)}"
        )
