"""Video gateway: motion prompts, image-to-video providers, and the crash-proof poll loop."""
