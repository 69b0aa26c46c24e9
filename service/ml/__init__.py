"""Model artifacts: validation of untrusted artifact bytes, federated aggregation, and the
scenario's small model.

Pure code (no I/O, nothing unpickled or executed): :mod:`~service.ml.formats` (pick a streaming
validator by format name), :mod:`~service.ml.safetensors_format`,
:mod:`~service.ml.torch_export_format`, :mod:`~service.ml.updates` (the streaming check of a
federated update against its base), :mod:`~service.ml.tensors` (safetensors bytes to numpy
arrays and canonical bytes back) and :mod:`~service.ml.aggregate` (the aggregation rules).
PyTorch: :mod:`~service.ml.digits` (train, save, load and export the digits MLP); import it only
where torch is wanted, it is slow to import.
"""
