"""Flower (``flwr``, Message API) as the engine of federated rounds across organisations, governed
by the ledger: a server strategy that runs every Flower round as an on-chain round
(:mod:`service.flower.strategy`) and a ClientApp helper for each organisation's node
(:mod:`service.flower.participant`). Both talk to the govledger service through
:class:`service.client.GovLedgerClient`, like any other participant or coordinator: the update
bytes travel through the service's gate only, never through Flower's messages, so a Flower round
leaves exactly the record the project's own path leaves. :mod:`service.flower.records` names
what the two sides say to each other.
"""
