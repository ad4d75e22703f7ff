"""The search engine: trial runner, Keras callbacks, worker loop, launcher and CLI."""
