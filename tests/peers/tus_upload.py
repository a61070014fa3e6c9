"""Upload a file to Parley with tuspy, the standard Python tus client, and resume it.

Usage: tus_upload.py SERVER_URL TOKEN FILE NAME
Sends three 1 MiB chunks with one uploader, then, as a client that restarted would, a new
uploader given the first one's URL continues to the end. Prints one JSON line: the upload URL,
the offsets seen, and the file id Parley reports.
"""
import json
import sys

import requests
from tusclient import client

server, token, path, name = sys.argv[1:5]
tus = client.TusClient(server + "/v1/uploads", headers={"Authorization": "Bearer " + token})
chunk = 1024 * 1024
first = tus.uploader(file_path=path, chunk_size=chunk, metadata={"filename": name})
for _ in range(3):
    first.upload_chunk()
stopped_at = first.offset
# A second client, knowing only the URL, asks where the upload stands and finishes it.
second = tus.uploader(file_path=path, chunk_size=chunk, url=first.url)
resumed_from = second.get_offset()
second.upload()
head = requests.head(
    second.url, headers={"Authorization": "Bearer " + token, "Tus-Resumable": "1.0.0"}
)
print(
    json.dumps(
        {
            "url": second.url,
            "stopped_at": stopped_at,
            "resumed_from": resumed_from,
            "offset": int(head.headers["Upload-Offset"]),
            "file": int(head.headers["Parley-File-Id"]),
        }
    )
)
