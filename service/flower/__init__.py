"""Flower (``flwr``, Message API) as the engine of federated rounds across organisations, governed
by the ledger: a server strategy that runs every Flower round as an on-chain round
(:mod:`service.flower.strategy`) and a ClientApp helper for each organisation's node
(:mod:`service.flower.participant`, around :mod:`service.flower.node`). Both talk to the
govledger service through :class:`service.client.GovLedgerClient`, like any other participant or
coordinator: the update bytes travel through the service's gate only, never through Flower's
messages, so a Flower round leaves exactly the record the project's own path leaves.
:mod:`service.flower.records` names what the two sides say to each other.

Only ``strategy`` and ``participant`` import flwr; they run in the Flower side's own virtualenv
(:mod:`service.flower.venv`). Everything else here (identity, node, rounds, timing, deployment,
digits) imports without flwr, in the service's virtualenv too.
"""
