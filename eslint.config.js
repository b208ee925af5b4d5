import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', 'proto/gen/**', 'coverage/**', 'clients/ts/docs/api/**'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    // Type-aware: each .ts file is linted with the tsconfig that owns it (a package's own
    // tsconfig.json for its src/, the root tsconfig.json for tests, scripts and benchmarks).
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
  },
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      // Every promise is awaited, returned, or given a rejection path (`.catch`, the second
      // argument of `.then`). `ignoreVoid: false`: `void p` does not count as handling it.
      '@typescript-eslint/no-floating-promises': ['error', { ignoreVoid: false }],
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      // Numbers read well in messages and URLs; every other non-string still has to be explicit.
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        {
          allowNumber: true,
          allowAny: false,
          allowBoolean: false,
          allowNullish: false,
          allowRegExp: false,
          allowNever: false,
        },
      ],
      // `(resolve) => server.close(resolve)` and `return fail(err)` in a void callback are idiomatic
      // Node; what stays an error is using a void result as a value.
      '@typescript-eslint/no-confusing-void-expression': [
        'error',
        { ignoreArrowShorthand: true, ignoreVoidReturningFunctions: true },
      ],
      // Off: TypeScript keeps a narrowing across awaits and callbacks, so every re-check of an abort
      // signal or a `settled` flag that another callback sets reads as "always falsy" here.
      '@typescript-eslint/no-unnecessary-condition': 'off',
      // An `async` implementation of a Promise-returning interface needs no await: `async` is what
      // turns its throws into rejections.
      '@typescript-eslint/require-await': 'off',
      // @kubernetes/client-node's models are data-only classes its API methods take as plain
      // object literals (the library's own usage); the client serializes them by field name.
      '@typescript-eslint/no-unsafe-class-instance-assignment': 'off',
      'no-console': 'off',
    },
  },
  {
    // @types/jest types the asymmetric matchers (expect.objectContaining, expect.any) as `any`,
    // so every one nested in an expected object literal would count as an unsafe assignment.
    files: ['**/test/**/*.ts'],
    rules: { '@typescript-eslint/no-unsafe-assignment': 'off' },
  },
  {
    // The JavaScript configs and scripts are in no tsconfig: lint them without type information.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    extends: [tseslint.configs.disableTypeChecked],
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly' } },
  },
);
