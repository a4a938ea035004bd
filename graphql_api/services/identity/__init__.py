"""Identity actions, GraphQL-free: who may sign in and how, the caller's own account, and admins' user management.

- ``credentials``: the rules for emails, passwords and TOTP codes, the user-table lock, creating a user.
- ``signin``: register, password + TOTP login, token refresh, logout.
- ``wallet``: Sign-In with Ethereum (EIP-4361) challenge and verification.
- ``account``: the signed-in user's profile, notification choices, password, two-factor and sessions.
- ``admin``: approve, suspend, change the role of and delete users (never the last active admin).

Each action takes the process's ``Deps`` (and the ``Actor`` or ``ClientInfo`` it acts for), checks, writes,
audits inside its transaction and announces in one place; refusals are the typed rejections of
``graphql_api.rejections``.
"""
