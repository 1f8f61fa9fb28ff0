"""The running system: configuration, command line, and the assembly that starts the channels,
the web server and the background workers."""
