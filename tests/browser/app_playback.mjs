// The flow from a meeting to its record, in the web app: two people meet from their channel,
// one starts the recording from the call's controls, writes a decision into the minutes while
// the recording runs (stamped with its moment), stops the recording and leaves; afterwards the
// meeting's page plays the recording, and pressing the decision's stamp jumps the player to
// that moment. Prints one JSON line.
//
//   node app_playback.mjs --parley http://127.0.0.1:PORT --channel 1 --email-a a@x --email-b b@x
//                         --password PW --out DIR [--seconds 150]

import { parseArgs } from "./common.mjs";
import { startRun, CALL_FLAGS } from "./app_common.mjs";

const args = parseArgs();
const channel = Number(args.channel);
const run = await startRun(args, { seconds: 150, extraFlags: CALL_FLAGS });
const { report, remaining, until, step, shot } = run;

/** The newest meeting's recording jobs and files, asked through the app's own REST client. */
const recordingsOf = (who) => who.page.evaluate(async () => {
  const { api } = await import("/app/ui.js");
  const { meetings } = await api("GET", "/v1/meetings?limit=1");
  const meeting = meetings[0];
  const r = await api("GET", `/v1/meetings/${meeting.id}/recordings`);
  const minutes = await api("GET", `/v1/meetings/${meeting.id}/minutes`);
  return { meeting: meeting.id, jobs: r.jobs, recordings: r.recordings, items: minutes.items };
});

await run.finish(async () => {
  const a = await run.signIn(await run.person("a"), args["email-a"], args.password, channel);
  const b = await run.signIn(await run.person("b", { locale: "zh-CN" }), args["email-b"], args.password, channel);

  await step("both join the channel's meeting", async () => {
    for (const who of [a, b]) {
      await who.page.click(`.channel-link[data-channel="${channel}"]`);
      await who.page.click('[data-action="meeting"]');
      await who.page.click("#join-meeting", { timeout: remaining() });
    }
    for (const who of [a, b]) {
      await who.page.waitForSelector('.tile:not(.local)[data-source="camera"].has-video', { timeout: remaining() });
    }
  });

  await step("A records from the call; the recorder joins", async () => {
    await a.page.click("#toggle-recording", { timeout: remaining() });
    await a.page.waitForSelector(".rec-indicator:not([hidden])", { timeout: remaining() });
    // A recorder took the job and has files open: the minutes' moments are in the recording now.
    report.recordingJob = await run.poll("the recorder to record", async () => {
      const r = await recordingsOf(a);
      return r.jobs.some((j) => j.status === "active") && r.recordings.length ? { files: r.recordings.length } : null;
    });
    await new Promise((r) => setTimeout(r, 2000)); // a stretch of the meeting before the decision
  });

  await step("A writes a decision into the minutes, stamped with its moment", async () => {
    await a.page.click("#panel-minutes");
    await a.page.waitForSelector("#item-kind", { timeout: remaining() });
    await a.page.selectOption("#item-kind", "decision");
    await a.page.fill("#item-body", "Ship on Friday / 周五发布");
    await a.page.click("#item-add");
    await a.page.waitForSelector(".minute-item.kind-decision .stamp", { timeout: remaining() });
    report.stamp = await a.page.textContent(".minute-item.kind-decision .stamp");
    await shot(a, "recording-minutes-live");
    await new Promise((r) => setTimeout(r, 3000)); // the meeting goes on past the decision
  });

  await step("A stops the recording and both leave", async () => {
    await a.page.click("#toggle-recording");
    report.jobsAfterStop = await run.poll("the recording to finish", async () => {
      const { jobs } = await recordingsOf(a);
      return jobs.length && jobs.every((j) => j.status === "done") ? jobs.map((j) => j.status) : null;
    });
    for (const who of [a, b]) await who.page.click("#leave-call");
  });

  await step("the meeting's page plays the recording and the stamp jumps to the decision", async () => {
    await a.page.evaluate(() => (location.hash = "#/meetings"));
    await a.page.click(".card-list a", { timeout: remaining() });
    await a.page.waitForSelector("#recording-player", { timeout: remaining() });
    report.player = await until(a, "the recording's metadata", () => {
      const p = document.getElementById("recording-player");
      return p.readyState >= 1 && Number.isFinite(p.duration) ? { duration: p.duration, tag: p.tagName } : null;
    });
    const { items, recordings } = await recordingsOf(a);
    const mixed = recordings.find((r) => r.kind === "mixed");
    report.decision = {
      offsetSecs: items.find((i) => i.kind === "decision").recording_offset_secs,
      mixedStartMs: mixed ? mixed.start_offset_ms : null,
    };
    await a.page.click(".minute-item.kind-decision .stamp");
    report.jumpedTo = await until(a, "the player at the decision", () => {
      const p = document.getElementById("recording-player");
      return p.currentTime > 0 ? p.currentTime : null;
    });
    await shot(a, "recording-playback");
  });
});
