// car_check.mjs — independent checker for CAR files written by nbversion.
//
// Reads a CAR with @ipld/car and prints one JSON object to stdout:
//   version, roots, blocks (all blocks, duplicates included),
//   bad_hashes  (CIDs whose bytes do not hash to their sha2-256 multihash;
//                a CID with any other hash function is reported too),
//   duplicates  (number of blocks whose CID already appeared earlier),
//   missing     (CIDs reachable from the roots — roots included — that are
//                not in the CAR; dag-cbor and dag-pb blocks are decoded for links),
//   undecodable (dag-cbor / dag-pb blocks that fail to decode),
//   codecs      ({"<decimal codec code>": count}, e.g. "85" raw, "112" dag-pb, "113" dag-cbor),
//   files       (for each FILE_CID argument, the UnixFS file read back with
//                ipfs-unixfs-exporter: {"size", "sha256"}, or {"error"}).
// A malformed or truncated CAR prints {"error": "<message>"} and exits 1.
//
// Usage: node car_check.mjs FILE.car [FILE_CID ...]

import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { CarBlockIterator } from '@ipld/car/iterator'
import * as dagCbor from '@ipld/dag-cbor'
import * as dagPb from '@ipld/dag-pb'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { exporter } from 'ipfs-unixfs-exporter'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'

const IDENTITY = 0x00

// Every CID inside a decoded dag-cbor value (maps, lists, nested).
function * cborLinks (value) {
  const cid = CID.asCID(value)
  if (cid) {
    yield cid
  } else if (Array.isArray(value)) {
    for (const v of value) yield * cborLinks(v)
  } else if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    for (const v of Object.values(value)) yield * cborLinks(v)
  }
}

function links (cid, bytes) {
  if (cid.code === dagCbor.code) return [...cborLinks(dagCbor.decode(bytes))]
  if (cid.code === dagPb.code) return dagPb.decode(bytes).Links.map(l => l.Hash)
  return [] // raw (0x55) and anything else: no links followed
}

async function check (path, fileCids) {
  const car = await CarBlockIterator.fromBytes(await readFile(path))
  const roots = await car.getRoots()
  const blocks = new Map() // cid string -> bytes (first occurrence)
  const out = {
    version: car.version,
    roots: roots.map(String),
    blocks: 0,
    bad_hashes: [],
    duplicates: 0,
    missing: [],
    undecodable: [],
    codecs: {},
    files: {}
  }

  // 1. Read every block (this is where a truncated/malformed CAR throws).
  for await (const { cid, bytes } of car) {
    out.blocks++
    out.codecs[cid.code] = (out.codecs[cid.code] ?? 0) + 1
    const key = cid.toString()
    if (blocks.has(key)) { out.duplicates++; continue }
    blocks.set(key, bytes)
    const ok = cid.multihash.code === sha256.code &&
      Buffer.from((await sha256.digest(bytes)).digest).equals(Buffer.from(cid.multihash.digest))
    if (!ok) out.bad_hashes.push(key)
  }

  // 2. Walk the DAG from the roots; links to absent blocks are "missing".
  const seen = new Set()
  const queue = [...roots]
  while (queue.length > 0) {
    const cid = queue.shift()
    const key = cid.toString()
    if (seen.has(key)) continue
    seen.add(key)
    if (cid.multihash.code === IDENTITY) continue // content is inline in the CID
    const bytes = blocks.get(key)
    if (bytes === undefined) { out.missing.push(key); continue }
    try {
      queue.push(...links(cid, bytes))
    } catch (err) {
      out.undecodable.push(key)
    }
  }

  // 3. Read each requested UnixFS file back through ipfs-unixfs-exporter.
  const store = new MemoryBlockstore()
  for (const [key, bytes] of blocks) await store.put(CID.parse(key), bytes)
  for (const arg of fileCids) {
    try {
      const entry = await exporter(CID.parse(arg), store)
      if (!['file', 'raw', 'identity'].includes(entry.type)) throw new Error(`not a file: ${entry.type}`)
      const hash = createHash('sha256')
      let size = 0
      for await (const chunk of entry.content()) { hash.update(chunk); size += chunk.length }
      out.files[arg] = { size, sha256: hash.digest('hex') }
    } catch (err) {
      out.files[arg] = { error: String(err?.message ?? err) }
    }
  }
  return out
}

const [path, ...fileCids] = process.argv.slice(2)
if (!path) {
  console.error('usage: node car_check.mjs FILE.car [FILE_CID ...]')
  process.exit(2)
}
try {
  console.log(JSON.stringify(await check(path, fileCids)))
} catch (err) {
  console.log(JSON.stringify({ error: String(err?.message ?? err) }))
  process.exit(1)
}
