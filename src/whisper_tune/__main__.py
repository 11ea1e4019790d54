import sys

from whisper_tune.cli.main import main

sys.exit(main())
