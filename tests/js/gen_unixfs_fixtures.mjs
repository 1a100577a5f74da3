// gen_unixfs_fixtures.mjs — independent reference for nbversion's UnixFS CIDs.
//
// Imports deterministic payloads (byte i = i % 251) with the js-ipfs
// ipfs-unixfs-importer, configured like Kubo's
//   ipfs add --cid-version=1 --raw-leaves
// (fixed-size 262144-byte chunks, raw leaves, CIDv1, sha2-256, balanced layout
// with at most 174 links per node, a single-chunk file is its raw leaf, no
// wrapping directory), and writes the root CIDs to
// tests/fixtures/unixfs_cids.json for the Python tests to compare against.
//
// Usage (from tests/js, after `npm ci`):  node gen_unixfs_fixtures.mjs [OUT.json]

import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { importer } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import * as raw from 'multiformats/codecs/raw'
import * as dagPb from '@ipld/dag-pb'

const CHUNK = 262144
const MAX_LINKS = 174
const MOD = 251
const EMPTY_RAW_CID = 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'

const SIZES = [
  0, 1, 1000, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK,
  MAX_LINKS * CHUNK - 1, MAX_LINKS * CHUNK, MAX_LINKS * CHUNK + 1,
  175 * CHUNK, 2 * MAX_LINKS * CHUNK, 2 * MAX_LINKS * CHUNK + 1,
  400 * CHUNK + 12345
]

const here = dirname(fileURLToPath(import.meta.url))
const outPath = process.argv[2] ?? resolve(here, '../fixtures/unixfs_cids.json')

// The payload, streamed in 1 MiB pieces: byte i = i % 251.
function * payload (size) {
  const PIECE = 1 << 20
  for (let off = 0; off < size; off += PIECE) {
    const buf = new Uint8Array(Math.min(PIECE, size - off))
    for (let j = 0; j < buf.length; j++) buf[j] = (off + j) % MOD
    yield buf
  }
}

// Kubo `ipfs add --cid-version=1 --raw-leaves` equivalent importer options.
const OPTIONS = {
  cidVersion: 1,
  rawLeaves: true,
  reduceSingleLeafToSelf: true,
  wrapWithDirectory: false,
  chunker: fixedSize({ chunkSize: CHUNK }),
  layout: balanced({ maxChildrenPerNode: MAX_LINKS })
}

async function rootCid (size) {
  const blockstore = new MemoryBlockstore()
  let last
  for await (const entry of importer([{ content: payload(size) }], blockstore, OPTIONS)) {
    last = entry
  }
  // Distinct blocks actually stored (identical leaves are stored once).
  let blocks = 0
  for await (const _ of blockstore.getAll()) blocks++ // eslint-disable-line no-unused-vars
  return { cid: last.cid, blocks }
}

function versionOf (pkg) {
  const json = JSON.parse(readFileSync(resolve(here, 'node_modules', pkg, 'package.json'), 'utf8'))
  return `${pkg}@${json.version}`
}

const vectors = []
for (const size of SIZES) {
  const { cid, blocks } = await rootCid(size)
  const expectedCodec = size <= CHUNK ? raw.code : dagPb.code
  if (cid.version !== 1 || cid.code !== expectedCodec || cid.multihash.code !== 0x12) {
    throw new Error(`size ${size}: unexpected CID ${cid} (codec 0x${cid.code.toString(16)})`)
  }
  if (size === 0 && cid.toString() !== EMPTY_RAW_CID) {
    throw new Error(`empty file gave ${cid}, expected ${EMPTY_RAW_CID}`)
  }
  console.error(`${String(size).padStart(10)}  ${cid}  blocks=${blocks}`)
  vectors.push({ size, cid: cid.toString(), blocks })
}

const doc = {
  pattern: 'byte i = i % 251',
  chunk_size: CHUNK,
  max_links: MAX_LINKS,
  generator: ['ipfs-unixfs-importer', 'blockstore-core', '@ipld/dag-pb', 'multiformats']
    .map(versionOf).join(', '),
  vectors
}
writeFileSync(outPath, JSON.stringify(doc, null, 2) + '\n')
console.error(`wrote ${outPath}`)
