"""Every PostgreSQL advisory-lock key Yunguan takes, named in one place.

Advisory locks are cluster-wide: a key means the same thing to every process and every database of the
server, so two uses must never share one (when the migration and the escalation pass did, a worker's
deadline pass made `yunguan up` wait, and a migration made the pass skip a round). A new lock gets a new
constant here, ending in `_LOCK`; tests/test_models_match.py checks that the keys are distinct.

Single-key locks (`pg_advisory_lock(bigint)`) and two-key locks (`pg_advisory_lock(int, int)`) are separate
key spaces in PostgreSQL; the two-key namespaces are kept distinct from the single keys anyway, so that a
reader never has to know that. The values spell ASCII tags ("YUMI") to be recognisable in `pg_locks`.
"""
from __future__ import annotations

# `yunguan up`, `yunguan db upgrade` and the docker migrate job: one migration at a time, session-scoped
# (store.migrate). A second process waits for the first and then finds nothing left to do.
MIGRATION_LOCK = 0x59554D49  # "YUMI"

# The deadline pass (warn, escalate, resume) every worker tries once a minute and `yunguan escalate` runs:
# one pass at a time, transaction-scoped and tried, not waited for — a busy lock means another process is
# already doing this minute's work (store.loop.escalation_run).
ESCALATION_LOCK = 0x59554E47  # "YUNG"

# The signed history checkpoint: one writer at a time, held until the line is on disk, so that several
# workers add one line per interval between them and never two with the same sequence number (store.audit).
AUDIT_CHECKPOINT_LOCK = 0x59554143  # "YUAC"

# Namespaces of the two-key locks that serialise login attempts per account name and per client address
# (the second key is hashtext of the name or address), so that parallel guesses cannot all pass the
# throttle before any failure is recorded (store.logins). They fit in a signed 32-bit integer.
LOGIN_ACCOUNT_LOCK = 0x4C4F4731  # "LOG1"
LOGIN_ADDRESS_LOCK = 0x4C4F4732  # "LOG2"

# A wedged consumer group (streams.worker): every worker of the group notices, one of them recovers it,
# transaction-scoped and tried, so the others carry on polling instead of recovering it again.
GROUP_RECOVERY_LOCK = 0x59470003
