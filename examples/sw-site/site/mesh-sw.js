// The site's service worker: at the site's root so its scope covers every asset. All of it is
// mesh-loader's worker; the query string of this script's URL (see main.js) configures it.
importScripts('./mesh-loader/sw-worker.js');
