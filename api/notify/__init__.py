"""Notifications: incident updates to people off the screen (docs/notifications.md).

Channel adapters behind one interface (:mod:`api.notify.channel`): webhook, email, Telegram,
WhatsApp, SMS (HTTP gateway, GSM modem). Rules as data (:mod:`api.notify.rules`), delivery
from the incidents' outbox (:mod:`api.notify.outbox`), run by :mod:`api.notify.service`.
"""
