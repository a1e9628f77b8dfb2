"""The verifiable random draw: a pure function of a recorded seed, a population and the parameters.

Anyone holding the seed, the population (portfolio ids with their stratum) and the size can re-run it:

1. Every portfolio gets a draw key: HMAC-SHA256 with the seed (hex text, as UTF-8 bytes) as the key and the
   portfolio id in decimal as the message. Sorting by key (then id) puts the population in a random order
   that no one could choose, since the seed is fresh (`secrets.token_hex(16)`) for each draw.
2. Without strata, the sample is the first `size` portfolios in that order.
3. With strata, each stratum's share is allocated proportionally by the largest-remainder method: every
   stratum first gets the whole part of size * stratum_count / population (at least one each when the size
   allows one from every stratum), then the places left go to the largest remainders. Ties go to the larger
   stratum, then to the stratum whose name (prefixed "stratum:") has the higher HMAC key under the seed.
   When the minimum of one overshoots the size, places are taken back from the most over-served strata
   (same tie-breaks). Each stratum's places are filled in draw-key order.
4. The picks are listed in draw-key order.

Across a partnership's employers, a minimum per employer may be asked for (`employer_minimum`, 0 for none):
before step 2, each employer's first min(minimum, its count) portfolios in draw-key order are taken; the sample
grows if those alone outnumber the size asked for; the remaining places are then filled from the rest of the
population as in steps 2 and 3 (strata counted over the rest). A unit's employer is its partnership code.

The size is a number (at least 2) or a percentage of the population rounded up (and at least 2).
"""

import hashlib
import hmac
import math
from collections.abc import Sequence
from dataclasses import dataclass

MINIMUM_SIZE = 2
ALGORITHM = "hmac-sha256-order/largest-remainder v1"


class SamplingError(ValueError):
    """The draw cannot be made as asked; the message says why, in plain words."""


@dataclass(frozen=True)
class Unit:
    """One eligible portfolio and the stratum it belongs to ('' when the draw is not stratified)."""

    id: int
    stratum: str = ""
    employer: str = ""  # the employer's partnership code ("E2"), for a minimum per employer


def draw_key(seed: str, item: int | str) -> str:
    """The HMAC-SHA256 of an id (or stratum name) under the seed: the order of the draw."""
    return hmac.new(seed.encode("utf-8"), str(item).encode("utf-8"), hashlib.sha256).hexdigest()


def sample_size(population: int, number: int | None = None, percentage: int | None = None) -> int:
    """How many to draw: a number or a percentage rounded up, never fewer than 2, never more than exist."""
    if (number is None) == (percentage is None):
        raise SamplingError("Give either a number of portfolios or a percentage")
    if number is not None:
        if number < MINIMUM_SIZE:
            raise SamplingError(f"The sample must have at least {MINIMUM_SIZE} portfolios")
        size = number
    else:
        assert percentage is not None
        if not 1 <= percentage <= 100:
            raise SamplingError("The percentage must be between 1 and 100")
        size = max(MINIMUM_SIZE, math.ceil(population * percentage / 100))
    if population < size:
        raise SamplingError(
            f"There are not enough eligible portfolios: {population} eligible, {size} needed"
        )
    return size


def allocate(strata: dict[str, int], size: int, seed: str) -> dict[str, int]:
    """Share `size` places among strata in proportion to their counts (largest remainder, see above)."""
    total = sum(strata.values())
    if size > total:
        raise SamplingError(f"There are not enough eligible portfolios: {total} eligible, {size} needed")
    names = sorted(strata)
    quota = {name: size * strata[name] / total for name in names}
    allocation = {name: math.floor(quota[name]) for name in names}
    if size >= len(names):
        allocation = {name: max(1, allocation[name]) for name in names}
    # Over-allocation can only come from the minimum of one: take back from the most over-served.
    while sum(allocation.values()) > size:
        name = max((n for n in names if allocation[n] > 1),
                   key=lambda n: (allocation[n] - quota[n], strata[n], _tiebreak(seed, n)))
        allocation[name] -= 1
    while sum(allocation.values()) < size:
        name = max((n for n in names if allocation[n] < strata[n]),
                   key=lambda n: (quota[n] - allocation[n], strata[n], _tiebreak(seed, n)))
        allocation[name] += 1
    return allocation


def _tiebreak(seed: str, stratum: str) -> str:
    return draw_key(seed, "stratum:" + stratum)


def draw(seed: str, population: Sequence[Unit], size: int, employer_minimum: int = 0) -> list[int]:
    """Draw `size` portfolio ids from the population, deterministically from the seed (see the module's steps).

    With an employer minimum the sample may be larger than `size`: at least that many from each employer."""
    if len({unit.id for unit in population}) != len(population):
        raise SamplingError("The population lists a portfolio twice")
    if size < MINIMUM_SIZE:
        raise SamplingError(f"The sample must have at least {MINIMUM_SIZE} portfolios")
    if size > len(population):
        raise SamplingError(
            f"There are not enough eligible portfolios: {len(population)} eligible, {size} needed"
        )
    if employer_minimum < 0:
        raise SamplingError("The minimum from each employer cannot be negative")
    ordered = sorted(population, key=lambda unit: (draw_key(seed, unit.id), unit.id))
    guaranteed: set[int] = set()
    taken: dict[str, int] = {}
    for unit in ordered:
        if employer_minimum and taken.get(unit.employer, 0) < employer_minimum:
            taken[unit.employer] = taken.get(unit.employer, 0) + 1
            guaranteed.add(unit.id)
    rest = [unit for unit in ordered if unit.id not in guaranteed]
    remaining = max(0, size - len(guaranteed))
    chosen = set(guaranteed)
    if remaining:
        counts: dict[str, int] = {}
        for unit in rest:
            counts[unit.stratum] = counts.get(unit.stratum, 0) + 1
        places = allocate(counts, remaining, seed)
        for unit in rest:
            if places[unit.stratum] > 0:
                places[unit.stratum] -= 1
                chosen.add(unit.id)
    return [unit.id for unit in ordered if unit.id in chosen]
