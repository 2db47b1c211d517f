"""schemathesis hooks of scripts/contract.sh.

The run authenticates with the organization admin's key. Four operations
end or throttle the key they name (delete, revoke, rotate, and update,
which can set its rate limits or credits to nothing); a case naming the
run's own key there would turn every later answer into 401 or 429 and test
nothing. Those cases alone are not generated: the same operations run on
every other key, and the run checks at its end that its key still works.
"""

import os

import schemathesis

KEY_ID = os.environ["LATCHKEY_CONTRACT_KEY_ID"]
SELF_DESTRUCTIVE = {
    ("DELETE", "/v1/api-keys/{id}"),
    ("PATCH", "/v1/api-keys/{id}"),
    ("POST", "/v1/api-keys/{id}/revoke"),
    ("POST", "/v1/api-keys/{id}/rotate"),
}


@schemathesis.hook
def filter_case(context, case):
    operation = case.operation
    if (operation.method.upper(), operation.path) in SELF_DESTRUCTIVE:
        return (case.path_parameters or {}).get("id") != KEY_ID
    return True
