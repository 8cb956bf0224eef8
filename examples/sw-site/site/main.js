// The service-worker example: this tab joins the election of the site's one mesh node (or
// runs its own with ?nodePerTab=1); the node serves the <img> tags of every tab through the
// service worker in mesh-sw.js. Options come from the query string, so one copy of the site
// runs against any deployment:
//   ?bootstrap=<URL of a bootstrap node's /addrs>&fallbackMs=<ms>&iceServers=<JSON>&nodePerTab=1
//   &worker=1|0 (the node in a dedicated worker or in the window; default: by the core count)
import { startMeshSite } from './mesh-loader/sw.js';

const params = new URLSearchParams(location.search);
const mesh = { manifest: new URL('/.well-known/mesh/manifest.json', location.href).href };
if (params.has('bootstrap')) mesh.bootstrapUrl = params.get('bootstrap');
if (params.has('fallbackMs')) mesh.fallbackMs = Number(params.get('fallbackMs'));
if (params.has('iceServers')) mesh.iceServers = JSON.parse(params.get('iceServers'));
if (params.has('worker')) mesh.worker = params.get('worker') === '1';

const $ = (id) => document.getElementById(id);
$('more').addEventListener('click', () => {
  const img = document.createElement('img');
  img.src = '/img/later.svg';
  img.alt = 'added later';
  document.querySelector('.gallery').append(img);
});

try {
  const site = await startMeshSite({
    serviceWorker: '/mesh-sw.js', nodePerTab: params.get('nodePerTab') === '1', mesh,
  });
  globalThis.site = site; // for the console (and the end-to-end test)
  const show = () => {
    $('status').textContent = site.role === 'leader'
      ? `runs the site's node ${site.peerId}`
      : `served by the node of another tab${site.peerId ? ` (${site.peerId})` : ''}`;
    document.body.dataset.meshRole = site.role;
  };
  site.addEventListener('role', show);
  site.addEventListener('leader', show);
  show();
  setInterval(async () => {
    try {
      $('stats').textContent = JSON.stringify(await site.stats(), null, 2);
    } catch (e) {
      $('stats').textContent = `${e.kind}: ${e.message}`;
    }
  }, 1000);
} catch (e) {
  $('status').textContent = `mesh failed: ${e.kind ?? ''} ${e.message}`;
  document.body.dataset.meshRole = 'error';
}
