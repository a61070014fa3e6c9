#!/usr/bin/env python3
"""A meeting participant built on aiortc, driven by the end-to-end tests.

It joins a room through Parley's `/v1/rtc` signaling, optionally publishes a sine tone as its
microphone, receives every audio track the server offers, and when its time is up prints one
JSON line: what it received (packets, decoded samples, the dominant frequency) and every
signaling message type it saw.

    aiortc_peer.py --url ws://127.0.0.1:PORT/v1/rtc --token JWT [--tone 440] [--seconds 6]
"""

import argparse
import asyncio
import fractions
import json
import math
import sys
import time

import aioice.ice
import numpy as np
import websockets
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame


def only_host_address(address):
    """Gather one host candidate: the tests run on loopback (or, in a network namespace of
    their own, on its one address) and nothing else."""
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [address]


only_host_address("127.0.0.1")

RATE = 48000
FRAME = 960  # 20 ms


class Tone(MediaStreamTrack):
    """A mono sine tone at a steady level, in 20 ms frames at real-time pace."""

    kind = "audio"

    def __init__(self, hz, amplitude):
        super().__init__()
        self.hz = hz
        self.amplitude = amplitude
        self.sent = 0
        self.start = None

    async def recv(self):
        if self.start is None:
            self.start = time.monotonic()
        due = self.start + self.sent / RATE
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        t = (np.arange(FRAME) + self.sent) / RATE
        samples = (self.amplitude * 32767 * np.sin(2 * math.pi * self.hz * t)).astype(np.int16)
        frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self.sent
        frame.time_base = fractions.Fraction(1, RATE)
        self.sent += FRAME
        return frame


class Peer:
    def __init__(self, args):
        self.args = args
        self.seen = []
        self.errors = []
        self.received = {}  # track sid -> list of numpy arrays (mono, 48 kHz)
        self.frames = {}
        self.mid_tracks = {}
        self.removed = None
        self.muted_events = []
        self.quality_events = []
        self.shedding = []  # each `shedding` a connection_quality said, when it changed
        self.per_second = {}
        self.started = 0.0
        self.publisher = None
        self.subscriber = None
        self.ws = None
        self.published = []
        self.tasks = []
        self.joins = []

    async def send(self, msg):
        await self.ws.send(json.dumps(msg))

    async def publish(self):
        self.publisher = RTCPeerConnection(
            RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        self.publisher.addTransceiver(
            Tone(self.args.tone, self.args.amplitude), direction="sendonly"
        )
        offer = await self.publisher.createOffer()
        await self.publisher.setLocalDescription(offer)
        mid = self.publisher.getTransceivers()[0].mid
        sdp = self.publisher.localDescription.sdp
        if self.args.bad_offer == "garbage":
            sdp = "this is not sdp"
        elif self.args.bad_offer == "no_codec":
            sdp = "".join(
                line + "\r\n"
                for line in sdp.splitlines()
                if not line.startswith("a=rtpmap:") or "telephone-event" in line
            ).replace(" opus/", " nothing/")
        track = {"mid": mid, "source": self.args.source}
        if self.args.muted:
            track["muted"] = True
        await self.send({"type": "offer", "id": "publish", "sdp": sdp, "tracks": [track]})

    async def on_offer(self, msg):
        if self.subscriber is None:
            # Parley carries every m-line of a connection on one transport (BUNDLE).
            self.subscriber = RTCPeerConnection(
                RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
            )

            @self.subscriber.on("track")
            def on_track(track):
                mid = None
                for t in self.subscriber.getTransceivers():
                    if t.receiver.track is track:
                        mid = t.mid
                sid = self.mid_tracks.get(mid, mid)
                self.tasks.append(asyncio.ensure_future(self.consume(sid, track)))

        for tm in msg.get("tracks", []):
            self.mid_tracks[tm["mid"]] = tm["track"]["sid"]
        await self.subscriber.setRemoteDescription(RTCSessionDescription(msg["sdp"], "offer"))
        answer = await self.subscriber.createAnswer()
        await self.subscriber.setLocalDescription(answer)
        await self.send({"type": "answer", "id": "answer", "sdp": self.subscriber.localDescription.sdp})

    async def consume(self, sid, track):
        chunks = self.received.setdefault(sid, [])
        self.frames.setdefault(sid, 0)
        per_second = self.per_second.setdefault(sid, [])
        loop = asyncio.get_running_loop()
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            second = int(loop.time() - self.started)
            while len(per_second) <= second:
                per_second.append(0)
            per_second[second] += 1
            if track.kind != "audio":
                self.frames[sid] += 1
                continue
            data = frame.to_ndarray()
            channels = len(frame.layout.channels)
            mono = data.reshape(-1, channels).mean(axis=1) if channels > 1 else data.reshape(-1)
            chunks.append(mono.astype(np.float64))
            self.frames[sid] += 1

    async def signaling(self):
        async for raw in self.ws:
            msg = json.loads(raw)
            kind = msg.get("type")
            self.seen.append(kind)
            if kind == "participant_left" and self.args.until_left and self.received:
                return
            if kind == "answer" and self.publisher is not None:
                self.published = msg.get("tracks", [])
                if self.args.bad_offer is None:
                    await self.publisher.setRemoteDescription(
                        RTCSessionDescription(msg["sdp"], "answer")
                    )
            elif kind == "offer":
                await self.on_offer(msg)
            elif kind == "error":
                self.errors.append(msg)
            elif kind == "removed":
                self.removed = msg
            elif kind == "track_muted":
                self.muted_events.append(msg)
            elif kind == "connection_quality":
                second = asyncio.get_running_loop().time() - self.started
                for update in msg.get("updates", []):
                    self.quality_events.append(dict(update, at=round(second, 1)))
                shedding = msg.get("shedding")
                if not self.shedding or self.shedding[-1] != shedding:
                    self.shedding.append(shedding)

    async def inbound_stats(self):
        """Packets the subscriber connection received, per SSRC."""
        if self.subscriber is None:
            return []
        stats = await self.subscriber.getStats()
        return [
            {"ssrc": s.ssrc, "packets": s.packetsReceived, "state": self.subscriber.connectionState}
            for s in stats.values()
            if getattr(s, "type", "") == "inbound-rtp"
        ] or [{"state": self.subscriber.connectionState}]

    def report(self):
        tracks = {}
        for sid, chunks in self.received.items():
            entry = {"frames": self.frames.get(sid, 0), "per_second": self.per_second.get(sid, [])}
            if chunks:
                signal = np.concatenate(chunks)
                # Skip the first half second (jitter buffer start-up) when there is enough.
                if len(signal) > RATE:
                    signal = signal[RATE // 2 :]
                spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
                freqs = np.fft.rfftfreq(len(signal), 1 / RATE)
                entry["samples"] = int(len(signal))
                entry["dominant_hz"] = float(freqs[int(np.argmax(spectrum))])
                entry["rms"] = float(np.sqrt(np.mean(signal**2)))
            tracks[sid] = entry
        return {
            "seen": self.seen,
            "errors": self.errors,
            "removed": self.removed,
            "muted_events": self.muted_events,
            "quality_events": self.quality_events,
            "shedding": self.shedding,
            "published": self.published,
            "joins": self.joins,
            "tracks": tracks,
        }

    async def connect(self, resume=None):
        """Open the signaling connection and join (or resume); returns `joined` or None."""
        self.ws = await websockets.connect(self.args.url, max_size=2**22)
        join = {"type": "join", "id": "join", "token": self.args.token, "auto_subscribe": True}
        if self.args.room:
            join["room"] = self.args.room
        if resume:
            join["resume"] = resume
        await self.send(join)
        joined = json.loads(await self.ws.recv())
        self.seen.append(joined.get("type"))
        if joined.get("type") != "joined":
            self.errors.append(joined)
            return None
        self.joins.append({"resumed": joined.get("resumed", False), "sid": joined["participant"]["sid"]})
        return joined

    async def wait(self, reader, seconds):
        try:
            await asyncio.wait_for(asyncio.shield(reader), timeout=max(0.0, seconds))
        except asyncio.TimeoutError:
            pass

    async def run(self):
        loop = asyncio.get_running_loop()
        self.started = loop.time()
        deadline = loop.time() + self.args.seconds
        joined = await self.connect()
        if joined is None:
            return self.report()
        reader = asyncio.ensure_future(self.signaling())
        if self.args.tone:
            await self.publish()
        if self.args.reconnect_after:
            # Drop the signaling connection without a word, keep the media going, and come
            # back with the resume token.
            await self.wait(reader, self.args.reconnect_after)
            reader.cancel()
            await self.ws.close()
            await asyncio.sleep(1.0)
            joined = await self.connect(resume=joined["resume_token"])
            if joined is None:
                return self.report()
            reader = asyncio.ensure_future(self.signaling())
        await self.wait(reader, deadline - loop.time())
        report = self.report()
        report["inbound"] = await self.inbound_stats()
        reader.cancel()
        # A well-behaved client says it is leaving; a dropped connection would instead keep
        # its place for the resume window.
        try:
            await self.send({"type": "leave"})
            await self.ws.close()
        except websockets.exceptions.ConnectionClosed:
            pass
        for t in self.tasks:
            t.cancel()
        for pc in (self.publisher, self.subscriber):
            if pc is not None:
                await pc.close()
        return report


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--tone", type=float, default=0.0, help="publish a sine tone of this frequency")
    parser.add_argument("--amplitude", type=float, default=0.5)
    parser.add_argument("--source", default="microphone")
    parser.add_argument("--muted", action="store_true", help="publish the tone muted")
    parser.add_argument("--room", default="", help="the room to join (user tokens name none)")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--bad-offer", choices=["garbage", "no_codec"], default=None)
    parser.add_argument(
        "--reconnect-after",
        type=float,
        default=0.0,
        help="drop the signaling connection after this many seconds and resume it",
    )
    parser.add_argument(
        "--until-left",
        action="store_true",
        help="stop early once someone whose media arrived leaves (--seconds is then the limit)",
    )
    parser.add_argument(
        "--host-address", default="127.0.0.1", help="the one local address to gather candidates on"
    )
    args = parser.parse_args()
    only_host_address(args.host_address)
    report = asyncio.run(Peer(args).run())
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
