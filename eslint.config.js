// ESLint flat config. The rule that matters most here is the import boundary:
// src/core must stay framework-free (no React, DOM-bound libraries, simple-peer,
// webtorrent, idb, adapters or UI), so it runs in Node and in the tab alike.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

const coreForbidden = {
  paths: ['react', 'react-dom', 'zustand', 'idb', 'simple-peer', 'webtorrent', 'ws', 'fake-indexeddb'].map((name) => ({
    name,
    message: 'src/core is framework-free: it gets the real world through ports (src/core/ports.ts).',
  })),
  patterns: [
    {
      group: ['**/adapters/**', '**/ui/**', 'react-dom/*', 'zustand/*', 'idb/*', 'node:*'],
      message: 'src/core may not import adapters, UI or platform modules.',
    },
  ],
}

// The core proper must not depend on its test doubles (src/core/testing/ is for tests and the simulation).
const coreProperForbidden = {
  paths: coreForbidden.paths,
  patterns: [
    ...coreForbidden.patterns,
    {
      group: ['**/testing', '**/testing/**', './testing', './testing/**'],
      message: 'Only tests and src/core/testing itself may import src/core/testing.',
    },
  ],
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test-results/**', 'playwright-report/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2022, sourceType: 'module' },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // The service worker is plain JavaScript in the worker's global scope.
    files: ['public/sw.js'],
    languageOptions: {
      globals: { self: 'readonly', caches: 'readonly', fetch: 'readonly', Response: 'readonly', URL: 'readonly' },
    },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', coreForbidden],
      'no-restricted-globals': [
        'error',
        ...[
          'window',
          'document',
          'indexedDB',
          'localStorage',
          'sessionStorage',
          'navigator',
          'location',
          'performance',
        ].map((name) => ({
          name,
          message: 'src/core gets its world through ports; no browser globals.',
        })),
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'Use the Clock port.' },
        { object: 'Math', property: 'random', message: 'Use the Rng port.' },
      ],
    },
  },
  {
    files: ['src/core/**/*.ts'],
    ignores: ['src/core/testing/**'],
    rules: {
      'no-restricted-imports': ['error', coreProperForbidden],
    },
  },
  {
    // An app's module (app.ts and its helpers) is framework-free like the core: it runs in the
    // simulation in Node. Only its panel (panel.tsx) may use React and the UI kit.
    files: ['src/apps/**/*.ts'],
    ignores: ['src/apps/**/*.test.ts', 'src/apps/index.ts'],
    rules: {
      'no-restricted-imports': ['error', coreProperForbidden],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'Use ctx.clock.' },
        { object: 'Math', property: 'random', message: 'Use ctx.rng.' },
      ],
    },
  },
  {
    files: ['src/ui/**/*.tsx', 'src/ui/**/*.ts', 'src/apps/**/*.tsx'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: "JSXAttribute[name.name='dangerouslySetInnerHTML']", message: 'Never render strings as HTML.' },
      ],
    },
  },
)
