// Reads the JSON-lines logs of auth-server.mjs and mcp-server.mjs for
// scripts/e2e-browser.
//
// Usage: node events.mjs FILE FROM [KEY=VALUE | KEY!=VALUE ...] [--get KEY]
// Counts the lines after the first FROM lines whose fields equal every
// KEY=VALUE and differ from every KEY!=VALUE (compared as text); with --get,
// prints KEY of the last such line instead (nothing when there is none).
import fs from 'node:fs';

const [file, from, ...rest] = process.argv.slice(2);
const get = rest.includes('--get') ? rest[rest.indexOf('--get') + 1] : undefined;
const filters = rest
  .filter((arg, i) => arg !== '--get' && rest[i - 1] !== '--get')
  .map((arg) => {
    const at = arg.indexOf('=');
    const negated = arg[at - 1] === '!';
    return [arg.slice(0, negated ? at - 1 : at), arg.slice(at + 1), negated];
  });

const matching = fs
  .readFileSync(file, 'utf8')
  .split('\n')
  .slice(Number(from) || 0)
  .flatMap((line) => {
    try {
      return [JSON.parse(line)];
    } catch {
      return [];
    }
  })
  .filter((event) =>
    filters.every(([key, value, negated]) => (String(event[key]) === value) !== negated),
  );

if (get === undefined) {
  console.log(matching.length);
} else if (matching.length > 0) {
  const value = matching[matching.length - 1][get];
  console.log(typeof value === 'string' ? value : JSON.stringify(value));
}
