"""The double-entry ledger of perp accounts' cash: every change of such an account's balance is posted here,
in the transaction that changes it, under the account lock.

A posting is one ledger transaction of legs that sum to zero: the user leg (a venue account, ``va:<id>``,
whose running balance it records) and the counter leg (another user's account, or a system account:
deposits, withdrawals, trading, fees, funding, insurance). An account's first posting is preceded by an
OPENING posting of the balance it already had (a paper account's starting balance), so that a balance is
always the sum of its ledger rows.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from models.funds import EntryKind, LedgerEntry
from models.venues import Balance

from . import journal

SYSTEM_OPENING = "system:opening"
SYSTEM_DEPOSITS = "system:deposits"
SYSTEM_WITHDRAWALS = "system:withdrawals"
SYSTEM_TRADING = "system:trading"
SYSTEM_FEES = "system:fees"
SYSTEM_FUNDING = "system:funding"
SYSTEM_INSURANCE = "system:insurance"
SYSTEM_REWARDS = "system:rewards"


def user_ledger(account_id: object) -> str:
    return f"va:{account_id}"


class Postings:
    """The ledger rows of one database transaction, written by ``flush`` before it commits."""

    def __init__(self, conn: BaseDBAsyncClient) -> None:
        self.conn = conn
        self.rows: list[LedgerEntry] = []
        self._opened: set[str] = set()

    async def _open(self, cash: Balance, user_id: object) -> None:
        key = str(cash.account_id)
        if key in self._opened:
            return
        self._opened.add(key)
        if await LedgerEntry.filter(ledger_account=user_ledger(key)).using_db(self.conn).exists():
            return
        if cash.total != 0:
            self._pair(cash, user_id, EntryKind.OPENING, cash.total, SYSTEM_OPENING, cash.total, {})

    def _pair(
        self,
        cash: Balance,
        user_id: object,
        kind: EntryKind,
        amount: Decimal,
        counter: str,
        balance_after: Decimal,
        detail: dict[str, Any],
        counter_cash: Balance | None = None,
        counter_user: object = None,
        counter_kind: EntryKind | None = None,
    ) -> None:
        txn = uuid.uuid4()
        self.rows.append(
            LedgerEntry(
                txn_id=txn,
                ledger_account=user_ledger(cash.account_id),
                account_id=cash.account_id,
                user_id=user_id,
                kind=kind,
                amount=amount,
                balance_after=balance_after,
                asset=cash.asset,
                detail=detail,
            )
        )
        self.rows.append(
            LedgerEntry(
                txn_id=txn,
                ledger_account=counter,
                account_id=counter_cash.account_id if counter_cash is not None else None,
                user_id=counter_user,
                kind=counter_kind or kind,
                amount=-amount,
                balance_after=counter_cash.total if counter_cash is not None else None,
                asset=cash.asset,
                detail=detail,
            )
        )

    async def move(
        self, cash: Balance, user_id: object, kind: EntryKind, amount: Decimal, counter: str, **detail: Any
    ) -> None:
        """Credit (positive) or debit (negative) ``cash`` against the system account ``counter``."""
        if amount == 0:
            return
        await self._open(cash, user_id)
        cash.total += amount
        self._pair(cash, user_id, kind, amount, counter, cash.total, detail)

    async def transfer(
        self, source: Balance, source_user: object, target: Balance, target_user: object, amount: Decimal, **detail: Any
    ) -> None:
        """Move ``amount`` from one user's account to another's, as one transaction of two user legs."""
        await self._open(source, source_user)
        await self._open(target, target_user)
        source.total -= amount
        target.total += amount
        self._pair(
            source,
            source_user,
            EntryKind.TRANSFER_OUT,
            -amount,
            user_ledger(target.account_id),
            source.total,
            detail,
            counter_cash=target,
            counter_user=target_user,
            counter_kind=EntryKind.TRANSFER_IN,
        )

    async def flush(self) -> None:
        """Write the rows, and the venue's own record of the same cash movements (the execution journal,
        ``engine/journal.py``); an opening posting restates a balance the venue already holds."""
        if self.rows:
            await LedgerEntry.bulk_create(self.rows, using_db=self.conn)
            await journal.record_cash(
                self.conn,
                [
                    (row.account_id, row.kind.value, row.amount)
                    for row in self.rows
                    if row.ledger_account.startswith("va:") and row.kind != EntryKind.OPENING
                ],
            )
            self.rows = []
