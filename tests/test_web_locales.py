"""The web app's words: every key of one locale is in the other (zh-CN and en; the zone editor's field words are
Chinese alone, English takes the schema's), and no source file outside the locales and i18n.js writes Chinese text or
full-width punctuation itself, where the English page would show it (the dashboard's 日/周/月 did, and "name（note）")."""
from __future__ import annotations

import re

from helpers import REPO

SRC = REPO / "review_ui" / "src"
KEY = re.compile(r'"([A-Za-z][A-Za-z0-9_.]*)":\s')
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def _keys(text: str) -> set[str]:
    return set(KEY.findall(text))


def _without_comments(text: str) -> str:
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(re.sub(r"(^|\s)//.*$", "", line) for line in text.splitlines())


def test_both_languages_have_every_key():
    zh, en = (_keys((SRC / "locales" / f"{lang}.js").read_text(encoding="utf-8")) for lang in ("zh", "en"))
    assert len(zh) > 300 and zh == en, (sorted(zh - en), sorted(en - zh))
    # the zone editor's: English takes the configuration fields' titles and descriptions from the schema, so only
    # the field words (fld., fldd.) may be Chinese alone
    zones = (SRC / "locales" / "zones.js").read_text(encoding="utf-8")
    zh_part, en_part = map(_keys, zones.split("export const en", 1))
    assert len(en_part) > 10 and en_part <= zh_part, sorted(en_part - zh_part)
    assert all(k.startswith(("fld.", "fldd.")) for k in zh_part - en_part), sorted(zh_part - en_part)


def test_no_chinese_outside_the_locales():
    # i18n.js is the language module itself (the punctuation each language writes)
    files = [p for p in SRC.rglob("*") if p.suffix in (".vue", ".js") and "locales" not in p.parts and p.name != "i18n.js"]
    assert len(files) > 20
    found = []
    for p in files:
        for n, line in enumerate(_without_comments(p.read_text(encoding="utf-8")).splitlines(), 1):
            if CJK.search(line):
                found.append(f"{p.relative_to(REPO)}:{n}: {line.strip()[:100]}")
    assert not found, "\n".join(found)


def test_the_checks_see_what_they_look_for():
    assert _keys('  "a.b": "x", "c": "y",\n') == {"a.b", "c"}
    assert CJK.search(_without_comments('<el-radio-button value="day">日</el-radio-button>'))
    assert not CJK.search(_without_comments('// 注释\nconst a = 1; // 说明\n<!-- 说明 -->'))
