"""Content rules applied at one point, in the pipeline, for every integration alike.

``ContentRules.apply`` runs in ``Processor._enrich`` on the background thread, before any
exporter, the spool or a trace roll-up sees the span: capture off strips what the user
authored, the redact hook edits (or, if it fails, strips) content, and every exported string
is scanned for secrets last, so nothing the hook returns escapes the scan either.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import marshal
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from .span import Span

logger = logging.getLogger("staso_integrations")

MASK = "<redacted>"
# Secrets inside any string: provider keys, AWS access key ids, GitHub tokens, Google API keys, bearer tokens
# and the password of a URL (``scheme://user:password@host``). No lookbehinds: they make ``re``
# try every alternative at every position (10x slower); ``_mask`` checks the boundaries.
_SECRET_SHAPES = (
    r"sk-[A-Za-z0-9_-]{20,}",
    r"(?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Z])",
    r"(?:ghp_|github_pat_)[A-Za-z0-9_]{30,}",
    r"AIza[0-9A-Za-z_-]{35}",  # Google API keys (Gemini, Vertex express mode)
    r"earer (?P<token>[A-Za-z0-9._~+/=-]{12,})",
    r"://(?P<userinfo>[^\s/@:]*:[^\s/@]+)@",
)
_MIN_SECRET = 12  # shorter strings cannot hold any of the shapes above: skip the scan
# Substrings every match of a shape contains: a string with none of them (nearly all) is
# passed after a few fast substring searches, without running the regex.
_MARKERS = ("sk-", "AKIA", "ASIA", "ghp_", "github_pat_", "AIza", "earer ", "@")
_SECRET_ENV_NAME = re.compile(r"(?:^|_)(?:API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD)(?:$|_)", re.IGNORECASE)
_MAX_NAMES_KNOWN = 4096  # names remembered by the scan (cleared when full)
_MIN_LITERAL = 12  # an exact secret shorter than this would mask ordinary words
_MAX_DEPTH = 32
_LEAVES = (str, int, float, bool, type(None))
# With capture off, ``span.metadata`` keeps only these keys: ours, and none of them user text.
STRUCTURAL_METADATA = frozenset(
    {"params", "helper", "raw_response", "request_id", "response_id", "input_tokens",
     "max_tokens", "temperature", "top_p", "top_k", "thinking", "service_tier", "betas",
     "stream_closed_early", "closed_early", "interrupted", "documents", "tool_call_id",
     "langgraph_node", "langgraph_step", "tools", "guard"}
)  # fmt: skip
MESSAGE_NOT_CAPTURED = "<message not captured: capture_content is off>"


class SecretScanner:
    """One compiled regex for every secret shape plus ``literals`` (exact secrets we know),
    run only on strings that contain one of its markers.
    """

    __slots__ = ("_names", "json_markers", "markers", "pattern")

    def __init__(self, literals: Iterable[str] = ()) -> None:
        exact = sorted(
            {value for value in literals if value and len(value) >= _MIN_LITERAL}, key=len, reverse=True
        )
        # A known secret that holds a shape's marker (an ``sk-`` key) needs no test of its own:
        # text holding it holds that marker too, and the marker tests run on every span.
        self.markers = (*_MARKERS, *_unmarked(exact))
        # The markers as JSON writes them inside a string: JSON escapes each character on its
        # own, so a string holding a marker encodes to text holding the marker's encoding.
        encoded = (json.dumps(value, ensure_ascii=False)[1:-1] for value in exact)
        self.json_markers = (*_MARKERS, *_unmarked(encoded))
        alternatives = [f"(?P<exact>{'|'.join(map(re.escape, exact))})"] if exact else []
        self.pattern = re.compile("|".join([*alternatives, *_SECRET_SHAPES]))
        self._names: dict[str, str] = {}

    def scrub_name(self, name: str) -> str:
        """``scrub(name)`` for a span or agent name: the same few recur, so each is scanned once."""
        try:
            return self._names[name]
        except KeyError:
            pass
        if len(self._names) >= _MAX_NAMES_KNOWN:
            self._names.clear()
        scrubbed = self._names[name] = self.scrub(name)
        return scrubbed

    def may_hold_secret(self, encoded: str) -> bool:
        """Whether any string inside the values that JSON-encode to ``encoded`` (with
        ``ensure_ascii=False``) may hold a secret: ``False`` means :meth:`scrub` leaves every one
        of them as it is.
        """
        for marker in self.json_markers:  # noqa: SIM110 (a plain loop: twice as fast as any())
            if marker in encoded:
                return True
        return False

    def scrub(self, text: str) -> str:
        """``text`` with every secret replaced by ``<redacted>``; the same object when there is none."""
        if len(text) < _MIN_SECRET:
            return text
        for marker in self.markers:  # a plain loop: twice as fast as any() over a generator
            if marker in text:
                break
        else:
            return text
        masked = self.pattern.sub(_mask, text)
        return text if masked == text else masked


def _unmarked(texts: Iterable[str]) -> list[str]:
    return [text for text in texts if not any(marker in text for marker in _MARKERS)]


def _mask(match: re.Match[str]) -> str:
    text, start, group = match.string, match.start(), match.lastgroup
    if group == "exact":
        return MASK
    if group is not None:  # bearer token or URL password: only that part is the secret
        if group == "token" and (start == 0 or text[start - 1] not in "Bb"):
            return match.group()
        return text[start : match.start(group)] + MASK + text[match.end(group) : match.end()]
    if start and (text[start - 1].isalnum() or text[start - 1] in "_-"):
        return match.group()  # "task-…", "risk-…": the shape starts inside a word
    return MASK


def known_secrets(api_key: str | None, environ: Mapping[str, str] | None = None) -> list[str]:
    """The Staso API key and the values of credential-named environment variables
    (``OPENAI_API_KEY``, ``GITHUB_TOKEN``...): masked wherever they appear, whatever their shape.
    """
    env = os.environ if environ is None else environ
    found = [value for name, value in env.items() if _SECRET_ENV_NAME.search(name)]
    return [api_key, *found] if api_key else found


_DEFAULT = SecretScanner()


def scrub_text(text: str, scanner: SecretScanner = _DEFAULT) -> str:
    """``text`` with secrets of the known shapes masked (exact known secrets too, with ``scanner``)."""
    return scanner.scrub(text)


def scrub_value(value: Any, scanner: SecretScanner = _DEFAULT, depth: int = 0) -> Any:
    """A copy of ``value`` with secrets masked in every string; unchanged parts are shared, and
    the caller's objects (trace metadata is theirs) are never modified in place.
    """
    if isinstance(value, str):
        return scanner.scrub(value)
    if depth >= _MAX_DEPTH or not isinstance(value, (dict, list, tuple)):
        return value
    items = value.values() if isinstance(value, dict) else value
    changed: dict[int, Any] = {}
    for index, item in enumerate(items):
        if type(item) in _LEAVES:  # most items: no call for a number, None or a short string
            if type(item) is not str or len(item) < _MIN_SECRET:
                continue
            new: Any = scanner.scrub(item)  # Any, not the str this line alone would declare
        else:
            new = scrub_value(item, scanner, depth + 1)
        if new is not item:
            changed[index] = new
    if not changed:
        return value
    if isinstance(value, dict):
        keys = list(value)
        return {**value, **{keys[index]: new for index, new in changed.items()}}
    rebuilt = [changed.get(index, item) for index, item in enumerate(value)]
    return rebuilt if isinstance(value, list) else tuple(rebuilt)


def normalize_tool_calls(span: Span) -> bool:
    """Tool call ``arguments`` always leave as a JSON string, the wire form OpenAI uses;
    Anthropic and LangChain hand them over parsed. Whether any was encoded.
    """
    encoded = False
    for call in span.tool_calls or ():
        arguments = call.get("arguments")
        if arguments is not None and not isinstance(arguments, str):
            call["arguments"] = json.dumps(arguments, ensure_ascii=False, default=str)
            encoded = True
    return encoded


def strip_content(span: Span) -> None:
    """Drop everything user-authored; keep models, tokens, cost, timing and the error type.

    Gone: prompts, outputs, tool arguments and results, retrieved documents (all ``input`` /
    ``output``), tool definitions (names stay), guard reasons, error messages, user-set
    metadata, and the conversation's tags and metadata.
    """
    span.input = None
    span.output = None
    if span.tool_calls:
        span.tool_calls = [{"id": call.get("id"), "name": call.get("name")} for call in span.tool_calls]
    if span.error and span.error.get("message"):
        span.error = {**span.error, "message": MESSAGE_NOT_CAPTURED}
    metadata = {key: value for key, value in span.metadata.items() if key in STRUCTURAL_METADATA}
    if "tools" in metadata:
        metadata["tools"] = _tool_names(metadata["tools"])
    if "guard" in metadata:
        metadata["guard"] = [_bare_decision(decision) for decision in metadata["guard"] or ()]
    span.metadata = metadata
    attrs = span.trace_attrs
    if attrs.metadata or attrs.tags:
        span.trace_attrs = replace(attrs, metadata=None, tags=())


def _tool_names(tools: Any) -> list[dict[str, Any]]:
    """``[{"name", "type"}]`` of OpenAI (``function.name``) and Anthropic (``name``) definitions."""
    out = []
    for tool in tools if isinstance(tools, list) else ():
        if isinstance(tool, dict):
            function = tool.get("function")
            name = function.get("name") if isinstance(function, dict) else tool.get("name")
            out.append({"name": name, "type": tool.get("type")})
    return out


def _bare_decision(decision: Any) -> Any:
    """A guard decision without reasons: rule names, outcomes, scores and timings stay."""
    if not isinstance(decision, dict):
        return None
    verdicts = [
        {**verdict, "reason": None, "error": _error_kind(verdict.get("error"))}
        for verdict in decision.get("verdicts") or ()
        if isinstance(verdict, dict)
    ]
    return {**decision, "reason": None, "verdicts": verdicts}


def _error_kind(error: Any) -> Any:
    # Rule errors read "ValueError: <message>"; the message may quote the tool's arguments.
    return error.split(": ", 1)[0] if isinstance(error, str) else error


class ContentRules:
    """What ``Processor._enrich`` does to content, for one configuration."""

    def __init__(
        self,
        capture_content: bool,
        redact: Callable[[dict[str, Any]], dict[str, Any]] | None,
        api_key: str | None,
    ) -> None:
        self.capture_content = capture_content
        self.redact = redact
        self.scanner = SecretScanner(known_secrets(api_key))
        self.redact_failures = 0
        install_log_filter()  # again: loggers of modules imported since (``getLogger(__name__)``)

    def apply(self, span: Span, encoded: str | None = None) -> str | None:
        """Apply the rules to ``span``. ``encoded``: its content (``sanitize_span``'s text), if
        nothing added to it since; the secret scan then skips content without a marker.

        Returns:
            ``encoded`` when it still is the span's content exactly (no rule changed it), else None.
        """
        if not self.capture_content:
            strip_content(span)  # only removes content: ``encoded`` still covers what is left
        if self.redact is not None:
            self._redact(span)
            encoded = None
        clean = encoded is not None and not self.scanner.may_hold_secret(encoded)
        self._scrub(span, clean)
        return encoded if clean and self.capture_content else None  # stripped content is not ``encoded``

    def _redact(self, span: Span) -> None:
        """Run the user's hook on the span's dict and take back the fields it may change.

        A hook that raises or returns something else drops the span's content (a broken
        redaction must never let through what it was meant to hide) and says so once.
        """
        try:
            data = self._run_hook(span)
        except Exception as exc:
            self.redact_failures += 1
            if self.redact_failures == 1:
                logger.warning(
                    "staso: redact hook failed (%s: %s); the content of this and every span it "
                    "fails on is dropped, later failures are not logged",
                    type(exc).__name__,
                    exc,
                )
            strip_content(span)
            return
        take_back(span, data)

    def _run_hook(self, span: Span) -> dict[str, Any]:
        assert self.redact is not None
        # A copy: the hook may edit it in place, and a span's content may be shared with others
        # (a LangChain message's record is: ``langchain/_extract.py``).
        data = self.redact(_deep_copy(redactable_dict(span)))
        if not isinstance(data, dict):
            raise TypeError(f"returned {type(data).__name__}, not the span dict")
        return data

    def _scrub(self, span: Span, content_clean: bool) -> None:
        scanner = self.scanner
        span.name = scanner.scrub_name(span.name)
        if span.agent_name:
            span.agent_name = scanner.scrub_name(span.agent_name)
        if content_clean:  # nothing to mask in the content or the trace's tags and metadata
            self._scrub_trace_ids(span)
            return
        for name in ("input", "output", "metadata", "tool_calls", "error"):
            value = getattr(span, name)
            if value is not None:
                setattr(span, name, scrub_value(value, scanner))
        attrs = span.trace_attrs
        fields = (attrs.metadata, attrs.tags, attrs.conversation_id, attrs.user_id, attrs.session_id)
        scrubbed = scrub_value(fields, scanner)
        if scrubbed is not fields:
            metadata, tags, conversation_id, user_id, session_id = scrubbed
            span.trace_attrs = replace(
                attrs, metadata=metadata, tags=tags, conversation_id=conversation_id,
                user_id=user_id, session_id=session_id,
            )  # fmt: skip

    def _scrub_trace_ids(self, span: Span) -> None:
        attrs = span.trace_attrs
        if attrs.conversation_id is None and attrs.user_id is None and attrs.session_id is None:
            return
        ids = (attrs.conversation_id, attrs.user_id, attrs.session_id)
        scrubbed = scrub_value(ids, self.scanner)
        if scrubbed is not ids:
            conversation_id, user_id, session_id = scrubbed
            span.trace_attrs = replace(
                attrs, conversation_id=conversation_id, user_id=user_id, session_id=session_id
            )


def _deep_copy(data: dict[str, Any]) -> dict[str, Any]:
    """A sanitized span's dict holds plain values: marshal copies them six times faster than
    ``copy.deepcopy``, which takes whatever it refuses.
    """
    try:
        copied: dict[str, Any] = marshal.loads(marshal.dumps(data))
    except ValueError:  # an object marshal does not take (a str subclass...)
        return copy.deepcopy(data)
    return copied


# What a redact hook may change; ids, timing and tokens stay ours.
REDACTABLE = ("name", "input", "output", "metadata", "tool_calls", "error")


def redactable_dict(span: Span) -> dict[str, Any]:
    """The span's dict, plus the conversation's ``trace_metadata`` (tags are already in it)."""
    data = span.to_dict()
    data["trace_metadata"] = span.trace_attrs.metadata
    return data


def take_back(span: Span, data: dict[str, Any]) -> None:
    for name in REDACTABLE:
        if name in data:
            setattr(span, name, data[name] if name != "metadata" else (data[name] or {}))
    if "tags" in data or "trace_metadata" in data:
        attrs = span.trace_attrs
        tags = data.get("tags", attrs.tags)
        span.trace_attrs = replace(
            attrs, tags=tuple(tags or ()), metadata=data.get("trace_metadata", attrs.metadata) or None
        )


class SecretFilter(logging.Filter):
    """Masks secrets in our own log records: message, arguments and traceback text."""

    def filter(self, record: logging.LogRecord) -> bool:
        # A record we cannot format is left to logging's own error handling.
        with contextlib.suppress(Exception):
            message = record.getMessage()
            masked = scrub_text(message)
            if masked is not message:
                record.msg, record.args = masked, None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = scrub_text(record.exc_text)
        return True


def install_log_filter() -> None:
    """Scrub every record of our loggers: ``staso_integrations`` and its children that exist
    (a logger's filters do not see records its children propagate to it).
    """
    children = [
        item for name, item in list(logging.root.manager.loggerDict.items())
        if name.startswith("staso_integrations.") and isinstance(item, logging.Logger)
    ]  # fmt: skip
    for each in (logger, *children):
        if not any(isinstance(f, SecretFilter) for f in each.filters):
            each.addFilter(SecretFilter())


install_log_filter()
