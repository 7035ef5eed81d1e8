"""The outbound edge: the one module that sends what the sans-IO OAuth engine builds."""

__all__: list[str] = []
