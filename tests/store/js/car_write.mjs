// Independent writer: import a file with ipfs-unixfs-importer (kubo --cid-version=1 settings),
// recording each block with the CID the importer gave it, then write them as a CARv1 with
// @ipld/car (root first, like `ipfs dag export`).
// Usage: node car_write.mjs <input> <output.car>; prints {root} as JSON.
import { createReadStream, createWriteStream } from 'node:fs'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { CarWriter } from '@ipld/car/writer'
import { importer } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'

const [input, output] = process.argv.slice(2)
const blocks = []
const blockstore = { put: async (cid, bytes) => { blocks.push({ cid, bytes }); return cid } }
let root
for await (const entry of importer([{ content: createReadStream(input) }], blockstore, {
  cidVersion: 1,
  rawLeaves: true,
  chunker: fixedSize({ chunkSize: 262144 }),
  layout: balanced({ maxChildrenPerNode: 174 }),
  reduceSingleLeafToSelf: true
})) {
  root = entry.cid
}
const { writer, out } = CarWriter.create([root])
const done = pipeline(Readable.from(out), createWriteStream(output))
for (const block of blocks.reverse()) {
  await writer.put(block)
}
await writer.close()
await done
console.log(JSON.stringify({ root: root.toString() }))
