"""bench/proc/pattern.py -- the test pattern of common.h, for the Python
programs: byte i of every stream and file is pattern_byte(i mod PERIOD), a
prime period that no chunk size lines up with.  PATTERN holds PERIOD + SLACK
bytes, so the n <= SLACK bytes at offset off are
PATTERN[off % PERIOD : off % PERIOD + n]; check() compares without copying
(bytes.startswith at an offset is a memcmp)."""

PERIOD = 1048573  # the largest prime below 1 MiB
SLACK = 1 << 20

_base = bytes(((i * 2654435761) & 0xFFFFFFFF) >> 24 for i in range(PERIOD))
PATTERN = _base + _base[:SLACK]
del _base


def view(off, n):
    """A memoryview of the n <= SLACK bytes at stream offset off."""
    s = off % PERIOD
    return memoryview(PATTERN)[s:s + n]


def check(off, data):
    """Do the bytes in data match the stream at offset off?  Any length."""
    mv = memoryview(data)
    while len(mv):
        piece = mv[:SLACK]
        if not PATTERN.startswith(piece, off % PERIOD):
            return False
        off += len(piece)
        mv = mv[len(piece):]
    return True
