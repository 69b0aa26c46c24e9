"""Predictions from approved ONNX versions.

``POST /v1/versions/{id}/predict``: the version must be Approved; it is read under the same rule
as a download (``ArtifactService.open_version``: restricted models need a session and the read
right), its bytes verified against the digest on chain as they stream from the store, validated
as ONNX (a version of another format is refused: accelerate it first), and loaded into an ONNX
Runtime session cached by that digest (the same bytes are never loaded twice; the cache holds
``predict_cache_size`` sessions, least recently used first out). Access is checked on every
request, cached session or not.

The batch comes as JSON (``{"inputs": [[...], ...]}``, or ``{"inputs": {"name": [[...]]}}`` for
several inputs), as a ``.npy`` file (``application/x-npy``, read with ``allow_pickle=False``)
or as a safetensors file (``application/x-safetensors``, one tensor per input, by name). Names,
element types, ranks and fixed dimensions must match the model's inputs; JSON numbers are
converted to the input's type (integers must be whole), binary arrays must already have it.
"""

from __future__ import annotations

import io
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from service.chain.types import State
from service.domain.artifacts import ArtifactService
from service.errors import Conflict, InvalidArtifact, InvalidInput, PayloadTooLarge
from service.ml.formats import ONNX, format_of
from service.ml.onnx_format import MAX_ONNX_BYTES, TensorSpec

JSON: Final = "application/json"
NPY: Final = "application/x-npy"
SAFETENSORS_TYPE: Final = "application/x-safetensors"
CONTENT_TYPES: Final = (JSON, NPY, SAFETENSORS_TYPE)


@dataclass(frozen=True, kw_only=True)
class Prediction:
    version_id: int
    model_id: int
    inputs: tuple[TensorSpec, ...]
    outputs: list[tuple[str, np.ndarray]]
    public: bool  # no session was needed to read the version

    @property
    def predictions(self) -> list[int] | None:
        """The argmax of the first output's last axis when it is a [batch, classes] array."""
        first = self.outputs[0][1]
        if first.ndim == 2 and first.dtype.kind == "f":
            return [int(i) for i in first.argmax(axis=1)]
        return None


class PredictionService:
    def __init__(self, artifacts: ArtifactService) -> None:
        self.artifacts = artifacts
        self.settings = artifacts.settings
        self._sessions: OrderedDict[bytes, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[bytes, threading.Lock] = {}

    @property
    def max_bytes(self) -> int:
        return self.settings.max_predict_bytes

    def predict(
        self, version_id: int, account: str | None, body: bytes, content_type: str
    ) -> Prediction:
        ledger = self.artifacts.backends.ledger
        version = ledger.version(version_id)
        if version.state != State.APPROVED:
            raise Conflict(
                f"version {version_id} is {version.state.name.lower()}; only Approved versions "
                "are served for prediction"
            )
        opened = self.artifacts.open_version(version_id, account)  # the read rule, every time
        model = self._model(version.artifact_digest, version_id, opened.size, opened.stream)
        feeds = parse_batch(body, content_type, model.inputs, self.settings.max_predict_rows)
        try:
            results = model.run(feeds)
        except Exception as exc:  # a shape the graph cannot take despite the declared ones
            raise InvalidInput(f"the model could not run on this batch: {exc}") from exc
        names = [o.name for o in model.summary.outputs]
        return Prediction(
            version_id=version_id,
            model_id=version.model_id,
            inputs=model.inputs,
            outputs=list(zip(names, (np.asarray(r) for r in results), strict=True)),
            public=opened.grant.public,
        )

    def _model(self, digest: bytes, version_id: int, size: int, stream: Any) -> Any:
        with self._lock:
            cached = self._sessions.get(digest)
            if cached is not None:
                self._sessions.move_to_end(digest)
            loading = self._loading.setdefault(digest, threading.Lock())
        if cached is not None:
            _close(stream)
            return cached
        with loading:  # one load per digest at a time; others wait and find it cached
            with self._lock:
                cached = self._sessions.get(digest)
            if cached is not None:
                _close(stream)
                return cached
            if size > MAX_ONNX_BYTES:
                _close(stream)
                raise Conflict(f"version {version_id}'s artifact is too large to serve ({size})")
            data = b"".join(stream)  # each block verified against its CID while read
            from service.ml.accelerate.runtime import load_model

            found = format_of(data)
            if found != ONNX:
                raise Conflict(
                    f"version {version_id}'s artifact is {found or 'of no known format'}, not "
                    "ONNX: prediction serves ONNX versions only (nothing else is loaded); build "
                    "one from this version with `govledger accelerate` (POST /v1/models/{id}/"
                    "builds) and approve it"
                )
            try:
                model = load_model(data, threads=self.settings.predict_threads)
            except InvalidArtifact as exc:
                raise Conflict(f"version {version_id}'s artifact cannot be served: {exc}") from None
            with self._lock:
                self._sessions[digest] = model
                while len(self._sessions) > self.settings.predict_cache_size:
                    self._sessions.popitem(last=False)
            return model


def parse_batch(
    body: bytes, content_type: str, inputs: tuple[TensorSpec, ...], max_rows: int
) -> dict[str, np.ndarray]:
    """The request's arrays, checked against the model's inputs (see the module)."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == JSON:
        arrays = _from_json(body, inputs)
    elif kind == NPY:
        if len(inputs) != 1:
            raise InvalidInput(
                f"the model takes {len(inputs)} inputs; a .npy body holds one array: send "
                "safetensors or JSON"
            )
        arrays = {inputs[0].name: _from_npy(body)}
    elif kind == SAFETENSORS_TYPE:
        arrays = _from_safetensors(body)
    else:
        raise InvalidInput(
            f"content type {content_type!r} is not accepted; send {', '.join(CONTENT_TYPES)}"
        )
    expected = {spec.name for spec in inputs}
    if set(arrays) != expected:
        raise InvalidInput(
            f"the model's inputs are {sorted(expected)}; the request gives {sorted(arrays)}"
        )
    for spec in inputs:
        _check(spec, arrays[spec.name], max_rows)
    return arrays


def _from_json(body: bytes, inputs: tuple[TensorSpec, ...]) -> dict[str, np.ndarray]:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"the body is not JSON: {exc}") from None
    if not isinstance(doc, dict) or "inputs" not in doc:
        raise InvalidInput('the JSON body must be an object with "inputs"')
    given = doc["inputs"]
    if not isinstance(given, dict):
        if len(inputs) != 1:
            raise InvalidInput(
                f'the model takes {len(inputs)} inputs: give "inputs" as an object by name'
            )
        given = {inputs[0].name: given}
    dtypes = {spec.name: spec.dtype for spec in inputs}
    arrays = {}
    for name, value in given.items():
        if name not in dtypes:
            raise InvalidInput(f"the model has no input {name!r}; its inputs are {sorted(dtypes)}")
        arrays[name] = _json_array(name, value, dtypes[name])
    return arrays


def _json_array(name: str, value: Any, dtype: str) -> np.ndarray:
    try:
        raw = np.array(value)
    except (ValueError, TypeError, OverflowError):
        raise InvalidInput(f"input {name!r} is not a rectangular array of numbers") from None
    if raw.dtype == object:
        raise InvalidInput(f"input {name!r} is not a rectangular array of numbers")
    if raw.dtype.kind not in "iuf":
        raise InvalidInput(f"input {name!r} must hold numbers only, not {raw.dtype.name} values")
    target = np.dtype(dtype) if dtype != "bfloat16" else None
    if target is None:
        raise InvalidInput(f"input {name!r} is bfloat16, which JSON cannot give; send safetensors")
    if target.kind in "iu" and raw.dtype.kind == "f" and not np.all(np.mod(raw, 1) == 0):
        raise InvalidInput(f"input {name!r} is {dtype}: give whole numbers")
    if target.kind in "iu":
        info = np.iinfo(target)
        if raw.size and (raw.min() < info.min or raw.max() > info.max):
            raise InvalidInput(f"input {name!r} has values outside the range of {dtype}")
    return np.ascontiguousarray(raw.astype(target))


def _from_npy(body: bytes) -> np.ndarray:
    try:
        array = np.load(io.BytesIO(body), allow_pickle=False)
    except ValueError as exc:  # object arrays need pickle: refused
        raise InvalidInput(f"the .npy body cannot be read without unpickling: {exc}") from None
    except (OSError, EOFError) as exc:
        raise InvalidInput(f"the body is not a .npy file: {exc}") from None
    if not isinstance(array, np.ndarray):
        raise InvalidInput("the .npy body holds no single array")
    return array


def _from_safetensors(body: bytes) -> dict[str, np.ndarray]:
    from safetensors.numpy import load

    from service.ml.safetensors_format import SafetensorsValidator

    validator = SafetensorsValidator()
    validator.feed(body)
    validator.finish()
    try:
        return dict(load(body))
    except Exception as exc:  # safetensors raises its own error type
        raise InvalidInput(f"the safetensors body cannot be read: {exc}") from None


def _check(spec: TensorSpec, array: np.ndarray, max_rows: int) -> None:
    if array.dtype.name != spec.dtype:
        raise InvalidInput(
            f"input {spec.name!r} must be {spec.dtype}, not {array.dtype.name}; convert it "
            "before sending (the service does not cast binary arrays)"
        )
    if array.ndim != len(spec.shape):
        raise InvalidInput(
            f"input {spec.name!r} must have {len(spec.shape)} dimensions "
            f"{_shape(spec.shape)}, not {array.ndim} {list(array.shape)}"
        )
    for axis, (want, got) in enumerate(zip(spec.shape, array.shape, strict=True)):
        if isinstance(want, int) and want != got:
            raise InvalidInput(
                f"input {spec.name!r} must have shape {_shape(spec.shape)}; dimension {axis} is "
                f"{got}, not {want}"
            )
    if array.ndim and array.shape[0] > max_rows:
        raise PayloadTooLarge(
            f"the batch has {array.shape[0]} rows; at most {max_rows} are served per request"
        )
    if array.size == 0:
        raise InvalidInput(f"input {spec.name!r} is empty")


def _shape(shape: tuple[int | str | None, ...]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _close(stream: Any) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        close()
