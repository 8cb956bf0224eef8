// Builds dist/: the page (src/) and the installed package (node_modules/mesh-loader/ →
// dist/mesh-loader/), ready for any static file server. No bundler involved.
import { cpSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');
const pkg = dirname(createRequire(import.meta.url).resolve('mesh-loader/package.json'));
rmSync(dist, { recursive: true, force: true });
cpSync(join(here, 'src'), dist, { recursive: true });
cpSync(pkg, join(dist, 'mesh-loader'), { recursive: true, filter: (src) => !src.endsWith('.d.ts') });
console.log(`built ${dist} (mesh-loader from ${pkg})`);
