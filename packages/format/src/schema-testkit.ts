/**
 * The format's JSON Schemas (docs/schemas/) loaded into one validator, for the tests that hold the
 * schemas and the code to each other (schemas.test.ts here; packages/cli/src/schemas.e2e.test.ts on
 * a real packed set and a real repository). Tests only: the readers check documents with their own
 * decoders, which also check what a schema cannot say (NFC, sums, order, hashes).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Ajv2020Module from 'ajv/dist/2020.js';
import type { ErrorObject } from 'ajv';

export const SCHEMA_DIR = fileURLToPath(new URL('../../../docs/schemas/', import.meta.url));
const ID = 'bookcrate/format/1/';

export type SchemaName =
  | 'root' | 'volume' | 'signature' | 'part-ref' | 'file-entry' | 'resource-entry' | 'member-entry' | 'chunk-entry'
  | 'pointer-file' | 'pointer';

// ajv is CommonJS: under NodeNext the class is the module object's `default` (it sets both)
const Ajv2020 = Ajv2020Module.default;

export interface SchemaChecker {
  /** The errors of `value` against schema `name`, as "<instance path> <message>" lines; none when valid. */
  errors(name: SchemaName, value: unknown): string[];
  /** The same for a recipe against manifests/recipe.schema.json. */
  recipeErrors(value: unknown): string[];
}

export function loadSchemas(): SchemaChecker {
  // strict: a keyword ajv does not know, or a type left implicit, is an error in the schema itself
  // (strictRequired off: the root's two forms say "layout and not chunks" with required inside not)
  const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true });
  for (const file of readdirSync(SCHEMA_DIR).filter((f) => f.endsWith('.schema.json')).sort()) {
    ajv.addSchema(JSON.parse(readFileSync(SCHEMA_DIR + file, 'utf8')) as object);
  }
  const recipe = JSON.parse(readFileSync(fileURLToPath(new URL('../../../manifests/recipe.schema.json', import.meta.url)), 'utf8')) as object;
  const recipeCheck = ajv.compile(recipe);
  const check = (validate: ReturnType<typeof ajv.compile>, value: unknown): string[] =>
    validate(value) ? [] : (validate.errors ?? []).map((e: ErrorObject) => `${e.instancePath || '/'} ${e.message ?? ''}`);
  return {
    errors: (name, value) => {
      const validate = ajv.getSchema(`${ID}${name}.schema.json`);
      if (!validate) throw new Error(`no schema ${name} in ${SCHEMA_DIR}`);
      return check(validate, value);
    },
    recipeErrors: (value) => check(recipeCheck, value),
  };
}
