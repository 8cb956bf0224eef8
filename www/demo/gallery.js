// The gallery's script, loaded through the mesh (a <script data-cid> that demo.js adds): click
// an image to enlarge it. It counts its runs in window.galleryScriptRan, so tests can check it
// ran exactly once.
(() => {
  window.galleryScriptRan = (window.galleryScriptRan ?? 0) + 1;
  const gallery = document.getElementById('gallery');
  gallery.addEventListener('click', (e) => {
    const img = e.target.closest('img');
    const zoomed = gallery.querySelector('img.zoomed');
    zoomed?.classList.remove('zoomed');
    gallery.classList.remove('enlarged');
    if (img && img !== zoomed) {
      img.classList.add('zoomed');
      gallery.classList.add('enlarged');
    }
  });
})();
