// Drives server-sdk/node for tests/tests/token_helpers.rs, as an app's backend would use it.
//
//   mint_node.mjs token|mint --api-key K --api-secret S --identity I [--name N] [--ttl SECS]
//                 [--expires-at SECS] [--grants JSON]
//   mint_node.mjs verify --api-secret S --token JWT
//
// `token` builds with AccessToken, one addGrant per grant; `mint` with mintToken. Prints the
// token, or the claims `verify` found as JSON; when the helpers refuse, prints their message on
// stderr and exits 1.

import { parseArgs } from "node:util";
import { AccessToken, mintToken, verifyToken } from "../../server-sdk/node/index.mjs";

const { positionals: [command], values: args } = parseArgs({
  allowPositionals: true,
  options: Object.fromEntries(
    ["api-key", "api-secret", "identity", "name", "ttl", "expires-at", "grants", "token"]
      .map((name) => [name, { type: "string" }]),
  ),
});

const seconds = (text) => (text === undefined ? undefined : Number(text));

try {
  const options = {
    identity: args.identity,
    name: args.name,
    ttl: seconds(args.ttl),
    expiresAt: seconds(args["expires-at"]),
  };
  // Options left out stay out: `ttl: undefined` beside `expiresAt` is not "both".
  for (const key of Object.keys(options)) if (options[key] === undefined) delete options[key];
  const grants = JSON.parse(args.grants ?? "{}");
  if (command === "token") {
    const token = new AccessToken(args["api-key"], args["api-secret"], options);
    // One call per grant, chained, as the grants' merging is part of what is tested.
    let chained = token;
    for (const [name, value] of Object.entries(grants)) chained = chained.addGrant({ [name]: value });
    if (chained !== token) throw new Error("addGrant did not return its token");
    console.log(token.toJwt());
  } else if (command === "mint") {
    console.log(mintToken({ apiKey: args["api-key"], apiSecret: args["api-secret"], grants, ...options }));
  } else if (command === "verify") {
    console.log(JSON.stringify(verifyToken(args.token, args["api-secret"])));
  } else {
    throw new Error(`unknown command ${JSON.stringify(command)} (token, mint, verify)`);
  }
} catch (err) {
  console.error(err.message);
  process.exit(1);
}
