"""Shingle hashes and MinHash signatures, on numpy arrays (for `sketch`).

The values are stored (`posts.minhash`, `post_lsh`), so they must never
change by accident: a shingle's hash is CPython's 64-bit hash of the tuple
of its words' blake2b values, as it was first computed one run at a time,
and the MinHash is one-permutation with rotation densification, as first
written one shingle at a time. numpy does the same arithmetic for a whole
post at once; tests compare it with both definitions and pin values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np  # one thread only: see aggregator/__init__.py
from numpy.typing import NDArray

Hashes = NDArray[np.uint64]  # 64-bit hashes, one a word or a shingle
SEED = b"voice-minhash-v1"  # the scramble derives from it; never change silently


def word_lanes(w: list[str]) -> Hashes:
    """Each word's hash as Python's hash() of it sees it: the blake2b value modulo 2**61 - 1.

    hash(n) of an int n >= 0 is n % (2**61 - 1), so a tuple of these hashes
    to what the tuple of the blake2b values did: the stored shingles are
    unchanged, and the modulo is done once a word, in the cache.
    """
    return np.fromiter(map(_WORD_LANES.__getitem__, w), dtype=np.uint64, count=len(w))


class _LaneCache(dict[str, int]):
    """word -> lane, filled on first sight: blog words repeat, and lookups beat blake2b."""

    def __missing__(self, word: str) -> int:
        if len(self) >= 500_000:  # bounded: a hostile feed cannot grow it forever
            self.clear()
        lane = self[word] = int.from_bytes(_blake8(word), "little") % _LANE_MODULUS
        return lane


_LANE_MODULUS = (1 << 61) - 1
_WORD_LANES = _LaneCache()


# CPython's hash of a tuple (Objects/tupleobject.c, xxHash's round), 64-bit.
# The shingles were first computed as hash(tuple of word hashes); this is that
# function on whole arrays at once, about four times quicker than hashing each
# run's tuple, and no longer tied to the interpreter: tests check it equals
# hash() of the tuples on this Python, and pin a few values.
_XXPRIME_1 = np.uint64(11400714785074694791)
_XXPRIME_2 = np.uint64(14029467366897019727)
_XXPRIME_5 = np.uint64(2870177450012600261)
_ROTATE_LEFT, _ROTATE_RIGHT = np.uint64(31), np.uint64(33)


def run_hashes(lanes: Hashes, k: int) -> Hashes:
    """The tuple hash of every run of `k` lanes (of all of them when fewer), as uint64."""
    size = min(k, len(lanes))
    if not size:
        return lanes
    n = len(lanes) - size + 1
    acc = np.full(n, _XXPRIME_5, dtype=np.uint64)
    step = lanes * _XXPRIME_2  # uint64 arithmetic wraps modulo 2**64, as C's does
    for i in range(size):
        acc += step[i : i + n]
        acc = (acc << _ROTATE_LEFT) | (acc >> _ROTATE_RIGHT)
        acc *= _XXPRIME_1
    acc += np.uint64(size ^ (int(_XXPRIME_5) ^ 3527539))
    acc[acc == _ALL_ONES] = 1546275796  # CPython's stand-in for a hash of -1
    return acc


_ALL_ONES = np.uint64((1 << 64) - 1)


def distinct(values: Hashes) -> int:
    """How many different values: sort and count the steps, several times quicker than np.unique."""
    if len(values) < 2:
        return len(values)
    ordered = np.sort(values)
    return 1 + int(np.count_nonzero(ordered[1:] != ordered[:-1]))


def _blake8(word: str) -> bytes:
    """A word's 8-byte blake2b digest: what its lane is made from (`_LaneCache`)."""
    return hashlib.blake2b(word.encode("utf-8", "surrogatepass"), digest_size=8).digest()


def minhash(hashes: Iterable[int] | Hashes, num_perm: int) -> tuple[int, ...]:
    """One-permutation MinHash with densification, from the shingles' own hashes.

    Each shingle's 64-bit hash (already a blake2b digest, so uniform) is
    scrambled once with a fixed odd multiplier; its value modulo `num_perm`
    picks a bin and the rest competes for that bin's minimum. An empty bin
    (few shingles) borrows the value of the next filled bin to its right,
    shifted by the distance, so two texts agree on it only when they agree on
    the bin it borrowed from (rotation densification). This estimates Jaccard
    as well as `num_perm` separate hash functions do, at one multiply per
    shingle instead of `num_perm`. A shingle given twice counts once.
    """
    if not isinstance(hashes, np.ndarray):
        hashes = np.fromiter(hashes, dtype=np.uint64)
    if not len(hashes):
        return ()
    scrambled = hashes * _SCRAMBLE  # wraps modulo 2**64
    slots = (scrambled % np.uint64(num_perm)).astype(np.intp)
    least = np.full(num_perm, _ALL_ONES)
    np.minimum.at(least, slots, scrambled // np.uint64(num_perm))
    filled = np.zeros(num_perm, dtype=bool)
    filled[slots] = True
    if filled.all():
        return tuple(least.tolist())
    bins = least.tolist()
    for i in np.flatnonzero(~filled).tolist():
        bins[i] = _EMPTY
    for i in range(num_perm):
        if bins[i] != _EMPTY:
            continue
        distance = 1
        while bins[(i + distance) % num_perm] == _EMPTY:
            distance += 1
        # real values are below 2**64 / num_perm; a borrowed one sits in the
        # band above for its distance, so it still fits 64 bits
        bins[i] = bins[(i + distance) % num_perm] + distance * (_BORROW // num_perm)
    return tuple(bins)


_SCRAMBLE = np.uint64(int.from_bytes(hashlib.blake2b(SEED, digest_size=8).digest(), "little") | 1)
_EMPTY = 1 << 80
_BORROW = 1 << 64
