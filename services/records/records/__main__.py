import sys

from pcse_kit.service import main

from records.definition import SERVICE

sys.exit(main(SERVICE))
