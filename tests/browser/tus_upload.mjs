// Upload a file to Parley with tus-js-client, the standard JavaScript tus client, in Node, and
// resume it: the first upload is aborted part way, a second one given its URL continues.
// Usage: node tus_upload.mjs SERVER_URL TOKEN FILE NAME. Prints one JSON line.
import { readFileSync } from 'node:fs';
import * as tus from 'tus-js-client';

const [server, token, path, name] = process.argv.slice(2);
const bytes = readFileSync(path);
const options = {
  endpoint: `${server}/v1/uploads`,
  headers: { Authorization: `Bearer ${token}` },
  chunkSize: 1024 * 1024,
  metadata: { filename: name, filetype: 'application/octet-stream' },
  retryDelays: [],
};

function run(extra) {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(bytes, {
      ...options,
      ...extra,
      onError: reject,
      onSuccess: () => resolve({ upload, aborted: false }),
      onChunkComplete: (_chunk, sent) => {
        if (extra.stopAfter && sent >= extra.stopAfter) {
          upload.abort().then(() => resolve({ upload, aborted: true, sent }));
        }
      },
    });
    upload.start();
  });
}

const first = await run({ stopAfter: 3 * 1024 * 1024 });
const second = await run({ uploadUrl: first.upload.url });
const head = await fetch(second.upload.url, {
  method: 'HEAD',
  headers: { Authorization: `Bearer ${token}`, 'Tus-Resumable': '1.0.0' },
});
console.log(JSON.stringify({
  url: second.upload.url,
  aborted: first.aborted,
  stopped_at: first.sent,
  same_upload: first.upload.url === second.upload.url,
  offset: Number(head.headers.get('upload-offset')),
  file: Number(head.headers.get('parley-file-id')),
}));
