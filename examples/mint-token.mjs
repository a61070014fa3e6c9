// How an app's backend gives its user a Parley meeting token: an HS256 JWT signed with the API
// key's secret (docs/protocol.md, "Apps: API keys and tokens with grants"). Node.js, no
// dependencies. In a real app this runs on your server, after your own sign-in, and hands the
// token to the page; the secret never reaches a browser.
//
//   node examples/mint-token.mjs --api-key PK... --api-secret ... --identity crm-user-7 \
//        --name "张伟" --room support-4711 [--ttl 3600] [--listen-only]
//
// prints the token on stdout.

import { createHmac } from "node:crypto";

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

const b64url = (data) => Buffer.from(data).toString("base64url");

/** An HS256 JWT for `claims`, signed with `secret`. */
export function sign(claims, secret) {
  const head = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = b64url(JSON.stringify(claims));
  const mac = createHmac("sha256", secret).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${mac}`;
}

const listenOnly = args["listen-only"] === "true";
const claims = {
  iss: args["api-key"],
  sub: args.identity,
  name: args.name || args.identity,
  exp: Math.floor(Date.now() / 1000) + Number(args.ttl || 3600),
  grants: {
    room: args.room,
    room_join: true,
    room_create: true,
    can_publish: !listenOnly,
    can_subscribe: true,
  },
};
console.log(sign(claims, args["api-secret"]));
