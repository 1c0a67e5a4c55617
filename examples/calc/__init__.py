"""The calculator example: an IDL, a handler, and a demo that runs both ends."""
