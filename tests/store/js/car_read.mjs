// Independent reader: parse a CAR file with @ipld/car and check every block's sha2-256 with
// multiformats, then print {version, roots, blocks: [{cid, size, ok}]} as JSON.
import { createReadStream } from 'node:fs'
import { CarBlockIterator } from '@ipld/car/iterator'
import { sha256 } from 'multiformats/hashes/sha2'
import { equals } from 'multiformats/bytes'

const iterator = await CarBlockIterator.fromIterable(createReadStream(process.argv[2]))
const roots = (await iterator.getRoots()).map((cid) => cid.toString())
const blocks = []
for await (const { cid, bytes } of iterator) {
  const digest = await sha256.digest(bytes)
  blocks.push({ cid: cid.toString(), size: bytes.length, ok: equals(digest.bytes, cid.multihash.bytes) })
}
console.log(JSON.stringify({ version: iterator.version, roots, blocks }))
