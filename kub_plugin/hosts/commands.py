"""Every command line kub sends to a host, built in one place (after pyinfra's StringCommand, QuoteString and
MaskString): each value is quoted, secrets are masked wherever the command is shown.

    Command("kubeadm", "token", "delete", Secret(token_id))
    .text     kubeadm token delete abcdef       (what is sent)
    .masked   kubeadm token delete ***          (what logs and errors show; also str())

A part is a value (quoted), a Secret (a value shown as ***), Raw shell syntax (operators, redirections: written as
is, never a value), another Command (its parts, in line) or a Quoted command (the whole of it one value: sh -c's
script).
"""
import shlex

MASK = "***"


def quote(value):
    """A value as one shell word (the one quoting every command line and script variable of kub goes through)."""
    if value is None or isinstance(value, (bytes, list, tuple, dict, set)):
        raise TypeError(f"a command's value must be text or a number, not {type(value).__name__}")
    return shlex.quote(str(value))


def redact(text, secrets):
    """text with every (non-empty) secret in it masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


class Secret:
    """A value that is sent, and shown as ***."""

    def __init__(self, value):
        self.value = value


class Raw:
    """Shell syntax written as is (never a value: values are quoted)."""

    def __init__(self, text):
        if not isinstance(text, str):
            raise TypeError(f"raw shell syntax must be text, not {type(text).__name__}")
        self.text = text


class Quoted:
    """A command as one value (a script for `sh -c`), its secrets masked in its masked form."""

    def __init__(self, command):
        self.command = command


class Command:
    """A command line from its parts (see the module's doc)."""

    def __init__(self, *parts):
        self.parts = parts
        self.text = self._render(masked=False)
        self.masked = self._render(masked=True)

    def _render(self, masked):
        words = []
        for part in self.parts:
            if isinstance(part, Raw):
                words.append(part.text)
            elif isinstance(part, Command):
                words.append(part.masked if masked else part.text)
            elif isinstance(part, Quoted):
                words.append(quote(part.command.masked if masked else part.command.text))
            elif isinstance(part, Secret):
                words.append(MASK if masked else quote(part.value))
            else:
                words.append(quote(part))
        return " ".join(word for word in words if word)

    def __str__(self):
        return self.masked

    def __repr__(self):
        return f"Command({self.masked!r})"


def command_line(command):
    """A Command as it is; text (a fixed command line with no values in it) as one."""
    return command if isinstance(command, Command) else Command(Raw(command))
