"""How many shards a quantity needs, so that no shard's holder grows with the input.

Every step that splits its work by a stable hash (eventIDs, source URIs, resource ARNs) sizes the split
the same way: one shard per ``per_shard`` units of the input, never fewer than ``minimum``.
"""

from __future__ import annotations


def shard_count(total: int, per_shard: int, *, minimum: int = 1) -> int:
    """``max(minimum, ceil(total / per_shard))``; a negative total counts as none.

    >>> shard_count(0, 64), shard_count(65, 64), shard_count(10, 64, minimum=16)
    (1, 2, 16)

    Raises:
        ValueError: ``per_shard`` or ``minimum`` not positive.
    """
    if per_shard <= 0 or minimum <= 0:
        raise ValueError("shard sizes must be positive")
    return max(minimum, -(-max(total, 0) // per_shard))
