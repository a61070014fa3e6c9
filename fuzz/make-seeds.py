#!/usr/bin/env python3
"""Writes the binary and generated seeds of fuzz/corpus/. The others are files: the SDP seeds
written by hand (sdp_answer's with MID0 for the server's random mid), the JSON seeds taken from
docs/protocol.md, and inputs a fuzzer found that are kept as regression seeds (`regression-*`).
Run from fuzz/: `python3 make-seeds.py`. Standard library only; the output is deterministic,
so running it again changes nothing."""

import base64, hashlib, hmac, json, os, struct, zlib

def put(target, name, data):
    os.makedirs(f"corpus/{target}", exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(f"corpus/{target}/{name}", "wb") as f:
        f.write(data)

# --- org_csv --------------------------------------------------------------------------------
put("org_csv", "valid.csv",
    "name,email,department,role\n"
    "Wang Wei,wang.wei@example.com,Sales/EMEA,member\n"
    "Ada Lovelace,ada@example.com,Engineering/Platform/Media,admin\n"
    "\"Smith, Jo\",jo@example.com,Sales,guest\n")
put("org_csv", "bom-reordered.csv",
    "\ufeffRole,Department,EMAIL,Name\r\nmember,R&D,li@example.com,李娜\r\n")
put("org_csv", "bad-lines.csv",
    "name,email,department,role\n"
    ",no-name@example.com,Sales,member\n"
    "No Email,,Sales,member\n"
    "Bad Path,bad@example.com,Sales//EMEA,member\n"
    "Bad Role,role@example.com,Sales,emperor\n"
    "Short,short@example.com\n")
put("org_csv", "unknown-column.csv", "name,email,department,role,phone\nA,a@example.com,X,member,1\n")
put("org_csv", "missing-column.csv", "name,email\nA,a@example.com\n")

# --- range_header: [size u64 LE][value] -----------------------------------------------------
for name, size, value in [
    ("first-bytes", 1000, "bytes=0-"),
    ("middle", 1000, "bytes=100-199"),
    ("suffix", 1000, "bytes=-500"),
    ("past-end", 1000, "bytes=2000-3000"),
    ("multi", 1000, "bytes=0-1,5-6"),
    ("spaces", 1 << 40, " bytes= 7 - 18446744073709551615 "),
    ("empty-file", 0, "bytes=-0"),
]:
    put("range_header", name, struct.pack("<Q", size) + value.encode())

# --- department_path: path, newline, root ---------------------------------------------------
for name, text in [
    ("nested", "Sales/EMEA/North\nSales"),
    ("same", "Engineering\nEngineering"),
    ("prefix-not-parent", "Sales2/X\nSales"),
    ("empty-part", "Sales//EMEA\n"),
    ("spaces", " Sales / EMEA \nSales"),
    ("unicode", "研发/平台\n研发"),
    ("long-part", "A/" + "x" * 101 + "\nA"),
]:
    put("department_path", name, text)

# --- token ----------------------------------------------------------------------------------
def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

def jwt(header, claims, secret, alg="sha256"):
    head = b64(json.dumps(header, separators=(",", ":")).encode())
    body = b64(json.dumps(claims, separators=(",", ":")).encode())
    signing = f"{head}.{body}".encode()
    sig = hmac.new(secret, signing, getattr(hashlib, alg)).digest()
    return f"{head}.{body}.{b64(sig)}"

server = b"the server's secret, which the fuzzer does not know"
app = b"an API secret the fuzzer does not know"
user_claims = {"iss": "parley", "sub": "1", "sid": "s1", "iat": 1700000000, "exp": 1700000900}
app_claims = {"iss": "APIfuzz", "sub": "alice", "name": "Alice", "exp": 1700000900,
              "grants": {"room": "standup", "room_join": True, "can_publish": True,
                         "can_subscribe": True}}
put("token", "user-expired", jwt({"alg": "HS256", "typ": "JWT"}, user_claims, server))
put("token", "user-other-key", jwt({"alg": "HS256", "typ": "JWT"},
                                   dict(user_claims, exp=4102444800), b"another secret"))
put("token", "user-hs512", jwt({"alg": "HS512", "typ": "JWT"}, user_claims, server, "sha512"))
put("token", "app-expired", jwt({"alg": "HS256", "typ": "JWT"}, app_claims, app))
put("token", "app-nbf", jwt({"alg": "HS256"}, dict(app_claims, nbf=4102444800), b"x"))
put("token", "alg-none", b64(b'{"alg":"none"}') + "." + b64(json.dumps(user_claims).encode()) + ".")
put("token", "no-iss", jwt({"alg": "HS256"}, {"sub": "1", "exp": 1}, server))
put("token", "garbage", "eyJhbGciOiJIUzI1NiJ9.e30")

# --- recorder frames: [flags u8][rtp timestamp u32 LE][length u16 LE][payload] --------------
def frames(items):
    out = b""
    for flags, ts, payload in items:
        out += struct.pack("<BIH", flags, ts & 0xFFFFFFFF, len(payload)) + payload
    return out

celt_silence = bytes([0xFC, 0xFF, 0xFE])        # 20 ms CELT fullband stereo, silent
silk_20ms = bytes([0x08]) + bytes(range(40))     # SILK NB 20 ms, arbitrary body
code3 = bytes([0xFB, 0x03]) + bytes(30)          # code 3, three 20 ms frames
steady = [(2 if i % 5 == 4 else 0, 1000 + 960 * i, celt_silence) for i in range(10)]
put("ogg_opus", "steady", frames(steady))
put("ogg_opus", "gap-and-reorder", frames([(0, 5000, celt_silence), (0, 5960, silk_20ms),
                                           (0, 5000 + 48000, code3), (0, 5960, celt_silence),
                                           (2, 5000 + 48960, celt_silence)]))
put("ogg_opus", "wrap", frames([(0, 0xFFFFF000, celt_silence), (0, 0xFFFFF000 + 960, celt_silence),
                                (0, 0x00000180, celt_silence), (2, 0x00000540, b"")]))
put("mixer", "two-sources", frames([(0 | (1 << 3), 1000 + 960 * i, celt_silence) for i in range(6)]
                                   + [(2 | (1 << 3), 77 + 960 * i, silk_20ms) for i in range(6)]))
put("mixer", "late-and-ahead", frames([(0, 100, celt_silence), (31 << 3, 1060, celt_silence),
                                       (0, 100, celt_silence), (4, 9000000, code3)]))

vp8_key = bytes([0x50, 0x42, 0x00, 0x9D, 0x01, 0x2A, 0x40, 0x01, 0xF0, 0x00]) + bytes(20)
vp8_delta = bytes([0x51, 0x00, 0x00]) + bytes(20)
put("webm", "vp8", frames([(1, 90000, vp8_key)] + [(2 if i % 3 == 2 else 0, 90000 + 3000 * i, vp8_delta)
                                                   for i in range(1, 8)]
                          + [(1, 90000 + 3000 * 80, vp8_key), (0, 90000, vp8_delta)]))
sps = bytes.fromhex("6742c00dd90141fb011000000300100000030320f142a480")
pps = bytes.fromhex("68ce3c80")
idr = bytes([0x65, 0x88, 0x84, 0x00, 0x33])
p_slice = bytes([0x41, 0x9A, 0x02])
au_key = b"\x00\x00\x00\x01\x09\xf0" + b"\x00\x00\x00\x01" + sps + b"\x00\x00\x01" + pps + b"\x00\x00\x01" + idr
au_p = b"\x00\x00\x00\x01" + p_slice
put("webm", "h264", frames([(5, 3000, au_key), (4, 6000, au_p), (6, 9000, au_p),
                            (5, 9000 + 90000 * 3, au_key)]))

# --- media_datagram: [flags u8][length u16 LE][datagram] ------------------------------------
def datagrams(items):
    return b"".join(struct.pack("<BH", flags, len(d)) + d for flags, d in items)

def stun_binding(username):
    attrs = b""
    user = username.encode()
    attrs += struct.pack(">HH", 0x0006, len(user)) + user + b"\x00" * (-len(user) % 4)
    attrs += struct.pack(">HHI", 0x0024, 4, 0x7E0000FF)
    attrs += struct.pack(">HHQ", 0x802A, 8, 0x1234)
    attrs += struct.pack(">HH", 0x0025, 0)
    header = struct.pack(">HHI", 0x0001, len(attrs) + 8, 0x2112A442) + b"fuzztransid!"
    crc = zlib.crc32(header[:2] + struct.pack(">H", len(attrs) + 8) + header[4:] + attrs) ^ 0x5354554E
    return header + attrs + struct.pack(">HHI", 0x8028, 4, crc & 0xFFFFFFFF)

def rtp(pt, seq, ts, ssrc, payload, marker=False, ext=b""):
    first = 0x80 | (0x10 if ext else 0)
    out = struct.pack(">BBHII", first, pt | (0x80 if marker else 0), seq, ts, ssrc)
    if ext:
        out += struct.pack(">HH", 0xBEDE, (len(ext) + 3) // 4) + ext + b"\x00" * (-len(ext) % 4)
    return out + payload

rtcp_rr = struct.pack(">BBHI", 0x81, 201, 7, 0x11111111) + struct.pack(">IIIIII", 1001, 0, 5, 0, 0, 0)
rtcp_sr = struct.pack(">BBHI", 0x80, 200, 6, 1001) + struct.pack(">IIIII", 0xE000, 0, 48000, 10, 1000)
rtcp_pli = struct.pack(">BBHII", 0x81, 206, 2, 0x11111111, 2001)
rtcp_nack = struct.pack(">BBHIIHH", 0x81, 205, 3, 0x11111111, 2001, 100, 0x0003)
dtls_hello = bytes([22, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x30, 1, 0, 0, 0x24, 0, 0, 0, 0, 0, 0, 0, 0x24,
                    0xFE, 0xFD]) + bytes(32) + b"\x00\x00\x00\x02\xc0\x2b\x01\x00"
put("media_datagram", "stun-unknown-ufrag", datagrams([(0, stun_binding("nobody:fuzzufrag"))]))
put("media_datagram", "stun-from-checked", datagrams([(1, stun_binding("x:fuzzufrag")), (3, b"")]))
put("media_datagram", "dtls-client-hello", datagrams([(1, dtls_hello), (0, dtls_hello)]))
put("media_datagram", "rtp-opus", datagrams([(1, rtp(111, 1, 960, 1001, celt_silence, ext=b"\x10\x85")),
                                             (1, rtp(111, 2, 1920, 1001, celt_silence)),
                                             (1, rtp(96, 1, 3000, 2001, vp8_key, marker=True))]))
put("media_datagram", "rtcp", datagrams([(1, rtcp_sr + rtcp_rr), (1, rtcp_pli), (3, rtcp_nack),
                                         (0, rtcp_rr)]))
put("media_datagram", "garbage", datagrams([(1, b"\xff" * 40), (0, b"\x00"), (1, b"")]))
