// The site's service worker: at the site's root so its scope covers every asset. All of it is
// mesh-loader's worker. A query string on this script's URL would configure it (`manifest`,
// `timeoutMs`); main.js registers it without one, so the defaults apply.
importScripts('./mesh-loader/sw-worker.js');
