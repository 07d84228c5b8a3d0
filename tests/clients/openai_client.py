"""The official `openai` Python package talking to a tenant's bot through
POST /voice/{slug}/chat/completions, as any OpenAI client would. Prints one JSON
line of what it saw; the Rust test (tests/openai_compat.rs) checks it."""

import json
import sys

import openai
from openai import OpenAI

base, token = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=f"{base}/voice/acme", api_key=token, max_retries=0, timeout=20)
messages = [
    {"role": "system", "content": "You are a voice assistant."},
    {"role": "user", "content": "How long do refunds take?"},
]

plain = client.chat.completions.create(model="voice-1", messages=messages, user="caller-1")
streamed = client.chat.completions.create(
    model="voice-1", messages=messages, user="caller-1", stream=True
)
pieces, finish = [], None
for chunk in streamed:
    choice = chunk.choices[0]
    if choice.delta.content:
        pieces.append(choice.delta.content)
    finish = choice.finish_reason or finish

refused = None
try:
    OpenAI(base_url=f"{base}/voice/acme", api_key="ak_wrong", max_retries=0).chat.completions.create(
        model="voice-1", messages=messages
    )
except openai.AuthenticationError as e:
    refused = e.status_code

print(
    json.dumps(
        {
            "object": plain.object,
            "model": plain.model,
            "content": plain.choices[0].message.content,
            "role": plain.choices[0].message.role,
            "finish": plain.choices[0].finish_reason,
            "streamed": "".join(pieces),
            "stream_finish": finish,
            "refused": refused,
            "openai_version": openai.__version__,
        }
    )
)
