// DOM building and formatting shared by the pages. Every value from the store becomes a text
// node (or an attribute set through the DOM API): nothing is ever parsed as HTML.

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "style") Object.assign(el.style, value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined) return "open";
  if (ms >= 1000) return (ms / 1000).toFixed(ms >= 10000 ? 1 : 2) + "s";
  return ms >= 10 ? ms.toFixed(0) + "ms" : ms.toFixed(1) + "ms";
}

export function fmtCost(cost) {
  if (cost === null || cost === undefined) return "—";
  return "$" + (cost < 0.01 ? cost.toFixed(6) : cost.toFixed(4));
}

export function fmtInt(n) {
  return n === null || n === undefined ? "—" : Number(n).toLocaleString("en-US");
}

export function fmtTokens(usage) {
  if (!usage || (usage.input == null && usage.output == null)) return "—";
  return `${fmtInt(usage.input || 0)} → ${fmtInt(usage.output || 0)}`;
}

export function fmtTime(ns) {
  if (ns === null || ns === undefined) return "—";
  const d = new Date(ns / 1e6);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function ago(ns) {
  const s = Math.max(0, (Date.now() - ns / 1e6) / 1000);
  if (s < 60) return `${Math.floor(s)}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export function kindBadge(kind) {
  return h("span", { class: `kind kind-${kind || "custom"}` }, kind || "?");
}

export function statusBadge(status, errorCount) {
  if (status === "error") return h("span", { class: "status status-error" }, "error");
  if (errorCount) return h("span", { class: "status status-warn", title: "the trace finished, some spans failed" },
    `ok · ${errorCount} error${errorCount > 1 ? "s" : ""}`);
  if (!status) return h("span", { class: "status status-open" }, "running");
  return h("span", { class: "status status-ok" }, status);
}

export function link(path, id, text) {
  return h("a", { href: `${path}${encodeURIComponent(id)}` }, text ?? id);
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body.message || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export async function api(path) {
  let response;
  try {
    response = await fetch(path, { cache: "no-store" });
  } catch (err) {
    throw new ApiError(0, { error: "offline", message: "The viewer is not answering",
      hint: "Is `staso-integrations ui` still running? This page retries on its own." });
  }
  const body = await response.json().catch(() => ({ message: `HTTP ${response.status}` }));
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

const RETRIED = new Set(["missing", "locked", "offline"]);

// A clear page for a store that is missing, locked or damaged (or a trace that is not there).
export function errorView(err, retry) {
  const body = err.body || { message: String(err) };
  const box = h("section", { class: `problem problem-${body.error || "error"}`, id: "problem" },
    h("h1", {}, body.message || "Something went wrong"),
    body.hint ? h("p", {}, body.hint) : null,
    body.db ? h("p", { class: "muted" }, "Store: ", h("code", {}, body.db)) : null);
  if (retry && RETRIED.has(body.error)) setTimeout(retry, 2000);
  return box;
}

export function mount(...nodes) {
  const app = document.getElementById("app");
  app.replaceChildren(...nodes);
  return app;
}

export function crumbs(...items) {
  document.getElementById("crumbs").replaceChildren(...items.flatMap((item, i) => (i ? [" / ", item] : [item])));
}

export function stat(label, value, detail) {
  return h("div", { class: "stat" }, h("div", { class: "stat-label" }, label), h("div", { class: "stat-value" }, value), detail ? h("div", { class: "stat-detail" }, detail) : null);
}
