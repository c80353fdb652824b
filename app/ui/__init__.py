"""The web dashboard at /ui: static pages that talk to the public /v1 API with the user's key."""
