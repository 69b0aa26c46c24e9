"""Model artifacts: validation of untrusted artifact bytes, federated aggregation, and the
scenario's small model.

Pure code (no I/O, nothing unpickled or executed): :mod:`~service.ml.formats` (pick a streaming
validator by format name), :mod:`~service.ml.safetensors_format`,
:mod:`~service.ml.torch_export_format`, :mod:`~service.ml.onnx_format`, :mod:`~service.ml.updates`
(the streaming check of a federated update against its base), :mod:`~service.ml.tensors`
(safetensors bytes to numpy arrays and canonical bytes back) and :mod:`~service.ml.aggregate`
(the aggregation rules). PyTorch: :mod:`~service.ml.digits` (train, save, load and export the
digits MLP), :mod:`~service.ml.digits_transformer` (a larger model for the benchmark) and
:mod:`~service.ml.federated` (local training for participants); import them only where torch is
wanted, it is slow to import. Accelerated builds: :mod:`~service.ml.accelerate` (no I/O beyond
the scratch directory its caller hands it).
"""
