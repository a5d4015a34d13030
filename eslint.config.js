// Lint rules, including the import boundaries of design.md §8.6: the pure
// folders (model, inventory, render, plan) reach no database, node, process
// or file writer, and only state/, transport/ and git/ talk to the world.
import js from '@eslint/js'
import globals from 'globals'
import tseslint from 'typescript-eslint'

const PURE = ['src/model/**', 'src/inventory/**', 'src/render/**', 'src/plan/**']
const SIDE_EFFECTS = [
  {name: 'pg', message: 'only src/state talks to the database'},
  {name: '@electric-sql/pglite', message: 'only src/state talks to the database'},
  {name: 'node-ssh', message: 'only src/transport talks to nodes'},
  {name: 'simple-git', message: 'only src/git runs git'},
  {name: 'execa', message: 'only src/state, src/transport and src/git spawn processes'},
  {name: 'node:child_process', message: 'only src/state, src/transport and src/git spawn processes'},
]
const PURE_ONLY = [
  {name: 'node:net', message: 'pure modules do no network I/O'},
  {name: 'node:http', message: 'pure modules do no network I/O'},
  {name: 'node:fs/promises', message: 'pure modules do no file I/O'},
  {name: 'chalk', message: 'presentation lives in src/views'},
  {name: '@oclif/core', message: 'commands live in src/commands'},
]

export default tseslint.config(
  {ignores: ['dist/', 'node_modules/', 'coverage/', 'out/', 'test/golden/', 'schemas/']},
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {globals: {...globals.node}},
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_'}],
      '@typescript-eslint/consistent-type-imports': ['error', {fixStyle: 'inline-type-imports'}],
      'no-control-regex': 'off',
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: PURE,
    rules: {'no-restricted-imports': ['error', {paths: SIDE_EFFECTS}]},
  },
  {
    files: ['src/commands/**', 'src/views/**', 'src/app/**', 'src/cli/**', 'src/apply/**'],
    rules: {'no-restricted-imports': ['error', {paths: SIDE_EFFECTS}]},
  },
  {
    files: ['src/state/**', 'src/transport/**', 'src/git/**', 'src/crypto/**'],
    rules: {'no-restricted-imports': 'off'},
  },
  {
    files: PURE,
    rules: {
      'no-restricted-imports': [
        'error',
        {paths: [...SIDE_EFFECTS, ...PURE_ONLY, {name: 'node:fs', message: 'pure modules do no file I/O'}]},
      ],
    },
  },
  {
    // Reading the package's own templates is the one file access render/ does.
    files: ['src/render/templates.ts'],
    rules: {'no-restricted-imports': ['error', {paths: [...SIDE_EFFECTS, ...PURE_ONLY]}]},
  },
)
