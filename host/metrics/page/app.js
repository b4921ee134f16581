// The status page: polls /status and /status/batches once a second and draws them. Every cell
// that shows a number carries it raw in data-value, so a test (or a script) can read the page.
"use strict";

const POLL_MS = 1000;
const MAX_POINTS = 600;                  // the exporter keeps as many batches (capacity)
const history = [];                      // points of /status/batches, oldest first
let lastSeq = 0;
const charts = {};
const control = { enabled: document.body.dataset.control === "on", token: "" };

const $ = (id) => document.getElementById(id);

function fmt(value, digits) {
  if (value === null || value === undefined) return "—";
  if (typeof value !== "number") return String(value);
  const d = digits === undefined ? (Number.isInteger(value) ? 0 : 1) : digits;
  return value.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
}

function cell(row, field, value, digits, cls) {
  const td = document.createElement("td");
  td.dataset.field = field;
  if (typeof value === "number") td.dataset.value = String(value);
  td.textContent = typeof value === "number" || value === null || value === undefined
    ? fmt(value, digits) : String(value);
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function fillTable(id, items, key, columns) {
  const body = $(id).querySelector("tbody");
  body.replaceChildren();
  for (const item of items) {
    const row = document.createElement("tr");
    row.dataset.key = key(item);
    for (const [field, value, digits, cls] of columns(item)) cell(row, field, value, digits, cls);
    body.appendChild(row);
  }
}

function facts(id, pairs) {
  const body = $(id).querySelector("tbody");
  body.replaceChildren();
  for (const [label, field, value, digits] of pairs) {
    const row = document.createElement("tr");
    const th = document.createElement("th");
    th.textContent = label;
    row.appendChild(th);
    cell(row, field, value, digits);
    body.appendChild(row);
  }
}

function duration(ms) {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h ? `${h} h ${m} min` : m ? `${m} min ${s % 60} s` : `${s} s`;
}

function renderStatus(s) {
  const state = $("state");
  state.textContent = s.state;
  state.className = "badge " + (s.state === "running" ? "ok" : "warn");
  const summary = $("summary");
  summary.replaceChildren();
  const add = (label, field, value, text) => {
    const div = document.createElement("div");
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = label;
    dd.dataset.field = field;
    if (typeof value === "number") dd.dataset.value = String(value);
    dd.textContent = text !== undefined ? text : fmt(value);
    div.append(dt, dd);
    summary.appendChild(div);
  };
  add("mode", "mode", s.mode, s.mode);
  add("up", "uptime", s.published_at_ms - s.start_time_ms,
      duration(s.published_at_ms - s.start_time_ms));
  add("batches", "batches", s.batches);
  add("records", "records", s.records);
  add("MB", "megabytes", s.bytes / 1e6, fmt(s.bytes / 1e6, 1));
  if (s.last_batch) add("last batch", "last_batch", s.last_batch.id);
  $("updated").textContent = "as of " + new Date(s.published_at_ms).toLocaleTimeString();

  fillTable("partitions", s.partitions || [], (p) => `${p.topic}/${p.partition}`, (p) => [
    ["topic", p.topic, undefined, "text"],
    ["partition", p.partition],
    ["next_offset", p.next_offset],
    ["high_watermark", p.high_watermark],
    ["lag_records", p.lag_records],
    ["lag_seconds", p.lag_seconds, 1],
  ]);
  const topics = Array.isArray(s.topics) ? s.topics : [];
  $("topics").hidden = topics.length === 0;
  fillTable("topics", topics, (t) => t.topic, (t) => [
    ["topic", t.topic, undefined, "text"],
    ["partitions", t.partitions],
    ["lag_records", t.lag_records],
    ["lag_seconds", t.lag_seconds, 1],
    ["input_rate", t.input_rate, 1],
  ]);
  fillTable("plugins", s.plugins || [], (p) => String(p.slot), (p) => [
    ["slot", p.slot],
    ["name", p.name, undefined, "text"],
    ["version", p.version === null ? "—" : p.version, undefined, "text"],
    ["generation", p.generation],
    ["on_probation", p.on_probation ? "yes" : "no", undefined, p.on_probation ? "bad" : ""],
    ["batches", p.batches],
    ["records", p.records],
    ["errors", p.errors, undefined, p.errors ? "bad" : ""],
    ["retries", p.retries],
    ["seconds", p.seconds, 3],
    ["reloads", p.reloads ? `${p.reloads.swapped} swapped, ${p.reloads.rejected} rejected, ` +
                            `${p.reloads.rolled_back} rolled back` : "hot reload off",
     undefined, "text"],
  ]);
  const m = s.zookeeper_mirror;
  facts("mirror", m ? [
    ["state", "connected", m.connected ? "connected" : "disconnected"],
    ["lag (ms)", "lag_ms", m.lag_ms, 0],
    ["pending partitions", "pending_partitions", m.pending_partitions],
    ["writes", "writes", m.writes],
    ["sessions", "sessions", m.sessions],
  ] : [["state", "configured", "not configured (no --zookeeper and --group)"]]);
  const r = s.receiver;
  $("receiver-section").hidden = !r;
  if (r) facts("receiver", [
    ["consumer threads", "consumer_threads", r.consumer_threads],
    ["assigned partitions", "assigned_partitions", r.assigned_partitions],
    ["paused by backpressure", "paused", r.paused ? "yes" : "no"],
    ["queued blocks", "queued_blocks", r.queued_blocks],
    ["WAL bytes", "wal_bytes", r.wal ? r.wal.bytes : null],
    ["WAL pending blocks", "wal_pending_blocks", r.wal ? r.wal.pending_blocks : null],
  ]);
  const bp = s.backpressure;
  $("backpressure-section").hidden = !bp;
  if (bp) facts("backpressure", [
    ["estimate (records/s)", "rate", bp.rate, 0],
    ["initial rate (records/s)", "initial_rate", bp.initial_rate || "none"],
  ]);
}

function makeChart(id, label, color) {
  const el = $(id);
  const opts = {
    width: Math.max(300, el.clientWidth || 600),
    height: 180,
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true } },
    series: [{}, { label, stroke: color, width: 1.5, fill: color + "22", points: { show: false } }],
    axes: [{}, { size: 60 }],
  };
  return new uPlot(opts, [[], []], el);
}

function renderCharts() {
  const xs = history.map((b) => b.committed_at_ms / 1000);
  const series = {
    "chart-input": history.map((b) => b.input_rate),
    "chart-processing": history.map((b) => b.processing_ms),
    "chart-scheduling": history.map((b) => b.scheduling_delay_ms),
    "chart-total": history.map((b) => b.total_delay_ms),
  };
  for (const [id, ys] of Object.entries(series)) {
    charts[id].setData([xs, ys]);
    $(id).dataset.points = String(xs.length);
  }
  const recent = history.slice(-20).reverse();
  fillTable("batches", recent, (b) => String(b.id), (b) => [
    ["id", b.id],
    ["time", new Date(b.time_ms).toLocaleTimeString() + (b.replay ? " (replay)" : ""),
     undefined, "text"],
    ["records", b.records],
    ["input_rate", b.input_rate, 1],
    ["processing_ms", b.processing_ms, 1],
    ["scheduling_delay_ms", b.scheduling_delay_ms, 1],
    ["total_delay_ms", b.total_delay_ms, 1],
  ]);
  $("history-note").textContent = `(last ${history.length} batches)`;
}

async function getJson(url) {
  const response = await fetch(url, { cache: "no-store" });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

async function poll() {
  try {
    const [status, batches] = await Promise.all([
      getJson("/status"), getJson(`/status/batches?after=${lastSeq}`)]);
    if (batches.last_seq < lastSeq) {  // a new process behind the same address
      history.length = 0;
      lastSeq = 0;
      setTimeout(poll, 0);
      return;
    }
    if (batches.batches.length && batches.batches[0].seq !== lastSeq + 1 && lastSeq !== 0)
      history.length = 0;  // the exporter dropped points we never saw
    for (const b of batches.batches) history.push(b);
    if (history.length > MAX_POINTS) history.splice(0, history.length - MAX_POINTS);
    if (batches.batches.length) lastSeq = batches.batches[batches.batches.length - 1].seq;
    $("paused").hidden = !batches.paused;
    renderStatus(status);
    renderCharts();
    document.body.dataset.loaded = "true";
  } catch (e) {
    const state = $("state");
    state.textContent = "unreachable";
    state.className = "badge bad";
    $("updated").textContent = String(e.message || e);
  }
  setTimeout(poll, POLL_MS);
}

async function send(action) {
  const out = $("control-result");
  try {
    const response = await fetch(`/control/${action}`, {
      method: "POST", headers: { Authorization: `Bearer ${control.token}` } });
    const body = await response.text();
    out.textContent = response.ok ? JSON.parse(body).result : `HTTP ${response.status}: ${body}`;
  } catch (e) {
    out.textContent = String(e.message || e);
  }
}

function setupControl() {
  if (!control.enabled) return;  // no control-token configured: no /control routes
  $("control").hidden = false;
  control.token = sessionStorage.getItem("sluice-control-token") || "";
  $("control-buttons").hidden = control.token === "";
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    control.token = $("token").value.trim();
    sessionStorage.setItem("sluice-control-token", control.token);
    $("control-buttons").hidden = control.token === "";
  });
  for (const action of ["pause", "resume", "reload"])
    $(action).addEventListener("click", () => send(action));
}

window.addEventListener("resize", () => {
  for (const [id, chart] of Object.entries(charts))
    chart.setSize({ width: Math.max(300, $(id).clientWidth || 600), height: 180 });
});
charts["chart-input"] = makeChart("chart-input", "records/s", "#2f6fb0");
charts["chart-processing"] = makeChart("chart-processing", "ms", "#7b4fb0");
charts["chart-scheduling"] = makeChart("chart-scheduling", "ms", "#b4610c");
charts["chart-total"] = makeChart("chart-total", "ms", "#2e7d32");
setupControl();
poll();
