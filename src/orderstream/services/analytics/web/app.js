// The live dashboard: one JSON snapshot per update, from server-sent events (/api/events),
// falling back to polling /api/stats. Plain DOM and SVG, no libraries, nothing from the web.
"use strict";

const money = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });
const count = new Intl.NumberFormat("en-US");
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

function cents(c) { return money.format(c / 100); }
function ms(v) { return v >= 1000 ? (v / 1000).toFixed(2) + " s" : Math.round(v) + " ms"; }
function clock(t) { return new Date(t).toLocaleTimeString("en-GB"); }

function setStat(id, raw, text) {
  const el = $(id);
  el.dataset.value = String(raw);
  el.textContent = text;
}

function el(tag, attrs, text) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function renderTiles(s) {
  const t = s.totals;
  setStat("orders-per-sec", s.ordersPerSec, count.format(Math.round(s.ordersPerSec)));
  setStat("orders-total", t.orders, count.format(t.orders));
  setStat("windows-closed", t.windowsClosed, count.format(t.windowsClosed));
  setStat("revenue-total", t.revenueCents, cents(t.revenueCents));
  setStat("reserved", t.reserved, count.format(t.reserved));
  setStat("rejected", t.rejected, count.format(t.rejected));
  setStat("p50", s.latency.p50Ms, ms(s.latency.p50Ms));
  setStat("p99", s.latency.p99Ms, ms(s.latency.p99Ms));
  setStat("late", t.late, count.format(t.late));
  const decided = t.reserved + t.rejected;
  $("reserved-bar").style.width = (decided ? (100 * t.reserved) / decided : 0) + "%";
}

function pct(share) { return share === null || share === undefined ? "–" : (100 * share).toFixed(1) + " %"; }

// Paid against reserved revenue, the failure rate, and the provider circuit (issue 13).
function renderPayments(p, c) {
  setStat("paid-revenue", p.paidCents, cents(p.paidCents));
  setStat("reserved-revenue", p.reservedCents, cents(p.reservedCents));
  setStat("paid-share", p.paidShareOfReserved ?? "", pct(p.paidShareOfReserved));
  $("paid-bar").style.width = Math.min(100, 100 * (p.paidShareOfReserved || 0)) + "%";
  setStat("paid", p.paid, count.format(p.paid));
  setStat("failed", p.failed, count.format(p.failed));
  setStat("failure-rate", p.failureRate ?? "", pct(p.failureRate));
  $("failure-reasons").textContent = p.failedByReason.length
    ? "(" + p.failedByReason.map((r) => `${r.reason} ${count.format(r.count)}`).join(", ") + ")" : "";
  const circuit = $("circuit");
  setStat("circuit", c.state, c.state);
  circuit.className = "circuit " + c.state;
  const extra = c.state === "unknown" ? "" : ` · opened ${c.opened ?? "?"}× · ${c.waiting ?? "?"} waiting`;
  $("circuit-detail").textContent = c.detail + extra;
}

function renderWindows(windows) {
  const svg = $("windows-chart");
  svg.replaceChildren();
  const W = 900, H = 200, n = Math.max(windows.length, 1);
  const top = Math.max(1, ...windows.map((w) => w.orders));
  const bw = W / n;
  windows.forEach((w, i) => {
    const x = i * bw + 2, width = Math.max(bw - 4, 1);
    const hOk = (H * w.reserved) / top, hBad = (H * w.rejected) / top;
    const other = (H * (w.orders - w.reserved - w.rejected)) / top;
    const okFill = w.closed ? "var(--ok)" : "var(--open)";
    svg.append(el("svg:rect", { x, y: H - hOk, width, height: hOk, fill: okFill }));
    svg.append(el("svg:rect", { x, y: H - hOk - hBad, width, height: hBad, fill: "var(--bad)",
      opacity: w.closed ? 1 : 0.5 }));
    if (other > 0) svg.append(el("svg:rect", { x, y: H - hOk - hBad - other, width, height: other,
      fill: "var(--muted)" }));
    const label = el("svg:title", {}, `${clock(w.start)}: ${w.orders} orders, ` +
      `${w.reserved} reserved, ${w.rejected} rejected${w.closed ? "" : " (open)"}`);
    svg.lastChild.append(label);
  });
  $("windows-max").textContent = `(top of chart: ${count.format(top)})`;
  const axis = $("windows-axis");
  axis.replaceChildren();
  if (windows.length) {
    axis.append(el("span", {}, clock(windows[0].start)));
    axis.append(el("span", {}, `${windows.length} windows`));
    axis.append(el("span", {}, clock(windows[windows.length - 1].end)));
  }
}

function renderLatency(windows) {
  const svg = $("latency-chart");
  svg.replaceChildren();
  const W = 900, H = 145, n = windows.length;
  if (!n) return;
  const top = Math.max(1, ...windows.map((w) => w.p99Ms));
  const x = (i) => (n === 1 ? W / 2 : (i * W) / (n - 1));
  const y = (v) => 10 + H - (H * v) / top;
  for (const [key, color] of [["p50Ms", "var(--p50)"], ["p99Ms", "var(--p99)"]]) {
    const pts = windows.map((w, i) => `${x(i).toFixed(1)},${y(w[key]).toFixed(1)}`).join(" ");
    svg.append(el("svg:polyline", { points: pts, fill: "none", stroke: color,
      "stroke-width": 2.5, "vector-effect": "non-scaling-stroke" }));
  }
  $("latency-max").textContent = `(top of chart: ${ms(top)})`;
}

function renderCategories(rows) {
  const box = $("categories");
  box.replaceChildren();
  if (!rows.length) { box.append(el("div", { class: "empty" }, "no revenue yet")); return; }
  const top = Math.max(...rows.map((r) => r.cents), 1);
  for (const r of rows.slice(0, 10)) {
    const row = el("div", { class: "row", "data-category": r.category, "data-value": r.cents });
    row.append(el("span", {}, r.category));
    const track = el("div", {});
    track.append(el("div", { class: "bar", style: `width:${(100 * r.cents) / top}%` }));
    row.append(track, el("span", { class: "amt" }, cents(r.cents)));
    box.append(row);
  }
}

// A table body: a row per item, or one cell saying there is nothing yet.
function fillTable(id, rows, columns, empty, rowOf) {
  const body = $(id);
  body.replaceChildren();
  if (!rows.length) {
    const tr = el("tr", {}); tr.append(el("td", { colspan: columns, class: "empty" }, empty));
    body.append(tr); return;
  }
  for (const r of rows) body.append(rowOf(r));
}

function renderLag(rows) {
  fillTable("lag", rows, 4, "no consumer groups yet", (r) => {
    const tr = el("tr", { "data-group": r.group });
    // Coloured by seconds behind, the age of the oldest unconsumed record (the alert: > 5 s).
    const seconds = r.seconds ?? 0;
    const cls = seconds < 1 ? "lag-ok" : seconds < 5 ? "lag-warn" : "lag-bad";
    tr.append(el("td", {}, r.group), el("td", {}, r.topic),
      el("td", { class: `num ${cls}`, "data-value": seconds }, `${seconds.toFixed(1)} s`),
      el("td", { class: "num", "data-value": r.lag }, count.format(r.lag)));
    return tr;
  });
}

function renderAlerts(rows) {
  fillTable("alerts", rows.slice(0, 8), 7, "no anomalies so far", (a) => {
    const tr = el("tr", { "data-order": a.orderId });
    tr.append(el("td", {}, clock(a.detectedAt)), el("td", {}, a.orderId.slice(0, 13)),
      el("td", {}, a.customerId), el("td", { class: "num" }, cents(a.amountCents)),
      el("td", { class: "num" }, String(a.quantity)), el("td", { class: "num bad" }, a.score.toFixed(2)),
      el("td", { class: "why" }, a.reason));
    return tr;
  });
}

function renderTop(rows) {
  const list = $("top-products");
  list.replaceChildren();
  if (!rows.length) { list.append(el("li", { class: "empty" }, "no closed window yet")); return; }
  for (const p of rows) list.append(el("li", {}, `${p.productId} — ${count.format(p.orders)} orders`));
}

function render(s) {
  $("window-size").textContent = `${s.window.sizeMs / 1000} s`;
  renderTiles(s);
  renderPayments(s.payments, s.circuit);
  renderWindows(s.windows);
  renderLatency(s.windows);
  renderCategories(s.revenueByCategory);
  renderLag(s.lag);
  renderAlerts(s.alerts);
  renderTop(s.topProducts);
  document.body.dataset.seq = String(s.seq);
  document.body.dataset.generatedAt = String(s.generatedAt);
  $("updated").textContent = "updated " + clock(s.generatedAt);
}

function connected(on, text) {
  $("conn").className = "dot " + (on ? "on" : "off");
  $("conn-text").textContent = text;
}

let pollTimer = null;
function poll() {
  fetch("/api/stats").then((r) => r.json()).then((s) => { render(s); connected(true, "live (polling)"); })
    .catch(() => connected(false, "disconnected"));
}

function start() {
  if (!window.EventSource) { pollTimer = setInterval(poll, 2000); poll(); return; }
  const source = new EventSource("/api/events");
  source.addEventListener("stats", (e) => { render(JSON.parse(e.data)); connected(true, "live"); });
  source.onerror = () => connected(false, "reconnecting…");
}

start();
