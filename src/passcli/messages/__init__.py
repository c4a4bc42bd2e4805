"""Messages: the messages.yaml format, rendering, SMS segment counts, audiences."""
