"""Money rules: Decimal only, Visma's half-up rounding, VAT and exact splits.

Conventions used everywhere in shopbridge:

* amounts are :class:`~decimal.Decimal`, never ``float`` (:func:`to_decimal` refuses floats);
* VAT rates are percentages (``Decimal("25")`` is 25 %), as Starweb sends them;
* rounding is half up, away from zero on a tie (``100.45 -> 100.5`` at one place, ``-0.005 -> -0.01``),
  which is what Visma does on sales documents.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Protocol, runtime_checkable

__all__ = [
    "CENT",
    "ZERO",
    "VatLine",
    "VatSummary",
    "allocate",
    "format_rate",
    "gross_from_net",
    "net_from_gross",
    "normalize_rate",
    "round_half_up",
    "to_decimal",
    "vat_from_gross",
    "vat_from_net",
]

ZERO = Decimal("0")
CENT = Decimal("0.01")
_HUNDRED = Decimal("100")

DecimalLike = Decimal | int | str


def to_decimal(value: DecimalLike) -> Decimal:
    """Turn a str, int or Decimal into a finite Decimal.

    Floats (and bools) are refused with ``TypeError``: a float has already lost the exact amount.
    Parse JSON with ``parse_float=Decimal`` (or keep the text) instead. Strings may carry surrounding
    whitespace; anything that is not a finite number raises ``ValueError``.
    """
    if isinstance(value, (bool, float)):
        raise TypeError(f"refusing {type(value).__name__} {value!r} as an amount: use str, int or Decimal")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"not a number: {value!r}") from None
    else:
        raise TypeError(f"cannot read {type(value).__name__} {value!r} as an amount")
    if not result.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return result


def _quantum(places: int) -> Decimal:
    return Decimal(1).scaleb(-places)


def round_half_up(value: DecimalLike, places: int = 2) -> Decimal:
    """Round to ``places`` decimals, half away from zero (Visma's rule). Always has ``places`` decimals."""
    return to_decimal(value).quantize(_quantum(places), rounding=ROUND_HALF_UP)


def normalize_rate(rate: DecimalLike) -> Decimal:
    """A VAT rate in percent as a canonical key: ``25``, ``25.0`` and ``"25.00"`` are the same rate."""
    d = to_decimal(rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if d == d.to_integral_value():
        return d.quantize(Decimal(1))
    return d.normalize()


def format_rate(rate: DecimalLike) -> str:
    """``"25 %"``, ``"12 %"``, ``"25.5 %"``."""
    return f"{normalize_rate(rate)} %"


def vat_from_net(net: DecimalLike, rate: DecimalLike, places: int = 2) -> Decimal:
    """VAT on a net amount: ``round_half_up(net * rate / 100)``."""
    return round_half_up(to_decimal(net) * to_decimal(rate) / _HUNDRED, places)


def gross_from_net(net: DecimalLike, rate: DecimalLike, places: int = 2) -> Decimal:
    """Net plus its VAT, rounded to ``places``."""
    n = to_decimal(net)
    return round_half_up(n, places) + vat_from_net(n, rate, places)


def net_from_gross(gross: DecimalLike, rate: DecimalLike, places: int = 2) -> Decimal:
    """Net amount inside a VAT-inclusive amount: ``round_half_up(gross * 100 / (100 + rate))``."""
    r = to_decimal(rate)
    return round_half_up(to_decimal(gross) * _HUNDRED / (_HUNDRED + r), places)


def vat_from_gross(gross: DecimalLike, rate: DecimalLike, places: int = 2) -> Decimal:
    """VAT inside a VAT-inclusive amount, so that ``net_from_gross + vat_from_gross == gross`` (rounded)."""
    g = round_half_up(gross, places)
    return g - net_from_gross(g, rate, places)


# --------------------------------------------------------------------------- exact splits


def allocate(total: DecimalLike, weights: Sequence[DecimalLike], places: int = 2) -> list[Decimal]:
    """Split ``total`` over ``weights`` proportionally, each part rounded to ``places``, summing exactly.

    Largest-remainder method; ties go to the earlier position, so the result is deterministic. Used
    for an order-level amount discount spread over several rows or VAT rates. Weights must be
    non-negative with a positive sum; ``total`` may be negative (the parts then are too).
    """
    if not weights:
        raise ValueError("allocate needs at least one weight")
    ws = [to_decimal(w) for w in weights]
    if any(w < 0 for w in ws):
        raise ValueError("weights must not be negative")
    wsum = sum(ws, ZERO)
    if wsum <= 0:
        raise ValueError("the weights add up to zero")
    t = round_half_up(total, places)
    sign = -1 if t < 0 else 1
    units = int(abs(t).scaleb(places))  # exact: t has exactly `places` decimals
    shares = [Decimal(units) * w / wsum for w in ws]
    floors = [int(s.to_integral_value(rounding=ROUND_FLOOR)) for s in shares]
    left = units - sum(floors)
    order = sorted(range(len(ws)), key=lambda i: (-(shares[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += 1
    q = _quantum(places)
    return [(Decimal(sign * f) * q).quantize(q) for f in floors]


# --------------------------------------------------------------------------- VAT summary


@runtime_checkable
class NetRow(Protocol):
    """Anything with a net amount and a VAT rate (e.g. :class:`shopbridge.domain.models.OrderLine`)."""

    line_total_ex_vat: Decimal
    vat_rate: Decimal


@dataclass(frozen=True)
class VatLine:
    """Net amount and VAT for one rate."""

    rate: Decimal
    net: Decimal
    vat: Decimal

    @property
    def gross(self) -> Decimal:
        return self.net + self.vat


class VatSummary:
    """Net amount and VAT per rate, with totals; comparable to another summary within a tolerance.

    Build it from rows (``VatSummary.from_rows``) or from figures a system reports
    (``VatSummary.from_amounts``). ``diff`` lists every difference in plain words, for the
    totals check after a document is created.
    """

    __slots__ = ("_lines",)

    def __init__(self, lines: Iterable[VatLine] = ()) -> None:
        self._lines: dict[Decimal, VatLine] = {}
        for line in lines:
            self.add(line.rate, line.net, line.vat)

    # -- construction
    @classmethod
    def from_rows(
        cls, rows: Iterable[NetRow | tuple[DecimalLike, DecimalLike]], *, per_row: bool = False
    ) -> VatSummary:
        """Sum net amounts per rate; VAT computed once per rate (default) or per row and summed.

        Rows are ``(net, rate)`` tuples or objects with ``line_total_ex_vat`` and ``vat_rate``.
        """
        nets: dict[Decimal, Decimal] = {}
        vats: dict[Decimal, Decimal] = {}
        for row in rows:
            if isinstance(row, tuple):
                net, rate = to_decimal(row[0]), normalize_rate(row[1])
            else:
                net, rate = to_decimal(row.line_total_ex_vat), normalize_rate(row.vat_rate)
            nets[rate] = nets.get(rate, ZERO) + net
            if per_row:
                vats[rate] = vats.get(rate, ZERO) + vat_from_net(net, rate)
        summary = cls()
        for rate, net in nets.items():
            vat = vats[rate] if per_row else vat_from_net(net, rate)
            summary.add(rate, round_half_up(net), vat)
        return summary

    @classmethod
    def from_amounts(cls, amounts: Mapping[DecimalLike, tuple[DecimalLike, DecimalLike]]) -> VatSummary:
        """From ``{rate: (net, vat)}`` as reported by a system."""
        summary = cls()
        for rate, (net, vat) in amounts.items():
            summary.add(rate, net, vat)
        return summary

    def add(self, rate: DecimalLike, net: DecimalLike, vat: DecimalLike | None = None) -> None:
        """Add net (and VAT, computed from the rate when omitted) to a rate's line."""
        r = normalize_rate(rate)
        n = to_decimal(net)
        v = vat_from_net(n, r) if vat is None else to_decimal(vat)
        old = self._lines.get(r)
        if old is not None:
            n, v = old.net + n, old.vat + v
        self._lines[r] = VatLine(rate=r, net=n, vat=v)

    # -- reading
    @property
    def lines(self) -> list[VatLine]:
        """One line per rate, highest rate first."""
        return [self._lines[r] for r in sorted(self._lines, reverse=True)]

    @property
    def rates(self) -> list[Decimal]:
        return sorted(self._lines, reverse=True)

    def get(self, rate: DecimalLike) -> VatLine:
        r = normalize_rate(rate)
        return self._lines.get(r, VatLine(rate=r, net=ZERO, vat=ZERO))

    @property
    def total_net(self) -> Decimal:
        return sum((line.net for line in self._lines.values()), ZERO)

    @property
    def total_vat(self) -> Decimal:
        return sum((line.vat for line in self._lines.values()), ZERO)

    @property
    def total_gross(self) -> Decimal:
        return self.total_net + self.total_vat

    def as_dict(self) -> dict[str, dict[str, str]]:
        """JSON-friendly: ``{"25": {"net": "100.00", "vat": "25.00"}, ..., "total": {...}}``."""
        out = {str(line.rate): {"net": str(line.net), "vat": str(line.vat)} for line in self.lines}
        out["total"] = {
            "net": str(self.total_net),
            "vat": str(self.total_vat),
            "gross": str(self.total_gross),
        }
        return out

    # -- comparing
    def diff(
        self,
        other: VatSummary,
        tolerance: DecimalLike = Decimal("0.01"),
        labels: tuple[str, str] = ("expected", "actual"),
    ) -> list[str]:
        """Differences larger than ``tolerance``, one sentence each; empty when the two agree.

        Compares net and VAT per rate, then the totals (net, VAT, incl. VAT). ``labels`` name the two
        sides in the sentences, e.g. ``("Starweb", "Visma")``.
        """
        tol = abs(to_decimal(tolerance))
        a, b = labels
        out: list[str] = []

        def check(what: str, mine: Decimal, theirs: Decimal) -> None:
            if abs(mine - theirs) > tol:
                out.append(
                    f"{what}: {_money(mine)} in {a} but {_money(theirs)} in {b} "
                    f"(difference {_money(theirs - mine)})"
                )

        for rate in sorted(set(self._lines) | set(other._lines), reverse=True):
            mine, theirs = self.get(rate), other.get(rate)
            check(f"net at {format_rate(rate)} VAT", mine.net, theirs.net)
            check(f"VAT at {format_rate(rate)}", mine.vat, theirs.vat)
        check("total excl. VAT", self.total_net, other.total_net)
        check("total VAT", self.total_vat, other.total_vat)
        check("total incl. VAT", self.total_gross, other.total_gross)
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VatSummary):
            return NotImplemented
        return not self.diff(other, tolerance=ZERO)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        parts = ", ".join(f"{format_rate(x.rate)}: net {x.net} vat {x.vat}" for x in self.lines)
        return f"VatSummary({parts})"


def _money(d: Decimal) -> str:
    return str(round_half_up(d, 2))
