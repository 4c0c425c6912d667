import { defineConfig } from 'vite';

// cofferd serves the bundle under /console/ and embeds console/dist at cargo build time, so the
// output is committed and must be reproducible (console/check-dist.sh rebuilds and compares).
// The CSP allows only 'self' scripts and styles: no inline script, no inline style.
export default defineConfig({
  base: '/console/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: 'es2022',
    reportCompressedSize: false,
  },
  server: {
    // `npm run dev` against a local cofferd: COFFERD_URL=http://127.0.0.1:4000 npx vite
    proxy: process.env.COFFERD_URL ? { '/console/api': process.env.COFFERD_URL } : undefined,
  },
});
