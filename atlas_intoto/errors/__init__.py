"""One error hierarchy, split by who is at fault.

* :class:`EvidenceError` — the evidence is bad (malformed, tampered, violates policy): exit 1.
* :class:`OperationalError` — usage, configuration, I/O or network trouble: exit 2.

Every verification check has its own subclass so reports and tests can name the exact reason.
Messages are one line and name the file or field at fault.

New errors go into the module of their area (``base``, ``operational``, ``evidence``, or a new
one), re-exported here so callers import them from ``atlas_intoto.errors``.
"""

from atlas_intoto.errors.auth import *  # noqa: F403
from atlas_intoto.errors.base import *  # noqa: F403
from atlas_intoto.errors.confidential import *  # noqa: F403
from atlas_intoto.errors.confidential_log import *  # noqa: F403
from atlas_intoto.errors.evidence import *  # noqa: F403
from atlas_intoto.errors.identity import *  # noqa: F403
from atlas_intoto.errors.operational import *  # noqa: F403
