/**
 * Request validation with Ajv, in the style of the public API's messages
 * (`body/MSSIDN must match pattern "^0[567][0-9]{8}$"`). Bodies are not coerced (a string is
 * never taken for a number); query strings and path parameters are.
 */
import { Ajv, type ErrorObject } from 'ajv';
import addFormatsImport from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';
import { validationError, type AppError } from '@shahn/contract/core';

// ajv-formats is CommonJS; its default export arrives as the module object in some loaders.
const addFormats = ((addFormatsImport as unknown as { default?: typeof addFormatsImport }).default ?? addFormatsImport) as unknown as (
  ajv: Ajv,
) => Ajv;

function makeAjv(coerce: boolean): Ajv {
  const ajv = new Ajv({
    coerceTypes: coerce ? 'array' : false,
    useDefaults: true,
    removeAdditional: false,
    allErrors: false,
    strict: false,
  });
  addFormats(ajv);
  return ajv;
}

const bodyAjv = makeAjv(false);
const otherAjv = makeAjv(true);

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  const ajv = httpPart === 'body' ? bodyAjv : otherAjv;
  return ajv.compile(schema as object) as ReturnType<FastifySchemaCompiler<unknown>>;
};

type Part = 'body' | 'querystring' | 'params' | 'headers';

function valueAt(root: unknown, pointer: string): unknown {
  if (!pointer) return root;
  let cur: unknown = root;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/** The first Ajv error as the contract's ERR_VALIDATION. */
export function ajvToAppError(errors: ErrorObject[], part: string, input: unknown): AppError {
  const context = (['body', 'querystring', 'params', 'headers'].includes(part) ? part : 'body') as Part;
  const e = errors[0];
  if (!e) return validationError(context, '', 'is not valid');
  const path = e.instancePath.replace(/^\//, '');
  if (e.keyword === 'required') {
    const missing = (e.params as { missingProperty?: string }).missingProperty ?? '';
    const field = path ? `${path}/${missing}` : missing;
    const err = validationError(context, path, `${e.message ?? 'is required'}`, undefined, 'required');
    (err.details as Record<string, unknown>).field = field;
    return err;
  }
  return validationError(context, path, e.message ?? 'is not valid', valueAt(input, e.instancePath), e.keyword);
}
