# SPDX-License-Identifier: GPL-3.0-or-later
#
# voicestack espeak-ng worker.
#
# This one file loads libespeak-ng (GPL-3.0-or-later) and is therefore licensed
# under the GNU General Public License, version 3 or (at your option) any later
# version.  It is a separate program: it imports nothing from voicestack and is run
# as its own process; the (Apache-2.0) rest of voicestack talks to it only through
# the line protocol below over pipes.
#
# This program is free software: you can redistribute it and/or modify it under the
# terms of the GNU General Public License as published by the Free Software
# Foundation, either version 3 of the License, or (at your option) any later
# version.  This program is distributed in the hope that it will be useful, but
# WITHOUT ANY WARRANTY; without even the implied warranty of MERCHANTABILITY or
# FITNESS FOR A PARTICULAR PURPOSE.  See <https://www.gnu.org/licenses/>.
"""Run espeak-ng's text-to-phonemes in a process of its own.

Usage: ``python espeak_worker.py LIBRARY DATA_DIR``

Protocol (UTF-8 JSON, one object per line):

* on start the worker writes ``{"ok": true, "ready": SAMPLE_RATE}`` or
  ``{"ok": false, "error": MESSAGE}`` and exits;
* request ``{"voice": NAME, "text": TEXT, "sep": CODEPOINT}``; answer
  ``{"ok": true, "clauses": [[IPA, ASCII, CONSUMED], ...]}``, one entry per call of
  ``espeak_TextToPhonemes`` until the text is used up: IPA and ASCII are the clause's
  phonemes in both of espeak's notations with SEP between phonemes, CONSUMED is the
  part of TEXT that call advanced over;
* a request that fails is answered ``{"ok": false, "error": MESSAGE}``.
"""

import ctypes
import json
import os
import sys

AUDIO_OUTPUT_SYNCHRONOUS = 2
CHARS_UTF8 = 1
PHONEMES_IPA = 0x02
INIT_DONT_EXIT = 0x8000


class Espeak:
    def __init__(self, library, data_dir):
        lib = ctypes.CDLL(library)
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_TextToPhonemes.argtypes = [
            ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int,
        ]
        lib.espeak_TextToPhonemes.restype = ctypes.c_void_p
        self.lib = lib
        self.sample_rate = lib.espeak_Initialize(
            AUDIO_OUTPUT_SYNCHRONOUS, 0, data_dir.encode("utf-8"), INIT_DONT_EXIT
        )
        if self.sample_rate <= 0:
            raise RuntimeError("espeak_Initialize failed for data dir %r" % data_dir)
        self.voice = None

    def set_voice(self, voice):
        if voice != self.voice:
            status = self.lib.espeak_SetVoiceByName(voice.encode("utf-8"))
            if status != 0:
                self.voice = None
                raise ValueError("espeak-ng has no voice %r (status %d)" % (voice, status))
            self.voice = voice

    def clauses(self, text, mode):
        """Yield (phonemes, consumed) for each clause of text."""
        data = text.encode("utf-8")
        buf = ctypes.create_string_buffer(data)
        start = ctypes.addressof(buf)
        ptr = ctypes.c_void_p(start)
        while ptr.value:
            before = ptr.value - start
            result = self.lib.espeak_TextToPhonemes(ctypes.byref(ptr), CHARS_UTF8, mode)
            after = (ptr.value - start) if ptr.value else len(data)
            phonemes = ctypes.string_at(result).decode("utf-8", "replace") if result else ""
            consumed = data[before:after].decode("utf-8", "replace")
            yield phonemes, consumed

    def phonemize(self, voice, text, sep):
        self.set_voice(voice)
        text = text.replace("\0", " ")
        ipa = list(self.clauses(text, PHONEMES_IPA | (sep << 8)))
        ascii_ = list(self.clauses(text, sep << 8))
        if len(ipa) != len(ascii_):
            raise RuntimeError("IPA and ASCII passes split the text differently")
        return [[i, a, c] for (i, c), (a, _) in zip(ipa, ascii_)]


def _write(out, obj):
    out.write(json.dumps(obj, ensure_ascii=True).encode("ascii") + b"\n")
    out.flush()


def main(argv):
    # The protocol gets a private copy of stdout; anything the library itself prints
    # on file descriptor 1 goes to stderr instead of corrupting it.
    sys.stdout.flush()
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    if len(argv) != 3:
        _write(out, {"ok": False, "error": "usage: espeak_worker.py LIBRARY DATA_DIR"})
        return 2
    try:
        espeak = Espeak(argv[1], argv[2])
    except Exception as exc:  # report any start-up failure to the parent
        _write(out, {"ok": False, "error": "%s: %s" % (type(exc).__name__, exc)})
        return 1
    _write(out, {"ok": True, "ready": espeak.sample_rate})
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            clauses = espeak.phonemize(
                str(request["voice"]), str(request["text"]), int(request["sep"])
            )
            _write(out, {"ok": True, "clauses": clauses})
        except Exception as exc:  # one bad request must not end the worker
            _write(out, {"ok": False, "error": "%s: %s" % (type(exc).__name__, exc)})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
