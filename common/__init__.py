"""Code the bot and the backend share."""
