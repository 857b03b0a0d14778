"""Media store: streams provider videos into object storage, validates them, and keeps the Media records."""
