"""Unit tests of the pure draw algorithm: determinism, size rules, strata and rounding."""

import hashlib
import hmac

import pytest

from portal.meetings.sampling import SamplingError, Unit, allocate, draw, draw_key, sample_size

SEED = "00112233445566778899aabbccddeeff"


def units(n: int, stratum: str = "") -> list[Unit]:
    return [Unit(i, stratum) for i in range(1, n + 1)]


def test_same_seed_same_picks_whatever_the_input_order():
    population = units(30)
    first = draw(SEED, population, 5)
    assert draw(SEED, list(reversed(population)), 5) == first
    assert len(first) == len(set(first)) == 5


def test_different_seeds_give_different_picks():
    population = units(40)
    picks = {tuple(draw(f"{n:032x}", population, 4)) for n in range(20)}
    assert len(picks) > 15


def test_unstratified_draw_is_the_first_ids_in_hmac_order():
    population = units(12)
    expected = sorted(range(1, 13), key=lambda i: hmac.new(SEED.encode(), str(i).encode(),
                                                           hashlib.sha256).hexdigest())[:3]
    assert draw(SEED, population, 3) == expected
    assert draw_key(SEED, 7) == hmac.new(SEED.encode(), b"7", hashlib.sha256).hexdigest()


@pytest.mark.parametrize(("population", "percentage", "expected"),
                         [(40, 10, 4), (41, 10, 5), (10, 1, 2), (3, 50, 2), (7, 50, 4), (5, 100, 5)])
def test_percentage_rounds_up_and_is_at_least_two(population, percentage, expected):
    assert sample_size(population, percentage=percentage) == expected


def test_number_must_be_at_least_two():
    with pytest.raises(SamplingError, match="at least 2"):
        sample_size(10, number=1)
    assert sample_size(10, number=2) == 2


def test_not_enough_eligible_is_a_clear_error():
    with pytest.raises(SamplingError, match="not enough eligible portfolios: 1 eligible, 2 needed"):
        sample_size(1, percentage=50)
    with pytest.raises(SamplingError, match="3 eligible, 4 needed"):
        sample_size(3, number=4)
    with pytest.raises(SamplingError, match="not enough"):
        draw(SEED, units(3), 4)


def test_exactly_one_of_number_or_percentage():
    with pytest.raises(SamplingError):
        sample_size(10)
    with pytest.raises(SamplingError):
        sample_size(10, number=3, percentage=10)
    with pytest.raises(SamplingError, match="between 1 and 100"):
        sample_size(10, percentage=0)


def test_allocation_is_proportional_and_sums_to_size():
    assert allocate({"children": 30, "adults": 10}, 4, SEED) == {"children": 3, "adults": 1}
    assert allocate({"a": 20, "b": 20}, 5, SEED)["a"] in (2, 3)
    result = allocate({"a": 6, "b": 3, "c": 1}, 5, SEED)
    assert sum(result.values()) == 5 and result["c"] == 1 and result["a"] >= result["b"]


def test_every_stratum_gets_one_when_the_size_allows():
    result = allocate({"big": 97, "small1": 1, "small2": 2}, 3, SEED)
    assert result == {"big": 1, "small1": 1, "small2": 1}


def test_fewer_places_than_strata_go_to_the_largest():
    result = allocate({"a": 10, "b": 5, "c": 1}, 2, SEED)
    assert result == {"a": 1, "b": 1, "c": 0}


def test_stratified_draw_takes_from_each_stratum():
    population = units(8, "children") + [Unit(100 + i, "adults") for i in range(2)]
    picks = draw(SEED, population, 4)
    strata = [u.stratum for u in population if u.id in picks]
    assert strata.count("adults") == 1 and strata.count("children") == 3
    assert draw(SEED, list(reversed(population)), 4) == picks


def test_a_stratum_never_gets_more_than_it_has():
    result = allocate({"a": 1, "b": 9}, 9, SEED)
    assert result == {"a": 1, "b": 8}
    assert allocate({"a": 2, "b": 2}, 4, SEED) == {"a": 2, "b": 2}


def test_duplicate_ids_are_refused():
    with pytest.raises(SamplingError):
        draw(SEED, [Unit(1), Unit(1), Unit(2)], 2)
