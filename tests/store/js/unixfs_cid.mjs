// Independent reference: the CID that ipfs-unixfs-importer computes for each file given on the
// command line, with kubo's `ipfs add --cid-version=1` settings spelled out (fixed 262144-byte
// chunks, raw leaves, balanced layout with at most 174 links per node, CIDv1, sha2-256,
// single-chunk files reduced to their raw leaf). Prints one JSON line per file.
// MAX_LINKS and CHUNK_SIZE (environment; defaults 174 and 262144) shrink the layout so that
// deep trees can be tested on small files.
import { createReadStream } from 'node:fs'
import { importer } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'

// Blocks are thrown away: only the CIDs are wanted, and memory stays flat for large files.
const discard = { put: async (cid) => cid }

const options = {
  cidVersion: 1,
  rawLeaves: true,
  chunker: fixedSize({ chunkSize: Number(process.env.CHUNK_SIZE ?? 262144) }),
  layout: balanced({ maxChildrenPerNode: Number(process.env.MAX_LINKS ?? 174) }),
  reduceSingleLeafToSelf: true,
  wrapWithDirectory: false
}

for (const path of process.argv.slice(2)) {
  let last
  for await (const entry of importer([{ content: createReadStream(path) }], discard, options)) {
    last = entry
  }
  console.log(JSON.stringify({ path, cid: last.cid.toString(), size: Number(last.size) }))
}
