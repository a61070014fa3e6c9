// Chat in the same SDK: messages exactly once across reconnects, urgent pings, files.

import { Message, ParleyClient, ParleyError, SentReply } from "@parley/sdk";

export async function chat(url: string, token: string, channel: number, file: File): Promise<void> {
  const client = new ParleyClient({ url, token });
  const shown: Message[] = [];
  client.on("message", ({ message }) => shown.push(message));
  client.on("connection", ({ state, reason }) => console.info(state, reason));
  client.on("error", (error: ParleyError) => console.warn(error.code));
  await client.connect();
  const sent: SentReply = await client.send(channel, "hello", { mentions: [2] });
  await client.markRead(channel, sent.seq);
  const upload = client.upload(file, { channel, onProgress: ({ sent, total }) => console.info(sent / total) });
  const uploaded = await upload.promise;
  await client.send(channel, "the minutes", { attachments: [uploaded.id] });
  try {
    await client.sendUrgent(channel, "server room power lost");
  } catch (err) {
    if (err instanceof ParleyError && err.code === "forbidden") console.warn("not allowed");
  }
}
