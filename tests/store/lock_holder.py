"""A separate process that becomes a session's trainer and then waits (for the lock tests).

    python tests/store/lock_holder.py SESSION      prints "locked" once it holds the lock
"""

from __future__ import annotations

import sys
import time

from dcgui.store import SessionStore

if __name__ == "__main__":
    store = SessionStore.open(sys.argv[1])
    store.claim_trainer("lock_holder.py (a test trainer)")
    print("locked", flush=True)
    if sys.stdin.readline() == "release\n":  # else: wait until killed
        store.close()
        print("released", flush=True)
        time.sleep(60)
