"""Zenodo's ``q`` as zenodo.org reads it, parsed with luqum (the Lucene query parser zenodo-rdm uses).

On zenodo.org the query goes through invenio-records-resources' ``QueryParser`` (zenodo-rdm invenio.cfg,
``RDM_SEARCH["query_parser_cls"]``): luqum parses it, the legacy field names are mapped
(``zenodo_rdm/queryparser.py``, ``ZENODO_LEGACY_SEARCH_MAP``), and the result goes to the search engine as a
``query_string`` query without a ``default_operator``, so terms side by side are ORed (OpenSearch's default)
and a record must match at least one of them unless a ``+term`` / ``AND`` makes a term required. A query luqum
cannot parse (an unmatched parenthesis or quote, a dangling operator) is not refused: it falls back to a
``multi_match`` query of its words, any of which may match. ``&&`` / ``||`` / ``!`` are the engine's spellings
of AND / OR / NOT; operators in lower case are plain words (as on zenodo.org).

`compile_query(q)` gives a tree of `Term`, `Not`, `And`, `Or`, `Bool` (None for an empty / match-all query);
`evaluate(node, predicate)` decides it with `predicate(field, value) -> bool` for each term.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from luqum import tree
from luqum.exceptions import ParseError
from luqum.parser import parser as _luqum

_ESCAPE_RE = re.compile(r"\\(.)", re.DOTALL)
_WORD_RE = re.compile(r"\w+")


@dataclass(frozen=True)
class Term:
    """One term: `field` (lower case, None for any field) and its `value` (escapes removed, never empty)."""

    field: str | None
    value: str


def words_match(text: str, value: str) -> bool:
    """Does ``value`` occur in ``text`` as the search engine's analysed text would match it: its words
    (letters and digits, case-insensitive) in a row, the last one a prefix when ``value`` ends in ``*``?"""
    wanted = _WORD_RE.findall(value.lower())
    if not wanted:
        return value.strip().lower() in text.lower()
    words = _WORD_RE.findall(text.lower())
    prefix = value.endswith("*")
    n = len(wanted)
    for i in range(len(words) - n + 1):
        window = words[i : i + n]
        if window[:-1] == wanted[:-1] and (
            window[-1].startswith(wanted[-1]) if prefix else window[-1] == wanted[-1]
        ):
            return True
    return False


@dataclass(frozen=True)
class Not:
    node: Node


@dataclass(frozen=True)
class And:
    nodes: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    nodes: tuple[Node, ...]


@dataclass(frozen=True)
class Bool:
    """Terms side by side (Lucene's boolean clause): every `must`, no `must_not`, and at least one `should`
    when there is no `must` (a query of only negated terms matches everything else)."""

    must: tuple[Node, ...]
    should: tuple[Node, ...]
    must_not: tuple[Node, ...]


Node = Term | Not | And | Or | Bool
_MATCH_ALL = And(())


def _unescape(value: str) -> str:
    return _ESCAPE_RE.sub(r"\1", value).strip()


def _convert(node: tree.Item, field: str | None) -> Node | None:
    """A luqum node as the stand-in's tree (None for a term that asks for nothing, e.g. ``*``)."""
    if isinstance(node, tree.SearchField):
        return _convert(node.expr, node.name.lower())
    if isinstance(node, (tree.Group, tree.FieldGroup)):
        return _convert(node.expr, field)
    if isinstance(node, (tree.Boost, tree.Fuzzy, tree.Proximity)):
        return _convert(node.children[0], field)
    if isinstance(node, tree.Phrase):
        value = _unescape(node.value[1:-1] if node.value.endswith('"') else node.value[1:])
        return Term(field, value) if value else None
    if isinstance(node, tree.Word):
        value = _unescape(node.value)
        if value.strip("*?") == "":
            return _MATCH_ALL
        if value.endswith(("*", "?")):  # a prefix: kept as one trailing "*" (see `words_match`)
            value = value.rstrip("*?") + "*"
        return Term(field, value)
    if isinstance(node, (tree.Not, tree.Prohibit)):
        inner = _convert(node.a, field)
        return Not(inner) if inner is not None else None
    if isinstance(node, tree.Plus):
        return _convert(node.a, field)
    if isinstance(node, tree.AndOperation):
        return _join(And, [_convert(c, field) for c in node.children])
    if isinstance(node, tree.OrOperation):
        return _join(Or, [_convert(c, field) for c in node.children])
    if isinstance(node, tree.UnknownOperation):
        return _juxtaposed(list(node.children), field)
    if isinstance(node, (tree.Range, tree.Regex)):
        return Term(field, str(node))  # kept as a literal term: the stand-in does not evaluate ranges
    return None


def _juxtaposed(children: list[tree.Item], field: str | None) -> Node | None:
    """Terms side by side, with the engine's ``&&`` / ``||`` (luqum leaves them as words) taken as operators."""
    groups: list[list[tree.Item]] = [[]]
    for child in children:
        if isinstance(child, tree.Word) and child.value == "||":
            groups.append([])
        else:
            groups[-1].append(child)
    alternatives = [_clause(g, field) for g in groups if g]
    return _join(Or, alternatives)


def _clause(children: list[tree.Item], field: str | None) -> Node | None:
    must: list[Node] = []
    should: list[Node] = []
    must_not: list[Node] = []
    required_next = False
    for child in children:
        if isinstance(child, tree.Word) and child.value == "&&":
            if should:  # the term before an AND is required too
                must.append(should.pop())
            required_next = True
            continue
        if isinstance(child, tree.Word) and child.value.startswith("!") and len(child.value) > 1:
            child = tree.Not(tree.Word(child.value[1:]))
        node = _convert(child, field)
        if node is None or node == _MATCH_ALL:
            required_next = False
            continue
        if isinstance(node, Not):
            must_not.append(node.node)
        elif isinstance(child, tree.Plus) or required_next:
            must.append(node)
        else:
            should.append(node)
        required_next = False
    if not must and not must_not:
        return _join(Or, should)
    return Bool(tuple(must), tuple(should), tuple(must_not))


def _join(cls: type[And] | type[Or], nodes: list[Node | None]) -> Node | None:
    kept = [n for n in nodes if n is not None and n != _MATCH_ALL]
    if not kept:
        return _MATCH_ALL if any(n == _MATCH_ALL for n in nodes) else None
    if len(kept) == 1:
        return kept[0]
    return cls(tuple(kept))


def compile_query(q: str) -> Node | None:
    """The tree of a query string; None when it asks for nothing (empty, or only ``*``)."""
    if not (q or "").strip():
        return None
    try:
        node = _convert(_luqum.parse(q), None)
    except (ParseError, RecursionError, ArithmeticError, ValueError):
        # ArithmeticError: luqum's Fuzzy reads '0~.' as a decimal (decimal.InvalidOperation)
        # zenodo.org's fallback: a multi_match query of the words (any of them)
        node = _join(Or, [Term(None, w) for w in _WORD_RE.findall(q)])
    return None if node is None or node == _MATCH_ALL else node


def terms_of(node: Node | None) -> list[Term]:
    """Every term of a tree, in order (negated ones included)."""
    if node is None:
        return []
    if isinstance(node, Term):
        return [node]
    if isinstance(node, Not):
        return terms_of(node.node)
    children = (*node.must, *node.should, *node.must_not) if isinstance(node, Bool) else node.nodes
    out: list[Term] = []
    for child in children:
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
    if isinstance(node, Or):
        return any(evaluate(child, predicate) for child in node.nodes)
    if not all(evaluate(child, predicate) for child in node.must):
        return False
    if any(evaluate(child, predicate) for child in node.must_not):
        return False
    if node.must or not node.should:
        return True
    return any(evaluate(child, predicate) for child in node.should)
