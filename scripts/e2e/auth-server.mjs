// A real OpenID Provider (the npm package oidc-provider) on loopback, for
// scripts/e2e-browser. Its issuer has a path (/oidc); dynamic registration is
// open; PKCE (S256) is required; resource indicators are on and the MCP URL
// is the only resource, whose access tokens are JWTs with that URL as the
// audience and a short lifetime; refresh tokens follow oidc-provider's own
// policy (offline_access with consent). Login and consent are
// oidc-provider's development pages (any login and password).
//
// Usage: node auth-server.mjs --port PORT --resource MCP_URL --access-ttl SECONDS
// Output: one JSON object a line on stdout: every request, oidc-provider's
// events (registration, authorization, grants, errors), and first
// {"event":"ready","issuer":...}.
import crypto from 'node:crypto';
import { parseArgs } from 'node:util';

import { cjs, esm } from './modules.mjs';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    resource: { type: 'string' },
    'access-ttl': { type: 'string', default: '15' },
  },
});
const port = Number(args.port);
const resource = args.resource;
const accessTtl = Number(args['access-ttl']);
if (!Number.isInteger(port) || !resource || !(accessTtl > 0)) {
  console.error('usage: auth-server.mjs --port PORT --resource MCP_URL --access-ttl SECONDS');
  process.exit(2);
}

const express = cjs('express');
const { default: Provider, errors } = await esm('oidc-provider/lib/index.js');

const log = (event, fields = {}) =>
  process.stdout.write(`${JSON.stringify({ at: Date.now() / 1000, event, ...fields })}\n`);

const mount = '/oidc';
const issuer = `http://127.0.0.1:${port}${mount}`;
const scope = 'mcp:tools';
// A signing key made at start: the MCP server reads it from the JWKS.
const signingKey = {
  ...crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
  kid: 'e2e-rs256',
  alg: 'RS256',
  use: 'sig',
};

const provider = new Provider(issuer, {
  jwks: { keys: [signingKey] },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  // offline_access is oidc-provider's way to a refresh token; mcp:tools is
  // listed so that a registration may name it.
  scopes: ['openid', 'offline_access', scope],
  // PKCE for every client, public or not (S256 is the only method it knows).
  pkce: { required: () => true },
  ttl: {
    AccessToken: accessTtl,
    AuthorizationCode: 60,
    Grant: 3600,
    Interaction: 600,
    RefreshToken: 3600,
    Session: 3600,
  },
  features: {
    devInteractions: { enabled: true },
    registration: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, indicator) => {
        if (indicator !== resource) throw new errors.InvalidTarget(`unknown resource ${indicator}`);
        return {
          scope,
          audience: resource,
          accessTokenTTL: accessTtl,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  // Any login works on the development pages; the account is its name.
  findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
});

const clientOf = (ctx) => ctx?.oidc?.client?.clientId;
const events = {
  'registration_create.success': (ctx, client) => ({
    client_id: client.clientId,
    application_type: client.applicationType,
    token_endpoint_auth_method: client.tokenEndpointAuthMethod,
    redirect_uris: client.redirectUris,
    grant_types: client.grantTypes,
  }),
  'authorization.accepted': (ctx) => ({
    client_id: clientOf(ctx),
    scope: ctx.oidc.params.scope,
    resource: ctx.oidc.params.resource,
    prompt: ctx.oidc.params.prompt,
    code_challenge_method: ctx.oidc.params.code_challenge_method,
  }),
  'authorization.success': (ctx) => ({ client_id: clientOf(ctx) }),
  'grant.success': (ctx) => ({
    client_id: clientOf(ctx),
    grant_type: ctx.oidc.params.grant_type,
    resource: ctx.oidc.params.resource,
    scope: ctx.body?.scope,
    refresh_token_issued: Boolean(ctx.body?.refresh_token),
    expires_in: ctx.body?.expires_in,
  }),
  'refresh_token.consumed': () => ({}),
  'grant.revoked': () => ({}),
};
for (const [name, describe] of Object.entries(events)) {
  provider.on(name, (...params) => log(name, describe(...params)));
}
for (const name of [
  'authorization.error',
  'grant.error',
  'registration_create.error',
  'server_error',
  'revocation.error',
  'discovery.error',
  'jwks.error',
]) {
  provider.on(name, (ctx, error) =>
    log(name, { error: error?.error ?? error?.name, description: error?.error_description ?? error?.message }),
  );
}

const app = express();
app.disable('x-powered-by');
app.use((req, res, next) => {
  res.on('finish', () => log('request', { method: req.method, path: req.originalUrl.split('?')[0], status: res.statusCode }));
  next();
});
app.use(mount, provider.callback());

const server = app.listen(port, '127.0.0.1', () => log('ready', { issuer }));
server.on('error', (error) => {
  console.error(`auth server: ${error.message}`);
  process.exit(1);
});
const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
