"""``python -m voicestack.cli``: the same as the ``voicestack`` command."""

import sys

from voicestack.cli import main

sys.exit(main())
