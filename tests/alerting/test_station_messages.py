"""Station alerts read as what happened and what to do, in Vietnamese and English."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from farmwatch_alerting.alert import Alert, AlertState
from farmwatch_alerting.evaluator import Evaluator
from farmwatch_alerting.messages import Contact, MessageRenderer
from farmwatch_alerting.notification import Notice, NoticeReason
from farmwatch_alerting.rules import load_rules
from farmwatch_analytics.model_profiles import load_profile
from farmwatch_core.registry import parse_registry

T0 = datetime(2026, 12, 2, 7, 10, tzinfo=UTC)  # 14:10 local
REGISTRY = parse_registry(
    "farms: [{id: water-01, name: Trạm cấp nước xã Hồng Lạc, model: clean_water_station, "
    "nodes: [{id: n1}]}]"
)


def fired(values: dict[str, float], minutes: tuple[int, ...] = (0,)) -> list[Alert]:
    """The alerts that fire when ``values`` are read at these minutes after T0."""
    profiles = {"water-01": load_profile("clean_water_station")}
    ev = Evaluator(load_rules(text=""), REGISTRY, profiles, T0)
    return [
        alert
        for m in minutes
        for alert in ev.observe("water-01", "n1", T0 + timedelta(minutes=m), values)
        if alert.state is AlertState.FIRING
    ]


def render(alerts: list[Alert], language: str) -> str:
    renderer = MessageRenderer(ack=lambda alert: ("4QW7N", "https://farm.example/a/4QW7N"))
    notice = Notice("operator", "g", {"farm": "water-01"}, alerts, NoticeReason.NEW, T0)
    return renderer.render(notice, Contact("zalo", "0912345678", language)).text


def test_a_pump_failure_is_named_without_a_meaningless_value_and_says_switch_it_off() -> None:
    (alert,) = fired({"pump_failure": 1.0})
    assert alert.name == "PumpFailureHighCritical"
    vi = render([alert], "vi").splitlines()
    assert vi[0] == "🔴 KHẨN: Bơm hỏng (chạy, không ra nước) — Trạm cấp nước xã Hồng Lạc (nút n1)"
    assert not any(line.startswith("Giá trị") for line in vi)
    assert "👉 Bơm chạy nhưng không ra nước: tắt bơm ngay" in "\n".join(vi)
    en = render([alert], "en")
    assert "CRITICAL: Pump failure (on, no flow)" in en
    assert "switch it off now" in en


def test_chlorine_low_and_high_ask_for_opposite_things() -> None:
    assert fired({"free_chlorine": 0.12}) == []  # a warning waits for its 10 minutes
    (low,) = fired({"free_chlorine": 0.12}, (0, 5, 10))
    text = render([low], "vi")
    assert "Clo dư tự do thấp" in text
    assert "0,12 mg/L" in text
    assert "QCVN 01-1:2018/BYT" in text
    assert "bơm định lượng clo" in text
    (high,) = fired({"free_chlorine": 1.4}, (0, 5, 10))
    assert "giảm liều clo" in render([high], "vi")
    assert "reduce the chlorine dose" in render([high], "en")
