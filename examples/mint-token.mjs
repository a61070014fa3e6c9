// How an app's backend gives its user a Parley meeting token: an HS256 JWT signed with the API
// key's secret (docs/protocol.md, "Apps: API keys and tokens with grants"), made with Parley's
// server-side helpers (server-sdk/node, `@parley/server-sdk`; Node.js, no dependencies). In a
// real app this runs on your server, after your own sign-in, and hands the token to the page;
// the secret never reaches a browser.
//
//   node examples/mint-token.mjs --api-key PK... --api-secret ... --identity crm-user-7 \
//        --name "张伟" --room support-4711 [--ttl 3600] [--listen-only]
//
// prints the token on stdout.

import { AccessToken } from "../server-sdk/node/index.mjs";

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, arg, i, all) => {
  if (arg.startsWith("--")) pairs.push([arg.slice(2), all[i + 1] && !all[i + 1].startsWith("--") ? all[i + 1] : "true"]);
  return pairs;
}, []));

for (const required of ["api-key", "api-secret", "identity", "room"]) {
  if (!args[required]) {
    console.error(`mint-token: --${required} is required`);
    process.exit(2);
  }
}

const listenOnly = args["listen-only"] === "true";
try {
  const token = new AccessToken(args["api-key"], args["api-secret"], {
    identity: args.identity,
    name: args.name || args.identity,
    ttl: Number(args.ttl || 3600),
  });
  token.addGrant({
    room: args.room,
    room_join: true,
    room_create: true,
    can_publish: !listenOnly,
    can_subscribe: true,
  });
  console.log(token.toJwt());
} catch (err) {
  // The helpers refuse what the server would refuse, such as a ttl that is not whole seconds.
  console.error(`mint-token: ${err.message}`);
  process.exit(2);
}
