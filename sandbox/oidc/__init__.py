"""A sandbox OpenID Connect provider: discovery, JWKS, an authorize page that lets the tester
choose who signs in, and a token endpoint that checks PKCE and signs ID tokens."""
