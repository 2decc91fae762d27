"""User-facing errors: one line that says what is wrong, where, and how to fix it."""


class CaiError(Exception):
    """An error caused by the user's input, shown as a single line without a traceback."""

    def __init__(self, what: str, where: str | None = None, fix: str | None = None):
        self.what, self.where, self.fix = what, where, fix
        super().__init__(self.line())

    def line(self) -> str:
        parts = [f"{self.where}: {self.what}" if self.where else self.what]
        if self.fix:
            parts.append(f"fix: {self.fix}")
        return " — ".join(parts)
