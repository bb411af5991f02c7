"""The closed loop around the clock and its audit: the escalation pass, history checkpoints and verification."""
from __future__ import annotations

import json
from pathlib import Path

from config import Settings
from yunguan.cli.common import UsageError, say, wiring


def cmd_escalate(settings: Settings, args) -> int:
    """The deadline pass as of now or `--now`. An instant ahead of this machine's clock (beyond
    `future_skew_s`) would write future-dated history into the live database, so it is refused unless
    `--dry-run`, which prints what would change and writes nothing."""
    from datetime import UTC, datetime, timedelta

    from application.escalate import escalation_run

    clock = datetime.now(UTC)
    now = clock
    if args.now:
        try:
            now = datetime.fromisoformat(args.now)
        except ValueError:
            raise UsageError(f"--now {args.now!r} is not RFC 3339") from None
        if now.tzinfo is None:
            raise UsageError("--now needs a UTC offset, e.g. 2026-11-23T09:00:00+08:00")
        ahead = now - clock
        if ahead > timedelta(seconds=settings.future_skew_s) and not args.dry_run:
            raise UsageError(
                f"--now {args.now} is {ahead.total_seconds():.0f} s ahead of this machine's clock "
                f"({clock.isoformat(timespec='seconds')}; allowed skew {settings.future_skew_s:g} s): a pass in the "
                "future would write future-dated history into the live database; add --dry-run to see what "
                "it would change")
    deps = wiring(settings)
    try:
        result = escalation_run(deps.engine, deps.loop(), now, dry_run=args.dry_run)
    finally:
        deps.close()
    if not result.ran:
        say("escalate: another process is running the deadline pass; nothing done", err=True)
        return 1
    for change in result.applied:
        print(json.dumps({**change, "dry_run": True} if args.dry_run else change, ensure_ascii=False))
    if args.dry_run:
        say(f"escalate --dry-run: {len(result.applied)} change(s) and {result.relit} deadline light(s) would "
            f"change as of {now.isoformat()}; nothing written", err=True)
    else:
        say(f"escalate: {len(result.applied)} change(s) as of {now.isoformat()}, {result.skipped} skipped "
            "(changed meanwhile)", err=True)
    return 0


def cmd_audit_verify(settings: Settings, args) -> int:
    """Every chain recomputed and checked against every signed checkpoint (the configured log, or a copy
    given with --checkpoints); one JSON line per finding, exit 1 if any."""
    from store.audit import verify

    path = Path(args.checkpoints) if args.checkpoints else None
    if path is not None and not path.is_file():
        raise UsageError(f"--checkpoints {path}: no such file")
    deps = wiring(settings)
    try:
        report = verify(deps.engine, settings, path)
    finally:
        deps.close()
    for b in report.broken:
        print(json.dumps({"ticket_no": b.ticket_no, "entry_id": b.entry_id, "reason": b.reason}, ensure_ascii=False))
    for problem in report.log.problems:
        print(json.dumps({"checkpoints": str(report.path), "reason": problem}, ensure_ascii=False))
    last = report.log.last
    anchored = (f"{len(report.log.checkpoints)} checkpoint(s) in {report.path}, the latest #{last.seq} at {last.at}"
                if last else f"no checkpoint in {report.path} yet (chains checked only)")
    if not report.ok:
        say(f"audit: {len({b.ticket_no for b in report.broken})} ticket(s) with altered history, "
            f"{len(report.log.problems)} problem(s) in the checkpoint log; {anchored}", err=True)
        return 1
    say(f"audit: {report.entries} history entries, every chain intact and consistent with {anchored}", err=True)
    return 0


def cmd_audit_checkpoint(settings: Settings, args) -> int:
    """Append a signed checkpoint now (the workers do it every `audit_checkpoint_every_s`)."""
    from datetime import UTC, datetime

    from store.audit import write_checkpoint

    deps = wiring(settings)
    try:
        cp = write_checkpoint(deps.engine, settings, datetime.now(UTC))
    finally:
        deps.close()
    if cp is None:
        say("audit: another process is writing a checkpoint; nothing done", err=True)
        return 1
    print(json.dumps({"seq": cp.seq, "at": cp.at, "database": cp.database, "tickets": cp.tickets,
                      "entries": cp.entries, "changed": len(cp.heads), "file": str(settings.audit_checkpoints_path)},
                     ensure_ascii=False))
    return 0
