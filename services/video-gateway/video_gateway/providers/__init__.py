"""Image-to-video providers behind one interface."""
