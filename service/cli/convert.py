"""``govledger convert``: your own PyTorch checkpoint to safetensors, on your machine.

The ledger refuses pickles (service/ml/sniff.py says why). A checkpoint you made yourself can
be converted here: it is read with ``torch.load(weights_only=True)`` only -- PyTorch's
restricted unpickler, which rebuilds tensors and plain containers and refuses anything else --
and never by the service, which only ever sees the safetensors file.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from service.cli.context import state
from service.cli.exits import ExitCode
from service.cli.output import CliError, emit, fields

if TYPE_CHECKING:
    from service.ml.sniff import Identified


def convert(
    source: Annotated[Path, typer.Argument(help="A torch.save checkpoint you made (.pt, .pth).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The .safetensors file to write.")],
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            help="The entry holding the weights, for a checkpoint that holds more (e.g. "
            "model_state_dict); dots go deeper (a.b).",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the output.")] = False,
) -> None:
    """Convert your own PyTorch checkpoint to safetensors, locally, loading it with
    torch.load(weights_only=True) only; then propose the .safetensors file."""
    s = state()
    found = identify_input(source, "checkpoint", output=output, force=force)
    if found.format is not None:
        raise CliError(
            f"{source.name} is {found.what} already, which the ledger accepts: propose it as it "
            "is (`govledger versions propose MODEL FILE`)"
        )
    loaded = _load(source)
    if key is not None:
        loaded = _pick(loaded, key, source.name)
    tensors = _tensors(loaded, source.name)
    _save(tensors, output, source.name)
    count = sum(int(t.numel()) for t in tensors.values())
    report = {
        "source": str(source),
        "output": str(output),
        "tensors": len(tensors),
        "parameters": count,
        "bytes": output.stat().st_size,
    }
    emit(
        report,
        lambda: fields(
            [
                ("written", str(output)),
                ("tensors", len(tensors)),
                ("parameters", f"{count:,}"),
                ("size", f"{report['bytes']:,} bytes"),
                ("next", f"govledger versions propose MODEL {output}"),
            ]
        ),
        as_json=s.json_output,
    )


def _load(source: Path) -> Any:
    import torch

    try:
        return torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        what = f"it pickles {found.group(1)}" if found else "it holds more than tensors"
        raise CliError(
            f"torch.load(weights_only=True) refused {source.name}: {what}, not only tensors "
            "and plain containers (a whole pickled model object, say), and this command loads "
            "nothing else. In the code that made it, save the weights only "
            "(torch.save(model.state_dict(), path), or safetensors.torch.save_file) and convert "
            "that"
        ) from None
    except (RuntimeError, EOFError, ValueError) as exc:
        raise CliError(
            f"{source.name} is not a checkpoint torch.save wrote ({exc}); nothing was written"
        ) from None


def _pick(loaded: Any, key: str, name: str) -> Any:
    current = loaded
    for part in key.split("."):
        if not isinstance(current, Mapping) or part not in current:
            keys = ", ".join(map(str, current)) if isinstance(current, Mapping) else "none"
            raise CliError(f"{name} has no entry {key!r} (at {part!r}: entries {keys})")
        current = current[part]
    return current


def _tensors(loaded: Any, name: str) -> dict[str, Any]:
    """The tensors of a state dict (nested dicts joined with dots); CliError naming the
    entries to choose from when the checkpoint holds more than weights."""
    import torch

    if isinstance(loaded, torch.Tensor):
        return {"tensor": loaded}
    if not isinstance(loaded, Mapping) or not loaded:
        raise CliError(
            f"{name} holds {type(loaded).__name__}, not a state dict of tensors; nothing was "
            "written"
        )
    flat: dict[str, Any] = {}
    other: list[str] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, torch.Tensor):
            flat[prefix] = value
        elif isinstance(value, Mapping):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            other.append(prefix)

    walk("", loaded)
    if other:
        candidates = [
            f"{k} ({_count(v)} tensors)"
            for k, v in loaded.items()
            if isinstance(v, Mapping) and _count(v)
        ]
        choose = (
            f"; choose the weights with --key, e.g. --key {str(next(iter(candidates))).split()[0]}"
            if candidates
            else ""
        )
        raise CliError(
            f"{name} holds more than weights: {', '.join(other[:5])} are not tensors"
            + (f" (entries with tensors: {', '.join(candidates)})" if candidates else "")
            + choose
        )
    return flat


def _count(value: Any) -> int:
    import torch

    if isinstance(value, torch.Tensor):
        return 1
    if isinstance(value, Mapping):
        return sum(_count(v) for v in value.values())
    return 0


def _save(tensors: dict[str, Any], output: Path, name: str) -> None:
    from safetensors.torch import save_file

    # a copy of each: safetensors refuses tensors sharing memory (tied weights, views)
    owned = {k: v.detach().contiguous().clone() for k, v in tensors.items()}
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.part")
    try:
        save_file(owned, str(tmp), metadata={"converted_from": name})
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)


def identify_input(source: Path, what: str, *, output: Path, force: bool) -> Identified:
    """What ``source`` is, told from its first bytes, once it exists (a ``what``) and ``output``
    may be written (new, or ``force``); CliError otherwise."""
    from service.ml.sniff import identify

    if not source.is_file():
        raise CliError(f"no {what} at {source}", code=ExitCode.NOT_FOUND)
    if output.exists() and not force:
        raise CliError(f"{output} exists; give another --output or --force to replace it")
    with source.open("rb") as f:
        return identify(f.read(64))
