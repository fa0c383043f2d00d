// One trace: totals, the span tree beside a waterfall of start and duration, and the selected span.
import { h, api, crumbs, errorView, fmtCost, fmtInt, fmtMs, fmtTime, kindBadge, link, mount, stat, statusBadge } from "./dom.js";
import { spanDetail } from "./detail.js";

export async function tracePage(traceId, keep) {
  crumbs(h("a", { href: "/" }, "Traces"), h("span", {}, `Trace ${traceId.slice(-16)}`));
  let data;
  try {
    data = await api(`/api/trace/${encodeURIComponent(traceId)}`);
  } catch (err) {
    mount(errorView(err, () => tracePage(traceId)));
    return;
  }
  const view = new TraceView(data, keep);
  mount(view.header(), view.body());
  if (!data.trace) setTimeout(() => tracePage(traceId, view.state()), 2000); // still running
}

class TraceView {
  constructor({ trace, spans }, keep) {
    this.trace = trace;
    this.spans = spans;
    this.byId = new Map(spans.map((s) => [s.span_id, s]));
    this.children = new Map();
    this.roots = [];
    for (const span of spans) {
      if (span.parent_span_id && this.byId.has(span.parent_span_id)) {
        if (!this.children.has(span.parent_span_id)) this.children.set(span.parent_span_id, []);
        this.children.get(span.parent_span_id).push(span);
      } else this.roots.push(span);
    }
    this.t0 = Math.min(...spans.map((s) => s.start_ns));
    const ends = spans.map((s) => s.end_ns ?? s.start_ns);
    this.t1 = Math.max(...ends, this.t0 + 1);
    this.collapsed = new Set(keep?.collapsed || []);
    const fromHash = new URLSearchParams(location.hash.slice(1)).get("span");
    this.selected = keep?.selected || (this.byId.has(fromHash) ? fromHash : this.roots[0]?.span_id);
  }

  state() {
    return { selected: this.selected, collapsed: [...this.collapsed] };
  }

  header() {
    const t = this.trace || {};
    const root = this.roots[0] || {};
    const llm = this.spans.filter((s) => s.kind === "llm");
    const usage = t.usage || sumUsage(this.spans);
    const errors = t.error_count ?? this.spans.filter((s) => s.status === "error").length;
    const meta = [
      ["trace", h("code", {}, this.spans[0].trace_id)],
      ["agent", t.agent_name || root.agent_name],
      ["started", fmtTime(this.t0)],
      ["environment", t.environment || root.environment],
      ["source", t.source_type || root.source_type],
      ["conversation", t.conversation_id && link("/conversation/", t.conversation_id)],
      ["session", t.session_id && [link("/session/", t.session_id), t.turn_index != null ? ` turn ${t.turn_index}` : ""]],
      ["user", t.user_id && link("/?user=", t.user_id)],
      ["tags", t.tags && t.tags.length ? t.tags.join(", ") : null],
    ].filter(([, v]) => v);
    return h("section", { class: "page-head" },
      h("h1", {}, h("span", { id: "trace-name" }, t.name || root.name || "trace"), " ", statusBadge(this.trace ? t.status : null, t.error_count)),
      h("div", { class: "meta" }, meta.map(([k, v]) => h("span", { class: "meta-item" }, h("span", { class: "muted" }, `${k} `), v))),
      h("div", { class: "stats", id: "totals" },
        stat("Duration", fmtMs((this.t1 - this.t0) / 1e6)),
        stat("Spans", fmtInt(this.spans.length), errors ? `${errors} failed` : "none failed"),
        stat("LLM calls", fmtInt(llm.length)),
        stat("Tokens", fmtInt(usage.total), tokenDetail(usage)),
        stat("Cost", fmtCost(t.cost_usd ?? sumCost(this.spans)))),
      t.metadata && Object.keys(t.metadata).length ? h("details", { class: "trace-metadata" }, h("summary", {}, "Trace metadata"), h("pre", { class: "json" }, JSON.stringify(t.metadata, null, 2))) : null);
  }

  body() {
    this.tree = h("div", { class: "waterfall", id: "waterfall" });
    this.detail = h("aside", { class: "detail", id: "detail" });
    this.renderTree();
    this.renderDetail();
    return h("div", { class: "trace-layout" }, this.tree, this.detail);
  }

  renderTree() {
    const total = this.t1 - this.t0;
    const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => h("span", { class: "tick", style: { left: `${f * 100}%` } }, fmtMs((total * f) / 1e6)));
    const rows = [];
    const walk = (span, depth) => {
      rows.push(this.row(span, depth, total));
      if (!this.collapsed.has(span.span_id)) for (const child of this.children.get(span.span_id) || []) walk(child, depth + 1);
    };
    for (const root of this.roots) walk(root, 0);
    this.tree.replaceChildren(
      h("div", { class: "wf-head" }, h("div", { class: "wf-label" }, "Span"), h("div", { class: "wf-axis" }, ticks)),
      ...rows);
  }

  row(span, depth, total) {
    const kids = this.children.get(span.span_id) || [];
    const end = span.end_ns ?? this.t1;
    const left = ((span.start_ns - this.t0) / total) * 100;
    const width = ((end - span.start_ns) / total) * 100;
    const error = span.status === "error";
    const model = span.response_model || span.request_model;
    const toggle = kids.length
      ? h("button", { type: "button", class: "toggle", title: "collapse or expand", onclick: (e) => { e.stopPropagation(); this.toggle(span.span_id); } },
        this.collapsed.has(span.span_id) ? "▸" : "▾")
      : h("span", { class: "toggle-space" });
    const tokens = span.usage && span.usage.total != null ? `${fmtInt(span.usage.total)} tok` : null;
    return h("div", {
      class: `span-row${error ? " error" : ""}${span.span_id === this.selected ? " selected" : ""}`,
      "data-span-id": span.span_id, "data-kind": span.kind, tabindex: 0, role: "button",
      onclick: () => this.select(span.span_id),
      onkeydown: (e) => this.key(e, span.span_id),
    },
    h("div", { class: "wf-label", style: { paddingLeft: `${depth * 16 + 4}px` } },
      toggle, kindBadge(span.kind),
      h("span", { class: "span-name", title: span.name }, span.name),
      model ? h("span", { class: "span-model" }, model) : null,
      error ? h("span", { class: "span-error", title: span.error?.message || "error" }, "!") : null),
    h("div", { class: "wf-track" },
      h("div", { class: `bar kind-${span.kind}${error ? " bar-error" : ""}${span.end_ns == null ? " bar-open" : ""}`, style: { left: `${left}%`, width: `${width}%` } }),
      h("span", { class: `bar-label${width >= 20 ? " inside" : ""}`, style: labelPlace(left, width) },
        [fmtMs(span.duration_ms), tokens].filter(Boolean).join(" · "))));
  }

  // Enter/space select; arrow keys walk the tree like a list
  key(event, id) {
    const rows = [...this.tree.querySelectorAll(".span-row")];
    const at = rows.findIndex((el) => el.dataset.spanId === id);
    const next = { ArrowDown: rows[at + 1], ArrowUp: rows[at - 1] }[event.key];
    if (event.key === "Enter" || event.key === " ") this.select(id);
    else if (next) { next.focus(); this.select(next.dataset.spanId); }
    else return;
    event.preventDefault();
  }

  toggle(id) {
    if (this.collapsed.has(id)) this.collapsed.delete(id); else this.collapsed.add(id);
    this.renderTree();
  }

  select(id) {
    this.selected = id;
    history.replaceState(null, "", `#span=${encodeURIComponent(id)}`);
    for (const el of this.tree.querySelectorAll(".span-row")) el.classList.toggle("selected", el.dataset.spanId === id);
    this.renderDetail();
  }

  renderDetail() {
    const span = this.byId.get(this.selected);
    this.detail.replaceChildren(span ? spanDetail(span, this.t0) : h("p", { class: "empty" }, "Select a span"));
  }
}

// inside a wide bar, else after it, or before it when it ends near the right edge
function labelPlace(left, width) {
  if (width >= 20) return { left: `calc(${left}% + 6px)` };
  return left + width > 70 ? { right: `calc(${100 - left}% + 4px)` } : { left: `calc(${left + width}% + 4px)` };
}

function sumUsage(spans) {
  const usage = {};
  for (const key of ["input", "output", "total", "cache_read", "cache_write", "reasoning"])
    for (const s of spans) if (s.usage && s.usage[key] != null) usage[key] = (usage[key] || 0) + s.usage[key];
  return usage;
}

function sumCost(spans) {
  const costs = spans.map((s) => s.cost_usd).filter((c) => c != null);
  return costs.length ? costs.reduce((a, b) => a + b, 0) : null;
}

function tokenDetail(usage) {
  const parts = [`${fmtInt(usage.input)} in`, `${fmtInt(usage.output)} out`];
  if (usage.cache_read) parts.push(`${fmtInt(usage.cache_read)} cached`);
  if (usage.reasoning) parts.push(`${fmtInt(usage.reasoning)} reasoning`);
  return usage.input == null && usage.output == null ? null : parts.join(" · ");
}
