"""`credence dispute open|list|resolve`: a person's challenge of a record, and the analysts' queue.

``open`` and ``resolve`` bring the engine up from the store (the stored scores, as a
server would serve them), apply the change with its incremental rescoring, and write an
audit entry in the same transaction. ``list`` reads the store only.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import click

from credence.cli.options import engine_options, make_engine, store_config, store_options
from credence.graph.config import open_store

__all__ = ["COMMANDS", "dispute"]


@click.group()
def dispute() -> None:
    """Disputes of a person's records: open one, list the queue, resolve one."""


def _print_dispute(found: Any, now: int) -> None:
    from credence.core.times import format_datetime

    if found.open:
        state = "OVERDUE" if found.overdue(now) else "open"
    else:
        state = f"{found.outcome}{' (corrected)' if found.correction else ''} by {found.resolved_by}: {found.resolution}"
    click.echo(f"#{found.id}  {found.user}  {found.kind} {found.record}{'  adverse' if found.adverse else ''}  "
               f"opened {format_datetime(found.opened_at)} by {found.opened_by}, due {format_datetime(found.due)}  "
               f"[{state}]  {found.reason}")  # fmt: skip


def _print_moves(changes: Any) -> None:
    moved = [c for c in changes if c.before != c.after]
    click.echo(f"  {len(moved):,} scores changed")
    for c in sorted(moved, key=lambda c: -abs(c.after - c.before))[:20]:
        click.echo(f"  {c.user:<16}{c.before:>5} -> {c.after:<5}({c.after - c.before:+d})")


def _engine(store: Any, policy_path: Path | None, now: int | None) -> Any:
    engine = make_engine(store, policy_path, now)
    if engine.restore() is None:
        engine.recompute()
    return engine


@dispute.command("open")
@click.argument("user")
@click.option("--kind", required=True, type=click.Choice(["repayment", "spending", "link", "flag"]),
              help="What is disputed.")  # fmt: skip
@click.option("--record", required=True, help="The event id, the other user's id (a link) or the flag id.")
@click.option("--reason", required=True, help="Why the person disputes it.")
@engine_options
def dispute_open(
    user: str,
    kind: str,
    record: str,
    reason: str,
    policy_path: Path | None,
    now: int | None,
    db: Path | None,
    neo4j_uri: str | None,
) -> None:
    """Record USER's dispute of one of their records; an adverse one stops counting while open (policy)."""
    from credence.graph.model import epoch_now
    from credence.graph.store import AuditDraft

    with open_store(store_config(db, neo4j_uri)) as store:
        engine = _engine(store, policy_path, now)
        with engine.unit():
            outcome = engine.open_dispute(user, kind=kind, record=record, reason=reason, opened_by="cli")
            found = outcome.dispute
            store.record_audit([AuditDraft(actor="cli", role="admin", action="dispute:open", subject=found.user,
                                           detail=f"dispute={found.id} {found.kind}={found.record}: {reason}")])  # fmt: skip
    _print_dispute(found, epoch_now())
    _print_moves(outcome.changes)


@dispute.command("list")
@click.option("--all", "everything", is_flag=True, help="Resolved disputes too (default: the open queue).")
@click.option("--user", default=None, help="One person's disputes.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@store_options
def dispute_list(
    everything: bool, user: str | None, as_json: bool, db: Path | None, neo4j_uri: str | None
) -> None:
    """The dispute queue, oldest first, with each deadline (OVERDUE past it)."""
    from credence.graph.model import epoch_now

    with open_store(store_config(db, neo4j_uri)) as store:
        found = store.disputes(user=user, open_only=not everything)
    now = epoch_now()
    if as_json:
        click.echo(
            json.dumps([{**dataclasses.asdict(d), "overdue": d.overdue(now)} for d in found], indent=2)
        )
        return
    for item in found:
        _print_dispute(item, now)
    if not found:
        click.echo("no disputes")


@dispute.command("resolve")
@click.argument("dispute_id", type=int)
@click.option("--outcome", required=True, type=click.Choice(["upheld", "rejected"]),
              help="upheld: the record is removed (or corrected); rejected: it counts again.")  # fmt: skip
@click.option("--reason", required=True, help="Why; told to the person.")
@click.option("--analyst", required=True, help="Who resolved it.")
@click.option("--correction", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="With upheld: a CSV/Parquet file holding the corrected event (same id and user).")  # fmt: skip
@engine_options
def dispute_resolve(
    dispute_id: int,
    outcome: str,
    reason: str,
    analyst: str,
    correction: Path | None,
    policy_path: Path | None,
    now: int | None,
    db: Path | None,
    neo4j_uri: str | None,
) -> None:
    """Resolve dispute DISPUTE_ID and rescore what it moves."""
    from credence.graph.io import read_table
    from credence.graph.model import Records, epoch_now, parse_repayments, parse_spending
    from credence.graph.store import AuditDraft

    with open_store(store_config(db, neo4j_uri)) as store:
        corrected = None
        if correction is not None:
            frame = read_table(correction)
            kind = "spending" if "category" in frame.columns else "repayments"
            parsed = parse_spending(frame) if kind == "spending" else parse_repayments(frame)
            corrected = Records.from_frame(kind, parsed)
        engine = _engine(store, policy_path, now)
        with engine.unit():
            result = engine.resolve_dispute(dispute_id, outcome=outcome, resolution=reason, analyst=analyst,
                                            correction=corrected)  # fmt: skip
            found = result.dispute
            store.record_audit([AuditDraft(actor=analyst, role="analyst", action="dispute:resolve",
                                           subject=found.user,
                                           detail=f"dispute={found.id} outcome={found.outcome}: {reason}")])  # fmt: skip
    _print_dispute(found, epoch_now())
    _print_moves(result.changes)


COMMANDS = [dispute]
