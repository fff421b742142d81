"""kub's one-line errors as Cloudify task errors, and what an operation writes back (runtime properties)."""
import functools

from cloudify.constants import NODE_INSTANCE
from cloudify.exceptions import NonRecoverableError, RecoverableError

from ..errors import ConfigError, ConnectionLost, RemoteError
from . import deployment

# the master's operations its minions wait for (a failure of one of them ends their wait)
MASTER_STEPS = ("create", "configure", "start", "heal")


def cloudify_errors(func):
    """Turns kub's one-line errors into Cloudify task errors (the message is all the user needs). Only a lost
    connection is worth a retry; anything unforeseen is final too, and reported in one line. A master's
    operation also records its failure (or clears an old one), so that waiting minions stop waiting."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        ctx = kwargs.get("ctx")
        master = (func.__name__ in MASTER_STEPS and ctx is not None and ctx.type == NODE_INSTANCE
                  and deployment.is_master(ctx))
        if master and ctx.instance.runtime_properties.get(deployment.MASTER_FAILED):
            save(ctx, **{deployment.MASTER_FAILED: ""})
        try:
            return func(*args, **kwargs)
        except Exception as err:
            error = _task_error(func.__name__, err)
            if master and (not isinstance(error, RecoverableError) or _last_try(ctx)):
                save(ctx, **{deployment.MASTER_FAILED: f"{func.__name__}: {error}"})
            raise error from None
    return wrapper


def _last_try(ctx):
    """Whether Cloudify will not retry this operation after a recoverable error (max_retries -1: forever)."""
    retries = ctx.operation.max_retries
    return retries is not None and retries >= 0 and (ctx.operation.retry_number or 0) >= retries


def _task_error(operation_name, err):
    if isinstance(err, ConfigError):
        return NonRecoverableError(f"bad input: {err}")
    if isinstance(err, ConnectionLost):
        return RecoverableError(str(err))
    if isinstance(err, RemoteError):
        return NonRecoverableError(str(err))
    if isinstance(err, (NonRecoverableError, RecoverableError)):
        return err
    first = str(err).splitlines()[0][:200] if str(err) else ""
    return NonRecoverableError(f"kub failed unexpectedly in {operation_name} ({type(err).__name__}: {first}): "
                               f"please report it with the operation's log")


def save(ctx, **values):
    ctx.instance.runtime_properties.update(values)
    ctx.instance.update()
