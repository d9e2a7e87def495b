"""The part of FEEL that decision tables use, translated to kaskad's language.

Two entry points: :func:`expression` (an input expression or an output entry: names and
dotted paths, literals, arithmetic, comparisons, ``and``/``or``, ``not(…)``,
``between``, ``date("…")``) and :func:`unary_tests` (an input entry: ``-``, values, lists,
comparisons, intervals, ``not(…)``, and expressions over ``?``). Anything else (function
calls, contexts, lists, ``if``/``for``/``some``/``every``, names with spaces) raises
:class:`FeelError` naming the construct, which the importer reports as K244.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol


class PathResolver(Protocol):
    """Turns a FEEL path (``applicant.age``, ``Risk Level``) into a kaskad field path."""

    @property
    def spaced(self) -> frozenset[str]:
        """The names with spaces the file defines (decisions, input data): FEEL allows
        them, and they are read as one name."""
        ...

    def __call__(self, parts: tuple[str, ...]) -> str: ...


class PlainPaths:
    """Paths as written, and no names with spaces."""

    spaced: frozenset[str] = frozenset()

    def __call__(self, parts: tuple[str, ...]) -> str:
        return ".".join(parts)


class FeelError(ValueError):
    """A FEEL construct kaskad does not translate; ``column`` is 1-based in the text."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<number>\d+(?:\.\d+)?|\.\d+)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\.\.|\*\*|<=|>=|!=|[-+*/=<>(),.\[\]{}:?@])
    """,
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "true", "false", "null", "between", "in"}
_REFUSED_KEYWORDS = {
    "if": "if-then-else expressions",
    "then": "if-then-else expressions",
    "else": "if-then-else expressions",
    "for": "for loops",
    "return": "for loops",
    "some": "quantified expressions (some … satisfies)",
    "every": "quantified expressions (every … satisfies)",
    "satisfies": "quantified expressions",
    "instance": "'instance of' tests",
    "function": "function definitions",
}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)$")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "'": "'"}


@dataclass(frozen=True)
class Token:
    kind: str  # string | number | name | keyword | op | end
    text: str
    column: int


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            char = text[pos]
            hint = " (strings use double quotes in FEEL)" if char == "'" else ""
            raise FeelError(f"unexpected character {char!r}{hint}", pos + 1)
        kind = match.lastgroup or "op"
        value = match.group()
        if kind != "ws":
            if kind == "name" and value in _KEYWORDS:
                kind = "keyword"
            tokens.append(Token(kind, value, pos + 1))
        pos = match.end()
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


def feel_string(token: Token) -> str:
    """The value of a FEEL string literal (escapes resolved)."""
    body = token.text[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        nxt = body[i + 1] if i + 1 < len(body) else ""
        if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
        elif nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            raise FeelError(f"unknown escape '\\{nxt}' in a string", token.column + i + 1)
    return "".join(out)


def kaskad_string(value: str) -> str:
    """A kaskad string literal: single quotes, a quote doubled."""
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class Piece:
    """A translated operand: its kaskad text, whether it is a literal (a value a unary test
    may hold as is) and whether it is a string literal (``+`` then means ``||``)."""

    text: str
    literal: bool = False
    string: bool = False
    null: bool = False


class _Parser:
    def __init__(self, text: str, resolve: PathResolver, input_names: frozenset[str]) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0
        self.resolve = resolve
        self.input_names = input_names  # names that stand for the input value (``?``)

    # ---- tokens ----------------------------------------------------------------------

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def take(self) -> Token:
        token = self.tok
        self.pos += 1
        return token

    def at(self, kind: str, text: str | None = None) -> bool:
        return self.tok.kind == kind and (text is None or self.tok.text == text)

    def expect(self, kind: str, text: str) -> Token:
        if not self.at(kind, text):
            raise self.unexpected(f"'{text}'")
        return self.take()

    def unexpected(self, wanted: str) -> FeelError:
        token = self.tok
        if token.kind == "end":
            return FeelError(f"the text ends too early; expected {wanted}", token.column)
        refused = self.refused(token)
        if refused:
            return refused
        return FeelError(f"unexpected '{token.text}'; expected {wanted}", token.column)

    def refused(self, token: Token) -> FeelError | None:
        if token.kind == "name" and token.text in _REFUSED_KEYWORDS:
            what = _REFUSED_KEYWORDS[token.text]
            return FeelError(f"FEEL {what} are not supported", token.column)
        if token.kind == "op" and token.text == "{":
            return FeelError("FEEL contexts ({…}) are not supported", token.column)
        if token.kind == "op" and token.text == "[":
            return FeelError("FEEL lists ([…]) are not supported here", token.column)
        if token.kind == "op" and token.text == "**":
            return FeelError("exponentiation (**) is not supported", token.column)
        if token.kind == "keyword" and token.text == "in":
            return FeelError("FEEL 'in' tests are not supported; use a list", token.column)
        return None

    def finish(self) -> None:
        if not self.at("end"):
            token = self.tok
            if token.kind == "name" and self.tokens[self.pos - 1].kind == "name":
                start = self.tokens[self.pos - 1]
                raise FeelError(
                    f"FEEL names with spaces ('{start.text} {token.text}') are not supported: "
                    "kaskad field names use letters, digits and _",
                    start.column,
                )
            raise self.refused(token) or FeelError(f"unexpected '{token.text}'", token.column)

    # ---- expressions -------------------------------------------------------------------

    def expression(self) -> Piece:
        return self.disjunction()

    def disjunction(self) -> Piece:
        left = self.conjunction()
        while self.at("keyword", "or"):
            self.take()
            right = self.conjunction()
            left = Piece(f"{left.text} OR {right.text}")
        return left

    def conjunction(self) -> Piece:
        left = self.comparison()
        while self.at("keyword", "and"):
            self.take()
            right = self.comparison()
            left = Piece(f"{left.text} AND {right.text}")
        return left

    def comparison(self) -> Piece:
        left = self.additive()
        if self.at("op") and self.tok.text in ("=", "!=", "<", "<=", ">", ">="):
            op = self.take().text
            right = self.additive()
            if op in ("=", "!=") and (left.null or right.null):
                other = right if left.null else left
                return Piece(f"{other.text} IS {'NOT ' if op == '!=' else ''}NULL")
            if op == "!=" and (left.literal or right.literal):
                # FEEL: a missing value is not equal to a value (true, not null)
                other = right if left.literal else left
                return Piece(f"({other.text} IS NULL OR {left.text} != {right.text})")
            return Piece(f"{left.text} {op} {right.text}")
        if self.at("keyword", "between"):
            self.take()
            low = self.additive()
            self.expect("keyword", "and")
            high = self.additive()
            return Piece(f"{left.text} BETWEEN {low.text} AND {high.text}")
        if self.at("keyword", "in") or (self.at("name", "instance")):
            raise self.refused(self.tok) or self.unexpected("an operator")
        return left

    def additive(self) -> Piece:
        left = self.multiplicative()
        while self.at("op", "+") or self.at("op", "-"):
            op = self.take().text
            right = self.multiplicative()
            if op == "+" and (left.string or right.string):
                left = Piece(f"{left.text} || {right.text}", string=True)
            else:
                left = Piece(f"{left.text} {op} {right.text}")
        return left

    def multiplicative(self) -> Piece:
        left = self.unary()
        while self.at("op", "*") or self.at("op", "/"):
            op = self.take().text
            right = self.unary()
            left = Piece(f"{left.text} {op} {right.text}")
        if self.at("op", "**"):
            raise self.unexpected("an operator")
        return left

    def unary(self) -> Piece:
        if self.at("op", "-"):
            self.take()
            inner = self.unary()
            return Piece(f"-{inner.text}", literal=inner.literal and _is_number(inner.text))
        return self.primary()

    def primary(self) -> Piece:
        token = self.tok
        if token.kind == "number":
            self.take()
            return Piece(token.text, literal=True)
        if token.kind == "string":
            self.take()
            return Piece(kaskad_string(feel_string(token)), literal=True, string=True)
        if token.kind == "keyword" and token.text in ("true", "false"):
            self.take()
            return Piece(token.text.upper(), literal=True)
        if token.kind == "keyword" and token.text == "null":
            self.take()
            return Piece("NULL", literal=True, null=True)
        if token.kind == "keyword" and token.text == "not" and self.peek().text == "(":
            self.take()
            self.take()
            inner = self.expression()
            self.expect("op", ")")
            return Piece(f"(NOT ({inner.text}))")
        if token.kind == "op" and token.text == "(":
            self.take()
            inner = self.expression()
            self.expect("op", ")")
            return Piece(f"({inner.text})")
        if token.kind == "op" and token.text == "@":
            self.take()
            if not self.at("string"):
                raise self.unexpected('a string after @ ("2024-01-01")')
            return _temporal(self.take())
        if token.kind == "op" and token.text == "?":
            self.take()
            if not self.input_names:
                raise FeelError(
                    "'?' (the input value) is allowed only in input entries", token.column
                )
            return Piece("?")
        if token.kind == "name":
            refused = self.refused(token)
            if refused:
                raise refused
            return self.name_or_call()
        raise self.unexpected("a value, a name or '('")

    def name_or_call(self) -> Piece:
        first = self.take()
        if (
            first.text == "date"
            and self.at("keyword", "and")
            and self.peek().text == "time"
            and self.peek(2).text == "("
        ):
            self.take()
            self.take()
            return self.temporal_call("date and time", first.column)
        if self.at("op", "("):
            if first.text == "date":
                return self.temporal_call("date", first.column)
            raise FeelError(
                f"FEEL function '{first.text}' is not supported: only names, literals, "
                'arithmetic, comparisons, and/or, not(…) and date("…") are imported',
                first.column,
            )
        parts = [self.spaced_name(first.text)]
        while self.at("op", "."):
            self.take()
            if not self.at("name"):
                raise self.unexpected("a name after '.'")
            parts.append(self.take().text)
        if len(parts) == 1 and first.text in self.input_names:
            return Piece("?")
        return Piece(self.resolve(tuple(parts)))

    def spaced_name(self, first: str) -> str:
        """``Risk Level`` when the file defines that name: the longest one that matches."""
        if not self.resolve.spaced:
            return first
        words, best, best_pos = [first], first, self.pos
        while self.tok.kind in ("name", "keyword"):
            candidate = " ".join([*words, self.tok.text])
            if not any(
                n == candidate or n.startswith(candidate + " ") for n in self.resolve.spaced
            ):
                break
            words.append(self.take().text)
            if candidate in self.resolve.spaced:
                best, best_pos = candidate, self.pos
        self.pos = best_pos
        return best

    def temporal_call(self, function: str, column: int) -> Piece:
        self.expect("op", "(")
        if not self.at("string"):
            raise FeelError(
                f'{function}(…) is imported only with one string: {function}("…")', column
            )
        token = self.take()
        self.expect("op", ")")
        piece = _temporal(token)
        if function == "date" and not piece.text.startswith("DATE"):
            raise FeelError(f"date({token.text}) is not a date (YYYY-MM-DD)", token.column)
        if function == "date and time" and not piece.text.startswith("TIMESTAMP"):
            raise FeelError(
                f"date and time({token.text}) is not a date and time without a zone "
                "(YYYY-MM-DDTHH:MM:SS)",
                token.column,
            )
        return piece

    # ---- unary tests -------------------------------------------------------------------

    def endpoint(self) -> Piece:
        """A value: a literal, a date, a name (a value of another field), arithmetic."""
        return self.additive()

    def positive(self) -> tuple[str, str, NullMatch]:
        """One positive unary test as (simple form, form over ``?``, what it gives for a
        missing input value in FEEL)."""
        if self.at("op") and self.tok.text in ("<", "<=", ">", ">=", "=", "!="):
            op = self.take().text
            value = self.endpoint()
            at_null: NullMatch = (
                None
                if op not in ("=", "!=") or not (value.literal or value.null)
                else "is_null"
                if value.null and op == "="
                else (op == "!=") != value.null
            )
            expr = (
                f"? IS {'NOT ' if op == '!=' else ''}NULL"
                if value.null and op in ("=", "!=")
                else f"? {op} {value.text}"
            )
            if not value.literal:
                return "", expr, at_null
            text = _unary_literal(value.text)
            simple = (
                f"not({text})"
                if op == "!="
                else text
                if op == "=" and value.null
                else f"{op} {text}"
            )
            return simple, expr, at_null
        if self.at("op") and self.tok.text in ("[", "(", "]"):
            return (*self.interval(), None)
        value = self.endpoint()
        if not (self.at("end") or self.at("op", ",") or self.at("op", ")")):
            raise self.unexpected("',' or the end of the test")
        expr = "? IS NULL" if value.null else f"? = {value.text}"
        simple = _unary_literal(value.text) if value.literal else ""
        equal_null: NullMatch = "is_null" if value.null else False if value.literal else None
        return simple, expr, equal_null

    def interval(self) -> tuple[str, str]:
        opening = self.take().text
        low = self.endpoint()
        self.expect("op", "..")
        high = self.endpoint()
        if not (self.at("op") and self.tok.text in ("]", ")", "[")):
            raise self.unexpected("']', ')' or '['")
        closing = self.take().text
        low_op = ">=" if opening == "[" else ">"
        high_op = "<=" if closing == "]" else "<"
        expr = f"(? {low_op} {low.text} AND ? {high_op} {high.text})"
        if not (low.literal and high.literal):
            return "", expr
        return f"{opening}{_unary_literal(low.text)}..{_unary_literal(high.text)}{closing}", expr

    def positive_list(self) -> list[tuple[str, str, NullMatch]]:
        tests = [self.positive()]
        while self.at("op", ","):
            self.take()
            tests.append(self.positive())
        return tests


# what a positive unary test gives for a missing input in FEEL: True, False, None (null:
# no match), or "is_null" (the test is ``null``, which kaskad's tests match as well)
NullMatch = bool | None | str


def _unary_literal(text: str) -> str:
    """Literals in unary tests are written as the table format shows them: ``true``,
    ``false``, ``null`` in lower case."""
    return text.lower() if text in ("TRUE", "FALSE", "NULL") else text


def _is_number(text: str) -> bool:
    return re.fullmatch(r"-?(\d+(\.\d+)?|\.\d+)", text) is not None


def _temporal(token: Token) -> Piece:
    value = feel_string(token)
    if _DATE.match(value):
        return Piece(f"DATE '{value}'", literal=True)
    match = _DATETIME.match(value)
    if match:
        return Piece(f"TIMESTAMP '{match.group(1)} {match.group(2)}'", literal=True)
    raise FeelError(
        f"{token.text} is neither a date (YYYY-MM-DD) nor a date and time without a zone; "
        "times, zones and durations are not supported",
        token.column,
    )


_PLAIN = PlainPaths()


def expression(text: str, resolve: PathResolver = _PLAIN) -> Piece:
    """A FEEL expression (input expression, output entry) as kaskad expression text."""
    parser = _Parser(text, resolve, frozenset())
    piece = parser.expression()
    parser.finish()
    return piece


def unary_tests(
    text: str,
    resolve: PathResolver = _PLAIN,
    input_names: frozenset[str] = frozenset({"cellInput"}),
) -> str:
    """An input entry as a kaskad unary test (``-``, ``'a','b'``, ``[1..5)``,
    ``not(…)``, or an expression over ``?``). ``input_names`` are names that stand for the
    input value (Camunda's ``cellInput`` and an input's ``camunda:inputVariable``)."""
    stripped = text.strip()
    if stripped in ("", "-"):
        return "-"
    names = input_names | {"?"}
    parser = _Parser(stripped, resolve, names)
    negated = parser.at("keyword", "not") and parser.peek().text == "("
    try:
        if negated:
            parser.take()
            parser.take()
            tests = parser.positive_list()
            parser.expect("op", ")")
        else:
            tests = parser.positive_list()
        parser.finish()
    except FeelError as simple_error:
        # DMN 1.3: any expression over ``?`` (``? > income * 0.5``)
        full = _Parser(stripped, resolve, names)
        try:
            piece = full.expression()
            full.finish()
        except FeelError as full_error:
            over_input = any(t.text == "?" or t.text in input_names for t in full.tokens)
            raise (full_error if over_input else simple_error) from None
        if "?" not in piece.text:
            raise simple_error from None
        return piece.text
    at_null = [n for *_, n in tests]
    # FEEL compares a missing value with ``=`` as false (not null), so ``not("a")`` and
    # ``!= "a"`` match it; kaskad's tests leave it unknown: say ``null`` explicitly
    if negated:
        add_null = all(n is False for n in at_null)
    else:
        add_null = True in at_null and "is_null" not in at_null
    if all(simple for simple, _, _ in tests):
        joined = ", ".join(simple for simple, _, _ in tests)
        test = f"not({joined})" if negated else joined
        return f"null, {test}" if add_null else test
    joined = " OR ".join(expr for _, expr, _ in tests)
    test = f"NOT ({joined})" if negated else joined
    return f"? IS NULL OR {test}" if add_null else test


def literal_values(text: str) -> list[str | int | float | bool]:
    """The values of an ``outputValues`` list (``"a","b"``, ``1,2,3``) as plain values."""
    parser = _Parser(text.strip(), _PLAIN, frozenset())
    values: list[str | int | float | bool] = []
    while True:
        token = parser.tok
        negative = parser.at("op", "-")
        if negative:
            parser.take()
            token = parser.tok
        if token.kind == "string" and not negative:
            values.append(feel_string(token))
        elif token.kind == "number":
            number = float(token.text) if "." in token.text else int(token.text)
            values.append(-number if negative else number)
        elif token.kind == "keyword" and token.text in ("true", "false") and not negative:
            values.append(token.text == "true")
        else:
            raise FeelError("expected a list of literal values", token.column)
        parser.take()
        if parser.at("end"):
            return values
        parser.expect("op", ",")
