/**
 * A secret a gateway setting points to (a SIM's transfer PIN, an upstream key): `<name>Env` names an
 * environment variable, `<name>File` a file; never the secret itself in the JSON file. Errors name the
 * field, never the value.
 */
import { readFileSync } from 'node:fs';

export interface SecretRead {
  value: string | undefined;
  /** The field it came from (`sims[0].pinEnv`), for errors about its value. */
  field: string;
}

export function readSecretSetting(
  spec: Record<string, unknown>,
  at: string,
  name: string,
  fail: (field: string, what: string) => never,
  secret: (env: string) => string | undefined,
): SecretRead {
  const envKey = `${name}Env`;
  const fileKey = `${name}File`;
  const env = spec[envKey];
  const file = spec[fileKey];
  if (env !== undefined && file !== undefined) fail(at, `takes ${envKey} or ${fileKey}, not both`);
  if (env !== undefined) {
    const field = `${at}.${envKey}`;
    if (typeof env !== 'string' || env === '') fail(field, 'must name an environment variable');
    const value = secret(env as string)?.trim();
    if (!value) fail(field, `the environment variable ${env as string} is not set`);
    return { value, field };
  }
  if (file !== undefined) {
    const field = `${at}.${fileKey}`;
    if (typeof file !== 'string' || file === '') fail(field, 'must be a file path');
    let value: string | undefined;
    try {
      value = readFileSync(file as string, 'utf8').trim();
    } catch (err) {
      fail(field, `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    if (!value) fail(field, 'is empty');
    return { value, field };
  }
  return { value: undefined, field: at };
}
