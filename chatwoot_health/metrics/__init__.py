"""Pure metric functions of (artifacts or rows, window, now): no I/O, no clock, no Click."""
