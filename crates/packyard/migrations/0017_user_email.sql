-- A user's e-mail address: imported from Packeton, and what an identity provider's
-- sign-in is matched by. NULL when unknown.
ALTER TABLE users ADD COLUMN email TEXT;
