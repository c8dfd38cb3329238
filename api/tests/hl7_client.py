"""An independent HL7 v2 client for the MLLP tests: the PyPI package `hl7` frames, sends and
parses, so the server's answers are read by code that is not the server's own encoder.

Usage: hl7_client.py HOST PORT < messages.json   (a JSON list of message texts, segments
separated by CR). Every message goes over ONE connection, in order. Prints a JSON list with,
per answer: the raw text and the fields the tests check, as the `hl7` package parses them."""
import json
import sys

import hl7
from hl7.client import MLLPClient


def field(message, segment, n, component=1):
    try:
        return str(message.extract_field(segment, 1, n, 1, component))
    except (KeyError, IndexError):
        return ""


def summary(raw):
    message = hl7.parse(raw)
    errors = []
    for seg in message:
        if str(seg[0]) == "ERR":
            errors.append([str(f) for f in seg[1:]])
    return {
        "raw": raw,
        "segments": [str(seg[0]) for seg in message],
        "msh3": field(message, "MSH", 3),
        "msh5": field(message, "MSH", 5),
        "msh6": field(message, "MSH", 6),
        "msh9": str(message.segment("MSH")[9]),
        "msh10": str(message.segment("MSH")[10]),
        "msh12": str(message.segment("MSH")[12]),
        "msa1": str(message.segment("MSA")[1]),
        "msa2": str(message.segment("MSA")[2]) if len(message.segment("MSA")) > 2 else "",
        "err": errors,
    }


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    messages = json.load(sys.stdin)
    answers = []
    with MLLPClient(host, port) as client:
        for text in messages:
            framed = client.send_message(text).decode("utf-8")
            answers.append(summary(framed.strip("\x0b\x1c\r")))
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()
