// A real OpenID Connect provider for packyard's tests: panva's oidc-provider (npm,
// major version 8, the last one supporting Node.js 20) on http://127.0.0.1:PORT, with
// one confidential client, users read from a JSON file, and signing keys read from a
// JWKS file. testkit's `OidcProvider` writes the files and starts this script.
//
//   node provider.mjs serve CONFIG.json
//   node provider.mjs generate-key KID     prints a fresh private RSA JWK (RS256)
//
// CONFIG.json:
//   {
//     "port": 43210,
//     "client": { "client_id", "client_secret", "redirect_uris": [...],
//                 "post_logout_redirect_uris": [...],
//                 "token_endpoint_auth_method": "client_secret_basic" | "client_secret_post" },
//     "users_file": "/tmp/.../users.json",
//     "jwks_file": "/tmp/.../jwks.json"
//   }
//
// users.json, read again at every login and every claims lookup (tests may rewrite it
// while the provider runs):
//   [{ "id", "username", "password", "email", "email_verified", "name", "groups": [] }]
//
// jwks.json: { "keys": [private JWKs] }; the first key signs, all are published.
//
// The oidc-provider package is located through PACKYARD_TEST_OIDC_PROVIDER, the
// node_modules directory scripts/test installs it into.
//
// The login page is this script's own (devInteractions are off): a form posting
// `username` and `password` to /interaction/UID/login, checked against users.json.
// Consent is never asked (loadExistingGrant grants what is requested) unless the
// client asks for it with prompt=consent: then a form posting to /interaction/UID/confirm.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const [command, argument] = process.argv.slice(2);

if (command === 'generate-key') {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  process.stdout.write(`${JSON.stringify({ ...jwk, kid: argument || crypto.randomUUID(), alg: 'RS256', use: 'sig' })}\n`);
  process.exit(0);
}

if (command !== 'serve' || !argument) {
  process.stderr.write('usage: node provider.mjs serve CONFIG.json | generate-key KID\n');
  process.exit(2);
}

const modules = process.env.PACKYARD_TEST_OIDC_PROVIDER;
if (!modules) {
  process.stderr.write('PACKYARD_TEST_OIDC_PROVIDER (the node_modules directory holding oidc-provider) is not set\n');
  process.exit(2);
}
const entry = createRequire(path.join(modules, 'packyard-test.cjs')).resolve('oidc-provider');
const { default: Provider, errors } = await import(pathToFileURL(entry).href);

const config = JSON.parse(fs.readFileSync(argument, 'utf8'));
const issuer = `http://127.0.0.1:${config.port}`;

const readUsers = () => JSON.parse(fs.readFileSync(config.users_file, 'utf8'));
const userById = (id) => readUsers().find((user) => user.id === id);

const escape = (value) => String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const page = (title, body) => `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${escape(title)}</title></head>
<body>
<h1>${escape(title)}</h1>
${body}
</body>
</html>
`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: config.client.client_id,
    client_secret: config.client.client_secret,
    redirect_uris: config.client.redirect_uris,
    post_logout_redirect_uris: config.client.post_logout_redirect_uris || [],
    response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: config.client.token_endpoint_auth_method || 'client_secret_basic',
  }],
  jwks: JSON.parse(fs.readFileSync(config.jwks_file, 'utf8')),
  cookies: { keys: ['packyard-test-cookie-key'] },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  // Scope-requested claims in the ID token too, not only from the userinfo endpoint.
  conformIdTokenClaims: false,
  pkce: { methods: ['S256'], required: () => true },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      logoutSource: async (ctx, form) => {
        ctx.body = page('Sign out', `${form}
<button id="logout" type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button id="stay" type="submit" form="op.logoutForm">No, stay signed in</button>`);
      },
      postLogoutSuccessSource: async (ctx) => {
        ctx.body = page('Signed out', '<p>You are signed out.</p>');
      },
    },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const user = userById(id);
    if (!user) return undefined;
    return {
      accountId: id,
      async claims() {
        const current = userById(id) || user;
        return {
          sub: id,
          email: current.email,
          email_verified: current.email_verified,
          name: current.name,
          preferred_username: current.username,
          groups: current.groups || [],
        };
      },
    };
  },
  // Consent is implied: the grant takes whatever OIDC scopes and claims are requested.
  async loadExistingGrant(ctx) {
    const { oidc } = ctx;
    const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
    let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
    if (!grant || grant.accountId !== oidc.account.accountId) {
      grant = new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.account.accountId });
    }
    grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
    grant.addOIDCClaims([...oidc.requestParamClaims]);
    await grant.save();
    return grant;
  },
  clientBasedCORS: () => false,
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = page('Error', Object.entries(out)
      .map(([key, value]) => `<p><strong>${escape(key)}</strong>: <span class="${escape(key)}">${escape(value)}</span></p>`)
      .join('\n'));
  },
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 60,
    IdToken: 3600,
    Interaction: 3600,
    RefreshToken: 86400,
    Session: 86400,
    Grant: 86400,
  },
});

provider.on('server_error', (ctx, error) => console.error('server_error', error));

const readBody = (req) => new Promise((resolve, reject) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
  req.on('error', reject);
});

const sendHtml = (res, status, html) => {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(html);
};

const loginPage = (uid, params, error) => page('Sign in', `${error ? `<p id="error" class="error">${escape(error)}</p>\n` : ''}<form id="login" method="post" action="/interaction/${escape(uid)}/login" autocomplete="off">
  <label>Username <input id="username" name="username" type="text" required autofocus value="${escape(params.login_hint || '')}"></label>
  <label>Password <input id="password" name="password" type="password" required></label>
  <button id="submit" type="submit">Sign in</button>
</form>
<p><a id="cancel" href="/interaction/${escape(uid)}/abort">Cancel</a></p>`);

const consentPage = (uid, client, details) => page('Authorize', `<p>${escape(client)} asks for: ${escape([...(details.missingOIDCScope || [])].join(' '))}</p>
<form id="consent" method="post" action="/interaction/${escape(uid)}/confirm">
  <button id="submit" type="submit">Allow</button>
</form>
<p><a id="cancel" href="/interaction/${escape(uid)}/abort">Cancel</a></p>`);

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new errors.SessionNotFound('interaction mismatch');
  const { prompt, params } = details;

  if (!action && req.method === 'GET') {
    if (prompt.name === 'login') return sendHtml(res, 200, loginPage(uid, params));
    return sendHtml(res, 200, consentPage(uid, params.client_id, prompt.details));
  }
  if (action === 'login' && req.method === 'POST') {
    const body = await readBody(req);
    const user = readUsers().find((u) => u.username === body.get('username'));
    if (!user || user.password !== body.get('password')) {
      return sendHtml(res, 200, loginPage(uid, { login_hint: body.get('username') }, 'Invalid username or password.'));
    }
    return provider.interactionFinished(req, res, { login: { accountId: user.id } }, { mergeWithLastSubmission: false });
  }
  if (action === 'confirm' && req.method === 'POST') {
    await readBody(req);
    const { grantId, session } = details;
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    return provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
  }
  if (action === 'abort') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
  }
  return sendHtml(res, 404, page('Not found', ''));
}

const callback = provider.callback();
const server = http.createServer((req, res) => {
  const match = /^\/interaction\/([^/?]+)(?:\/(login|confirm|abort))?(?:\?.*)?$/.exec(req.url);
  if (!match) return callback(req, res);
  return interaction(req, res, match[1], match[2]).catch((error) => {
    console.error('interaction', error);
    sendHtml(res, error.statusCode || 500, page('Error', `<p class="error">${escape(error.message)}</p>`));
  });
});

server.listen(config.port, '127.0.0.1', () => console.log(`oidc-provider listening on ${issuer}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
