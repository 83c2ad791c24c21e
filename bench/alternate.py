"""Measure two conditions in alternating short windows, and compare them round by round.

On a virtual machine the same code runs 20 % faster or slower from one minute to the
next (the same CPU time buys more or fewer requests), which is more than most changes
worth measuring. Two figures
taken minutes apart compare the machine's moods; windows of a few seconds, alternated
A B B A A B…, each compared with its neighbour, compare the conditions. The figure
reported is the median of the per-round ratios.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from bench import wrk
from bench.context import Bench
from bench.stack import log
from bench.wrk import Load, WrkResult

# A condition: entered for one window, it yields the load to send during it.
Condition = Callable[[], AbstractContextManager[Load]]


@dataclass
class Alternation:
    names: tuple[str, str]
    results: dict[str, list[WrkResult]] = field(default_factory=dict)

    def rps(self, name: str) -> list[float]:
        return [result.rps for result in self.results[name]]

    def ratios(self) -> list[float]:
        """Per round: the second condition's requests/s over the first's."""
        first, second = self.names
        return [b / a for a, b in zip(self.rps(first), self.rps(second), strict=True) if a]

    def ratio(self) -> float | None:
        ratios = self.ratios()
        return statistics.median(ratios) if ratios else None

    def median_rps(self, name: str) -> float:
        return statistics.median(self.rps(name))

    def errors(self) -> int:
        return sum(result.errors for results in self.results.values() for result in results)


def abba(rounds: int) -> Iterator[tuple[int, int]]:
    """(round, condition index): the condition that went second in a round goes first next."""
    for number in range(rounds):
        for index in (0, 1) if number % 2 == 0 else (1, 0):
            yield number, index


def alternate(
    bench: Bench,
    conditions: dict[str, Condition],
    rounds: int,
    seconds: float,
    connections: int,
    between: Callable[[], None] = lambda: None,
) -> Alternation:
    """Run wrk for `seconds` under each of two conditions in turn, `rounds` times each;
    `between` runs after every window (e.g. to empty the queue)."""
    names = tuple(conditions)
    if len(names) != 2:
        raise ValueError("alternate compares exactly two conditions")
    outcome = Alternation(names, {name: [] for name in names})
    for number, index in abba(rounds):
        name = names[index]
        with conditions[name]() as load:
            result = wrk.run(load, connections, seconds, log_path=bench.wrk_log())
        log(f"  round {number + 1}/{rounds} {name}: {result.rps:,.0f} req/s")
        outcome.results[name].append(result)
        between()
    return outcome
