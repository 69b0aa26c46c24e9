"""UnixFS files the way kubo's ``ipfs add --cid-version=1`` lays them out. Pure code: no I/O.

Layout (kubo's defaults for CIDv1, reproduced by ``ipfs-unixfs-importer`` with the same options):

- fixed 262,144-byte chunks, each stored as a ``raw`` leaf block;
- a file of one chunk (or the empty file) is that single raw block: its CID is the root;
- otherwise a *balanced* tree of ``dag-pb`` nodes with at most 174 links each: leaves are
  grouped 174 at a time under a parent, parents 174 at a time under a grandparent, and so on
  until one node is left. Each node's Data is a UnixFS ``File`` message with ``filesize`` and
  one ``blocksizes`` entry per link; each link's Tsize is the child's whole DAG size.

:class:`FileDagBuilder` builds that tree while the chunks stream in, holding at most 174 links
per level, so memory does not grow with the file. :func:`iter_file_plan` walks a stored DAG in
file order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from service.errors import UnsupportedCID
from service.store.cid import CID, DAG_PB, RAW, decode_varint
from service.store.dagpb import (
    DagPbError,
    PBLink,
    decode_node,
    encode_node,
    iter_fields,
    varint_field,
)

MAX_LINKS = 174
"""Links per node in kubo's balanced layout (``Import.UnixFSFileMaxLinks`` default)."""

MAX_DEPTH = 32
"""Deepest DAG :func:`iter_file_plan` follows (a balanced tree of 174-way nodes reaches
2**64 bytes in 8 levels)."""

UNIXFS_RAW = 0
UNIXFS_FILE = 2


@dataclass(frozen=True, slots=True)
class Block:
    """One block to store: its CID and its bytes."""

    cid: CID
    data: bytes | memoryview


@dataclass(frozen=True, slots=True)
class UnixFSData:
    """The fields of a UnixFS Data message this store reads."""

    type: int
    data: bytes | None
    filesize: int | None
    blocksizes: tuple[int, ...]


def encode_file_data(filesize: int, blocksizes: Iterable[int]) -> bytes:
    """UnixFS Data of an internal file node: Type=File, filesize, blocksizes (unpacked)."""
    out = varint_field(1, UNIXFS_FILE) + varint_field(3, filesize)
    for size in blocksizes:
        out += varint_field(4, size)
    return out


def decode_unixfs(data: bytes) -> UnixFSData:
    """Decode a UnixFS Data message; raises :class:`DagPbError` if malformed."""
    kind: int | None = None
    payload: bytes | None = None
    filesize: int | None = None
    blocksizes: list[int] = []
    for number, value in iter_fields(data):
        if number == 1 and isinstance(value, int):
            kind = value
        elif number == 2 and isinstance(value, memoryview):
            payload = bytes(value)
        elif number == 3 and isinstance(value, int):
            filesize = value
        elif number == 4 and isinstance(value, int):
            blocksizes.append(value)
        elif number == 4 and isinstance(value, memoryview):  # packed, accepted for robustness
            blocksizes.extend(_packed_varints(value))
        elif number in (5, 6, 7, 8):  # hashType, fanout, mode, mtime: not needed to read files
            continue
        else:
            raise DagPbError(f"unexpected field {number} in a UnixFS Data message")
    if kind is None:
        raise DagPbError("UnixFS Data without a Type")
    return UnixFSData(kind, payload, filesize, tuple(blocksizes))


def _packed_varints(view: memoryview) -> Iterator[int]:
    pos = 0
    while pos < len(view):
        try:
            number, pos = decode_varint(view, pos)
        except ValueError as exc:
            raise DagPbError(f"malformed packed blocksizes: {exc}") from None
        yield number


@dataclass(slots=True)
class _Child:
    cid: CID
    tsize: int
    filesize: int


@dataclass(slots=True)
class FileDagBuilder:
    """Build a file's DAG from its chunks, in order, as they arrive.

    ``add_chunk`` returns the blocks that became final (the leaf, and any parent that just
    filled up); ``finish`` returns the last blocks, root included, and the root CID.
    """

    max_links: int = MAX_LINKS
    size: int = 0
    _levels: list[list[_Child]] = field(default_factory=lambda: [[]])
    _chunks: int = 0

    def add_chunk(self, chunk: bytes | memoryview) -> list[Block]:
        leaf = Block(CID.of_block(RAW, chunk), chunk)
        self.size += len(chunk)
        self._chunks += 1
        blocks = [leaf]
        self._push(0, _Child(leaf.cid, len(chunk), len(chunk)), blocks)
        return blocks

    def finish(self) -> tuple[CID, list[Block]]:
        """Close the tree; returns the root CID and the blocks still to store."""
        if self._chunks == 0:
            raise ValueError("no chunk was added; an empty file is one empty chunk")
        blocks: list[Block] = []
        level = 0
        while True:
            entries = self._levels[level]
            higher = any(self._levels[level + 1 :])
            if len(entries) == 1 and not higher:
                return entries[0].cid, blocks
            if entries:
                self._levels[level] = []
                node, child = _parent(entries)
                blocks.append(node)
                self._append(level + 1, child)
            level += 1

    def _push(self, level: int, child: _Child, blocks: list[Block]) -> None:
        while True:
            self._append(level, child)
            entries = self._levels[level]
            if len(entries) < self.max_links:
                return
            self._levels[level] = []
            node, child = _parent(entries)
            blocks.append(node)
            level += 1

    def _append(self, level: int, child: _Child) -> None:
        if level == len(self._levels):
            self._levels.append([])
        self._levels[level].append(child)


def _parent(children: list[_Child]) -> tuple[Block, _Child]:
    filesize = sum(child.filesize for child in children)
    data = encode_file_data(filesize, (child.filesize for child in children))
    links = [PBLink(child.cid, child.tsize) for child in children]
    encoded = encode_node(links, data)
    cid = CID.of_block(DAG_PB, encoded)
    tsize = len(encoded) + sum(child.tsize for child in children)
    return Block(cid, encoded), _Child(cid, tsize, filesize)


def build_file(chunks: Iterable[bytes | memoryview]) -> Iterator[Block]:
    """Yield every block of the file cut into ``chunks``; the root comes last."""
    builder = FileDagBuilder()
    for chunk in chunks:
        yield from builder.add_chunk(chunk)
    _, rest = builder.finish()
    if rest:
        yield from rest


def compute_cid(chunks: Iterable[bytes | memoryview]) -> tuple[CID, int]:
    """The root CID and size of a file, without keeping any block (``ipfs add --only-hash``)."""
    builder = FileDagBuilder()
    for chunk in chunks:
        builder.add_chunk(chunk)
    root, _ = builder.finish()
    return root, builder.size


@dataclass(frozen=True, slots=True)
class LeafRef:
    """A raw leaf to read in file order; ``size`` is what its parent declares (None for a
    root that is itself a raw block)."""

    cid: CID
    size: int | None


Piece = bytes | LeafRef
"""An item of a file plan: inline bytes held by a dag-pb node, or a raw leaf to fetch."""


def iter_file_plan(root: CID, load_node: Callable[[CID], bytes]) -> Iterator[Piece]:
    """Walk the file DAG under ``root`` in order, yielding what makes up its bytes.

    ``load_node`` returns the bytes of a dag-pb block, already verified against its CID. Raw
    leaves are not loaded here: they come out as :class:`LeafRef` for the caller to fetch and
    verify. Raises :class:`UnsupportedCID` when the DAG is not a UnixFS file.
    """
    if root.codec == RAW:
        yield LeafRef(root, None)
        return
    stack: list[Iterator[tuple[CID, int]]] = [iter([(root, -1)])]
    while stack:
        step = next(stack[-1], None)
        if step is None:
            stack.pop()
            continue
        cid, declared = step
        if cid.codec == RAW:
            yield LeafRef(cid, declared)
            continue
        if len(stack) > MAX_DEPTH:
            raise UnsupportedCID(
                f"{root} is deeper than {MAX_DEPTH} levels; not a file DAG this store reads",
                cid=str(root),
            )
        links, data = _file_node(cid, load_node(cid))
        if data:
            yield data
        stack.append(iter(links))


def _file_node(cid: CID, block: bytes) -> tuple[list[tuple[CID, int]], bytes | None]:
    try:
        node = decode_node(block)
        if node.data is None:
            raise DagPbError("dag-pb node without UnixFS Data")
        meta = decode_unixfs(node.data)
    except DagPbError as exc:
        raise UnsupportedCID(f"block {cid} is not a UnixFS node: {exc}", cid=str(cid)) from None
    if meta.type not in (UNIXFS_FILE, UNIXFS_RAW):
        raise UnsupportedCID(
            f"{cid} is a UnixFS node of type {meta.type}, not a file; only files can be read",
            cid=str(cid),
        )
    if len(meta.blocksizes) != len(node.links):
        raise UnsupportedCID(
            f"UnixFS node {cid} has {len(node.links)} links but {len(meta.blocksizes)} "
            "blocksizes; it is not a well-formed file node",
            cid=str(cid),
        )
    links = [(link.cid, size) for link, size in zip(node.links, meta.blocksizes, strict=True)]
    return links, meta.data


def file_size(root: CID, root_block: bytes) -> int:
    """The size of the file ``root`` names, from its root block alone: a raw block is the file;
    a dag-pb root sums its children's sizes (UnixFS blocksizes) and any inline data."""
    if root.codec == RAW:
        return len(root_block)
    links, data = _file_node(root, root_block)
    return sum(size for _, size in links) + len(data or b"")


def node_links(cid: CID, block: bytes) -> list[CID]:
    """The CIDs a block links to (none for raw blocks); for walking whole DAGs."""
    if cid.codec == RAW:
        return []
    try:
        return [link.cid for link in decode_node(block).links]
    except DagPbError as exc:
        raise UnsupportedCID(f"block {cid} is not valid dag-pb: {exc}", cid=str(cid)) from None


def walk_dag(root: CID, load_node: Callable[[CID], bytes]) -> Iterator[tuple[CID, bytes | None]]:
    """Every block of the DAG under ``root``, depth-first, parents before children, each once.

    dag-pb blocks are loaded with ``load_node`` (to follow their links) and yielded with their
    bytes; raw blocks have no links and are yielded with None, not loaded. Memory: the set of
    digests seen (about 100 bytes per block, i.e. per 256 KiB of content).
    """
    seen: set[bytes] = set()
    stack = [root]
    while stack:
        cid = stack.pop()
        if cid.digest in seen:
            continue
        seen.add(cid.digest)
        if cid.codec == RAW:
            yield cid, None
            continue
        block = load_node(cid)
        yield cid, block
        stack.extend(reversed(node_links(cid, block)))
