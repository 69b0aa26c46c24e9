"""The chain adapter: typed access to the ledger's contracts for the service, CLI and tests.

Writes go through signed actions: ``prepare`` builds the EIP-712 action for an actor (its next
nonce, a deadline), the actor signs it (``sign_action`` with a local key, or a wallet), and
``relay`` checks the signature and submits ``...BySig`` from the relayer account, which pays the
gas. ``send`` runs the plain function from an account's own key instead. Contract custom errors
come back as the typed exceptions of ``service.chain.reverts``.
"""

from __future__ import annotations

from service.chain.ledger_actions import LedgerActions
from service.chain.ledger_core import ZERO_ADDRESS, ActionReceipt
from service.chain.ledger_reads import LedgerReads

__all__ = ["ZERO_ADDRESS", "ActionReceipt", "Ledger"]


class Ledger(LedgerActions, LedgerReads):
    """The chain adapter: typed actions (``LedgerActions``), reads and history
    (``LedgerReads``), on the core of signed actions and relaying (``LedgerCore``)."""
