// farmwatch built-in page: farms, latest values coloured against the profiles' limits, charts of
// the last 24 h / 7 d, open alerts with an Acknowledge button, all live over Server-Sent Events;
// "was this useful?" buttons on open and recently resolved alerts, and for operators the
// false-alarm rates per rule (docs/feedback.md).
// Plain JavaScript, no build step: a cooperative can read and change it.
"use strict";

const LANG = document.documentElement.lang === "en" ? "en" : "vi";
const T = {
  vi: {
    live: "Trực tiếp", offline: "Mất kết nối", other: "English", otherHref: "?lang=en",
    online: "đang gửi", silent: "không gửi", unknown: "chưa rõ", seen: "Cập nhật",
    none: "Chưa có số liệu.", alerts: "Cảnh báo", noAlerts: "Không có cảnh báo.",
    ack: "Xác nhận", acked: "Đã xác nhận", askName: "Tên của bạn (để ghi ai đã xác nhận):",
    day: "24 giờ", week: "7 ngày", nodes: "nút đo", since: "từ", noData: "Không có số liệu.",
    demo: "Chế độ demo: không cần đăng nhập, chỉ mở trên máy này. Để yêu cầu mã truy cập: farmwatch tokens add --role admin",
    logout: "Đăng xuất",
    fbQuestion: "Hữu ích?", useful: "Hữu ích", false_alarm: "Báo nhầm", too_late: "Quá muộn",
    recent: "Vừa kết thúc (24 giờ)", thanks: "Đã ghi nhận",
    summary: "Góp ý của nông dân theo quy tắc (90 ngày)", rule: "Quy tắc", answers: "Số trả lời",
    falseShare: "% báo nhầm", lateShare: "% quá muộn", suggestion: "Gợi ý ngưỡng (chỉ gợi ý)",
    few: "chưa đủ trả lời", noAnswers: "Chưa có trả lời.",
  },
  en: {
    live: "Live", offline: "Disconnected", other: "Tiếng Việt", otherHref: "?lang=vi",
    online: "reporting", silent: "silent", unknown: "unknown", seen: "Updated",
    none: "No readings yet.", alerts: "Alerts", noAlerts: "No alerts.",
    ack: "Acknowledge", acked: "Acknowledged", askName: "Your name (recorded with the acknowledgement):",
    day: "24 h", week: "7 days", nodes: "nodes", since: "since", noData: "No data.",
    demo: "Demo mode: no login, open on this machine only. To require tokens: farmwatch tokens add --role admin",
    logout: "Log out",
    fbQuestion: "Useful?", useful: "Useful", false_alarm: "False alarm", too_late: "Too late",
    recent: "Recently resolved (24 h)", thanks: "Recorded",
    summary: "Farmers' answers per rule (90 days)", rule: "Rule", answers: "Answers",
    falseShare: "% false alarms", lateShare: "% too late", suggestion: "Suggested limit (advice only)",
    few: "too few answers", noAnswers: "No answers yet.",
  },
}[LANG];

const state = { meta: null, latest: new Map(), nodes: new Map(), alerts: [], recent: [], open: null,
  answered: new Map() };
const $ = (sel, root = document) => root.querySelector(sel);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

// Times are stored in UTC and shown in Hải Dương time, whatever the phone's own zone.
const TIME = new Intl.DateTimeFormat(LANG === "vi" ? "vi-VN" : "en-GB", {
  timeZone: "Asia/Ho_Chi_Minh", hour: "2-digit", minute: "2-digit", day: "2-digit", month: "2-digit",
});
const NUMBER = new Intl.NumberFormat(LANG === "vi" ? "vi-VN" : "en-GB", { maximumSignificantDigits: 4 });
const local = (iso) => TIME.format(new Date(iso));

function label(q) {
  const spec = state.meta.quantities[q];
  return spec ? spec[LANG] : q;
}

function unit(q) {
  const u = (state.meta.quantities[q] || {}).unit || "";
  return u && u !== "%" && u !== "°C" ? " " + u : u;
}

// The most severe limit a value breaches, for the farm's model type (as the alert rules judge).
function severity(farm, q, value) {
  const limits = (state.meta.limits[farm.model] || {})[q] || [];
  for (const lim of limits) {
    if ((lim.below !== null && value < lim.below) || (lim.above !== null && value > lim.above)) {
      return lim.severity;
    }
  }
  return "";
}

// Logged out (cookie expired, token revoked): back to the login form.
function toLogin() { location.href = LANG === "en" ? "/login?lang=en" : "/login"; }

async function getJSON(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  if (response.status === 401) toLogin();
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

function mergeLatest(rows) {
  for (const row of rows) state.latest.set(`${row.farm_id}|${row.node_id}|${row.quantity}`, row);
}

function renderAlerts() {
  const box = $("#alerts");
  box.replaceChildren(el("h2", {}, `${T.alerts} (${state.alerts.length})`));
  if (!state.alerts.length) box.append(el("p", { class: "note" }, T.noAlerts));
  for (const alert of state.alerts) box.append(alertRow(alert));
  const open = new Set(state.alerts.map((a) => a.id));
  const recent = state.recent.filter((a) => !open.has(a.id));
  if (recent.length) {
    const list = el("div", { id: "recent" }, el("h3", {}, T.recent));
    for (const alert of recent) list.append(alertRow(alert));
    box.append(list);
  }
}

function alertRow(alert) {
  const notes = alert.annotations || {};
  const labels = alert.labels || {};
  const farm = state.meta.farms.find((f) => f.id === labels.farm);
  const node = farm && farm.nodes.find((n) => n.id === labels.node);
  const where = `${notes.farm_name || (farm && farm.name) || labels.farm} / ${node ? node.name : labels.node || ""}`;
  const what = labels.quantity ? label(labels.quantity) : labels.alertname;
  const number = (text) => (isNaN(parseFloat(text)) ? text : NUMBER.format(parseFloat(text)));
  const value = notes.value ? ` ${number(notes.value)}${notes.unit ? unit(labels.quantity) : ""}` : "";
  const limit = notes.limit ? ` (${notes.direction === "above" ? ">" : "<"} ${number(notes.limit)})` : "";
  const row = el("div", { class: `alert ${alert.severity} ${alert.state}`, "data-id": alert.id },
    el("div", { class: "what" }, el("strong", {}, `${what}${value}${limit}`), el("br"), where,
      el("div", { class: "when" }, `${T.since} ${local(alert.starts_at)}`)));
  if (alert.state === "firing" && !state.meta.auth.read_only) {
    row.append(el("button", { class: "primary", onclick: () => acknowledge(alert) }, T.ack));
  } else if (alert.state === "acknowledged") {
    row.append(el("span", { class: "acked" }, `${T.acked}: ${alert.acknowledged_by || ""}`));
  }
  if (!state.meta.auth.read_only) row.append(feedbackBar(alert));
  return row;
}

// "Was this useful?": three one-tap buttons; the latest tap is the answer that counts.
function feedbackBar(alert) {
  const chosen = state.answered.get(alert.id);
  const bar = el("div", { class: "fb", role: "group", "aria-label": T.fbQuestion },
    el("span", { class: "q" }, T.fbQuestion));
  for (const answer of ["useful", "false_alarm", "too_late"]) {
    bar.append(el("button", { class: `fb-${answer}`, "data-answer": answer,
      "aria-pressed": String(chosen === answer), onclick: () => giveFeedback(alert, answer) }, T[answer]));
  }
  if (chosen) bar.append(el("span", { class: "thanks" }, T.thanks));
  return bar;
}

async function giveFeedback(alert, answer) {
  const name = state.meta.auth.demo ? demoName() : null;
  if (state.meta.auth.demo && !name) return;
  const response = await fetch(`/api/v1/alerts/${alert.id}/feedback`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ answer, by: name }),
  });
  if (response.status === 401) toLogin();
  if (response.ok) {
    state.answered.set(alert.id, answer);
    renderAlerts();
    refreshSummary();
  }
}

// Alerts resolved in the last 24 hours, to answer after the fact.
async function refreshRecent() {
  if (state.meta.auth.read_only) return;
  try {
    const since = Date.now() - 86400e3;
    state.recent = (await getJSON("/api/v1/alerts?limit=50"))
      .filter((a) => a.state === "resolved" && a.fired_at && Date.parse(a.ends_at) >= since);
  } catch (err) { state.recent = []; }
}

// Operators (admin, cooperative, officer): false-alarm rates per rule, and suggested limits.
async function refreshSummary() {
  const box = $("#feedback");
  if (!box || state.meta.auth.role === "farmer") return;
  let summary;
  try { summary = await getJSON("/api/v1/feedback/summary"); } catch (err) { return; }
  const pct = (x) => (x === null ? T.few : `${Math.round(100 * x)} %`);
  box.replaceChildren(el("h2", {}, T.summary));
  if (!summary.rules.length) { box.append(el("p", { class: "note" }, T.noAnswers)); return; }
  const table = el("table", { class: "summary" }, el("tr", {},
    ...[T.rule, T.answers, T.falseShare, T.lateShare, T.suggestion].map((h) => el("th", {}, h))));
  for (const r of summary.rules) {
    const s = r.suggestion;
    const advice = s ? `${s.direction === "below" ? "<" : ">"} ${NUMBER.format(s.current)} → ${NUMBER.format(s.suggested)}` : "";
    table.append(el("tr", { "data-rule": r.rule },
      el("td", {}, r.detector ? `${r.rule} (${r.detector})` : r.rule), el("td", {}, String(r.answers)),
      el("td", { class: "fa" }, pct(r.false_alarm_share)), el("td", {}, pct(r.too_late_share)),
      el("td", {}, advice)));
  }
  box.append(table);
}

function demoName() {
  let name = localStorage.getItem("farmwatch-name");
  if (!name) {
    name = (window.prompt(T.askName) || "").trim();
    if (name) localStorage.setItem("farmwatch-name", name);
  }
  return name;
}

async function acknowledge(alert) {
  // With a token the server records the token's name; only the tokenless demo asks for one.
  let name = null;
  if (state.meta.auth.demo) {
    name = localStorage.getItem("farmwatch-name");
    if (!name) {
      name = (window.prompt(T.askName) || "").trim();
      if (!name) return;
      localStorage.setItem("farmwatch-name", name);
    }
  }
  const response = await fetch(`/api/v1/alerts/${alert.id}/ack`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ by: name }),
  });
  if (response.status === 401) toLogin();
  if (response.ok) {
    const updated = await response.json();
    alert.state = updated.state;
    alert.acknowledged_by = updated.acknowledged_by;
    renderAlerts();
  }
}

function renderFarms() {
  const main = $("#farms");
  main.replaceChildren();
  if (!state.meta.farms.length && !state.latest.size) main.append(el("p", { class: "note" }, T.none));
  for (const farm of state.meta.farms) {
    const online = farm.nodes.filter((n) => (state.nodes.get(`${farm.id}|${n.id}`) || {}).state === "online");
    const card = el("section", { class: "farm", "data-farm": farm.id },
      el("h2", {}, farm.name),
      el("div", { class: "sub" }, `${((state.meta.models || {})[farm.model] || {})[LANG] || farm.model} · ${online.length}/${farm.nodes.length} ${T.nodes}`));
    for (const node of farm.nodes) card.append(renderNode(farm, node));
    main.append(card);
  }
}

// Readings first, then what analytics derived from them, the node's own health last.
const HEALTH = new Set(["battery_voltage", "rssi"]);
function rank(q) {
  if (HEALTH.has(q)) return 2;
  return state.meta.quantities[q] && !(q in (state.meta.derived || {})) ? 0 : 1;
}

function renderNode(farm, node) {
  const key = `${farm.id}|${node.id}`;
  const status = (state.nodes.get(key) || {}).state || "unknown";
  const rows = [...state.latest.values()].filter((r) => r.farm_id === farm.id && r.node_id === node.id
    && !r.quantity.startsWith("anomaly_"));
  const box = el("div", { class: "node", "data-node": key },
    el("h3", { onclick: () => toggleChart(farm, node) },
      el("span", { class: `dot ${status}`, title: T[status === "online" ? "online" : status === "offline" ? "silent" : "unknown"] }),
      node.name));
  const values = el("div", { class: "values" });
  let newest = "";
  for (const row of rows.sort((a, b) => rank(a.quantity) - rank(b.quantity)
    || label(a.quantity).localeCompare(label(b.quantity)))) {
    const level = severity(farm, row.quantity, row.value);
    values.append(el("span", {}, label(row.quantity)),
      el("span", { class: `v ${level}`, "data-q": row.quantity }, NUMBER.format(row.value) + unit(row.quantity)));
    if (row.ts > newest) newest = row.ts;
  }
  box.append(values);
  if (newest) box.append(el("div", { class: "seen" }, `${T.seen}: ${local(newest)}`));
  if (state.open && state.open.key === key) box.append(state.open.box);
  return box;
}

async function toggleChart(farm, node) {
  const key = `${farm.id}|${node.id}`;
  if (state.open && state.open.key === key) { state.open = null; renderFarms(); return; }
  const quantities = [...state.latest.values()]
    .filter((r) => r.farm_id === farm.id && r.node_id === node.id && r.quantity in state.meta.quantities
      && !r.quantity.startsWith("anomaly_")).map((r) => r.quantity)
    .sort((a, b) => rank(a) - rank(b) || label(a).localeCompare(label(b)));
  const box = el("div", { class: "chart" });
  state.open = { key, box, farm, node, quantity: quantities[0], days: 1 };
  const select = el("select", { onchange: (e) => { state.open.quantity = e.target.value; drawChart(); } },
    ...quantities.map((q) => el("option", { value: q }, label(q))));
  const day = el("button", { "aria-pressed": "true", onclick: () => setDays(1, day, week) }, T.day);
  const week = el("button", { "aria-pressed": "false", onclick: () => setDays(7, week, day) }, T.week);
  box.append(el("div", { class: "bar" }, select, day, week), el("div", { class: "plot" }));
  renderFarms();
  drawChart();
}

function setDays(days, on, off) {
  on.setAttribute("aria-pressed", "true");
  off.setAttribute("aria-pressed", "false");
  state.open.days = days;
  drawChart();
}

async function drawChart() {
  const open = state.open;
  if (!open || !open.quantity) return;
  const end = new Date();
  const start = new Date(end - open.days * 86400e3);
  const interval = open.days > 1 ? 3600 : 300;
  const url = `/api/v1/farms/${open.farm.id}/nodes/${open.node.id}/series?quantity=${open.quantity}`
    + `&interval_s=${interval}&start=${start.toISOString()}&end=${end.toISOString()}`;
  const plot = $(".plot", open.box);
  let buckets = [];
  try { buckets = await getJSON(url); } catch (err) { plot.replaceChildren(el("p", { class: "note" }, String(err))); return; }
  if (!buckets.length) { plot.replaceChildren(el("p", { class: "note" }, T.noData)); return; }
  const xs = buckets.map((b) => Date.parse(b.start) / 1000);
  const ys = buckets.map((b) => b.value);
  const series = [{}, { label: label(open.quantity), stroke: "#2f6d3a", width: 2 }];
  const data = [xs, ys];
  for (const lim of (state.meta.limits[open.farm.model] || {})[open.quantity] || []) {
    const level = lim.below !== null ? lim.below : lim.above;
    data.push(xs.map(() => level));
    series.push({ label: `${lim.severity} ${level}`, stroke: lim.severity === "critical" ? "#b3261e" : "#b86e00", dash: [6, 4], width: 1 });
  }
  const width = Math.max(260, plot.clientWidth || open.box.clientWidth || 320);
  plot.replaceChildren();
  const range = [start / 1000, end / 1000];
  new uPlot({ width, height: 180, series, legend: { show: false },
    scales: { x: { time: true, range: () => range } },
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Asia/Ho_Chi_Minh") }, data, plot);
}

async function refreshNodes() {
  try {
    for (const node of await getJSON("/api/v1/nodes")) state.nodes.set(`${node.farm_id}|${node.node_id}`, node);
  } catch (err) { /* the next event retries */ }
}

function connect() {
  const live = $("#live");
  const events = new EventSource("/api/v1/page/events");
  events.addEventListener("open", () => { live.textContent = T.live; live.classList.remove("off"); });
  events.addEventListener("error", () => { live.textContent = T.offline; live.classList.add("off"); });
  events.addEventListener("logout", () => { events.close(); toLogin(); });
  events.addEventListener("update", async (event) => {
    const body = JSON.parse(event.data);
    if (body.error) { $("#footer").textContent = body.error; return; }
    mergeLatest(body.latest || []);
    state.alerts = (body.alerts || []).filter((a) => a.state !== "resolved");
    if ((body.latest || []).length) await refreshNodes();
    renderAlerts();
    renderFarms();
  });
}

// Who is logged in (with a log-out button), or the demo-mode note.
function renderWho() {
  const box = $("#who");
  const auth = state.meta.auth;
  if (auth.demo) {
    box.replaceChildren(el("p", { class: "note demo", id: "demo" }, T.demo));
  } else {
    box.replaceChildren(el("form", { method: "post", action: "/logout", class: "who" },
      el("span", {}, auth.name + " "), el("button", { type: "submit" }, T.logout)));
  }
}

async function main() {
  const other = $("#lang");
  other.textContent = T.other;
  other.href = T.otherHref;
  state.meta = await getJSON("/api/v1/page/meta");
  renderWho();
  mergeLatest(await getJSON("/api/v1/latest"));
  await refreshNodes();
  try { state.alerts = await getJSON("/api/v1/alerts?open=true"); } catch (err) { state.alerts = []; }
  await refreshRecent();
  setInterval(async () => { await refreshRecent(); renderAlerts(); }, 60_000);
  refreshSummary();
  renderAlerts();
  renderFarms();
  connect();
}

main().catch((err) => { $("#farms").replaceChildren(el("p", { class: "note" }, String(err))); });
