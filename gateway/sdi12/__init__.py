"""SDI-12 sensors through a transparent USB/serial adapter: settings and the bus poller."""
