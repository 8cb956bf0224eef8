// Loaded through the mesh by attach(): proves a verified script ran.
window.meshHelloRan = (window.meshHelloRan || 0) + 1;
document.getElementById('hello').textContent = 'hello.js ran (loaded by CID through the mesh)';
