"""The online anomaly model: Half-Space Trees over the shape of each order.

Why Half-Space Trees: it learns online in constant memory, needs no labels, scores in O(trees x
height), and its state pickles into one small value that the transactional store snapshots. The
features are log-scaled (amount, quantity, unit price), so "ten times the usual basket" is the
same distance whatever the price level. A per-customer statistic would need state per customer
and says nothing about a first order; the trees flag a strange order from anyone.

The score is in [0, 1]; 0 during the first ``window_size`` orders (the trees have no mass yet).
The reason names the feature furthest from its running mean, in standard deviations.

Scores are river's ``HalfSpaceTrees`` scores, bit for bit (same trees from the same seed, built
by river), computed more cheaply. Walking 10 trees per order to score it and again to learn it
cost more than everything else analytics does per order. But an order's path through the trees
depends only on its (amount, quantity), and scoring reads only the masses of the *previous*
window, which are fixed for a whole window. So: a path is computed once per distinct
(amount, quantity); a score once per distinct (amount, quantity) and window; learning only counts
(amount, quantity) until the window ends, when the counts become the masses in one numpy pass.
Orders are priced from a catalogue, so most of them repeat a recent (amount, quantity).
"""

from __future__ import annotations

import functools
import logging
import math
import pickle
import random
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from orderstream.services.analytics.windows import OrderFacts

logger = logging.getLogger(__name__)

# Feature ranges for the random splits: log10 of cents and units (up to 10^8 cents, 10^3 units).
_LIMITS = {"amount": (0.0, 8.0), "quantity": (0.0, 3.0), "unit_price": (0.0, 8.0)}
_LABELS = {"amount": "amountCents", "quantity": "quantity", "unit_price": "unit price (cents)"}
_NAMES = tuple(sorted(_LIMITS))  # river orders the features by name when it builds the trees
_PADDING = 0.15  # river's HalfSpaceTrees padding of split points
_PATH_CACHE = 50_000  # distinct (amount, quantity) paths kept; then the cache starts over
_PRESCORE_MAX = 2_048  # score every known (amount, quantity) at a window's end up to this many
_FORMAT = 2  # snapshot format; 1 (implicit) held river's HalfSpaceTrees object

Key = tuple[int, int]  # (amount_cents, quantity): all the features depend on


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters; the seed makes scoring reproducible."""

    seed: int = 42
    n_trees: int = 10
    height: int = 6
    window_size: int = 250
    threshold: float = 0.9


class Verdict(NamedTuple):
    """The model's judgement of one order (a named tuple: one is built per order)."""

    score: float
    reason: str
    is_anomaly: bool


def order_features(order: OrderFacts) -> dict[str, float]:
    return features_of(order.amount_cents, order.quantity)


def features_of(amount_cents: int, quantity: int) -> dict[str, float]:
    return dict(zip(_NAMES, feature_values(amount_cents, quantity), strict=True))


@functools.lru_cache(maxsize=_PATH_CACHE)
def feature_values(amount_cents: int, quantity: int) -> tuple[float, float, float]:
    """The features in ``_NAMES`` order; cached: each window's end sums them per distinct
    (amount, quantity), and the same few repeat window after window."""
    quantity = max(quantity, 1)
    amount = max(amount_cents, 0)
    return (
        math.log10(amount + 1),
        math.log10(quantity + 1),
        math.log10(amount / quantity + 1),
    )


def _add_moments(sums: dict[str, float], squares: dict[str, float], counts: dict[Key, int]) -> None:
    """Add each feature's sum and sum of squares over ``counts`` (orders per key)."""
    for key, n in counts.items():
        for name, value in zip(_NAMES, feature_values(*key), strict=True):
            sums[name] += n * value
            squares[name] += n * value * value


@functools.cache
def tree_builder() -> Any:
    """river's padded-tree builder, imported on first use: ``river.tree`` imports scipy.stats
    (about 2 s), which every process importing this module for ``Verdict`` would pay.
    ``AnalyticsProcessor`` calls this when it is built, so that the first order's model is not
    built around a 2-second import inside a transaction. Untyped: only its nodes' feature,
    threshold and children are read."""
    from river.tree.padded import make_padded_tree

    return make_padded_tree


class _Forest:
    """The split features and thresholds of every tree, in heap order (children 2i+1, 2i+2)."""

    def __init__(self, config: ModelConfig) -> None:
        make_tree = tree_builder()
        rng = random.Random(config.seed)
        self.height = config.height
        self.nodes = 2 ** (config.height + 1) - 1  # per tree
        self.features: list[list[str]] = []
        self.thresholds: list[list[float]] = []
        for _ in range(config.n_trees):
            # The same calls, in the same order, as river's HalfSpaceTrees.learn_one.
            limits = {name: _LIMITS[name] for name in _NAMES}
            root = make_tree(limits, config.height, _PADDING, rng, r_mass=0, l_mass=0)
            features, thresholds = [""] * self.nodes, [0.0] * self.nodes
            stack = [(root, 0)]
            while stack:
                node, i = stack.pop()
                if 2 * i + 1 < self.nodes:
                    features[i], thresholds[i] = node.feature, node.threshold
                    stack += [(node.children[0], 2 * i + 1), (node.children[1], 2 * i + 2)]
            self.features.append(features)
            self.thresholds.append(thresholds)
        # depth of each node of one tree, and its parent (-1 for the root)
        index = np.arange(self.nodes)
        self.depth = np.floor(np.log2(index + 1)).astype(np.int64)
        self.parent = (index - 1) // 2

    def path(self, key: Key) -> np.ndarray[Any, np.dtype[np.int64]]:
        """Global node ids (tree * nodes + heap index), root to leaf, of every tree."""
        x = features_of(*key)
        ids: list[int] = []
        for t, (features, thresholds) in enumerate(
            zip(self.features, self.thresholds, strict=True)
        ):
            base, i = t * self.nodes, 0
            for _ in range(self.height):
                ids.append(base + i)
                i = 2 * i + (1 if x[features[i]] < thresholds[i] else 2)
            ids.append(base + i)
        return np.array(ids, dtype=np.int64)


class AnomalyModel:
    """Scores each order, then learns from it (test-then-train)."""

    def __init__(self, config: ModelConfig | None = None) -> None:
        self.config = config or ModelConfig()
        self.seen = 0
        self._setup()

    def _setup(self) -> None:
        c = self.config
        self._forest = _Forest(c)
        self._max_score = c.n_trees * c.window_size * (2 ** (c.height + 1) - 1)
        self._size_limit = 0.1 * c.window_size
        # What each node adds to a score: r_mass * 2**depth while every ancestor's r_mass
        # reached the size limit (river stops its walk at the first node under it).
        self._contrib: np.ndarray[Any, np.dtype[np.int64]] | None = None  # None: first window
        self._window: dict[Key, int] = {}  # (amount, quantity) -> orders, this window
        self._in_window = 0
        # Running sums of the features (n, sum, sum of squares), up to the last window.
        self._n = 0
        self._sums = dict.fromkeys(_NAMES, 0.0)
        self._squares = dict.fromkeys(_NAMES, 0.0)
        self._paths: dict[Key, np.ndarray[Any, np.dtype[np.int64]]] = {}
        self._scores: dict[Key, float] = {}
        self._known: list[Key] = []  # the keys of _paths, when _known_paths was stacked
        self._known_paths = np.zeros((0, 0), dtype=np.int64)

    def observe(self, order: OrderFacts) -> Verdict:
        """Score the order against what was seen so far, then learn it."""
        key = (order.amount_cents, order.quantity)
        score = self._scores.get(key)
        if score is None:
            score = self._scores[key] = self._score(key)
        flagged = score >= self.config.threshold
        reason = self._reason(order) if flagged else ""  # only alerts need words
        window = self._window
        window[key] = window.get(key, 0) + 1
        self.seen += 1
        self._in_window += 1
        if self._in_window == self.config.window_size:
            self._pivot()
        return Verdict(score, reason, flagged)

    def _path(self, key: Key) -> np.ndarray[Any, np.dtype[np.int64]]:
        path = self._paths.get(key)
        if path is None:
            if len(self._paths) >= _PATH_CACHE:
                self._paths.clear()
            path = self._paths[key] = self._forest.path(key)
        return path

    def _score(self, key: Key) -> float:
        if self._contrib is None:
            return 0.0
        return float(1 - int(self._contrib[self._path(key)].sum()) / self._max_score)

    def _pivot(self) -> None:
        """The window ends: its counts become the masses that score the next window."""
        keys = list(self._window)
        counts = np.array([self._window[k] for k in keys], dtype=np.int64)
        paths = np.stack([self._path(k) for k in keys])
        forest = self._forest
        total = forest.nodes * self.config.n_trees
        weights = np.repeat(counts, paths.shape[1])
        r_mass = np.bincount(paths.ravel(), weights=weights, minlength=total).astype(np.int64)
        r_mass = r_mass.reshape(self.config.n_trees, forest.nodes)
        alive = np.ones_like(r_mass, dtype=bool)
        for depth in range(1, forest.height + 1):  # a level's parents are all on the one above
            level = np.arange(2**depth - 1, 2 ** (depth + 1) - 1)
            parents = forest.parent[level]
            alive[:, level] = alive[:, parents] & (r_mass[:, parents] >= self._size_limit)
        self._contrib = (np.where(alive, r_mass, 0) << forest.depth).ravel()
        _add_moments(self._sums, self._squares, self._window)
        self._n += self._in_window
        self._window = {}
        self._in_window = 0
        self._scores = self._prescore()

    def _prescore(self) -> dict[Key, float]:
        """The next window's scores of every known (amount, quantity), in one numpy pass.

        Only while few are known: then most orders of the next window repeat one of them.
        """
        if self._contrib is None or len(self._paths) > _PRESCORE_MAX:
            return {}
        if len(self._known) != len(self._paths):
            self._known = list(self._paths)
            self._known_paths = np.stack([self._paths[k] for k in self._known])
        totals = self._contrib[self._known_paths].sum(axis=1)
        return dict(zip(self._known, (1 - totals / self._max_score).tolist(), strict=True))

    def _spread(self) -> dict[str, tuple[int, float, float]]:
        """(n, mean, sd) of each feature over every order seen."""
        n, sums, squares = self._n, dict(self._sums), dict(self._squares)
        _add_moments(sums, squares, self._window)
        n += self._in_window
        out: dict[str, tuple[int, float, float]] = {}
        for name in _NAMES:
            mean = sums[name] / n if n else 0.0
            var = max(squares[name] - n * mean * mean, 0.0) / (n - 1) if n > 1 else 0.0
            out[name] = (n, mean, math.sqrt(var))
        return out

    def _reason(self, order: OrderFacts) -> str:
        """The feature furthest from its running mean, in plain words."""
        spread = self._spread()
        best, best_z = "amount", 0.0
        for name, value in order_features(order).items():
            _, mean, sd = spread[name]
            z = (value - mean) / sd if sd > 0 else 0.0
            if abs(z) > abs(best_z):
                best, best_z = name, z
        n, mean, _ = spread[best]
        typical = 10**mean - 1 if n else 0.0
        actual = {
            "amount": order.amount_cents,
            "quantity": order.quantity,
            "unit_price": order.amount_cents // max(order.quantity, 1),
        }[best]
        direction = "above" if best_z >= 0 else "below"
        return (
            f"{_LABELS[best]} {actual:,} is {abs(best_z):.1f} sd {direction} "
            f"the typical {typical:,.0f}"
        )

    # -- snapshots -----------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        # The forest and the caches are rebuilt from the config: the snapshot stays small.
        caches = ("_forest", "_paths", "_known", "_known_paths")
        state = {k: v for k, v in self.__dict__.items() if k not in caches}
        state["_scores"] = {}
        state["format"] = _FORMAT
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state.get("format") != _FORMAT:
            # A snapshot of the river-object model of earlier releases: start learning afresh.
            logger.warning("anomaly model snapshot of an older format: the model starts afresh")
            self.config = state.get("config") or ModelConfig()
            self.seen = 0
            self._setup()
            return
        state = dict(state)
        del state["format"]
        self.__dict__.update(state)
        self._forest = _Forest(self.config)
        self._paths = {}
        self._known, self._known_paths = [], np.zeros((0, 0), dtype=np.int64)

    def to_bytes(self) -> bytes:
        """A snapshot for the state store."""
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def from_bytes(data: bytes) -> AnomalyModel:
        """Restore a snapshot written by :meth:`to_bytes` (only ever from our own changelog)."""
        model = pickle.loads(data)
        if not isinstance(model, AnomalyModel):
            raise TypeError(f"model snapshot holds {type(model).__name__}, not AnomalyModel")
        return model
