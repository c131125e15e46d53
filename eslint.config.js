// Lint rules for the TypeScript sources, the tests and the bench scripts. Type-aware rules
// are on only where a mistake is a real bug that tsc does not catch (a promise nobody
// awaits, an await on a non-promise); the rest is typescript-eslint's recommended set.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/results/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['vitest.config.ts'] },
        tsconfigRootDir: import.meta.dirname,
      },
      globals: { ...globals.node },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
    },
  },
  {
    // A maintainer reads a function in one sitting. The few longer ones are tables (one
    // command, metric or event type per entry) and say so where they start.
    files: ['src/**/*.ts'],
    rules: { 'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }] },
  },
  {
    // The dashboard's browser modules: tsc sees Node's types everywhere in src/, so Node's
    // globals are refused here by name.
    files: ['src/producer/http/dashboard/**/*.ts'],
    rules: { 'no-restricted-globals': ['error', 'process', 'Buffer', 'require', '__dirname', '__filename', 'global', 'setImmediate'] },
  },
  {
    files: ['**/*.mjs', '**/*.js', 'bin/*'],
    languageOptions: { globals: { ...globals.node } },
  },
  {
    // CommonJS: the fixture app (run by the tests as a user's program would be) and tool configs.
    files: ['test/fixtures/**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      'no-unused-vars': 'off',
      // Control characters in regexes are deliberate: they strip ANSI colour codes.
      'no-control-regex': 'off',
      // `let text = ''; try { text = read() } catch { continue }` is the house pattern for
      // files that may vanish under us; the initial value is there for the reader.
      'no-useless-assignment': 'off',
    },
  },
);
