"""kub's one-line errors as Cloudify task errors, and what an operation writes back (runtime properties)."""
import functools

from cloudify.constants import NODE_INSTANCE
from cloudify.exceptions import NonRecoverableError, RecoverableError

from ..errors import ConfigError, ConnectionLost, RemoteError
from . import deployment, setting_names

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
            error = _task_error(func.__name__, err, lambda message: _as_written(ctx, message))
            if master and (not isinstance(error, RecoverableError) or _last_try(ctx)):
                save(ctx, **{deployment.MASTER_FAILED: f"{func.__name__}: {error}"})
            raise error from None
    return wrapper


def _last_try(ctx):
    """Whether Cloudify will not retry this operation after a recoverable error (max_retries -1: forever)."""
    retries = ctx.operation.max_retries
    return retries is not None and retries >= 0 and (ctx.operation.retry_number or 0) >= retries


def _as_written(ctx, message):
    """The message naming each setting as the blueprint's user gives it (an input's name where it comes from one)."""
    try:
        storage = deployment.operation_storage(ctx) or getattr(ctx.internal.handler, "storage", None)
        node_id = ctx.node.id if getattr(ctx, "type", None) == NODE_INSTANCE else ""
        names = setting_names.input_names(deployment.blueprint_nodes(storage, ctx.blueprint.id), node_id)
    except Exception:   # the message as it is, rather than none
        return message
    return setting_names.as_written(message, names)


def _task_error(operation_name, err, as_written=str):
    if isinstance(err, ConfigError):
        return NonRecoverableError(f"bad input: {as_written(str(err))}")
    if isinstance(err, ConnectionLost):
        return RecoverableError(as_written(str(err)))
    if isinstance(err, RemoteError):
        return NonRecoverableError(as_written(str(err)))
    if isinstance(err, (NonRecoverableError, RecoverableError)):
        return err
    first = str(err).splitlines()[0][:200] if str(err) else ""
    return NonRecoverableError(f"kub failed unexpectedly in {operation_name} ({type(err).__name__}: {first}): "
                               f"please report it with the operation's log")


def save(ctx, **values):
    ctx.instance.runtime_properties.update(values)
    ctx.instance.update()
