"""Identity: the built-in Keystone-compatible identity service and its tokens, and
the validation of tokens against an external Keystone."""
