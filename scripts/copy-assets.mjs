// Copies the non-TypeScript files the built program reads at run time into dist/.
import { cpSync, existsSync, mkdirSync, chmodSync } from 'node:fs';
const assets = [['control/openapi.yaml', 'dist/control/openapi.yaml'], ['test/fixtures', 'dist/test/fixtures'], ['agent/runtime/launcher.py', 'dist/agent/runtime/launcher.py']];
for (const [from, to] of assets) {
  if (!existsSync(from)) continue;
  mkdirSync(to.split('/').slice(0, -1).join('/'), { recursive: true });
  cpSync(from, to, { recursive: true });
}
if (existsSync('dist/bin/fetchml.js')) chmodSync('dist/bin/fetchml.js', 0o755);
