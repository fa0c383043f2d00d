// The selected span: facts, error, guard verdicts, usage, then its content shaped by kind: chat
// bubbles with tool calls and results for llm spans, arguments and result for tools, documents
// with scores for retrievers, JSON for the rest.
import { h, fmtCost, fmtInt, fmtMs, kindBadge } from "./dom.js";

export function spanDetail(span, t0) {
  const meta = { ...(span.metadata || {}) };
  const guard = meta.guard;
  const tools = meta.tools;
  delete meta.guard;
  delete meta.tools;
  return h("div", { class: "span-detail" },
    h("div", { class: "detail-head" },
      kindBadge(span.kind), h("h2", {}, span.name),
      h("span", { class: `status status-${span.status === "error" ? "error" : span.end_ns == null ? "open" : "ok"}` }, span.end_ns == null ? "running" : span.status)),
    facts(span, t0),
    span.error ? errorBox(span.error) : null,
    Array.isArray(guard) && guard.length ? section("Guard", guard.map(decision), "guard") : null,
    span.usage ? section("Usage", usageTable(span.usage), "usage") : null,
    content(span),
    Array.isArray(tools) && tools.length ? h("details", { class: "section" }, h("summary", {}, `Tools offered (${tools.length})`), jsonView(tools)) : null,
    Object.keys(meta).length ? section("Metadata", jsonView(meta), "metadata") : null,
    h("p", { class: "ids muted" }, `span ${span.span_id}`, span.parent_span_id ? ` · parent ${span.parent_span_id}` : ""));
}

function section(title, body, cls) {
  return h("section", { class: `section ${cls || ""}` }, h("h3", {}, title), body);
}

function facts(span, t0) {
  const model = span.request_model && span.response_model && span.request_model !== span.response_model
    ? `${span.request_model} → ${span.response_model}` : span.response_model || span.request_model;
  const rows = [
    ["Duration", fmtMs(span.duration_ms)],
    ["Starts", `+${fmtMs((span.start_ns - t0) / 1e6)}`],
    ["TTFT", span.ttft_ms != null ? fmtMs(span.ttft_ms) : null],
    ["Model", model],
    ["Provider", [span.provider, span.operation].filter(Boolean).join(" · ") || null],
    ["Finish", span.finish_reason],
    ["Stream", span.stream == null ? null : span.stream ? "yes" : "no"],
    ["Cost", span.cost_usd != null ? fmtCost(span.cost_usd) : null],
    ["Agent", span.agent_name],
  ].filter(([, v]) => v !== null && v !== undefined && v !== "");
  return h("dl", { class: "facts" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", { class: `fact-${k.toLowerCase()}` }, v)]));
}

function errorBox(error) {
  return h("section", { class: "error-box" },
    h("div", { class: "error-type" }, error.type || "error", error.status_code ? ` (HTTP ${error.status_code})` : ""),
    h("pre", { class: "error-message" }, error.message ?? ""));
}

function decision(d) {
  return h("div", { class: `guard-decision guard-${d.decision}` },
    h("div", {}, h("span", { class: `verdict verdict-${d.decision}` }, d.decision), ` ${d.tool || ""} · ${d.mode || ""} mode · `, d.reason || ""),
    h("ul", { class: "verdicts" }, (d.verdicts || []).map((v) => h("li", {},
      h("span", { class: v.error ? "verdict-error" : v.passed ? "verdict-pass" : "verdict-fail" }, v.error ? "error" : v.passed ? "pass" : "fail"),
      ` ${v.rule}`, v.score != null ? ` · score ${v.score}` : "", v.reason ? ` · ${v.reason}` : "", v.error ? ` · ${v.error}` : "",
      v.duration_ms != null ? h("span", { class: "muted" }, ` · ${fmtMs(v.duration_ms)}`) : null))));
}

function usageTable(u) {
  const cols = [["Input", u.input], ["Cached", u.cache_read], ["Cache write", u.cache_write], ["Output", u.output], ["Reasoning", u.reasoning], ["Total", u.total]];
  return [
    h("table", { class: "usage-table" },
      h("thead", {}, h("tr", {}, cols.map(([k]) => h("th", {}, k)))),
      h("tbody", {}, h("tr", {}, cols.map(([k, v]) => h("td", { "data-bucket": k.toLowerCase().replace(" ", "_") }, fmtInt(v)))))),
    h("p", { class: "muted small" }, "Input counts every prompt token, cached reads and cache writes included."),
  ];
}

// ---- content by kind --------------------------------------------------------------------------

function content(span) {
  if (span.kind === "llm") {
    const input = messagesOf(span.input);
    const output = outputMessages(span.output);
    const shownCalls = output && output.some((m) => callsOf(m).length);
    return [
      section("Messages", input ? chat(input, span.input) : jsonView(span.input), "messages"),
      section("Output", output ? chat(output, span.output) : jsonView(span.output), "output"),
      span.tool_calls && span.tool_calls.length && !shownCalls ? section("Tool calls", span.tool_calls.map(toolCall), "tool-calls") : null,
    ];
  }
  if (span.kind === "tool") {
    return [section("Arguments", jsonView(span.input), "arguments"), span.output !== null || span.status !== "error" ? section("Result", jsonView(span.output), "result") : null];
  }
  if (span.kind === "retriever") {
    const docs = documentsOf(span.output);
    return [section("Query", jsonView(span.input), "query"),
      section(docs ? `Documents (${docs.length})` : "Output", docs ? docs.map(documentCard) : jsonView(span.output), "documents")];
  }
  // agents and chains that pass a conversation along read best as one too
  const asChat = (value) => {
    const messages = value && typeof value === "object" ? messagesOf(value) : null;
    return messages ? chat(messages, value) : jsonView(value);
  };
  return [section("Input", asChat(span.input), "input"), section("Output", asChat(span.output), "output")];
}

function chat(messages, raw) {
  return [h("div", { class: "chat" }, messages.map(bubble)),
    h("details", { class: "raw" }, h("summary", {}, "as JSON"), jsonView(raw))];
}

const ITEM_TYPES = new Set(["message", "function_call", "function_call_output"]);

// A chat input as a list of messages: OpenAI messages, Anthropic {system, messages}, Responses
// items, or a plain prompt; null when it is something else.
export function messagesOf(value) {
  if (typeof value === "string") return [{ role: "user", content: value }];
  if (Array.isArray(value) && value.length && value.every((m) => m && typeof m === "object" && (m.role || ITEM_TYPES.has(m.type)))) return value;
  if (value && typeof value === "object" && Array.isArray(value.messages)) {
    const rest = messagesOf(value.messages) || [];
    return value.system ? [{ role: "system", content: value.system }, ...rest] : rest;
  }
  return null;
}

function outputMessages(value) {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") return [{ role: "assistant", content: value }];
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value.map((content) => ({ role: "assistant", content }));
  if (value && typeof value === "object" && value.role) return [value];
  return messagesOf(value);
}

function bubble(m) {
  if (m.type === "function_call") return h("div", { class: "msg role-assistant" }, roleLine("assistant"), toolCall({ id: m.call_id, name: m.name, arguments: m.arguments }));
  if (m.type === "function_call_output") return h("div", { class: "msg role-tool" }, roleLine("tool", m.call_id), body(m.output));
  const role = m.role || "message";
  return h("div", { class: `msg role-${role}` },
    roleLine(role, m.name || m.tool_call_id),
    m.content !== null && m.content !== undefined && m.content !== "" ? body(m.content) : null,
    callsOf(m).map(toolCall));
}

function roleLine(role, extra) {
  return h("div", { class: "msg-role" }, role, extra ? h("span", { class: "muted" }, ` ${extra}`) : null);
}

function callsOf(m) {
  const calls = (m.tool_calls || []).map((c) => (c.function ? { id: c.id, name: c.function.name, arguments: c.function.arguments } : { id: c.id, name: c.name, arguments: c.arguments ?? c.args }));
  if (Array.isArray(m.content)) for (const part of m.content) if (part && part.type === "tool_use") calls.push({ id: part.id, name: part.name, arguments: part.input });
  return calls;
}

// A message's content: text, or parts (text, tool use and results, thinking, images).
function body(value) {
  if (typeof value === "string") return h("div", { class: "msg-text" }, value);
  if (!Array.isArray(value)) return jsonView(value);
  return value.map((part) => {
    if (typeof part === "string") return h("div", { class: "msg-text" }, part);
    const type = part && part.type;
    if (type === "text" || type === "input_text" || type === "output_text") return h("div", { class: "msg-text" }, part.text ?? "");
    if (type === "tool_use") return null; // shown as a tool call below the text
    if (type === "tool_result") return h("div", { class: "tool-result" }, h("div", { class: "tool-head" }, "result ", h("span", { class: "muted" }, part.tool_use_id || "")), body(part.content));
    if (type === "thinking") return h("details", { class: "thinking" }, h("summary", {}, "thinking"), h("div", { class: "msg-text" }, part.thinking ?? ""));
    if (type === "redacted_thinking") return h("div", { class: "muted" }, "[redacted thinking]");
    if (type && /image|audio|file/.test(type)) return h("div", { class: "muted" }, `[${type}]`);
    return jsonView(part);
  });
}

function toolCall(call) {
  return h("div", { class: "tool-call" },
    h("div", { class: "tool-head" }, "call ", h("strong", { class: "tool-name" }, call.name || "?"), call.id ? h("span", { class: "muted" }, ` ${call.id}`) : null),
    jsonView(call.arguments));
}

function documentsOf(value) {
  if (!Array.isArray(value) || !value.length) return null;
  if (value.every((d) => typeof d === "string")) return value.map((text) => ({ text }));
  if (value.every((d) => d && typeof d === "object" && ("content" in d || "text" in d || "page_content" in d))) return value;
  return null;
}

function documentCard(doc) {
  const text = doc.content ?? doc.text ?? doc.page_content;
  const meta = doc.metadata && Object.keys(doc.metadata).length ? doc.metadata : null;
  return h("div", { class: "doc" },
    h("div", { class: "doc-head" },
      doc.score != null ? h("span", { class: "doc-score", title: "score" }, Number(doc.score).toFixed(3)) : null,
      doc.id ? h("span", { class: "doc-id" }, doc.id) : null),
    typeof text === "string" ? h("div", { class: "msg-text" }, text) : jsonView(text),
    meta ? jsonView(meta) : null);
}

// Any value as text: strings as they are (pretty-printed when they hold JSON), the rest as JSON.
export function jsonView(value) {
  if (value === null || value === undefined) return h("p", { class: "muted small" }, "none recorded");
  if (typeof value === "string") {
    const trimmed = value.trim();
    if (/^[[{]/.test(trimmed)) {
      try { return h("pre", { class: "json" }, JSON.stringify(JSON.parse(trimmed), null, 2)); } catch { /* plain text */ }
    }
    return h("div", { class: "msg-text plain" }, value);
  }
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

// ---- turn previews ------------------------------------------------------------------------------

function textOf(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((p) => (typeof p === "string" ? p : p && (p.text || ""))).join("").trim() || null;
  return null;
}

// The last thing the user said in a root span's input (or its only text field).
export function questionOf(input) {
  const messages = messagesOf(input);
  if (messages && !(typeof input === "string")) {
    const user = messages.filter((m) => m.role === "user" || m.role === "human").pop();
    if (user) return textOf(user.content);
  }
  if (typeof input === "string") return input;
  if (input && typeof input === "object") {
    const texts = Object.values(input).filter((v) => typeof v === "string" && !v.startsWith("<"));
    if (texts.length === 1) return texts[0];
  }
  return null;
}

// The final answer in a root span's output: a string, or the last assistant message with text.
export function answerOf(output) {
  if (typeof output === "string") return output;
  const messages = outputMessages(output);
  const answer = (messages || []).filter((m) => (m.role === "assistant" || m.role === "ai") && textOf(m.content)).pop();
  return answer ? textOf(answer.content) : null;
}
