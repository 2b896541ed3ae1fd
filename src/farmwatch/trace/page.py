"""The printable page of a lot's record: one A4 sheet with the summary and a QR code to it.

The page is rendered from the signed JSON record (never from the store), so what a buyer reads
on paper or on a phone is exactly what was signed. The QR code (segno, inline SVG: no image
file, prints sharp at any size) holds the record's page URL, the one a phone camera opens; that
page links the signed JSON and the issuer's public key, and shows the key's fingerprint so a
buyer can compare it with the one the cooperative publishes. Vietnamese by default, English with
``lang="en"``; times are shown in Asia/Ho_Chi_Minh.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from html import escape
from typing import Any

import segno
from farmwatch_core.timefmt import DISPLAY_TZ

__all__ = ["TEXT", "qr_svg", "render_page"]

TEXT: Mapping[str, Mapping[str, str]] = {
    "vi": {
        "title": "Hồ sơ truy xuất nguồn gốc lô hàng",
        "lot": "Mã lô",
        "product": "Sản phẩm",
        "codes": "Mã vùng trồng",
        "period": "Thời gian sản xuất",
        "farms": "Cơ sở sản xuất",
        "coop": "HTX",
        "cert": "Chứng nhận",
        "summary": "Kết quả quan trắc",
        "subject": "Chỉ tiêu",
        "limits": "Ngưỡng giới hạn",
        "readings": "Số lần đo",
        "completeness": "Độ đầy đủ dữ liệu",
        "excursions": "Số lần vượt ngưỡng",
        "minutes": "Thời gian vượt ngưỡng (phút)",
        "alerts": "Cảnh báo trong kỳ",
        "no_alert_store": "không có dữ liệu cảnh báo",
        "not_computed": "chưa tính",
        "no_node": "không có nút đo",
        "scan": "Quét mã để xem hồ sơ gốc đã ký số",
        "signed": "Ký số Ed25519, khoá",
        "verify": "Kiểm tra: tải hồ sơ JSON và khoá công khai, chạy "
        "<code>farmwatch trace verify HỒ-SƠ.json --public-key KHOÁ.pem</code>, "
        "hoặc so dấu vân tay của khoá với dấu vân tay HTX công bố.",
        "status_ok": "Chữ ký hợp lệ",
        "status_bad": "Chữ ký KHÔNG hợp lệ",
        "created": "Lập lúc",
        "to": "đến",
        "other_lang": "English",
        "info": "thông tin",
        "warning": "cảnh báo",
        "critical": "nghiêm trọng",
    },
    "en": {
        "title": "Lot traceability record",
        "lot": "Lot",
        "product": "Product",
        "codes": "Growing-area code",
        "period": "Growing period",
        "farms": "Farms",
        "coop": "Cooperative",
        "cert": "Certifications",
        "summary": "Monitoring summary",
        "subject": "Quantity",
        "limits": "Limits",
        "readings": "Readings",
        "completeness": "Data completeness",
        "excursions": "Excursions beyond limits",
        "minutes": "Time beyond limits (min)",
        "alerts": "Alerts in the period",
        "no_alert_store": "no alert data",
        "not_computed": "not computed",
        "no_node": "no node",
        "scan": "Scan to open the signed original record",
        "signed": "Signed with Ed25519, key",
        "verify": "To check: download the JSON record and the public key and run "
        "<code>farmwatch trace verify RECORD.json --public-key KEY.pem</code>, "
        "or compare the key's fingerprint with the one the cooperative publishes.",
        "status_ok": "Signature valid",
        "status_bad": "Signature NOT valid",
        "created": "Issued",
        "to": "to",
        "other_lang": "Tiếng Việt",
        "info": "info",
        "warning": "warning",
        "critical": "critical",
    },
}

_CSS = """
@page { size: A4; margin: 14mm; }
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 10.5pt; color: #111;
       max-width: 190mm; margin: 0 auto; }
h1 { font-size: 16pt; margin: 0 0 4mm; }
header { display: flex; justify-content: space-between; gap: 6mm; }
.qr { text-align: center; font-size: 8.5pt; }
table { border-collapse: collapse; width: 100%; margin: 2mm 0; }
th, td { border: 1px solid #999; padding: 1.2mm 2mm; text-align: left; vertical-align: top; }
th { background: #eee; }
.statement { font-weight: bold; font-size: 12pt; margin: 4mm 0; }
.ok { color: #1a6b1a; } .bad { color: #b00020; }
small, .fine { font-size: 8.5pt; color: #444; word-break: break-all; }
@media print { a { color: inherit; text-decoration: none; } .noprint { display: none; } }
"""


def qr_svg(url: str) -> str:
    """The QR code of ``url`` as inline SVG (error correction M: survives a smudged print)."""
    return str(segno.make(url, error="m", micro=False).svg_inline(scale=4, border=4))


def _local(text: str | None, with_time: bool = True) -> str:
    if not text:
        return "—"
    ts = datetime.fromisoformat(text).astimezone(DISPLAY_TZ)
    return ts.strftime("%d/%m/%Y %H:%M" if with_time else "%d/%m/%Y")


def _limits(limits: list[Mapping[str, Any]], unit: str, t: Mapping[str, str]) -> str:
    parts = []
    for limit in limits:
        band = []
        if limit.get("below") is not None:
            band.append(f"&lt; {limit['below']:g}")
        if limit.get("above") is not None:
            band.append(f"&gt; {limit['above']:g}")
        severity = str(limit["severity"])
        parts.append(f"{escape(t.get(severity, severity))}: {' / '.join(band)} {escape(unit)}")
    return "<br>".join(parts)


def _subject_rows(record: Mapping[str, Any], t: Mapping[str, str], lang: str) -> str:
    rows = []
    several = len(record.get("farms", [])) > 1
    for s in record["monitoring"]["subjects"]:
        ex = s["excursions"]
        minutes = sum(v["minutes_outside"] for v in ex["by_severity"].values())
        status = s["status"]
        if status == "measured":
            numbers = (
                f"<td>{s['readings']:,}</td><td>{s['completeness']:.0%}</td>"
                f"<td>{ex['count']}</td><td>{minutes:g}</td>"
            )
        else:
            label = t["not_computed"] if status == "not computed" else t["no_node"]
            numbers = f'<td colspan="4">{escape(label)}</td>'
        label = s.get("label", {})
        name = escape(label.get(lang) or s["subject"].replace("_", " "))
        if several:
            name += f" <small>({escape(s['farm'])})</small>"
        unit = s.get("unit_symbol") or s["unit"]
        rows.append(f"<tr><td>{name}</td><td>{_limits(s['limits'], unit, t)}</td>{numbers}</tr>")
    return "\n".join(rows)


def _farms(record: Mapping[str, Any], t: Mapping[str, str]) -> str:
    items = []
    for farm in record["farms"]:
        where = ", ".join(escape(p) for p in (farm.get("commune"), farm.get("district")) if p)
        coop = farm.get("cooperative")
        extra = [f"{t['coop']}: {escape(coop['name'])}"] if coop else []
        if farm.get("certifications"):
            extra.append(f"{t['cert']}: {escape(', '.join(farm['certifications']))}")
        items.append(
            f"<li><b>{escape(farm['name'])}</b> ({escape(farm['id'])}) — {where}"
            f"{'<br>' + '; '.join(extra) if extra else ''}</li>"
        )
    return "<ul>" + "".join(items) + "</ul>"


def render_page(
    record: Mapping[str, Any], lang: str = "vi", signature_ok: bool | None = None
) -> str:
    """The printable HTML page of a signed record; ``signature_ok`` adds a verified badge."""
    t = TEXT.get(lang, TEXT["vi"])
    period = record["period"]
    end = datetime.fromisoformat(period["end"]) - timedelta(seconds=1)
    monitoring = record["monitoring"]
    alerts = record.get("alerts", {})
    alert_text = (
        str(alerts.get("count", 0))
        + (
            " ("
            + ", ".join(f"{n} {t.get(k, k)}" for k, n in alerts.get("by_severity", {}).items())
            + ")"
            if alerts.get("count")
            else ""
        )
        if alerts.get("available")
        else t["no_alert_store"]
    )
    badge = ""
    if signature_ok is not None:
        css, text = ("ok", t["status_ok"]) if signature_ok else ("bad", t["status_bad"])
        badge = f'<p class="{css}"><b>{escape(text)}</b></p>'
    other = "en" if lang == "vi" else "vi"
    url = str(record["url"])
    fingerprint = record.get("issuer", {}).get("key_fingerprint", "—")
    return f"""<!DOCTYPE html>
<html lang="{escape(lang)}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(t["title"])} {escape(record["lot"])}</title><style>{_CSS}</style></head>
<body>
<header><div>
<h1>{escape(t["title"])}</h1>
<table>
<tr><th>{t["lot"]}</th><td><b>{escape(record["lot"])}</b></td></tr>
<tr><th>{t["product"]}</th><td>{escape(record.get("product") or "—")}</td></tr>
<tr><th>{t["codes"]}</th><td>{escape(", ".join(record["growing_area_codes"]) or "—")}</td></tr>
<tr><th>{t["period"]}</th><td>{_local(period["start"], False)} {t["to"]} \
{end.astimezone(DISPLAY_TZ):%d/%m/%Y}</td></tr>
</table></div>
<div class="qr">{qr_svg(url)}<br>{escape(t["scan"])}<br><span class="fine">{escape(url)}</span>
</div></header>
<h2>{escape(t["farms"])}</h2>
{_farms(record, t)}
<h2>{escape(t["summary"])}</h2>
<p class="statement">{escape(monitoring["statement"].get(lang, monitoring["statement"]["vi"]))}</p>
<table>
<tr><th>{t["subject"]}</th><th>{t["limits"]}</th><th>{t["readings"]}</th>
<th>{t["completeness"]}</th><th>{t["excursions"]}</th><th>{t["minutes"]}</th></tr>
{_subject_rows(record, t, lang)}
</table>
<p>{escape(t["alerts"])}: {escape(alert_text)}</p>
{badge}
<p class="fine">{escape(t["signed"])} {escape(str(fingerprint))} —
<a href="{escape(str(record["json_url"]))}">{escape(str(record["json_url"]))}</a> —
<a href="{escape(str(record["public_key_url"]))}">public-key.pem</a><br>
{t["verify"]}<br>{escape(t["created"])}: {_local(record.get("created_at"))} (GMT+7)</p>
<p class="noprint"><a href="?lang={other}">{escape(t["other_lang"])}</a></p>
</body></html>
"""
