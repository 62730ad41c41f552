"""vigil's class vocabulary: the class names rules, evidence, statistics and evaluation see.

Detectors keep their own names except where vigil's differ: COCO's `bicycle` and `motorcycle` are one class,
`ebike` (电动车: e-bikes, e-scooters, motorcycles and bicycles; from a ceiling or high-corner camera a COCO model
tells them apart no better than by chance, and the rule that matters, ebike_indoor, wants them all); COCO's
`backpack`, `handbag` and `suitcase` are one class, `bag` (包/行李: what blocked_exit counts as an obstacle or
ignores while carried, and what CCTV sets such as cctv_intelligence label). A model trained with vigil's own names
needs no renaming. Where several of a model's classes share one vigil name,
their boxes of one object (an e-bike scored both bicycle and motorcycle) are reduced to the best one, as the
detector's own NMS would within one class.

Names given in configurations and on the command line go through the same vocabulary, so a configuration written
with `motorcycle` or `bicycle` keeps working and means `ebike` (`handbag` means `bag`)."""
from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np

ALIASES: dict[str, str] = {"bicycle": "ebike", "motorcycle": "ebike", "e-bike": "ebike", "e_bike": "ebike",
                           "escooter": "ebike", "e-scooter": "ebike",
                           "backpack": "bag", "handbag": "bag", "suitcase": "bag", "luggage": "bag"}


def vigil_name(name: str) -> str:
    """The vigil class name of a detector's or a configuration's class name."""
    return ALIASES.get(name, name)


def vigil_names(names: Mapping[int, str]) -> dict[int, str]:
    """A detector's {class id: name} in vigil's vocabulary (several ids may share a name)."""
    return {int(i): vigil_name(str(n)) for i, n in names.items()}


def vigil_class_list(names: Iterable[str]) -> list[str]:
    """Names in vigil's vocabulary, each once, in their first order."""
    out: list[str] = []
    for n in names:
        v = vigil_name(n)
        if v not in out:
            out.append(v)
    return out


def canonical_ids(names: Mapping[int, str]) -> np.ndarray | None:
    """id -> the lowest id of the same vigil name (an array indexed by class id), or None when every vigil name has
    one id (nothing to merge)."""
    if not names:
        return None
    first: dict[str, int] = {}
    for i in sorted(names):
        first.setdefault(names[i], i)
    if len(first) == len(names):
        return None
    table = np.arange(max(names) + 1, dtype=np.int32)
    for i, n in names.items():
        table[i] = first[n]
    return table


# Chinese names of the classes rules name (evidence pictures are read by Chinese civil-affairs staff); a class not
# listed keeps its own name. The web app holds the same names in its locales (cls.*), in both languages.
ZH_NAMES: dict[str, str] = {
    "person": "人员", "ebike": "电动车", "fire": "明火", "smoke": "烟雾", "left object": "遗留物品",
    "chair": "椅子", "couch": "沙发", "bed": "床", "dining table": "桌子", "bench": "长椅", "bag": "包/行李",
    "potted plant": "盆栽", "refrigerator": "冰箱", "tv": "电视",
    "oven": "烤箱", "microwave": "微波炉", "toilet": "马桶", "sink": "水槽", "car": "汽车", "umbrella": "雨伞",
    "skateboard": "滑板", "surfboard": "冲浪板", "sports ball": "球", "vase": "花瓶", "laptop": "笔记本电脑",
}


# Chinese names of the rules, for the title strip of evidence pictures; the web app's zh locale (rule.*) says the same
RULE_ZH: dict[str, str] = {
    "blocked_exit": "安全出口/通道堵塞", "unattended_room": "消防控制室脱岗", "ebike_indoor": "电动车违规入室",
    "fire_smoke": "明火/烟雾", "gate": "大门夜间外出", "camera_offline": "摄像机离线",
}


def rule_zh(rule: str) -> str:
    """The Chinese name of a rule type, else the type itself."""
    return RULE_ZH.get(rule, rule)


def zh_name(name: str) -> str:
    """The Chinese name of a class (in vigil's vocabulary), else the name itself."""
    return ZH_NAMES.get(vigil_name(name), name)
