"""Modbus RTU / TCP polling: register maps as data, one poller thread per bus."""
