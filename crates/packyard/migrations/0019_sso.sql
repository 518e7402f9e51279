-- Single sign-on. An identity is a user's account at an identity provider (the alias
-- of `login:` in the config file) and its subject there (an OIDC `sub`, an LDAP DN):
-- one identity belongs to one user, found again by it at each sign-in.
CREATE TABLE identities (
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id {{bigint}} NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    email TEXT,
    created_at {{bigint}} NOT NULL,
    last_login_at {{bigint}},
    -- When the provider was last asked whether the user is still there (LDAP).
    checked_at {{bigint}},
    PRIMARY KEY (provider, subject)
);
CREATE INDEX identities_user ON identities(user_id);

-- Unix milliseconds at which an identity provider removed the user, and which one:
-- its sessions and tokens stop working, as for an expired user, until that provider
-- (and no other) has it again.
ALTER TABLE users ADD COLUMN deprovisioned_at {{bigint}};
ALTER TABLE users ADD COLUMN deprovisioned_by TEXT;

-- Which memberships a provider's group mapping made (the provider's alias), kept in
-- step at each sign-in; NULL for memberships an admin made, which sign-ins never touch.
ALTER TABLE group_members ADD COLUMN source TEXT;

-- An OpenID Connect sign-in between the redirect to the provider and its callback:
-- its `state` (as a hash), bound to the browser that started it (a cookie's hash), with
-- the nonce and the PKCE verifier. The callback takes (deletes) it, so a state works
-- once, on any replica; ones never taken are pruned after a few minutes.
CREATE TABLE sso_logins (
    state_hash TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    browser_hash TEXT NOT NULL,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    next TEXT NOT NULL,
    created_at {{bigint}} NOT NULL
);
CREATE INDEX sso_logins_created ON sso_logins(created_at);
