"""Every lab index the tests use, named once. Two labs run side by side on one machine: the session's own (its five
hosts serve every module in turn) and a second one, for the tests that need a lab of another Debian release or a
lab beside a running one. Set them apart from other runs on the same machine with KUB_LAB_INDEX and
KUB_LAB_SECOND_INDEX."""
import os

LAB_INDEX = int(os.environ.get("KUB_LAB_INDEX", 5))
SECOND_LAB_INDEX = int(os.environ.get("KUB_LAB_SECOND_INDEX", 6))
