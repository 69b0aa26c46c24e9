"""Accelerated builds of approved versions: export to ONNX, ONNX Runtime builds, measuring.

- :mod:`~service.ml.accelerate.architectures`: the known architectures a safetensors parent may
  name in its ``__metadata__`` (weights alone cannot run; the architecture comes from code here);
- :mod:`~service.ml.accelerate.export`: PyTorch -> one self-contained ONNX file, dynamic batch;
- :mod:`~service.ml.accelerate.recipes`: the ONNX Runtime builds (fp32 graph-optimised, int8
  dynamic, int8 static, fp16 weights), each with the options it records;
- :mod:`~service.ml.accelerate.runtime`: ONNX Runtime sessions made only from validated bytes;
- :mod:`~service.ml.accelerate.measure`: latency, throughput, memory, accuracy and agreement of
  every candidate, side by side in one run;
- :mod:`~service.ml.accelerate.pipeline`: the whole build of one parent, with a budget.

No I/O of its own except the scratch directory its caller hands it (ONNX Runtime's optimiser
and quantiser write their output to paths) and the memory probe its caller supplies. Nothing is
unpickled: a parent is safetensors (weights of a known architecture) or ONNX.
"""
