import sys

from pcse_kit.service import main

from payments.definition import SERVICE

sys.exit(main(SERVICE))
