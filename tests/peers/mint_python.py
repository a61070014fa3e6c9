"""Drive server-sdk/python for tests/tests/token_helpers.rs, as an app's backend would use it.

Usage:
  mint_python.py token|mint --api-key K --api-secret S --identity I [--name N] [--ttl SECS]
                 [--expires-at SECS] [--grants JSON]
  mint_python.py verify --api-secret S --token JWT

`token` builds with AccessToken, one add_grant per grant; `mint` with mint_token. Prints the
token, or the claims `verify` found as JSON; when the helpers refuse, prints their message on
stderr and exits 1.
"""

import argparse
import json
import sys
from pathlib import Path

# The helpers from this checkout, without leaving __pycache__ in it.
sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "server-sdk" / "python"))

from parley_server_sdk import AccessToken, mint_token, verify_token  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("command", choices=["token", "mint", "verify"])
for option in ["api-key", "api-secret", "identity", "name", "grants", "token"]:
    parser.add_argument("--" + option)
parser.add_argument("--ttl", type=int)
parser.add_argument("--expires-at", type=int)
args = parser.parse_args()

try:
    options = {
        "identity": args.identity,
        "name": args.name,
        "ttl": args.ttl,
        "expires_at": args.expires_at,
    }
    grants = json.loads(args.grants or "{}")
    if args.command == "token":
        token = AccessToken(args.api_key, args.api_secret, **options)
        # One call per grant, chained, as the grants' merging is part of what is tested.
        chained = token
        for name, value in grants.items():
            chained = chained.add_grant(**{name: value})
        if chained is not token:
            raise ValueError("add_grant did not return its token")
        print(token.to_jwt())
    elif args.command == "mint":
        print(mint_token(api_key=args.api_key, api_secret=args.api_secret, grants=grants, **options))
    else:
        print(json.dumps(verify_token(args.token, args.api_secret), ensure_ascii=False))
except (ValueError, TypeError) as err:
    print(err, file=sys.stderr)
    sys.exit(1)
