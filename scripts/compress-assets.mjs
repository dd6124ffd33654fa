#!/usr/bin/env node
// Writes pre-compressed variants beside the files the service serves from memory (src/http/
// static_files.h): <file>.br (Brotli, quality 11) and <file>.gz (gzip, level 9), with Node's own
// zlib, so that the service sends them to clients that accept them and never compresses itself.
//
// Usage: node scripts/compress-assets.mjs PATH...
//   A directory: every compressible file under it (recursively; names starting with '.' skipped).
//   A file: that file.
//
// Compressible means text by extension (html, js, css, svg, json, map, txt…); images and fonts are
// compressed already. A variant that is not smaller than its file is not written (and an old one is
// removed), since the service would not send it. A variant is rewritten when its file changed: it
// carries its file's modification time, and one that does not match is stale. Files are written
// under a temporary name and renamed, so a reader never sees half a variant.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

const COMPRESSIBLE = new Set([
  '.html', '.htm', '.js', '.mjs', '.cjs', '.css', '.svg', '.json', '.map', '.txt', '.xml',
  '.webmanifest', '.md', '.csv', '.wasm',
]);

const ENCODERS = [
  {
    suffix: '.br',
    encode: (data) =>
      zlib.brotliCompressSync(data, {
        params: {
          [zlib.constants.BROTLI_PARAM_QUALITY]: zlib.constants.BROTLI_MAX_QUALITY,
          [zlib.constants.BROTLI_PARAM_MODE]: zlib.constants.BROTLI_MODE_TEXT,
          [zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length,
        },
      }),
  },
  { suffix: '.gz', encode: (data) => zlib.gzipSync(data, { level: zlib.constants.Z_BEST_COMPRESSION }) },
];

/** Every compressible file under p (or p itself). */
function collect(p, out) {
  const st = fs.statSync(p);
  if (st.isDirectory()) {
    for (const name of fs.readdirSync(p).sort()) {
      if (name.startsWith('.')) continue;
      const child = path.join(p, name);
      const cst = fs.lstatSync(child);
      if (cst.isDirectory() || (cst.isFile() && COMPRESSIBLE.has(path.extname(name).toLowerCase()))) collect(child, out);
    }
  } else if (st.isFile()) {
    out.push(p);
  }
  return out;
}

/** Writes or removes the variants of file; returns [written, kept, removed] counts. */
function compressFile(file) {
  const st = fs.statSync(file);
  let data;
  const counts = [0, 0, 0];
  for (const { suffix, encode } of ENCODERS) {
    const variant = file + suffix;
    const vst = fs.statSync(variant, { throwIfNoEntry: false });
    // utimes keeps milliseconds only: a variant within 1 ms of its file's time is its current one.
    if (vst && Math.abs(vst.mtimeMs - st.mtimeMs) < 1) {
      counts[1]++;
      continue;
    }
    data ??= fs.readFileSync(file);
    const packed = encode(data);
    if (packed.length >= data.length) {
      if (vst) {
        fs.rmSync(variant);
        counts[2]++;
      }
      continue;
    }
    const tmp = `${variant}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, packed);
    fs.utimesSync(tmp, st.atime, st.mtime);
    fs.renameSync(tmp, variant);
    counts[0]++;
  }
  return counts;
}

const args = process.argv.slice(2);
if (args.length === 0 || args.includes('-h') || args.includes('--help')) {
  console.error('usage: node scripts/compress-assets.mjs PATH...');
  process.exit(args.length === 0 ? 2 : 0);
}
const total = [0, 0, 0];
let before = 0;
let after = 0;
for (const arg of args) {
  for (const file of collect(arg, [])) {
    const counts = compressFile(file);
    counts.forEach((n, i) => (total[i] += n));
    const size = fs.statSync(file).size;
    const br = fs.statSync(`${file}.br`, { throwIfNoEntry: false });
    before += size;
    after += br ? br.size : size;
  }
}
console.error(
  `compress-assets: ${total[0]} variants written, ${total[1]} up to date, ${total[2]} removed; ` +
    `${before} bytes → ${after} with Brotli`,
);
