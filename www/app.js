// Sample site script: fills the asset table from the site manifest when one is served next to
// this page (scripts/demo.sh writes www/mesh-manifest.json). Plain fetch from the origin: the
// peer-to-peer loader that will fetch these assets by CID arrives with a later issue.
"use strict";

const MANIFEST_URL = "mesh-manifest.json";

function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(2)} MiB`;
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

async function showManifest() {
  const status = document.getElementById("manifest-status");
  const body = document.getElementById("assets");
  let manifest;
  try {
    const response = await fetch(MANIFEST_URL, { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    manifest = await response.json();
  } catch (err) {
    status.textContent =
      `No manifest served (${err.message}). Run scripts/demo.sh, then serve www/ over HTTP.`;
    return;
  }
  body.replaceChildren();
  for (const [path, asset] of Object.entries(manifest.assets)) {
    const row = document.createElement("tr");
    const link = document.createElement("a");
    link.href = path.slice(1);
    link.textContent = path;
    const pathCell = document.createElement("td");
    pathCell.append(link);
    row.append(pathCell, cell(asset.type), cell(formatSize(asset.size), "size"), cell(asset.cid, "cid"));
    body.append(row);
  }
  status.textContent = `Manifest version ${manifest.version}: ${body.rows.length} assets.`;
}

document.addEventListener("DOMContentLoaded", showManifest);
