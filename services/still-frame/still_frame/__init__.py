"""Still-frame service: brand-true stills (image provider or local renderer) composited with text and logo."""
