"""Where a record was in the broker, across broker incarnations.

A broker with memory storage forgets everything when it restarts and numbers each partition
from 0 again. So the offset tillflow keeps (raw tables' ``kafka_offset``, the commit log, Spark's
offsets) is a *virtual* offset: the broker incarnation's epoch in the high bits, the broker's own
offset in the low ``EPOCH_SHIFT`` bits. Virtual offsets only grow, across incarnations too: the
records of a new broker never collide with an old one's, and everything that compares offsets
(the sink's fence, ``greatest`` in the commit log) works unchanged. Epoch 0 is the first
incarnation a warehouse saw; its virtual offsets are the broker's offsets.
"""

from __future__ import annotations

from typing import Final

#: Bits of the broker's own offset: 2^40 (about 10^12) records per partition and incarnation.
EPOCH_SHIFT: Final = 40
OFFSET_MASK: Final = (1 << EPOCH_SHIFT) - 1


def virtual(epoch: int, offset: int) -> int:
    """The virtual offset of ``offset`` in incarnation ``epoch``."""
    if not 0 <= offset <= OFFSET_MASK:
        raise ValueError(f"broker offset {offset} outside 0..2^{EPOCH_SHIFT}-1")
    return (epoch << EPOCH_SHIFT) | offset


def epoch_of(virtual_offset: int) -> int:
    return virtual_offset >> EPOCH_SHIFT


def broker_offset(virtual_offset: int) -> int:
    return virtual_offset & OFFSET_MASK
