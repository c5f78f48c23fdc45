"""`python -m kata.verify_worker <id>`: one kata's dynamic checks, printed as one JSON line."""

import json
import sys

from kata.verify import worker

if __name__ == "__main__":
    print(json.dumps(worker(sys.argv[1])))
