import sys

from selfsup_client.cli import main

sys.exit(main())
