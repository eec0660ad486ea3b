/**
 * The crew app's service worker (served as /crew/sw.js, scope /crew): keeps the app's shell — the
 * page, its scripts and styles, Leaflet — so that the tablet opens the app without a connection.
 * The shell is fetched from the network first (a new version shows at once) and from the cache
 * when the network fails. API calls are never cached: the outbox in the page holds the presses.
 */

const CACHE = 'amb-crew-v1';
const SHELL = [
  '/crew',
  '/static/crew.css',
  '/static/crew.js',
  '/static/crew_queue.js',
  '/static/crew_tracker.js',
  '/static/crew_strings.js',
  '/static/api.js',
  '/static/dom.js',
  '/static/format.js',
  '/static/i18n.js',
  '/static/map.js',
  '/static/config.js',
  '/static/status.js',
  '/static/crew-icon.svg',
  '/static/vendor/leaflet/leaflet.js',
  '/static/vendor/leaflet/leaflet.css',
];

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith('/api/')) return; // live data only, never from a cache
  const key = url.pathname === '/crew' ? '/crew' : url.pathname;
  if (!SHELL.includes(key)) return;
  event.respondWith(
    fetch(event.request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(key, copy));
        }
        return response;
      })
      .catch(() => caches.match(key).then((hit) => hit ?? Response.error())),
  );
});
