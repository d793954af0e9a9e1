// Loads the npm packages that scripts/e2e-browser installs outside the
// checkout: MCP_OAUTH_E2E_MODULES names the folder that holds node_modules.
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const prefix = process.env.MCP_OAUTH_E2E_MODULES;
if (!prefix) {
  throw new Error('MCP_OAUTH_E2E_MODULES must name the folder that holds node_modules');
}
const modules = path.join(prefix, 'node_modules');
const requireFromPrefix = createRequire(path.join(prefix, 'package.json'));

/** A CommonJS package (or one with a `require` export), by name. */
export const cjs = (name) => requireFromPrefix(name);

/** An ES module, by its file inside node_modules (exact: versions are pinned). */
export const esm = (file) => import(pathToFileURL(path.join(modules, file)).href);
