# SPDX-License-Identifier: GPL-3.0-or-later
# This build script loads libespeak-ng (GPL-3.0-or-later) and compiles espeak-ng
# dictionary sources (GPL-3.0-or-later); it is licensed accordingly.
"""Rebuild src/voicestack/text/espeak_data/en_dict.

The compiled English dictionary shipped with voicestack is espeak-ng 1.52.0's
``dictsource`` (Debian source package ``espeak-ng_1.52.0+dfsg-5``) with one change,
recorded in ``src/voicestack/text/espeak_data/en_list.patch``: ``$noun`` added to the
``(has-been)`` entry, so that "has been" is read as piper-tts 1.8.0's espeak-ng build
reads it.  The dictionary is compiled with the libespeak-ng shipped in PyPI
``espeakng-loader``, the same library voicestack runs at run time.

Get the sources once (any machine with Debian's apt):

    apt-get source --download-only espeak-ng=1.52.0+dfsg-5
    tar xzf espeak-ng_1.52.0+dfsg.orig.tar.gz

then:

    python scripts/build_espeak_dict.py espeak-ng-1.52.0+dfsg/dictsource
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "src" / "voicestack" / "text" / "espeak_data"
DICT_FILES = ("en_list", "en_rules", "en_extra", "en_emoji")
ORIGINAL = "(has-been)       hazbi:n   \n"
PATCHED = "(has-been)       hazbi:n   $noun\n"
PATCH_TEXT = (
    "--- a/dictsource/en_list\n"
    "+++ b/dictsource/en_list\n"
    "@@ -5426 +5426 @@\n"
    f"-{ORIGINAL}"
    f"+{PATCHED}"
)


def patch_en_list(text: str) -> str:
    if text.count(ORIGINAL) != 1:
        raise SystemExit("en_list: expected exactly one unpatched '(has-been)' line")
    return text.replace(ORIGINAL, PATCHED)


def compile_dict(dictsource: Path, out: Path) -> None:
    import espeakng_loader

    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "espeak-ng-data"
        shutil.copytree(espeakng_loader.get_data_path(), home)
        src = Path(tmp) / "dictsource"
        src.mkdir()
        for name in DICT_FILES:
            path = dictsource / name
            if path.exists():
                text = path.read_text(encoding="utf-8")
                if name == "en_list":
                    text = patch_en_list(text)
                (src / name).write_text(text, encoding="utf-8")
        lib.espeak_ng_InitializePath.argtypes = [ctypes.c_char_p]
        lib.espeak_ng_Initialize.argtypes = [ctypes.c_void_p]
        lib.espeak_ng_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_ng_CompileDictionary.argtypes = [
            ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
        ]
        lib.espeak_ng_InitializePath(str(home).encode())
        for step, status in (
            ("Initialize", lib.espeak_ng_Initialize(None)),
            ("SetVoiceByName", lib.espeak_ng_SetVoiceByName(b"en")),
            (
                "CompileDictionary",
                lib.espeak_ng_CompileDictionary(
                    (str(src) + "/").encode(), b"en", None, 0, None
                ),
            ),
        ):
            if status != 0:
                raise SystemExit(f"espeak_ng_{step} failed with status {status:#x}")
        shutil.copyfile(home / "en_dict", out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dictsource", type=Path, help="espeak-ng 1.52.0 dictsource dir")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    compile_dict(args.dictsource, args.out / "en_dict")
    (args.out / "en_list.patch").write_text(PATCH_TEXT, encoding="utf-8")
    digest = hashlib.sha256((args.out / "en_dict").read_bytes()).hexdigest()
    print(f"wrote {args.out / 'en_dict'} sha256={digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
