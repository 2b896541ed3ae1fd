"""Messages a farmer reads at 3 a.m.: what, where, how bad, since when, what to do, how to ack."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from farmwatch_alerting.alert import Alert, Severity
from farmwatch_alerting.evaluator import Evaluator
from farmwatch_alerting.messages import SMS_LIMIT, Contact, MessageRenderer
from farmwatch_alerting.notification import Notice, NoticeReason
from farmwatch_alerting.rules import load_rules
from farmwatch_analytics.model_profiles import load_profile
from farmwatch_core.registry import parse_registry

T0 = datetime(2026, 7, 15, 19, 40, tzinfo=UTC)  # 02:40 on 16/07 in Hải Dương
REGISTRY = parse_registry(
    "farms: [{id: pond-02, name: Ao cá bà Hương, model: aquaculture_pond, nodes: [{id: n1}]}]"
)


def do_crash() -> list[Alert]:
    ev = Evaluator(load_rules(text=""), REGISTRY, {"pond-02": load_profile("aquaculture_pond")}, T0)
    return [
        a
        for a in ev.observe("pond-02", "n1", T0, {"dissolved_oxygen": 1.85, "ph": 7.4})
        if a.severity is Severity.CRITICAL
    ]


def renderer() -> MessageRenderer:
    return MessageRenderer(
        ack=lambda alert: ("7KX3P", "https://farm.example/a/7KX3P"),
        node_names={("pond-02", "n1"): "ao 2"},
    )


def notice(
    alerts: list[Alert], reason: NoticeReason = NoticeReason.NEW, minutes: float = 0
) -> Notice:
    return Notice(
        "farmer", "g1", {"farm": "pond-02"}, alerts, reason, T0 + timedelta(minutes=minutes)
    )


def test_the_vietnamese_message_says_what_where_value_limit_when_action_and_ack() -> None:
    message = renderer().render(notice(do_crash()), Contact("zalo", "0912345678", "vi"))
    assert message.text.splitlines() == [
        "🔴 KHẨN: Oxy hòa tan (DO) thấp — Ao cá bà Hương (nút ao 2)",
        "Giá trị 1,85 mg/L (ngưỡng 2,3 mg/L, "
        "tilapia minimum 2.3 mg/L; provincial level 2 < 2 mg/L)",
        "Từ 02:40 16/07",
        "👉 Bật máy sục khí ngay, ngừng cho ăn",
        "Xác nhận: https://farm.example/a/7KX3P hoặc nhắn OK 7KX3P",
        "Có hữu ích không? Chọn trên link, hoặc nhắn 1/2/3 7KX3P (hữu ích/báo nhầm/quá muộn)",
    ]
    assert message.subject == "Khẩn: Oxy hòa tan (DO) thấp — Ao cá bà Hương (nút ao 2)"
    assert (message.ack_code, message.severity, message.language) == ("7KX3P", "critical", "vi")


def test_the_sms_fits_one_plain_part_and_keeps_the_reply_code() -> None:
    message = renderer().render(notice(do_crash()), Contact("sms", "0912345678", "vi"))
    assert message.short_text.isascii()
    assert len(message.short_text) <= SMS_LIMIT
    assert message.short_text.startswith("Khan: Oxy hoa tan (DO) thap pond-02/n1 1,85 mg/L<2,3")
    assert message.short_text.endswith("OK 7KX3P")


def test_english_numbers_and_wording() -> None:
    message = renderer().render(notice(do_crash()), Contact("email", "a@b.vn", "en"))
    assert message.text.startswith("🔴 CRITICAL: Dissolved oxygen low — Ao cá bà Hương (node ao 2)")
    assert "Value 1.85 mg/L (limit 2.3 mg/L" in message.text
    assert "👉 Turn the aerators on now and stop feeding" in message.text


def test_resolved_and_escalation_messages() -> None:
    alert = do_crash()[0]
    done = alert.resolve(T0 + timedelta(minutes=75), {"value": "3.1"})
    resolved = renderer().render(notice([done], NoticeReason.RESOLVED, 75), Contact("zalo", "x"))
    assert (
        resolved.text.splitlines()[0]
        == "✅ ĐÃ ỔN: Oxy hòa tan (DO) thấp — Ao cá bà Hương (nút ao 2)"
    )
    assert "Kéo dài 1 giờ 15 phút" in resolved.text
    assert resolved.ack_code is None  # nothing to acknowledge any more...
    assert resolved.text.splitlines()[-1] == (  # ...but was it useful?
        "Có hữu ích không? https://farm.example/a/7KX3P hoặc nhắn 1/2/3 7KX3P "
        "(hữu ích/báo nhầm/quá muộn)"
    )
    assert "Xác nhận" not in resolved.text
    escalated = Notice(
        "tech", "g1", {}, [alert], NoticeReason.ESCALATION, T0 + timedelta(minutes=15), 1
    )
    text = renderer().render(escalated, Contact("zalo", "y")).text
    assert text.startswith("[Chuyển cấp 1] Chưa ai xác nhận cảnh báo sau 15 phút.")


def test_a_group_lists_the_worst_first_and_counts_the_rest() -> None:
    ev = Evaluator(load_rules(text=""), REGISTRY, {"pond-02": load_profile("aquaculture_pond")}, T0)
    alerts = [
        a
        for a in ev.observe(
            "pond-02", "n1", T0, {"dissolved_oxygen": 1.9, "ph": 5.0, "water_temperature": 14.0}
        )
        if a.state.value == "firing"
    ]
    assert len(alerts) == 3
    text = renderer().render(notice(alerts), Contact("zalo", "x")).text
    assert text.count("\n• ") == 2
    assert text.startswith("🔴 KHẨN:")


def test_a_notification_id_is_stable_for_the_same_notice_and_contact() -> None:
    r = renderer()
    a = r.render(notice(do_crash()), Contact("zalo", "x"))
    b = r.render(notice(do_crash()), Contact("zalo", "x"))
    c = r.render(notice(do_crash()), Contact("sms", "x"))
    assert a.id == b.id != c.id


def test_a_notice_without_alerts_is_a_bug_not_an_empty_message() -> None:
    with pytest.raises(ValueError, match="no alerts"):
        renderer().render(notice([]), Contact("zalo", "x"))
