// ESLint (flat config) for all of Pinhole's JavaScript: the browser app, the Node test tiers and
// the benchmarks. Run: `make test-lint` (or `node_modules/.bin/eslint .`).
import js from '@eslint/js';
import globals from 'globals';

export default [
  { ignores: ['build/', 'node_modules/', 'target/', 'fuzz/', '.wrangler/'] },
  js.configs.recommended,
  {
    languageOptions: { ecmaVersion: 'latest', sourceType: 'module' },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },
  { files: ['public/**/*.js'], languageOptions: { globals: globals.browser } },
  { files: ['eslint.config.js', 'tests/**/*.mjs', 'bench/**/*.mjs'], languageOptions: { globals: globals.node } },
  {
    // Functions passed to page.evaluate() / addInitScript() run in the page, not in Node.
    files: ['tests/browser/**/*.mjs', 'tests/support/browser*.mjs', 'bench/browser-*.mjs', 'bench/profile.mjs'],
    languageOptions: { globals: globals.browser },
  },
  {
    // A Cloudflare Worker: service-worker globals plus the Workers runtime's own.
    files: ['bench/baseline/**/*.js'],
    languageOptions: { globals: { ...globals.serviceworker, WebSocketPair: 'readonly', WebSocketRequestResponsePair: 'readonly' } },
  },
];
