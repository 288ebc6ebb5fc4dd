"""A minimal mini-batch loader over in-memory arrays."""
from __future__ import annotations

import numpy as np

from .tensor import Tensor

__all__ = ["DataLoader"]


class DataLoader:
    """Iterate over ``(Tensor(x_batch), y_batch)`` pairs.

    Args:
        x, y: arrays with the same first dimension.
        batch_size: samples per batch (the last batch may be smaller).
        shuffle: reshuffle at the start of every epoch.
        seed: seed of the shuffling generator (reproducible epochs).
    """

    def __init__(self, x, y, batch_size: int = 32, shuffle: bool = False, seed: int | None = None):
        self.x, self.y = np.asarray(x), np.asarray(y)
        if len(self.x) != len(self.y):
            raise ValueError(f"x and y need the same length, got {len(self.x)} and {len(self.y)}")
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.batch_size, self.shuffle = batch_size, shuffle
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def __iter__(self):
        order = self._rng.permutation(len(self.x)) if self.shuffle else np.arange(len(self.x))
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            yield Tensor(self.x[idx]), self.y[idx]
