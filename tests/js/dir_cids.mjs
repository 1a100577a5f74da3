// dir_cids.mjs — independent reference for nbversion's UnixFS directory CIDs.
//
// Imports a folder from disk with the js-ipfs ipfs-unixfs-importer set up like Kubo's
//   ipfs add -r --cid-version=1 --raw-leaves DIR
// (fixed 262144-byte chunks, raw leaves, balanced layout of at most 174 links per node,
// CIDv1, HAMT sharding once a directory's links are estimated above 256 KiB, dot-files
// skipped as Kubo does without --hidden) and prints JSON: the folder's root CID and the
// CID of every file and folder under it by its path relative to DIR.
//
// Usage (from anywhere, after `npm ci` in tests/js):  node dir_cids.mjs DIR

import { createReadStream, readdirSync, lstatSync } from 'node:fs'
import { basename, join } from 'node:path'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { importer } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'

const OPTIONS = {
  cidVersion: 1,
  rawLeaves: true,
  reduceSingleLeafToSelf: true,
  wrapWithDirectory: false,
  chunker: fixedSize({ chunkSize: 262144 }),
  layout: balanced({ maxChildrenPerNode: 174 }),
  shardSplitThresholdBytes: 262144,
  shardSplitStrategy: 'links-bytes'
}

function * walk (dir, prefix) {
  const names = readdirSync(dir).filter((n) => !n.startsWith('.'))
  if (names.length === 0) yield { path: prefix }  // an empty folder
  for (const name of names) {
    const full = join(dir, name)
    const path = `${prefix}/${name}`
    if (lstatSync(full).isDirectory()) yield * walk(full, path)
    else yield { path, content: createReadStream(full, { highWaterMark: 1 << 20 }) }
  }
}

const root = process.argv[2]
const top = basename(root)
const out = { cids: {} }
for await (const entry of importer(walk(root, top), new MemoryBlockstore(), OPTIONS)) {
  const rel = entry.path === top ? '' : entry.path.slice(top.length + 1)
  out.cids[rel] = entry.cid.toString()
  if (rel === '') out.root = entry.cid.toString()
}
console.log(JSON.stringify(out))
