# Least-privilege policy of the residual `vault` collector (read-only).
# vault policy write residual-reader docs/permissions/vault.hcl
# The "+/" copies grant the same in every child namespace (Vault Enterprise); drop
# them on Vault Community Edition. Replace "secret" with each KV v2 mount in kv_mounts.

# token accessors (sudo: Vault requires it to list them) and one lookup per accessor
path "auth/token/accessors" { capabilities = ["list", "sudo"] }
path "auth/token/lookup-accessor" { capabilities = ["update"] }
# identity entities and their aliases
path "identity/entity/id" { capabilities = ["list"] }
path "identity/entity/id/*" { capabilities = ["read"] }
# auth mounts (to find the AppRole mounts)
path "sys/auth" { capabilities = ["read"] }
# AppRole roles, secret-id accessors, one lookup per accessor
path "auth/approle/role" { capabilities = ["list"] }
path "auth/approle/role/+" { capabilities = ["read"] }
path "auth/approle/role/+/secret-id" { capabilities = ["list"] }
path "auth/approle/role/+/secret-id-accessor/lookup" { capabilities = ["update"] }
# leases under the configured prefixes (sudo: Vault requires it to list them)
path "sys/leases/lookup/*" { capabilities = ["list", "sudo"] }
path "sys/leases/lookup" { capabilities = ["update"] }
# ACL policies (to know which policy reads which secret)
path "sys/policies/acl" { capabilities = ["list"] }
path "sys/policies/acl/*" { capabilities = ["read"] }
# KV v2 metadata only: versions and their times, never a value (no secret/data/*)
path "secret/metadata" { capabilities = ["list"] }
path "secret/metadata/*" { capabilities = ["list", "read"] }

path "+/auth/token/accessors" { capabilities = ["list", "sudo"] }
path "+/auth/token/lookup-accessor" { capabilities = ["update"] }
path "+/identity/entity/id" { capabilities = ["list"] }
path "+/identity/entity/id/*" { capabilities = ["read"] }
path "+/sys/auth" { capabilities = ["read"] }
path "+/auth/approle/role" { capabilities = ["list"] }
path "+/auth/approle/role/+" { capabilities = ["read"] }
path "+/auth/approle/role/+/secret-id" { capabilities = ["list"] }
path "+/auth/approle/role/+/secret-id-accessor/lookup" { capabilities = ["update"] }
path "+/sys/leases/lookup/*" { capabilities = ["list", "sudo"] }
path "+/sys/leases/lookup" { capabilities = ["update"] }
path "+/sys/policies/acl" { capabilities = ["list"] }
path "+/sys/policies/acl/*" { capabilities = ["read"] }
path "+/secret/metadata" { capabilities = ["list"] }
path "+/secret/metadata/*" { capabilities = ["list", "read"] }
