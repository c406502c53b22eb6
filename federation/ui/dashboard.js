// The meshfed dashboard: polls the admin API once a second with the token kept in this tab.
// Everything is built with textContent, never innerHTML, so names from the API cannot inject.
"use strict";

const POLL_MS = 1000;
const TOKEN_KEY = "meshfed.token";
const AUDIT_TAIL = 15;
const SVG = "http://www.w3.org/2000/svg";

// session: bumped on every sign-in and sign-out, so a poll still in flight from an earlier
// session neither reports its outcome nor schedules another poll.
const state = { token: null, timer: null, session: 0, auditSince: 0, audit: [] };

function $(id) { return document.getElementById(id); }

function el(tag, attrs, ...children) {
  const node = tag.startsWith("svg:")
    ? document.createElementNS(SVG, tag.slice(4))
    : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : String(child));
    }
  }
  return node;
}

class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

async function api(path) {
  const response = await fetch(path, {
    headers: { Authorization: `Bearer ${state.token}` },
    cache: "no-store",
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, body.detail || response.statusText);
  return body;
}

function ago(seconds) {
  if (seconds === null || seconds === undefined) return "never";
  if (seconds < 90) return `${Math.round(seconds)} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

function until(iso) {
  const days = (Date.parse(iso) - Date.now()) / 86400000;
  const when = iso.replace("T", " ").slice(0, 16) + " UTC";
  if (days < 0) return { text: `expired ${when}`, tone: "bad" };
  const left = days >= 2 ? `${Math.floor(days)} days` : `${Math.round(days * 24)} h`;
  return { text: `${when} (in ${left})`, tone: days < 7 ? "warn" : "ok" };
}

function tone(healthy, total) {
  if (total === 0) return "none";
  if (healthy === total) return "ok";
  return healthy === 0 ? "bad" : "warn";
}

// -- map ------------------------------------------------------------------------------------

// Rough land outlines as [lon, lat] rings, traced by hand for this page (a few hundred
// numbers, no map data file): enough to tell the continents apart behind the cluster points.
const LAND = [
  [[-168, 66], [-162, 70], [-140, 70], [-125, 70], [-95, 72], [-80, 73], [-62, 66], [-64, 60],
    [-56, 52], [-66, 45], [-70, 42], [-76, 35], [-81, 31], [-80, 25], [-82, 29], [-90, 30],
    [-97, 27], [-97, 22], [-92, 18], [-87, 21], [-88, 16], [-83, 10], [-78, 8], [-80, 7],
    [-86, 12], [-92, 15], [-105, 20], [-110, 24], [-112, 30], [-117, 32], [-124, 40],
    [-124, 48], [-132, 55], [-140, 60], [-152, 58], [-165, 54], [-158, 58], [-166, 62]],
  [[-78, 8], [-72, 12], [-62, 10], [-52, 5], [-35, -5], [-39, -14], [-41, -22], [-48, -26],
    [-58, -35], [-63, -41], [-66, -47], [-69, -52], [-74, -53], [-72, -45], [-74, -37],
    [-71, -30], [-70, -18], [-76, -14], [-81, -5], [-80, 1]],
  [[-73, 78], [-60, 82], [-30, 83], [-20, 75], [-22, 70], [-40, 65], [-44, 60], [-52, 64],
    [-55, 70]],
  [[-10, 36], [-9, 43], [-2, 44], [-5, 48], [2, 51], [8, 54], [10, 57], [5, 62], [14, 68],
    [25, 71], [40, 68], [60, 70], [70, 73], [80, 73], [100, 78], [113, 74], [140, 72],
    [160, 70], [180, 69], [180, 65], [170, 60], [160, 53], [156, 57], [142, 59], [136, 54],
    [141, 47], [132, 43], [128, 39], [126, 35], [121, 40], [118, 38], [122, 31], [120, 25],
    [110, 20], [108, 16], [109, 11], [105, 9], [100, 13], [101, 3], [104, 1], [98, 8],
    [98, 16], [92, 21], [88, 22], [80, 15], [77, 8], [73, 17], [67, 25], [57, 25], [56, 27],
    [50, 30], [48, 29], [52, 24], [56, 26], [59, 22], [52, 16], [44, 12], [43, 16], [35, 28],
    [33, 31], [35, 36], [27, 37], [26, 40], [22, 37], [20, 40], [13, 45], [16, 41], [12, 38],
    [8, 44], [3, 43], [-1, 37], [-6, 36]],
  [[-17, 21], [-10, 29], [-6, 36], [10, 37], [20, 32], [30, 31], [33, 30], [36, 22],
    [43, 12], [51, 11], [50, 2], [40, -10], [40, -16], [35, -24], [33, -30], [27, -34],
    [20, -35], [18, -32], [12, -17], [13, -7], [9, 0], [9, 4], [5, 5], [-8, 4], [-13, 8],
    [-17, 14]],
  [[114, -22], [122, -18], [130, -12], [137, -12], [142, -11], [146, -19], [153, -26],
    [151, -34], [146, -39], [138, -35], [131, -32], [115, -34]],
  [[-5, 50], [1, 51], [0, 54], [-2, 57], [-3, 59], [-6, 58], [-5, 55], [-3, 54]],
  [[130, 31], [134, 34], [140, 36], [141, 41], [142, 45], [145, 44], [141, 39], [140, 35],
    [135, 33]],
  [[172, -34], [178, -38], [174, -41], [167, -46], [172, -43]],
  [[44, -25], [47, -25], [50, -15], [49, -12], [44, -17]],
  [[95, 5], [106, -6], [114, -8], [119, 1], [117, 7], [109, 2], [104, -2]],
];
const LABEL_HEIGHT = 7;

function project(lon, lat) { return [lon + 180, 90 - lat]; }

function drawGraticule() {
  const group = $("graticule");
  for (const ring of LAND) {
    const points = ring.map(([lon, lat]) => project(lon, lat).join(",")).join(" ");
    group.append(el("svg:polygon", { class: "land", points }));
  }
  for (let lon = -180; lon <= 180; lon += 30) {
    group.append(el("svg:line", { x1: lon + 180, y1: 0, x2: lon + 180, y2: 180 }));
  }
  for (let lat = -60; lat <= 90; lat += 30) {
    const attrs = { x1: 0, y1: 90 - lat, x2: 360, y2: 90 - lat };
    if (lat === 0) attrs.class = "equator";
    group.append(el("svg:line", attrs));
  }
}

// Clusters a few hundred km apart share a spot on a world map: push each label down until
// it clears the ones already placed.
function placeLabels(points) {
  const placed = [];
  return points.map(([x, y]) => {
    let labelY = y + 2.2;
    while (placed.some(([px, py]) => Math.abs(px - x) < 40 && Math.abs(py - labelY) < LABEL_HEIGHT)) {
      labelY += LABEL_HEIGHT;
    }
    placed.push([x, labelY]);
    return labelY;
  });
}

function renderClusters(clusters) {
  const points = el("svg:g", { id: "points" });
  const placed = clusters.filter((c) => c.lat !== null && c.lon !== null);
  const labels = placeLabels(placed.map((c) => project(c.lon, c.lat)));
  placed.forEach((c, i) => {
    const [x, y] = project(c.lon, c.lat);
    const count = `${c.healthy}/${c.total}`;
    points.append(el("svg:g", { class: `point ${tone(c.healthy, c.total)}`, "data-cluster": c.name },
      el("svg:title", {}, `${c.name}: ${count} endpoints healthy`),
      el("svg:circle", { cx: x, cy: y, r: 3.2 }),
      el("svg:text", { x: x + 5, y: labels[i] }, `${c.name} ${count}`)));
  });
  const rows = [];
  for (const c of clusters) {
    const t = tone(c.healthy, c.total);
    const count = `${c.healthy}/${c.total}`;
    rows.push(el("tr", { "data-cluster": c.name },
      el("td", {}, el("span", { class: `dot ${t}`, "aria-hidden": "true" }), c.name),
      el("td", {}, `${c.cloud}:${c.region}`, c.city ? el("div", { class: "detail" }, c.city) : null),
      el("td", { class: `count ${t}` }, count)));
  }
  $("points").replaceWith(points);
  $("clusters").replaceChildren(...rows);
}

// -- traffic shares -------------------------------------------------------------------------

function syncOptions(select, values) {
  const current = [...select.options].map((o) => o.value).join("\n");
  if (current === values.join("\n")) return;
  const chosen = select.value;
  select.replaceChildren(...values.map((v) => el("option", { value: v }, v)));
  if (values.includes(chosen)) select.value = chosen;
}

// The bar is the cluster's share of all the service's traffic: its share of its level times
// the level's load, so a failover moves the bars and not only the level headings.
function shareRow(level, c) {
  const percent = Math.round((level.load_percent * c.share_percent) / 100);
  const fill = el("span");
  // CSSOM, not a style attribute: the page's Content-Security-Policy forbids inline styles.
  fill.style.width = `${percent}%`;
  return el("div", { class: "bar-row", "data-share": c.name },
    el("span", {}, c.name),
    el("div", { class: "bar", role: "meter", "aria-valuemin": 0, "aria-valuemax": 100,
      "aria-valuenow": percent, "aria-label": `${c.name} share of traffic` }, fill),
    el("span", { class: "num" }, `${percent}% · ${c.healthy}/${c.total} healthy`));
}

function renderLevels(resolution) {
  const blocks = resolution.levels.map((level) => el("div", { class: "level" },
    el("h3", {}, `Priority ${level.priority} — ${level.load_percent}% of traffic`
      + (level.panic ? " (panic: healthy and unhealthy alike)" : "")),
    ...level.clusters.map((c) => shareRow(level, c))));
  if (blocks.length === 0) blocks.push(el("p", { class: "hint" }, "No endpoints for this service."));
  $("levels").replaceChildren(...blocks);
}

async function refreshTraffic() {
  const service = $("service").value;
  const region = $("client-region").value;
  if (!service || !region) {
    $("levels").replaceChildren(el("p", { class: "hint" }, "No services configured."));
    return;
  }
  const query = new URLSearchParams({ service, client_region: region });
  renderLevels(await api(`/v1/resolve?${query}`));
}

// -- providers, trust, audit ----------------------------------------------------------------

function renderProviders(body) {
  const rows = body.items.map((p) => {
    const t = p.withdrawn || p.consecutive_failures > 0 ? (p.stale ? "bad" : "warn") : "ok";
    const label = p.withdrawn ? "withdrawn" : p.stale ? `stale ${Math.round(p.staleness_seconds)} s` : "fresh";
    const since = p.last_success === null ? null : Date.now() / 1000 - p.last_success;
    return el("tr", { "data-provider": p.name },
      el("td", {}, p.name, el("div", { class: "detail" }, p.cloud)),
      el("td", { class: "num" }, p.endpoints),
      el("td", {}, ago(since)),
      el("td", {}, el("span", { class: `badge ${t}` }, label),
        p.last_error ? el("div", { class: "detail" }, p.last_error) : null));
  });
  if (rows.length === 0) rows.push(el("tr", {}, el("td", { colspan: 4, class: "hint" }, "No providers.")));
  $("providers").replaceChildren(...rows);
}

function renderTrust(body) {
  const items = [];
  for (const d of body.trust_domains || []) {
    const root = until(d.root_expires_at);
    const inter = until(d.intermediate_expires_at);
    items.push(el("div", { class: "level" },
      el("h3", {}, `${d.trust_domain} · ${d.phase} · bundle #${d.bundle_sequence}`),
      el("div", { class: root.tone }, `Root CA expires ${root.text}`),
      el("div", { class: inter.tone }, `Intermediate expires ${inter.text}`)));
  }
  for (const f of body.foreign || []) {
    const t = f.status === "ok" ? "ok" : "bad";
    items.push(el("div", {}, el("span", { class: `badge ${t}` }, f.status), ` ${f.trust_domain}`,
      f.fetched_at ? el("span", { class: "detail" }, ` fetched ${f.fetched_at}`) : null));
  }
  $("trust").replaceChildren(...items);
}

function trustNote(text) {
  $("trust").replaceChildren(el("p", { class: "hint" }, text));
}

async function refreshTrust(summary) {
  if (!summary.trust_initialized) {
    trustNote("No CA yet: run meshfed trust init.");
    return;
  }
  try {
    renderTrust(await api("/v1/trust/status"));
  } catch (error) {
    if (!(error instanceof ApiError) || ![404, 409].includes(error.status)) throw error;
    trustNote("This server does not report trust status.");
  }
}

async function refreshAudit(summary) {
  if (summary.role !== "admin") {
    $("audit").replaceChildren(el("p", { class: "hint" },
      `The audit log is for admin tokens; this token's role is ${summary.role}.`));
    return;
  }
  for (;;) {
    const page = await api(`/v1/audit?since=${state.auditSince}&limit=1000`);
    state.audit = state.audit.concat(page.items).slice(-AUDIT_TAIL);
    state.auditSince = page.next_since;
    if (page.items.length < 1000) break;
  }
  const rows = state.audit.slice().reverse().map((r) => el("tr", { class: "audit-row" },
    el("td", {}, r.time.replace("T", " ").slice(0, 19)),
    el("td", {}, r.actor), el("td", {}, el("code", {}, r.action)), el("td", {}, r.target)));
  const head = el("thead", {}, el("tr", {}, ...["Time (UTC)", "Actor", "Action", "Target"]
    .map((h) => el("th", { scope: "col" }, h))));
  $("audit").replaceChildren(rows.length
    ? el("table", { class: "grid" }, head, el("tbody", {}, ...rows))
    : el("p", { class: "hint" }, "No audit records yet."));
}

// -- the loop -------------------------------------------------------------------------------

// The status region is announced to screen readers, so it changes only when the connection
// does; the time of the last update, which changes every second, sits outside it.
function setStatus(text, failing) {
  if ($("status").textContent !== text) $("status").textContent = text;
  $("status").classList.toggle("failing", failing);
}

async function refresh() {
  const summary = await api("/v1/ui/summary");
  renderClusters(summary.clusters);
  syncOptions($("service"), summary.services);
  const regions = [...new Set(summary.clusters.map((c) => `${c.cloud}:${c.region}`))];
  syncOptions($("client-region"), regions);
  const parts = await Promise.allSettled([
    refreshTraffic(), api("/v1/providers").then(renderProviders),
    refreshTrust(summary), refreshAudit(summary),
  ]);
  const failed = parts.find((p) => p.status === "rejected");
  if (failed) throw failed.reason;
}

async function tick(session) {
  try {
    await refresh();
    if (session !== state.session) return;
    setStatus("Live", false);
    $("updated").textContent = `· updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401 && session === state.session) {
      signOut("The token was refused; enter it again.");
      return;
    }
    if (session !== state.session) return;
    setStatus(`Update failed: ${error.message}`, true);
  }
  if (session === state.session) state.timer = setTimeout(tick, POLL_MS, session);
}

function showBoard(visible) {
  $("sign-in").hidden = visible;
  $("board").hidden = !visible;
  $("sign-out").hidden = !visible;
}

function signOut(message) {
  state.session += 1;
  clearTimeout(state.timer);
  state.token = null;
  state.audit = [];
  state.auditSince = 0;
  sessionStorage.removeItem(TOKEN_KEY);
  showBoard(false);
  setStatus("Not signed in", false);
  $("updated").textContent = "";
  const error = $("token-error");
  error.hidden = !message;
  error.textContent = message || "";
  $("token").focus();
}

async function signIn(token) {
  state.token = token;
  try {
    await api("/v1/ui/summary");
  } catch (error) {
    signOut(error instanceof ApiError && error.status === 401
      ? "That token is not known to this server." : `Could not reach the API: ${error.message}`);
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $("token-error").hidden = true;
  showBoard(true);
  state.session += 1;
  tick(state.session);
}

document.addEventListener("DOMContentLoaded", () => {
  drawGraticule();
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("token").value.trim());
  });
  $("sign-out").addEventListener("click", () => signOut(""));
  for (const id of ["service", "client-region"]) {
    $(id).addEventListener("change", () => refreshTraffic().catch((e) => setStatus(e.message, true)));
  }
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) signIn(saved);
});
