// Cross-check vectors for mesh-core's DAG builder, computed by an independent implementation.
//
// The JavaScript UnixFS importer, configured exactly like `ipfs add --cid-version 1` in kubo
// (CIDv1, raw leaves, fixed 262144-byte chunks, balanced layout with 174 links per node, a
// single-chunk file reduced to its raw leaf), computes the root CID of deterministic files.
// The Rust test crates/mesh-core/tests/kubo_cids.rs regenerates the same bytes and must get
// the same CIDs.
//
//   node gen.mjs           rewrite crates/mesh-core/tests/vectors/kubo_cids.json
//   node gen.mjs --check   recompute and compare with the committed JSON; exit 1 on mismatch
//
// Content patterns (the Rust side implements the same two):
//   "xorshift32:SEED"  byte i is the low byte of the (i+1)-th output of xorshift32
//                      (x ^= x << 13; x ^= x >>> 17; x ^= x << 5, on 32 bits) started at SEED.
//                      No two 262144-byte chunks of these files are equal.
//   "zeros"            all bytes zero: every full chunk is the same leaf.

import { readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { importer } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { MemoryBlockstore } from 'blockstore-core/memory'

const CHUNK = 262144
const SEED = 0x9e3779b9
const HERE = dirname(fileURLToPath(import.meta.url))
const OUT = join(HERE, '..', '..', 'crates', 'mesh-core', 'tests', 'vectors', 'kubo_cids.json')

const xs = `xorshift32:${SEED}`
const VECTORS = [
  ['empty', 0, xs],
  ['one-byte', 1, xs],
  ['chunk-minus-one', CHUNK - 1, xs],
  ['one-chunk', CHUNK, xs],
  ['chunk-plus-one', CHUNK + 1, xs],
  ['two-chunks', 2 * CHUNK, xs],
  ['full-node', 174 * CHUNK, xs],
  ['full-node-plus-one', 174 * CHUNK + 1, xs],
  ['two-layers-partial', 175 * CHUNK + 12345, xs],
  ['zeros-three-chunks', 3 * CHUNK, 'zeros'],
  ['zeros-two-and-a-bit', 2 * CHUNK + 7, 'zeros']
]

/** The bytes of a vector, as documented above. */
export function content (size, pattern) {
  const out = new Uint8Array(size)
  if (pattern === 'zeros') return out
  const m = /^xorshift32:(\d+)$/.exec(pattern)
  if (m == null) throw new Error(`unknown pattern ${pattern}`)
  let x = Number(m[1]) >>> 0
  for (let i = 0; i < size; i++) {
    x = (x ^ (x << 13)) >>> 0
    x = (x ^ (x >>> 17)) >>> 0
    x = (x ^ (x << 5)) >>> 0
    out[i] = x & 0xff
  }
  return out
}

/** Root CID of `bytes` as kubo's `ipfs add --cid-version 1` would print it. */
async function kuboCid (bytes) {
  const options = {
    cidVersion: 1,
    rawLeaves: true,
    reduceSingleLeafToSelf: true,
    chunker: fixedSize({ chunkSize: CHUNK }),
    layout: balanced({ maxChildrenPerNode: 174 }),
    fieldOrder: 'links-first',
    wrapWithDirectory: false
  }
  let root
  for await (const entry of importer([{ content: bytes }], new MemoryBlockstore(), options)) {
    root = entry
  }
  return root.cid.toString()
}

async function compute () {
  const rows = []
  for (const [name, size, pattern] of VECTORS) {
    rows.push({ name, size, pattern, cid: await kuboCid(content(size, pattern)) })
  }
  return rows
}

const rows = await compute()
if (process.argv.includes('--check')) {
  const committed = JSON.parse(await readFile(OUT, 'utf8'))
  const want = JSON.stringify(committed, null, 2)
  const got = JSON.stringify(rows, null, 2)
  if (want !== got) {
    console.error(`MISMATCH between ${OUT} and the JS importer:\n--- committed\n${want}\n--- computed\n${got}`)
    process.exit(1)
  }
  console.log(`${rows.length} passed, 0 failed: kubo_cids.json matches the JS importer`)
} else {
  await writeFile(OUT, JSON.stringify(rows, null, 2) + '\n')
  console.log(`wrote ${rows.length} vectors to ${OUT}`)
}
