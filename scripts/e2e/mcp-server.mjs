// A protected MCP server built with the official TypeScript SDK
// (@modelcontextprotocol/sdk), for scripts/e2e-browser: Streamable HTTP with
// sessions at /mcp on 127.0.0.1, guarded by the SDK's bearer middleware
// (401 with `WWW-Authenticate: Bearer ... resource_metadata="..."`), with
// RFC 9728 protected resource metadata naming the authorization server.
// Access tokens are JWTs checked against the issuer's JWKS: issuer,
// audience (this server's URL), expiry and the mcp:tools scope.
//
// Tools: echo {text}, add {a, b}, countdown {steps}; countdown sends a
// notifications/message (and notifications/progress when the call carries a
// progress token) at each step, so notifications to the client can be seen.
//
// Usage: node mcp-server.mjs --port PORT --issuer ISSUER
// Output: one JSON object a line on stdout: every request, every verified
// token, sessions, tool calls and the notifications received from clients;
// first {"event":"ready","url":...}.
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';

import { cjs, esm } from './modules.mjs';

const { values: args } = parseArgs({
  options: { port: { type: 'string' }, issuer: { type: 'string' } },
});
const port = Number(args.port);
const issuer = args.issuer;
if (!Number.isInteger(port) || !issuer) {
  console.error('usage: mcp-server.mjs --port PORT --issuer ISSUER');
  process.exit(2);
}

const sdk = '@modelcontextprotocol/sdk/dist/esm';
const express = cjs('express');
const { Server } = await esm(`${sdk}/server/index.js`);
const { StreamableHTTPServerTransport } = await esm(`${sdk}/server/streamableHttp.js`);
const { requireBearerAuth } = await esm(`${sdk}/server/auth/middleware/bearerAuth.js`);
const { InvalidTokenError } = await esm(`${sdk}/server/auth/errors.js`);
const types = await esm(`${sdk}/types.js`);
const jose = await esm('jose/dist/webapi/index.js');

const log = (event, fields = {}) =>
  process.stdout.write(`${JSON.stringify({ at: Date.now() / 1000, event, ...fields })}\n`);

const origin = `http://127.0.0.1:${port}`;
const url = `${origin}/mcp`;
const scope = 'mcp:tools';
const metadataPath = '/.well-known/oauth-protected-resource/mcp';
const jwks = jose.createRemoteJWKSet(new URL(`${issuer}/jwks`));

// The SDK's verifier contract: AuthInfo, or InvalidTokenError.
const verifier = {
  async verifyAccessToken(token) {
    let payload;
    try {
      ({ payload } = await jose.jwtVerify(token, jwks, { issuer, audience: url }));
    } catch (error) {
      log('token-rejected', { reason: error.code ?? error.message });
      throw new InvalidTokenError(`token rejected: ${error.code ?? error.message}`);
    }
    log('token-accepted', {
      jti: payload.jti,
      client_id: payload.client_id,
      sub: payload.sub,
      scope: payload.scope,
      iat: payload.iat,
      exp: payload.exp,
    });
    return {
      token,
      clientId: payload.client_id,
      scopes: String(payload.scope ?? '').split(' ').filter(Boolean),
      expiresAt: payload.exp,
      resource: new URL(url),
    };
  },
};

const tools = [
  {
    name: 'echo',
    description: 'Returns the given text unchanged',
    inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
  },
  {
    name: 'add',
    description: 'Adds two numbers',
    inputSchema: {
      type: 'object',
      properties: { a: { type: 'number' }, b: { type: 'number' } },
      required: ['a', 'b'],
    },
  },
  {
    name: 'countdown',
    description: 'Counts down, sending a log message (and progress) at each step',
    inputSchema: { type: 'object', properties: { steps: { type: 'integer', minimum: 1, maximum: 20 } } },
  },
];

const text = (value) => ({ content: [{ type: 'text', text: String(value) }] });
const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

function makeServer(session) {
  const server = new Server(
    { name: 'mcp-oauth-e2e', version: '1.0.0' },
    { capabilities: { tools: {}, logging: {} } },
  );
  server.oninitialized = () =>
    log('notification', { session: session(), method: 'notifications/initialized' });
  server.setNotificationHandler(types.RootsListChangedNotificationSchema, () =>
    log('notification', { session: session(), method: 'notifications/roots/list_changed' }),
  );
  server.setRequestHandler(types.ListToolsRequestSchema, () => ({ tools }));
  server.setRequestHandler(types.CallToolRequestSchema, async (request, extra) => {
    const { name, arguments: input = {} } = request.params;
    log('tool-call', { session: session(), name, arguments: input });
    switch (name) {
      case 'echo':
        return text(input.text);
      case 'add':
        return text(Number(input.a) + Number(input.b));
      case 'countdown': {
        const steps = Math.min(Math.max(Number(input.steps ?? 3) || 3, 1), 20);
        const progressToken = request.params._meta?.progressToken;
        for (let step = 1; step <= steps; step++) {
          if (extra.signal.aborted) break;
          await extra.sendNotification({
            method: 'notifications/message',
            params: { level: 'info', logger: 'countdown', data: `countdown step ${step} of ${steps}` },
          });
          if (progressToken !== undefined) {
            await extra.sendNotification({
              method: 'notifications/progress',
              params: { progressToken, progress: step, total: steps },
            });
          }
          await sleep(100, extra.signal);
        }
        if (extra.signal.aborted) {
          log('tool-cancelled', { session: session(), name, request_id: extra.requestId });
          return text('cancelled');
        }
        return text(`countdown finished after ${steps} steps`);
      }
      default:
        throw new types.McpError(types.ErrorCode.InvalidParams, `unknown tool ${name}`);
    }
  });
  return server;
}

const app = express();
app.disable('x-powered-by');
app.use((req, res, next) => {
  res.on('finish', () =>
    log('request', {
      method: req.method,
      path: req.path,
      status: res.statusCode,
      session: req.headers['mcp-session-id'],
      authorization: req.headers.authorization ? 'bearer' : 'none',
      rpc: Array.isArray(req.body) ? req.body.map((m) => m?.method) : req.body?.method,
    }),
  );
  next();
});

app.get(metadataPath, (_req, res) =>
  res.json({
    resource: url,
    authorization_servers: [issuer],
    scopes_supported: [scope],
    bearer_methods_supported: ['header'],
    resource_name: 'mcp-oauth e2e server',
  }),
);

const transports = new Map();
const rpcError = (res, status, code, message) =>
  res.status(status).json({ jsonrpc: '2.0', error: { code, message }, id: null });

app.all(
  '/mcp',
  express.json({ limit: '1mb' }),
  requireBearerAuth({
    verifier,
    requiredScopes: [scope],
    resourceMetadataUrl: `${origin}${metadataPath}`,
    expectedResource: new URL(url),
  }),
  async (req, res) => {
    try {
      const sessionId = req.headers['mcp-session-id'];
      let transport = sessionId ? transports.get(sessionId) : undefined;
      if (!transport) {
        if (sessionId) return rpcError(res, 404, -32001, 'Session not found');
        if (req.method !== 'POST' || !types.isInitializeRequest(req.body)) {
          return rpcError(res, 400, -32000, 'Bad Request: No valid session ID provided');
        }
        transport = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          onsessioninitialized: (id) => {
            transports.set(id, transport);
            log('session-opened', { session: id });
          },
        });
        transport.onclose = () => {
          if (transport.sessionId && transports.delete(transport.sessionId)) {
            log('session-closed', { session: transport.sessionId });
          }
        };
        await makeServer(() => transport.sessionId).connect(transport);
      }
      await transport.handleRequest(req, res, req.body);
    } catch (error) {
      log('error', { message: error.message });
      if (!res.headersSent) rpcError(res, 500, -32603, 'Internal server error');
    }
  },
);

const httpServer = app.listen(port, '127.0.0.1', () => log('ready', { url }));
httpServer.on('error', (error) => {
  console.error(`mcp server: ${error.message}`);
  process.exit(1);
});
const stop = () => {
  for (const transport of transports.values()) transport.close().catch(() => {});
  httpServer.close(() => process.exit(0));
  httpServer.closeAllConnections?.();
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
