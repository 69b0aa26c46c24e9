"""One value per scalar query parameter.

Starlette keeps every value of a repeated query parameter and FastAPI reads the last one for a
parameter declared as a single value, so ``?text=a&text=b`` would silently search for ``b``. The
service refuses it instead (422, naming the parameter): a client that repeats a parameter meant
something the service would not do. Parameters declared as lists (``kind`` of the timeline,
say) take repeats as usual.
"""

from __future__ import annotations

import types
from collections import Counter
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi import Request
from fastapi.dependencies.models import Dependant

from service.errors import InvalidInput

_SEQUENCES = (list, tuple, set, frozenset)
_cache: dict[int, frozenset[str]] = {}


def refuse_repeated_query_params(request: Request) -> None:
    """A global dependency: 422 if a query parameter the route takes once is given twice."""
    repeated = [
        k for k, n in Counter(k for k, _ in request.query_params.multi_items()).items() if n > 1
    ]
    if not repeated:
        return
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    lists = _list_params(route, dependant) if dependant is not None else frozenset()
    single = sorted(k for k in repeated if k not in lists)
    if single:
        raise InvalidInput(
            f"the query parameter{'s' if len(single) > 1 else ''} {', '.join(single)} "
            "may be given once; send one value"
        )


def _list_params(route: Any, dependant: Dependant) -> frozenset[str]:
    key = id(route)
    if key not in _cache:
        names: set[str] = set()
        stack = [dependant]
        while stack:
            d = stack.pop()
            for field in d.query_params:
                if _is_sequence(field.field_info.annotation):
                    names.add(field.alias)
            stack.extend(d.dependencies)
        _cache[key] = frozenset(names)
    return _cache[key]


def _is_sequence(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin in _SEQUENCES or annotation in _SEQUENCES:
        return True
    if origin is Annotated:
        return _is_sequence(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return any(_is_sequence(a) for a in get_args(annotation))
    return False
