"""LocalGov Digital Voice."""

import os

# Voice does no linear algebra, yet numpy is imported by analysis.hashing and,
# since it is installed, by sqlite_utils (storage's migrations). Without this,
# OpenBLAS starts a thread on import that spins on the other core for about
# 0.1 s, in the process the parse workers are forked from.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
