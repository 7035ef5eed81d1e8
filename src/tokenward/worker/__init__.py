"""Background work inside `serve`: the credential refresher and the webhook dispatcher."""
