/**
 * Where the CLI finds control and its API key. Layers, later wins:
 * defaults ← profile file ($XDG_CONFIG_HOME/fetchml/config.json) ← FETCHML_URL / FETCHML_API_KEY ← flags.
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export const DEFAULT_URL = 'http://127.0.0.1:9101';

export interface CliConfig {
  url: string;
  apiKey: string | undefined;
  /** Where the url came from, for error messages. */
  urlSource: 'default' | 'profile' | 'env' | 'flag';
}

export interface Profile {
  url?: string;
  api_key?: string;
}

export function profilePath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : join(env.HOME ?? homedir(), '.config');
  return join(base, 'fetchml', 'config.json');
}

/** Reads the profile; a missing file is an empty profile, a corrupt one is an error that names the file. */
export async function readProfile(path: string): Promise<Profile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`the profile file ${path} is not valid JSON; fix it or run \`fetchml login\` again`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
  const p = parsed as Record<string, unknown>;
  return {
    ...(typeof p.url === 'string' ? { url: p.url } : {}),
    ...(typeof p.api_key === 'string' ? { api_key: p.api_key } : {}),
  };
}

/** Writes the profile atomically with mode 0600 (it holds a secret). */
export async function writeProfile(path: string, profile: Profile): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(profile, null, 2)}\n`, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

/** Checks that a URL is http(s) and returns it without trailing slashes. */
export function normaliseUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new Error(`"${raw}" is not a URL (expected something like ${DEFAULT_URL})`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`"${raw}" must be an http:// or https:// URL`);
  return raw.replace(/\/+$/, '');
}

export async function loadCliConfig(
  flags: { url?: string; apiKey?: string },
  env: NodeJS.ProcessEnv = process.env,
): Promise<CliConfig> {
  const profile = await readProfile(profilePath(env));
  let url = DEFAULT_URL;
  let urlSource: CliConfig['urlSource'] = 'default';
  let apiKey: string | undefined;
  if (profile.url) [url, urlSource] = [profile.url, 'profile'];
  if (profile.api_key) apiKey = profile.api_key;
  if (env.FETCHML_URL) [url, urlSource] = [env.FETCHML_URL, 'env'];
  if (env.FETCHML_API_KEY) apiKey = env.FETCHML_API_KEY;
  if (flags.url) [url, urlSource] = [flags.url, 'flag'];
  if (flags.apiKey) apiKey = flags.apiKey;
  return { url: normaliseUrl(url), apiKey, urlSource };
}
