"""The one way kub waits for something on its hosts: look, pause, look again, until a deadline."""
import time


def wait_until(check, timeout, interval, on_timeout, pause=None):
    """Looks with check() until it gives something other than None, which is returned. Once `timeout` seconds have
    passed, a look that found nothing is the last: on_timeout() gives the error raised. Between looks, pause(left)
    (left: the seconds still to go; a pause may wait on the host itself), or a sleep of `interval` seconds that does
    not reach past the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found is not None:
            return found
        left = deadline - time.monotonic()
        if left <= 0:
            raise on_timeout()
        if pause is None:
            time.sleep(min(interval, left))
        else:
            pause(left)
