// The viewer's pages: traces (filters, paging, live refresh), one trace, a session or conversation.
import { h, api, ago, crumbs, errorView, fmtCost, fmtInt, fmtMs, fmtTime, fmtTokens, link, mount, stat, statusBadge } from "./dom.js";
import { tracePage } from "./trace.js";
import { answerOf, questionOf } from "./detail.js";

const LIVE_MS = 2000;
const FILTERS = ["q", "agent", "status", "since", "until", "conversation", "session", "user", "environment", "source_type"];
const RANGES = [["", "any time"], ["15m", "last 15 min"], ["1h", "last hour"], ["24h", "last 24 h"], ["7d", "last 7 days"]];

function route() {
  const path = decodeURIComponent(location.pathname);
  const [, page, ...rest] = path.split("/");
  const id = rest.join("/");
  if (page === "trace" && id) return tracePage(id);
  if ((page === "session" || page === "conversation") && id) return turnsPage(page, id);
  return tracesPage();
}

// ---- traces ----------------------------------------------------------------------------------

function tracesPage() {
  crumbs(h("span", {}, "Traces"));
  const params = new URLSearchParams(location.search);
  const state = { params, facets: null, last: null, seen: null, timer: null };
  const form = filterBar(state);
  const summary = h("div", { class: "summary", id: "summary" });
  const table = h("div", { id: "traces" });
  const pager = h("div", { class: "pager" });
  mount(form, summary, table, pager);

  const load = async (quiet) => {
    let page;
    try {
      const query = new URLSearchParams(state.params);
      page = await api(`/api/traces?${query}`);
      if (!state.facets) fillFacets(form, (state.facets = await api("/api/facets")));
    } catch (err) {
      if (!quiet) { table.replaceChildren(errorView(err, () => load(false))); summary.replaceChildren(); pager.replaceChildren(); }
      return;
    }
    const text = JSON.stringify(page);
    if (quiet && text === state.last) return;
    state.last = text;
    const previous = state.seen;
    state.seen = new Set(page.traces.map((t) => t.trace_id));
    renderTraces(table, page.traces, previous);
    const first = page.total ? page.offset + 1 : 0;
    summary.replaceChildren(
      h("span", {}, `${fmtInt(page.total)} trace${page.total === 1 ? "" : "s"}`),
      page.total ? h("span", { class: "muted" }, ` · showing ${first}–${page.offset + page.traces.length}`) : null,
      h("span", { class: "muted updated" }, ` · updated ${new Date().toLocaleTimeString()}`));
    renderPager(pager, page, state, () => load(false));
  };
  state.reload = () => { state.last = null; state.facets = null; load(false); };
  state.apply = () => {
    state.params.delete("offset");
    history.replaceState(null, "", state.params.toString() ? `/?${state.params}` : "/");
    load(false);
  };
  load(false);
  state.timer = setInterval(() => {
    const live = document.getElementById("live");
    if (live && live.checked && !document.hidden) load(true);
  }, LIVE_MS);
}

function filterBar(state) {
  const p = state.params;
  const field = (name, label, input) => h("label", { class: "field" }, h("span", {}, label), input);
  const text = (name, placeholder, list) => {
    const input = h("input", { name, type: "search", value: p.get(name) || "", placeholder, list, autocomplete: "off" });
    input.addEventListener("change", () => set(name, input.value));
    return input;
  };
  const select = (name, options) => {
    const el = h("select", { name }, options.map(([value, label]) => h("option", { value }, label)));
    el.value = p.get(name) || "";
    el.addEventListener("change", () => set(name, el.value));
    return el;
  };
  const set = (name, value) => { if (value) p.set(name, value); else p.delete(name); state.apply(); };
  const isPreset = RANGES.some(([v]) => v && v === p.get("since"));
  const range = select("since", RANGES);
  range.value = isPreset ? p.get("since") : "";
  const from = dateInput("from", isPreset ? null : p.get("since"), (v) => set("since", v));
  const to = dateInput("to", p.get("until"), (v) => set("until", v));
  const search = text("q", "name, span name or trace id");
  search.addEventListener("input", debounce(() => set("q", search.value), 300));
  const clear = h("button", { type: "button", class: "ghost", onclick: () => { for (const f of FILTERS) p.delete(f); location.assign("/"); } }, "Clear");
  return h("form", { class: "filters", id: "filters", onsubmit: (e) => e.preventDefault() },
    field("q", "Search", search),
    field("agent", "Agent", select("agent", [["", "all agents"]])),
    field("status", "Status", select("status", [["", "any"], ["ok", "ok"], ["error", "with errors"]])),
    field("since", "Time", range),
    field("from", "From", from),
    field("to", "To", to),
    field("conversation", "Conversation", text("conversation", "id", "conversations")),
    field("session", "Session", text("session", "id", "sessions")),
    field("user", "User", text("user", "id", "users")),
    field("environment", "Environment", select("environment", [["", "all"]])),
    field("source_type", "Source", select("source_type", [["", "all"]])),
    h("div", { class: "filter-actions" },
      clear,
      h("label", { class: "live", title: "re-read the store every 2 s" },
        h("input", { type: "checkbox", id: "live", checked: true }), " Live")),
    h("datalist", { id: "conversations" }), h("datalist", { id: "sessions" }), h("datalist", { id: "users" }));
}

function dateInput(name, iso, onChange) {
  const input = h("input", { name, type: "datetime-local", step: 1 });
  if (iso && !isNaN(Date.parse(iso))) {
    const d = new Date(iso);
    input.value = new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
  }
  input.addEventListener("change", () => onChange(input.value ? new Date(input.value).toISOString() : ""));
  return input;
}

function fillFacets(form, facets) {
  const options = (name, values) => {
    const select = form.querySelector(`select[name=${name}]`);
    const current = select.value;
    select.append(...values.map((v) => h("option", { value: v }, v)));
    select.value = current;
  };
  options("agent", facets.agents);
  options("environment", facets.environments);
  options("source_type", facets.source_types);
  for (const [id, values] of [["conversations", facets.conversations], ["sessions", facets.sessions], ["users", facets.users]])
    form.querySelector(`#${id}`).replaceChildren(...values.map((v) => h("option", { value: v })));
}

function renderTraces(container, traces, previous) {
  if (!traces.length) {
    container.replaceChildren(h("p", { class: "empty" }, "No traces match these filters."));
    return;
  }
  const head = ["Time", "Name", "Agent", "Status", "Duration", "Spans", "Tokens", "Cost", "Conversation · session · user"];
  const rows = traces.map((t) => {
    const open = () => location.assign(`/trace/${encodeURIComponent(t.trace_id)}`);
    const who = [
      t.conversation_id ? link("/conversation/", t.conversation_id) : null,
      t.session_id ? [link("/session/", t.session_id), t.turn_index != null ? h("span", { class: "muted" }, ` #${t.turn_index}`) : null] : null,
      t.user_id ? link("/?user=", t.user_id) : null,
    ].filter(Boolean);
    return h("tr", { class: `trace-row${previous && !previous.has(t.trace_id) ? " new" : ""}`, "data-trace-id": t.trace_id, onclick: (e) => { if (!e.target.closest("a")) open(); } },
      h("td", { class: "time", title: ago(t.start_ns) }, fmtTime(t.start_ns)),
      h("td", { class: "name" }, link("/trace/", t.trace_id, t.name || t.trace_id.slice(-16)), h("div", { class: "id" }, t.trace_id.slice(-16))),
      h("td", { class: "agent" }, t.agent_name || "—"),
      h("td", {}, statusBadge(t.status, t.error_count)),
      h("td", { class: "num" }, fmtMs(t.duration_ms)),
      h("td", { class: "num" }, fmtInt(t.span_count)),
      h("td", { class: "num", title: `total ${fmtInt(t.usage.total)}` }, fmtTokens(t.usage)),
      h("td", { class: "num" }, fmtCost(t.cost_usd)),
      h("td", { class: "who" }, who.length ? who.flatMap((x, i) => (i ? [" · ", x] : [x])) : "—"));
  });
  container.replaceChildren(h("table", { class: "grid" }, h("thead", {}, h("tr", {}, head.map((c) => h("th", {}, c)))), h("tbody", {}, rows)));
}

function renderPager(pager, page, state, reload) {
  const go = (offset) => {
    if (offset) state.params.set("offset", offset); else state.params.delete("offset");
    history.replaceState(null, "", `/?${state.params}`);
    reload();
  };
  const newer = page.offset > 0;
  const older = page.offset + page.traces.length < page.total;
  pager.replaceChildren(
    h("button", { type: "button", id: "newer", disabled: !newer, onclick: () => go(Math.max(0, page.offset - page.limit)) }, "‹ Newer"),
    h("span", { class: "muted" }, `page ${Math.floor(page.offset / page.limit) + 1} of ${Math.max(1, Math.ceil(page.total / page.limit))}`),
    h("button", { type: "button", id: "older", disabled: !older, onclick: () => go(page.offset + page.limit) }, "Older ›"));
}

function debounce(fn, ms) {
  let timer;
  return () => { clearTimeout(timer); timer = setTimeout(fn, ms); };
}

// ---- session / conversation ------------------------------------------------------------------

async function turnsPage(group, id) {
  const title = group === "session" ? "Session" : "Conversation";
  crumbs(h("a", { href: "/" }, "Traces"), h("span", {}, `${title} ${id}`));
  let turns;
  try {
    ({ turns } = await api(`/api/${group}/${encodeURIComponent(id)}`));
  } catch (err) {
    mount(errorView(err, () => turnsPage(group, id)));
    return;
  }
  const sum = (f) => turns.reduce((acc, t) => acc + (f(t) || 0), 0);
  const errors = sum((t) => t.error_count);
  const header = h("section", { class: "page-head" },
    h("h1", {}, `${title} `, h("code", {}, id)),
    h("div", { class: "stats" },
      stat("Turns", turns.length),
      stat("Tokens", fmtInt(sum((t) => t.usage.total)), `${fmtInt(sum((t) => t.usage.input))} in → ${fmtInt(sum((t) => t.usage.output))} out`),
      stat("Cost", fmtCost(turns.some((t) => t.cost_usd != null) ? sum((t) => t.cost_usd) : null)),
      stat("Errors", errors),
      turns.length ? stat("Users", [...new Set(turns.map((t) => t.user_id).filter(Boolean))].join(", ") || "—") : null),
    h("p", {}, h("a", { href: `/?${group === "session" ? "session" : "conversation"}=${encodeURIComponent(id)}` }, "See these traces in the list")));
  if (!turns.length) {
    mount(header, h("p", { class: "empty" }, `No traces in this ${group}.`));
    return;
  }
  mount(header, h("ol", { class: "turns", id: "turns" }, turns.map(turnCard)));
}

function turnCard(t) {
  const question = questionOf(t.input);
  const answer = answerOf(t.output);
  return h("li", { class: "turn", "data-trace-id": t.trace_id },
    h("div", { class: "turn-head" },
      h("span", { class: "turn-index" }, t.turn_index != null ? `Turn ${t.turn_index}` : "Turn"),
      h("a", { class: "turn-link", href: `/trace/${encodeURIComponent(t.trace_id)}` }, t.name || t.trace_id.slice(-16)),
      statusBadge(t.status, t.error_count),
      h("span", { class: "muted" }, fmtTime(t.start_ns)),
      h("span", { class: "turn-figures" },
        h("span", { class: "turn-duration" }, fmtMs(t.duration_ms)),
        h("span", { class: "turn-tokens", title: fmtTokens(t.usage) }, `${fmtInt(t.usage.total)} tok`),
        h("span", { class: "turn-cost" }, fmtCost(t.cost_usd)))),
    question ? h("div", { class: "msg role-user" }, h("div", { class: "msg-role" }, "user"), h("div", { class: "msg-text" }, question)) : null,
    answer ? h("div", { class: "msg role-assistant" }, h("div", { class: "msg-role" }, t.agent_name || "assistant"), h("div", { class: "msg-text" }, answer)) : null);
}


route();
