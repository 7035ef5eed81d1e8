// A real, widely used authorization server for tokenward's interop tests: panva's
// oidc-provider (OpenID Certified), configured as a strict OAuth 2.0 provider and run on
// loopback only. See docs/testing.md.
//
//   node server.mjs [--port N] [--config JSON]        (or PORT / OIDC_INTEROP_CONFIG)
//
// Port 0 (the default) takes a free port. Once listening, one line goes to stdout:
//   READY http://127.0.0.1:PORT
// and the issuer is exactly that URL. The configuration (JSON, every key optional):
//   clients            [{client_id, client_secret, redirect_uris, token_endpoint_auth_method,
//                        grant_types}]  (defaults below)
//   accessTokenTtl     seconds (default 60)
//   refreshTokenTtl    seconds (default 14 days)
//   requirePar         true: every client must use RFC 9126 pushed authorization requests
//   account            {sub, name, email}: the claims of every signed-in user (sub = login)
//
// What it does, on purpose:
//   * PKCE S256 required for every client, also confidential ones (RFC 9700 §2.1.1);
//   * refresh tokens issued for any client allowed the refresh_token grant, without
//     offline_access or a consent prompt, and not tied to the browser session;
//   * every refresh rotates the refresh token; presenting a rotated (consumed) one revokes the
//     whole grant: that token, the newest refresh token and every access token (the library's
//     own behaviour, lib/actions/grants/refresh_token.js);
//   * RFC 9207 `iss` on every authorization response, RFC 7009 revocation (a revoked refresh
//     token ends its grant, a revoked access token only itself), RFC 7662 introspection,
//     RFC 9126 PAR, client credentials, RFC 8414 metadata at
//     /.well-known/oauth-authorization-server and the same at /.well-known/openid-configuration;
//   * devInteractions: the library's own login form (any login, any non-empty password) and
//     consent form, plain HTML posts without JavaScript;
//   * a protected resource for "method calls": GET /api/me with `Authorization: Bearer <token>`
//     answers {sub, client_id, scope} for a live access token, else 401 invalid_token.
//     (The OIDC userinfo endpoint /me also works, for tokens with the openid scope.)

import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    config: { type: 'string' },
  },
});

const port = Number(args.port ?? process.env.PORT ?? 0);
const config = JSON.parse(args.config ?? process.env.OIDC_INTEROP_CONFIG ?? '{}');

const DEFAULT_CLIENTS = [
  {
    client_id: 'tokenward-basic',
    client_secret: 'basic-secret-for-interop-tests-only',
    redirect_uris: ['http://127.0.0.1:9/callback'],
    token_endpoint_auth_method: 'client_secret_basic',
  },
  {
    client_id: 'tokenward-post',
    client_secret: 'post-secret-for-interop-tests-only',
    redirect_uris: ['http://127.0.0.1:9/callback'],
    token_endpoint_auth_method: 'client_secret_post',
  },
];

const clients = (config.clients ?? DEFAULT_CLIENTS).map((client) => ({
  grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
  response_types: ['code'],
  // "web" accepts http redirect URIs (loopback here); only implicit would insist on https.
  application_type: 'web',
  ...client,
}));

const account = {
  name: 'Interop User',
  email: 'interop.user@example.com',
  ...(config.account ?? {}),
};

// A signing key of our own: the library's built-in development keys print a warning.
// RS256, the default ID token algorithm of every client.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwks = { keys: [{ ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'interop' }] };

const server = createServer();

server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients,
    jwks,
    findAccount: async (_ctx, sub) => ({
      accountId: sub,
      claims: async () => ({
        sub: account.sub ?? sub,
        name: account.name,
        email: account.email,
        email_verified: true,
      }),
    }),
    claims: {
      openid: ['sub'],
      profile: ['name'],
      email: ['email', 'email_verified'],
    },
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    responseTypes: ['code'],
    cookies: { keys: ['interop-cookie-key-not-secret'] },
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      introspection: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      pushedAuthorizationRequests: {
        enabled: true,
        requirePushedAuthorizationRequests: Boolean(config.requirePar),
      },
    },
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    expiresWithSession: async () => false,
    rotateRefreshToken: () => true,
    clientBasedCORS: () => false,
    ttl: {
      AccessToken: Number(config.accessTokenTtl ?? 60),
      AuthorizationCode: 60,
      ClientCredentials: Number(config.accessTokenTtl ?? 60),
      Grant: 14 * 24 * 3600,
      IdToken: 3600,
      Interaction: 600,
      RefreshToken: Number(config.refreshTokenTtl ?? 14 * 24 * 3600),
      Session: 24 * 3600,
    },
    renderError: async (ctx, out) => {
      ctx.type = 'json';
      ctx.body = out;
    },
  });

  const providerCallback = provider.callback();

  server.on('request', (req, res) => {
    if (new URL(req.url, issuer).pathname === '/api/me') {
      apiMe(provider, req, res).catch((error) => {
        console.error(error);
        send(res, 500, { error: 'server_error' });
      });
      return;
    }
    providerCallback(req, res);
  });

  process.stdout.write(`READY ${issuer}\n`);
});

async function apiMe(provider, req, res) {
  if (req.method !== 'GET') {
    send(res, 405, { error: 'method_not_allowed' });
    return;
  }
  const match = /^Bearer ([^\s]+)$/i.exec(req.headers.authorization ?? '');
  if (!match) {
    send(res, 401, { error: 'invalid_request' }, 'Bearer');
    return;
  }
  const token = (await provider.AccessToken.find(match[1]))
    ?? (await provider.ClientCredentials.find(match[1]));
  const grant = token?.grantId ? await provider.Grant.find(token.grantId) : undefined;
  if (!token || (token.grantId && !grant)) {
    send(res, 401, { error: 'invalid_token' }, 'Bearer error="invalid_token"');
    return;
  }
  send(res, 200, {
    sub: token.accountId ?? null,
    client_id: token.clientId,
    scope: token.scope ?? '',
    kind: token.kind,
  });
}

function send(res, status, body, challenge) {
  const headers = { 'content-type': 'application/json', 'cache-control': 'no-store' };
  if (challenge) headers['www-authenticate'] = challenge;
  res.writeHead(status, headers);
  res.end(JSON.stringify(body));
}

function stop() {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}

process.on('SIGTERM', stop);
process.on('SIGINT', stop);
