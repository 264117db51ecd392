"""The query-string basics of Zenodo's ``q`` (Elasticsearch ``query_string``), enough for the stand-in.

Supported: bare words and ``"quoted phrases"``; ``field:value``, ``field:"a phrase"`` and
``field:(a OR b)`` (the field applies to every term inside); parentheses for grouping; ``AND`` / ``&&``,
``OR`` / ``||``, ``NOT`` / ``!`` / a leading ``-`` (and a leading ``+``, which changes nothing); terms side by
side are ANDed. Operators are recognised in any case (Elasticsearch wants upper case; the stand-in is
lenient), and matching is case-insensitive. ``\\`` escapes a character; a lone ``*`` matches everything and a trailing ``*`` is a prefix
(the stand-in matches words as substrings anyway). The parser is lenient: an unmatched parenthesis or a
dangling operator is ignored rather than refused.

`compile_query(q)` gives a tree of `Term`, `Not`, `And`, `Or` (or None for an empty / match-all query);
`evaluate(node, predicate)` decides it with `predicate(field, value) -> bool` for each term.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
    | (?P<lp>\()
    | (?P<rp>\))
    | (?P<and>&&)
    | (?P<or>\|\|)
    | (?P<fgroup>(?P<gfield>[A-Za-z_][\w.]*):\()
    | (?P<fphrase>(?P<pfield>[A-Za-z_][\w.]*):"(?P<pvalue>(?:[^"\\]|\\.)*)"?)
    | (?P<fword>(?P<wfield>[A-Za-z_][\w.]*):(?P<wvalue>(?:[^\s()"\\]|\\.)+))
    | (?P<phrase>"(?P<phvalue>(?:[^"\\]|\\.)*)"?)
    | (?P<word>(?:[^\s()"\\]|\\.)+)
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPE_RE = re.compile(r"\\(.)", re.DOTALL)


@dataclass(frozen=True)
class Term:
    """One term: `field` (lower case, None for any field) and its `value` (escapes removed, never empty)."""

    field: str | None
    value: str


@dataclass(frozen=True)
class Not:
    node: Node


@dataclass(frozen=True)
class And:
    nodes: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    nodes: tuple[Node, ...]


Node = Term | Not | And | Or


def _unescape(value: str) -> str:
    return _ESCAPE_RE.sub(r"\1", value).strip()


def _tokens(q: str) -> list[tuple[str, str | None, str]]:
    """(kind, field, value) tokens: kinds lp, rp, and, or, not, plus, group (a field then '('), term."""
    out: list[tuple[str, str | None, str]] = []
    for m in _TOKEN_RE.finditer(q or ""):
        if m.group("ws") is not None or m.group("other") is not None:
            continue
        if m.group("lp") is not None:
            out.append(("lp", None, ""))
        elif m.group("rp") is not None:
            out.append(("rp", None, ""))
        elif m.group("and") is not None:
            out.append(("and", None, ""))
        elif m.group("or") is not None:
            out.append(("or", None, ""))
        elif m.group("fgroup") is not None:
            out.append(("group", m.group("gfield").lower(), ""))
        elif m.group("fphrase") is not None:
            out.append(("term", m.group("pfield").lower(), _unescape(m.group("pvalue"))))
        elif m.group("fword") is not None:
            out.append(("term", m.group("wfield").lower(), _unescape(m.group("wvalue"))))
        elif m.group("phrase") is not None:
            out.append(("term", None, _unescape(m.group("phvalue"))))
        else:
            word = m.group(0)
            if word.upper() == "AND":
                out.append(("and", None, ""))
            elif word.upper() == "OR":
                out.append(("or", None, ""))
            elif word.upper() == "NOT" or word == "!":
                out.append(("not", None, ""))
            elif word[0] in "-!" and len(word) > 1:
                out.append(("not", None, ""))
                out.extend(_tokens(word[1:]))
            elif word[0] == "+" and len(word) > 1:
                out.extend(_tokens(word[1:]))
            elif word in ("+", "-"):
                continue
            else:
                out.append(("term", None, _unescape(word)))
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str | None, str]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else None

    def parse(self) -> Node | None:
        nodes: list[Node] = []
        while self.peek() is not None:
            node = self.or_expr(None)
            if node is not None:
                nodes.append(node)
            if self.peek() == "rp":  # an unmatched ')': ignored
                self.pos += 1
        return _join(And, nodes)

    def or_expr(self, field: str | None) -> Node | None:
        nodes = []
        node = self.and_expr(field)
        if node is not None:
            nodes.append(node)
        while self.peek() == "or":
            self.pos += 1
            node = self.and_expr(field)
            if node is not None:
                nodes.append(node)
        return _join(Or, nodes)

    def and_expr(self, field: str | None) -> Node | None:
        nodes = []
        while self.peek() not in (None, "rp", "or"):
            if self.peek() == "and":
                self.pos += 1
                continue
            node = self.unary(field)
            if node is not None:
                nodes.append(node)
        return _join(And, nodes)

    def unary(self, field: str | None) -> Node | None:
        negate = False
        while self.peek() == "not":
            self.pos += 1
            negate = not negate
        node = self.primary(field)
        if node is None:
            return None
        return Not(node) if negate else node

    def primary(self, field: str | None) -> Node | None:
        kind, tfield, value = self.tokens[self.pos] if self.pos < len(self.tokens) else (None, None, "")
        if kind in ("lp", "group"):
            self.pos += 1
            node = self.or_expr(tfield if kind == "group" else field)
            if self.peek() == "rp":
                self.pos += 1
            return node
        if kind == "term":
            self.pos += 1
            value = value.rstrip("*?") if value not in ("*", "?") else ""
            if not value:
                return _MATCH_ALL
            return Term(tfield or field, value)
        return None  # an operator where a term belongs (dangling): nothing


_MATCH_ALL = And(())


def _join(cls: type[And] | type[Or], nodes: list[Node]) -> Node | None:
    if not nodes:
        return None
    if len(nodes) == 1:
        return nodes[0]
    return cls(tuple(nodes))


def compile_query(q: str) -> Node | None:
    """The tree of a query string; None when it asks for nothing (empty, or only ``*``)."""
    node = _Parser(_tokens(q)).parse()
    return None if node == _MATCH_ALL else node


def terms_of(node: Node | None) -> list[Term]:
    """Every term of a tree, in order (negated ones included)."""
    if node is None:
        return []
    if isinstance(node, Term):
        return [node]
    if isinstance(node, Not):
        return terms_of(node.node)
    out: list[Term] = []
    for child in node.nodes:
        out.extend(terms_of(child))
    return out


def evaluate(node: Node | None, predicate: Callable[[str | None, str], bool]) -> bool:
    """Does the tree hold, with `predicate(field, value)` deciding each term? None (match all) holds."""
    if node is None:
        return True
    if isinstance(node, Term):
        return predicate(node.field, node.value)
    if isinstance(node, Not):
        return not evaluate(node.node, predicate)
    if isinstance(node, And):
        return all(evaluate(child, predicate) for child in node.nodes)
    return any(evaluate(child, predicate) for child in node.nodes)
