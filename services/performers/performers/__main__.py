import sys

from pcse_kit.service import main

from performers.definition import SERVICE

sys.exit(main(SERVICE))
